// The `docker` task runtime: every container of a task is a real container on a Docker engine,
// created and labelled the way the ECS container agent does it, so that anything looking at the
// engine (an agent, `docker ps`, a log shipper) sees what it would see on a real container instance.
//
// - Names: `ecs-<family>-<revision>-<container>-<20 hex>`, as the ECS agent names its containers.
// - Labels: the five `com.amazonaws.ecs.*` labels of ECS_LABELS, plus INSTANCE_LABEL (which emulated
//   instance the container belongs to) and OWNER_LABEL / OWNER_PID_LABEL (which runtime made it, so
//   that `close()` and orphan clean-up only ever touch this runtime's containers).
// - Limits: `memory` (MiB) becomes the hard memory limit, `cpu` units become CPU shares.
// - Health: the task definition's healthCheck becomes Docker's own HEALTHCHECK config, so the
//   engine runs the checks and emits `health_status` events.
// - Lifecycle: the engine's /events stream (start, die, oom, health_status, destroy) drives the
//   runtime events; after the stream (re)connects, every known container is inspected, so an exit
//   that happened while no stream was open is still reported.
// - Stop: SIGTERM, then SIGKILL after the grace period (`docker stop -t`). Stopped containers stay
//   (the agent may inspect them) and are removed `removeStoppedAfterMs` later.
// - Images: no registry is reachable here. A task definition image that is not present locally is
//   replaced by `blox-local/busybox:latest`, built once by `docker import` of a rootfs made from
//   Debian's busybox-static (/bin/busybox), and the replacement is logged. A container running the
//   stand-in image with no command (or a command the stand-in cannot run) runs IDLE_COMMAND.
import Docker from 'dockerode';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { LineSplitter } from '../../core/json-lines.js';
import {
  ECS_LABELS,
  INSTANCE_LABEL,
  type ContainerHealth,
  type RuntimeContainerSpec,
  type RuntimeListener,
  type RuntimeTaskSpec,
  type TaskRuntime,
  type ViewContainer,
  type ViewEvent,
} from './types.js';

/** Which DockerRuntime made a container (a random id per runtime). */
export const OWNER_LABEL = 'blox-local.owner';
/** The pid of the process whose runtime made a container: lets a later run remove orphans. */
export const OWNER_PID_LABEL = 'blox-local.owner-pid';
export const STAND_IN_IMAGE = 'blox-local/busybox:latest';
/** What a container of the stand-in image runs when it has nothing runnable: idle, exit 0 on SIGTERM. */
export const IDLE_COMMAND = ['sh', '-c', 'trap "exit 0" TERM INT; while true; do sleep 1; done'];
export const BUSYBOX_PATH = '/bin/busybox';

export interface DockerRuntimeOptions {
  /** A dockerode client; default: the local engine (DOCKER_HOST or /var/run/docker.sock). */
  docker?: Docker;
  logger?: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  /** How long an exited container stays before it is removed (ECS: ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION). */
  removeStoppedAfterMs?: number;
  /** Network mode for task containers; default `bridge` when that network exists, else `none`. */
  networkMode?: string;
  /** Remove containers left by runtimes of processes that no longer exist (a crashed sandbox). */
  removeOrphans?: boolean;
}

/** A 137 exit is reported after at most this many looks 250 ms apart, waiting for a late 'oom' event. */
const OOM_LOOKS = 8;

interface TrackedContainer {
  id: string;
  taskArn: string;
  containerName: string;
  instanceArn: string;
  view: ViewContainer & { oomKilled: boolean; hasHealthCheck: boolean };
  startedReported: boolean;
  exitedReported: boolean;
  /** Looks taken at a 137 exit for a late 'oom' event (the engine's inspect may not say OOMKilled yet). */
  oomLooks?: number;
  /** The engine sent it a signal (`docker kill`, `docker stop`): a 137 exit is that, not the OOM killer. */
  signalled?: boolean;
  removeTimer?: NodeJS.Timeout;
}

interface TrackedTask {
  spec: RuntimeTaskSpec;
  containerIds: string[];
  stopRequested: boolean;
  silenced: boolean;
}

const noopLogger = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

/** Whether a Docker engine answers on the default socket (or DOCKER_HOST). */
export async function dockerAvailable(docker: Docker = new Docker()): Promise<boolean> {
  try {
    await Promise.race([docker.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3_000).unref())]);
    return true;
  } catch {
    return false;
  }
}

function healthOf(status: string | undefined): ContainerHealth {
  if (status === 'healthy') return 'HEALTHY';
  if (status === 'unhealthy') return 'UNHEALTHY';
  return 'UNKNOWN';
}

function epochMs(iso: string | undefined): number | null {
  if (!iso || iso.startsWith('0001-')) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

function sanitizeName(value: string): string {
  return value.replace(/[^a-zA-Z0-9_.-]/g, '');
}

/** `ecs-<family>-<revision>-<container>-<20 hex>`, as the ECS agent names task containers. */
export function ecsContainerName(family: string, revision: number, containerName: string): string {
  return sanitizeName(`ecs-${family}-${revision}-${containerName}-${randomBytes(10).toString('hex')}`);
}

function statusCodeOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'statusCode' in error ? (error as { statusCode?: number }).statusCode : undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let busyboxApplets: Set<string> | undefined;
function appletsOfBusybox(): Set<string> {
  if (!busyboxApplets) {
    try {
      busyboxApplets = new Set(execFileSync(BUSYBOX_PATH, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean));
    } catch {
      busyboxApplets = new Set(['sh', 'sleep', 'echo', 'cat', 'true', 'false', 'kill', 'env', 'test', 'wget', 'ps']);
    }
  }
  return busyboxApplets;
}

/**
 * Builds `blox-local/busybox:latest` when the engine does not have it: a rootfs with Debian's static
 * busybox and a symlink per applet, packed with `tar` and imported through the engine API.
 */
export async function ensureStandInImage(docker: Docker, logger: Pick<Logger, 'info'> = noopLogger): Promise<void> {
  try {
    await docker.getImage(STAND_IN_IMAGE).inspect();
    return;
  } catch (error) {
    if (statusCodeOf(error) !== 404) throw error;
  }
  if (!existsSync(BUSYBOX_PATH)) {
    throw new Error(`${STAND_IN_IMAGE} is missing and cannot be built: ${BUSYBOX_PATH} is absent (install Debian's busybox-static)`);
  }
  const root = mkdtempSync(join(tmpdir(), 'blox-busybox-'));
  try {
    for (const dir of ['bin', 'tmp', 'proc', 'sys', 'dev', 'etc', 'root']) mkdirSync(join(root, dir));
    copyFileSync(BUSYBOX_PATH, join(root, 'bin', 'busybox'));
    chmodSync(join(root, 'bin', 'busybox'), 0o755);
    chmodSync(join(root, 'tmp'), 0o1777);
    for (const applet of appletsOfBusybox()) {
      if (applet !== 'busybox' && /^[a-zA-Z0-9_.[-]+$/.test(applet)) symlinkSync('busybox', join(root, 'bin', applet));
    }
    const tar = spawn('tar', ['-C', root, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const tarDone = new Promise<void>((resolve, reject) => {
      tar.once('error', reject);
      tar.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited with ${code}`))));
    });
    const [repo, tag] = STAND_IN_IMAGE.split(':') as [string, string];
    const progress = await docker.importImage(tar.stdout, { repo, tag, changes: ['CMD ["sh"]', 'ENV PATH=/bin'] });
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(progress, (error: Error | null) => (error ? reject(error) : resolve()));
    });
    await tarDone;
    await docker.getImage(STAND_IN_IMAGE).inspect();
    logger.info({ image: STAND_IN_IMAGE }, `built ${STAND_IN_IMAGE} from ${BUSYBOX_PATH} (docker import)`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export class DockerRuntime implements TaskRuntime {
  readonly kind = 'docker' as const;
  /** This runtime's id: the value of OWNER_LABEL on every container it makes. */
  readonly owner = randomUUID();
  private readonly docker: Docker;
  private readonly logger: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  private readonly removeStoppedAfterMs: number;
  private readonly listeners: RuntimeListener[] = [];
  private readonly watchers = new Map<string, Set<(event: ViewEvent) => void>>();
  private readonly tasks = new Map<string, TrackedTask>();
  private readonly containers = new Map<string, TrackedContainer>();
  private readonly imageChoice = new Map<string, Promise<{ image: string; standIn: boolean }>>();
  private networkMode: string | undefined;
  private ready: Promise<void> | undefined;
  private events: NodeJS.ReadableStream | undefined;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DockerRuntimeOptions = {}) {
    this.docker = options.docker ?? new Docker();
    this.logger = options.logger ?? noopLogger;
    this.removeStoppedAfterMs = options.removeStoppedAfterMs ?? 10 * 60_000;
    this.networkMode = options.networkMode;
  }

  /** Builds the stand-in image, picks the network mode and opens the event stream. Called by start(). */
  init(): Promise<void> {
    this.ready ??= this.initialise();
    return this.ready;
  }

  private async initialise(): Promise<void> {
    await ensureStandInImage(this.docker, this.logger);
    if (!this.networkMode) {
      const networks = await this.docker.listNetworks();
      this.networkMode = networks.some((network) => network.Name === 'bridge') ? 'bridge' : 'none';
    }
    if (this.options.removeOrphans) await this.removeOrphans();
    await this.openEvents();
  }

  onEvent(listener: RuntimeListener): void {
    this.listeners.push(listener);
  }

  watch(containerInstanceArn: string, onEvent: (event: ViewEvent) => void): () => void {
    let set = this.watchers.get(containerInstanceArn);
    if (!set) {
      set = new Set();
      this.watchers.set(containerInstanceArn, set);
    }
    set.add(onEvent);
    return () => {
      set.delete(onEvent);
      if (set.size === 0 && this.watchers.get(containerInstanceArn) === set) this.watchers.delete(containerInstanceArn);
    };
  }

  containersOf(containerInstanceArn: string): ViewContainer[] {
    const result: ViewContainer[] = [];
    for (const tracked of this.containers.values()) {
      if (tracked.instanceArn === containerInstanceArn) result.push({ ...tracked.view, labels: { ...tracked.view.labels } });
    }
    return result.sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Ids of every container this runtime currently knows (tests and the sandbox's teardown check). */
  containerIds(): string[] {
    return [...this.containers.keys()];
  }

  async start(spec: RuntimeTaskSpec): Promise<void> {
    if (this.closed) throw new Error('the docker runtime is closed');
    await this.init();
    if (this.tasks.has(spec.taskArn)) return;
    const task: TrackedTask = { spec, containerIds: [], stopRequested: false, silenced: false };
    this.tasks.set(spec.taskArn, task);
    for (const container of spec.containers) {
      if (task.stopRequested) return;
      let id: string;
      try {
        id = await this.createContainer(spec, container);
      } catch (error) {
        // ECS: CannotCreateContainerError stops the task before it runs. Report it as an exit.
        this.logger.warn({ taskArn: spec.taskArn, container: container.name, err: error }, 'cannot create container');
        this.emit({
          type: 'exited',
          taskArn: spec.taskArn,
          containerName: container.name,
          exitCode: 1,
          reason: `CannotCreateContainerError: ${String((error as Error).message ?? error)}`,
        });
        continue;
      }
      task.containerIds.push(id);
      if (this.closed) {
        // close() ran while this container was being created: it must not outlive the runtime.
        await this.removeContainer(id);
        return;
      }
      if (task.stopRequested) {
        await this.stopContainer(id, 0);
        continue;
      }
      try {
        await this.docker.getContainer(id).start();
        this.markStarted(id, Date.now());
      } catch (error) {
        // e.g. the executable is missing: Docker leaves the container exited (127/126).
        this.logger.warn({ taskArn: spec.taskArn, container: container.name, err: error }, 'cannot start container');
        await this.refresh(id, `CannotStartContainerError: ${String((error as Error).message ?? error)}`);
      }
    }
  }

  private async chooseImage(image: string): Promise<{ image: string; standIn: boolean }> {
    let choice = this.imageChoice.get(image);
    if (!choice) {
      choice = (async () => {
        try {
          await this.docker.getImage(image).inspect();
          return { image, standIn: false };
        } catch (error) {
          if (statusCodeOf(error) !== 404) throw error;
          this.logger.info(
            { image, standIn: STAND_IN_IMAGE },
            `image ${image} is not present locally and no registry is reachable: running ${STAND_IN_IMAGE} in its place`,
          );
          return { image: STAND_IN_IMAGE, standIn: true };
        }
      })();
      this.imageChoice.set(image, choice);
      choice.catch(() => this.imageChoice.delete(image));
    }
    return choice;
  }

  private async createContainer(spec: RuntimeTaskSpec, container: RuntimeContainerSpec): Promise<string> {
    const { image, standIn } = await this.chooseImage(container.image);
    let cmd = container.command;
    let entrypoint = container.entryPoint;
    if (standIn) {
      const executable = (entrypoint?.[0] ?? cmd?.[0] ?? '').split('/').pop() ?? '';
      if (!cmd && !entrypoint) {
        cmd = IDLE_COMMAND;
      } else if (!appletsOfBusybox().has(executable)) {
        this.logger.info(
          { image: container.image, command: [...(entrypoint ?? []), ...(cmd ?? [])] },
          `${executable} does not exist in ${STAND_IN_IMAGE}: the container runs the idle loop instead`,
        );
        cmd = IDLE_COMMAND;
        entrypoint = undefined;
      }
    }
    const labels: Record<string, string> = {
      [ECS_LABELS.taskArn]: spec.taskArn,
      [ECS_LABELS.containerName]: container.name,
      [ECS_LABELS.family]: spec.family,
      [ECS_LABELS.version]: String(spec.revision),
      [ECS_LABELS.cluster]: spec.clusterName,
      [INSTANCE_LABEL]: spec.containerInstanceArn,
      [OWNER_LABEL]: this.owner,
      [OWNER_PID_LABEL]: String(process.pid),
    };
    const health = container.healthCheck;
    const name = ecsContainerName(spec.family, spec.revision, container.name);
    const created = await this.docker.createContainer({
      name,
      Image: image,
      ...(cmd ? { Cmd: cmd } : {}),
      ...(entrypoint ? { Entrypoint: entrypoint } : {}),
      Env: Object.entries(container.environment).map(([key, value]) => `${key}=${value}`),
      Labels: labels,
      ...(health
        ? {
            Healthcheck: {
              Test: health.command,
              Interval: health.intervalSeconds * 1e9,
              Timeout: health.timeoutSeconds * 1e9,
              Retries: health.retries,
              ...(health.startPeriodSeconds > 0 ? { StartPeriod: health.startPeriodSeconds * 1e9 } : {}),
            },
          }
        : {}),
      HostConfig: {
        NetworkMode: this.networkModeFor(spec.networkMode),
        ...(container.memoryMiB ? { Memory: container.memoryMiB * 1024 * 1024 } : {}),
        ...(container.cpuUnits && container.cpuUnits >= 2 ? { CpuShares: container.cpuUnits } : {}),
      },
    });
    const view: TrackedContainer['view'] = {
      id: created.id,
      name,
      image: container.image,
      labels,
      state: 'created',
      exitCode: null,
      health: 'UNKNOWN',
      createdAt: Date.now(),
      startedAt: null,
      finishedAt: null,
      oomKilled: false,
      hasHealthCheck: health !== undefined,
    };
    this.containers.set(created.id, {
      id: created.id,
      taskArn: spec.taskArn,
      containerName: container.name,
      instanceArn: spec.containerInstanceArn,
      view,
      startedReported: false,
      exitedReported: false,
    });
    this.notify(spec.containerInstanceArn, { containerId: created.id, action: 'create', labels, timeNano: BigInt(Date.now()) * 1_000_000n });
    return created.id;
  }

  /** host stays host; bridge/awsvpc/default become the engine's bridge when it has one, else none. */
  private networkModeFor(taskNetworkMode: string | undefined): string {
    if (taskNetworkMode === 'host' || taskNetworkMode === 'none') return taskNetworkMode;
    return this.networkMode ?? 'none';
  }

  async stop(taskArn: string, graceSeconds: number): Promise<void> {
    const task = this.tasks.get(taskArn);
    if (!task) return;
    task.stopRequested = true;
    await Promise.all(task.containerIds.map((id) => this.stopContainer(id, graceSeconds)));
  }

  private async stopContainer(id: string, graceSeconds: number): Promise<void> {
    const tracked = this.containers.get(id);
    if (!tracked || tracked.view.state === 'exited') return;
    try {
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.round(graceSeconds)) });
    } catch (error) {
      const code = statusCodeOf(error);
      if (code !== 304 && code !== 404) throw error;
    }
    await this.refresh(id);
  }

  async removeInstance(containerInstanceArn: string): Promise<void> {
    const ids: string[] = [];
    for (const tracked of this.containers.values()) {
      if (tracked.instanceArn !== containerInstanceArn) continue;
      ids.push(tracked.id);
      const task = this.tasks.get(tracked.taskArn);
      if (task) {
        task.silenced = true;
        task.stopRequested = true;
      }
    }
    await Promise.all(ids.map((id) => this.removeContainer(id)));
    for (const [taskArn, task] of this.tasks) {
      if (task.spec.containerInstanceArn === containerInstanceArn) this.tasks.delete(taskArn);
    }
  }

  private async removeContainer(id: string): Promise<void> {
    const tracked = this.containers.get(id);
    if (tracked?.removeTimer) clearTimeout(tracked.removeTimer);
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (error) {
      const code = statusCodeOf(error);
      if (code !== 404 && code !== 409) throw error;
    }
    this.forget(id);
  }

  private forget(id: string): void {
    const tracked = this.containers.get(id);
    if (!tracked) return;
    if (tracked.removeTimer) clearTimeout(tracked.removeTimer);
    this.containers.delete(id);
    this.notify(tracked.instanceArn, { containerId: id, action: 'destroy', labels: tracked.view.labels, timeNano: BigInt(Date.now()) * 1_000_000n });
    const task = this.tasks.get(tracked.taskArn);
    if (task && task.containerIds.every((cid) => !this.containers.has(cid)) && task.stopRequested) this.tasks.delete(tracked.taskArn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const stream = this.events as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
    this.events = undefined;
    stream?.destroy?.();
    for (const task of this.tasks.values()) {
      task.silenced = true;
      task.stopRequested = true;
    }
    const ids = new Set(this.containers.keys());
    try {
      const listed = await this.docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${this.owner}`] } });
      for (const container of listed) ids.add(container.Id);
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot list containers while closing');
    }
    await Promise.all(
      [...ids].map((id) => this.removeContainer(id).catch((error: unknown) => this.logger.warn({ id, err: error }, 'cannot remove container'))),
    );
    this.tasks.clear();
    this.listeners.length = 0;
    this.watchers.clear();
  }

  /** Removes containers made by runtimes whose process is gone (a sandbox that was SIGKILLed). */
  async removeOrphans(): Promise<number> {
    const listed = await this.docker.listContainers({ all: true, filters: { label: [OWNER_PID_LABEL] } });
    let removed = 0;
    for (const container of listed) {
      const pid = Number(container.Labels[OWNER_PID_LABEL]);
      if (!Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) continue;
      try {
        await this.docker.getContainer(container.Id).remove({ force: true, v: true });
        removed += 1;
      } catch (error) {
        if (statusCodeOf(error) !== 404) throw error;
      }
    }
    if (removed > 0) this.logger.info({ removed }, `removed ${removed} container(s) left behind by an earlier sandbox`);
    return removed;
  }

  // ---- engine events ----

  private async openEvents(): Promise<void> {
    if (this.closed) return;
    const stream = await this.docker.getEvents({ filters: { type: ['container'], label: [`${OWNER_LABEL}=${this.owner}`] } });
    this.events = stream;
    const lines = new LineSplitter();
    stream.on('data', (chunk: Buffer | string) => {
      for (const line of lines.push(chunk)) {
        try {
          this.handleEngineEvent(JSON.parse(line) as EngineEvent);
        } catch (error) {
          this.logger.warn({ err: error, line }, 'cannot handle a Docker event');
        }
      }
    });
    const reopen = (): void => {
      if (this.closed || this.events !== stream) return;
      this.events = undefined;
      this.logger.warn('the Docker event stream ended; reconnecting');
      this.reconnectTimer = setTimeout(() => {
        this.openEvents().catch((error: unknown) => {
          this.logger.error({ err: error }, 'cannot reopen the Docker event stream');
          this.events = stream;
          reopen();
        });
      }, 1_000);
      this.reconnectTimer.unref();
    };
    stream.on('end', reopen);
    stream.on('error', reopen);
    stream.on('close', reopen);
    // Anything that happened while no stream was open: inspect every container we know.
    await Promise.all([...this.containers.keys()].map((id) => this.refresh(id)));
  }

  private handleEngineEvent(event: EngineEvent): void {
    const id = event.Actor?.ID ?? event.id;
    const action = event.Action ?? event.status ?? '';
    // exec_* events are the health checks' own execs; create is reported by createContainer().
    if (!id || action.startsWith('exec_') || action === 'create') return;
    const tracked = this.containers.get(id);
    if (!tracked) return;
    const timeNano = event.timeNano !== undefined ? BigInt(event.timeNano) : BigInt(Date.now()) * 1_000_000n;
    const base = { containerId: id, labels: tracked.view.labels, timeNano };
    if (action === 'start') {
      this.markStarted(id, Number(timeNano / 1_000_000n));
    } else if (action === 'die') {
      const exitCode = Number(event.Actor?.Attributes?.exitCode ?? NaN);
      tracked.view.state = 'exited';
      if (Number.isFinite(exitCode)) tracked.view.exitCode = exitCode;
      tracked.view.finishedAt ??= Number(timeNano / 1_000_000n);
      this.notify(tracked.instanceArn, { ...base, action, ...(Number.isFinite(exitCode) ? { exitCode } : {}) });
      void this.refresh(id);
      return;
    } else if (action === 'oom') {
      tracked.view.oomKilled = true;
      // A 137 exit waiting for this event is reported now rather than at its next look.
      if (tracked.view.state === 'exited' && !tracked.exitedReported) void this.refresh(id);
    } else if (action === 'kill') {
      tracked.signalled = true;
    } else if (action.startsWith('health_status')) {
      const health = healthOf(action.split(':')[1]?.trim());
      if (health !== tracked.view.health) {
        tracked.view.health = health;
        if (!this.tasks.get(tracked.taskArn)?.silenced) this.emit({ type: 'health', taskArn: tracked.taskArn, containerName: tracked.containerName, health });
      }
    } else if (action === 'destroy') {
      this.forget(id);
      return;
    }
    if (action !== 'start') this.notify(tracked.instanceArn, { ...base, action });
  }

  private markStarted(id: string, at: number): void {
    const tracked = this.containers.get(id);
    if (!tracked || tracked.startedReported) return;
    tracked.startedReported = true;
    if (tracked.view.state === 'created') tracked.view.state = 'running';
    tracked.view.startedAt ??= at;
    this.notify(tracked.instanceArn, { containerId: id, action: 'start', labels: tracked.view.labels, timeNano: BigInt(at) * 1_000_000n });
    if (!this.tasks.get(tracked.taskArn)?.silenced)
      this.emit({ type: 'started', taskArn: tracked.taskArn, containerName: tracked.containerName, runtimeId: id });
  }

  /** Inspects one container and reports an exit that has not been reported yet. */
  private async refresh(id: string, reasonIfExited?: string): Promise<void> {
    const tracked = this.containers.get(id);
    if (!tracked || tracked.exitedReported) return;
    let state: Docker.ContainerInspectInfo['State'];
    try {
      state = (await this.docker.getContainer(id).inspect()).State;
    } catch (error) {
      if (statusCodeOf(error) !== 404) {
        this.logger.warn({ id, err: error }, 'cannot inspect container');
        return;
      }
      // Removed behind our back (docker rm -f): it is gone, report it as killed.
      this.reportExit(tracked, 137, false, reasonIfExited ?? 'container removed');
      this.forget(id);
      return;
    }
    if (state.Running) {
      if (!tracked.startedReported) this.markStarted(id, epochMs(state.StartedAt) ?? Date.now());
      tracked.view.health = healthOf((state as { Health?: { Status?: string } }).Health?.Status);
      return;
    }
    if (state.Status === 'created') return;
    if (state.Status === 'exited' || state.Status === 'dead') {
      if (!tracked.startedReported && epochMs(state.StartedAt) !== null) this.markStarted(id, epochMs(state.StartedAt) ?? Date.now());
      tracked.view.finishedAt = epochMs(state.FinishedAt) ?? Date.now();
      const oomKilled = state.OOMKilled || tracked.view.oomKilled;
      if (!oomKilled && state.ExitCode === 137 && !tracked.signalled && (tracked.oomLooks ?? 0) < OOM_LOOKS && !this.closed) {
        // SIGKILL not sent through the engine (no 'kill' event): the kernel's OOM killer, most
        // likely. With cgroup v2 the engine's inspect can miss OOMKilled and its 'oom' event can
        // come after 'die', later still on a loaded machine (250 ms once was not enough in CI).
        // Look again for up to OOM_LOOKS x 250 ms; the 'oom' event ends the wait at once.
        tracked.oomLooks = (tracked.oomLooks ?? 0) + 1;
        setTimeout(() => void this.refresh(id, reasonIfExited), 250).unref();
        return;
      }
      const reason = oomKilled
        ? 'OutOfMemoryError: Container killed due to memory usage'
        : (reasonIfExited ?? (state.Error ? `CannotStartContainerError: ${state.Error}` : ''));
      this.reportExit(tracked, state.ExitCode, oomKilled, reason);
    }
  }

  private reportExit(tracked: TrackedContainer, exitCode: number, oomKilled: boolean, reason: string): void {
    if (tracked.exitedReported) return;
    tracked.exitedReported = true;
    tracked.view.state = 'exited';
    tracked.view.exitCode = exitCode;
    tracked.view.oomKilled = oomKilled;
    tracked.view.finishedAt ??= Date.now();
    if (!this.tasks.get(tracked.taskArn)?.silenced) {
      this.emit({ type: 'exited', taskArn: tracked.taskArn, containerName: tracked.containerName, exitCode, reason, ...(oomKilled ? { oomKilled } : {}) });
    }
    if (!this.closed && this.containers.has(tracked.id)) {
      tracked.removeTimer = setTimeout(() => {
        void this.removeContainer(tracked.id).catch((error: unknown) => this.logger.warn({ id: tracked.id, err: error }, 'cannot remove stopped container'));
      }, this.removeStoppedAfterMs);
      tracked.removeTimer.unref();
    }
  }

  private emit(event: Parameters<RuntimeListener>[0]): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error }, 'runtime listener failed');
      }
    }
  }

  private notify(instanceArn: string, event: ViewEvent): void {
    const set = this.watchers.get(instanceArn);
    if (!set) return;
    for (const watcher of [...set]) {
      try {
        watcher(event);
      } catch (error) {
        this.logger.error({ err: error }, 'view watcher failed');
      }
    }
  }
}

interface EngineEvent {
  status?: string;
  id?: string;
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}
