// The `simulated` task runtime: task containers live in memory, for scale and fault tests. It has
// a configurable start latency, failure rate and crash schedule, simulates each container's health
// check from the task definition (HEALTHY once the start period is over, unless told otherwise),
// and shows every instance a Docker-like view: containers labelled as the ECS agent labels them,
// and Docker-style events (create, start, die with exitCode, oom, health_status, destroy).
import { lastArnSegment } from '../../core/keys.js';
import { randomBytes } from 'node:crypto';
import { setTimer, systemClock, type Clock, type Timer } from '../../core/clock.js';
import {
  ECS_LABELS,
  INSTANCE_LABEL,
  type ContainerHealth,
  type RuntimeContainerSpec,
  type RuntimeEvent,
  type RuntimeListener,
  type RuntimeTaskSpec,
  type TaskRuntime,
  type ViewContainer,
  type ViewEvent,
} from './types.js';

export interface SimulatedRuntimeOptions {
  /** Time from start() to the containers running (default 50 ms). */
  startLatencyMs?: number;
  /** Time from stop() to the containers' exit (default 10 ms). */
  stopLatencyMs?: number;
  /** Share of task starts (0..1) that fail: the first essential container never starts. */
  failureRate?: number;
  /** Per task: after how many ms of running its first essential container crashes (exit 1); undefined = never. */
  crashAfterMs?: (spec: RuntimeTaskSpec) => number | undefined;
  /** Per container with a health check: the health it reaches after its start period (default HEALTHY). */
  healthOutcome?: (spec: RuntimeTaskSpec, container: RuntimeContainerSpec) => 'HEALTHY' | 'UNHEALTHY';
  /** Exit code of a container stopped by stop() (default 143: SIGTERM). */
  stopExitCode?: number;
  /** How long exited containers stay in the Docker view (default 1 h, like the agent's cleanup wait). */
  exitedRetentionMs?: number;
  rng?: () => number;
  clock?: Clock;
}

interface SimContainer {
  view: ViewContainer;
  spec: RuntimeContainerSpec;
  timers: Timer[];
}

interface SimTask {
  spec: RuntimeTaskSpec;
  containers: SimContainer[];
  timers: Timer[];
  stopping: boolean;
}

export class SimulatedRuntime implements TaskRuntime {
  readonly kind = 'simulated' as const;
  private readonly startLatencyMs: number;
  private readonly stopLatencyMs: number;
  private readonly failureRate: number;
  private readonly crashAfterMs: SimulatedRuntimeOptions['crashAfterMs'];
  private readonly healthOutcome: SimulatedRuntimeOptions['healthOutcome'];
  private readonly stopExitCode: number;
  private readonly exitedRetentionMs: number;
  private readonly rng: () => number;
  private readonly clock: Clock;
  private readonly tasks = new Map<string, SimTask>();
  /** Per instance, containers oldest first. */
  private readonly byInstance = new Map<string, SimContainer[]>();
  private readonly watchers = new Map<string, Set<(event: ViewEvent) => void>>();
  private readonly listeners: RuntimeListener[] = [];
  private closed = false;

  constructor(options: SimulatedRuntimeOptions = {}) {
    this.startLatencyMs = options.startLatencyMs ?? 50;
    this.stopLatencyMs = options.stopLatencyMs ?? 10;
    this.failureRate = options.failureRate ?? 0;
    this.crashAfterMs = options.crashAfterMs;
    this.healthOutcome = options.healthOutcome;
    this.stopExitCode = options.stopExitCode ?? 143;
    this.exitedRetentionMs = options.exitedRetentionMs ?? 60 * 60 * 1000;
    this.rng = options.rng ?? Math.random;
    this.clock = options.clock ?? systemClock;
  }

  onEvent(listener: RuntimeListener): void {
    this.listeners.push(listener);
  }

  async start(spec: RuntimeTaskSpec): Promise<void> {
    if (this.closed) throw new Error('the simulated runtime is closed');
    if (this.tasks.has(spec.taskArn)) throw new Error(`task ${spec.taskArn} is already started`);
    const now = this.clock.wallMs();
    const task: SimTask = { spec, containers: [], timers: [], stopping: false };
    this.tasks.set(spec.taskArn, task);
    let list = this.byInstance.get(spec.containerInstanceArn);
    if (!list) this.byInstance.set(spec.containerInstanceArn, (list = []));
    for (const container of spec.containers) {
      const taskId = lastArnSegment(spec.taskArn);
      const sim: SimContainer = {
        spec: container,
        timers: [],
        view: {
          id: randomBytes(32).toString('hex'),
          // The ECS agent's naming: ecs-<family>-<revision>-<container>-<random>.
          name: `ecs-${spec.family}-${spec.revision}-${container.name}-${taskId.slice(0, 20)}`,
          image: container.image,
          labels: {
            [ECS_LABELS.taskArn]: spec.taskArn,
            [ECS_LABELS.containerName]: container.name,
            [ECS_LABELS.family]: spec.family,
            [ECS_LABELS.version]: String(spec.revision),
            [ECS_LABELS.cluster]: spec.clusterName,
            [INSTANCE_LABEL]: spec.containerInstanceArn,
          },
          state: 'created',
          exitCode: null,
          health: 'UNKNOWN',
          createdAt: now,
          startedAt: null,
          finishedAt: null,
          hasHealthCheck: container.healthCheck !== undefined,
        },
      };
      task.containers.push(sim);
      list.push(sim);
      this.viewEvent(spec.containerInstanceArn, sim, 'create');
    }
    const fails = this.failureRate > 0 && this.rng() < this.failureRate;
    task.timers.push(setTimer(this.clock, () => (fails ? this.failStart(task) : this.run(task)), this.startLatencyMs));
  }

  private failStart(task: SimTask): void {
    if (task.stopping) return;
    const victim = task.containers.find((container) => container.spec.essential) ?? task.containers[0];
    for (const container of task.containers) {
      if (container !== victim) continue;
      container.view.state = 'exited';
      container.view.exitCode = 128;
      container.view.finishedAt = this.clock.wallMs();
      this.emit({
        type: 'exited',
        taskArn: task.spec.taskArn,
        containerName: container.spec.name,
        exitCode: 128,
        reason: 'CannotStartContainerError: simulated start failure',
      });
    }
  }

  private run(task: SimTask): void {
    if (task.stopping) return;
    const now = this.clock.wallMs();
    for (const container of task.containers) {
      if (container.view.state !== 'created') continue;
      container.view.state = 'running';
      container.view.startedAt = now;
      this.viewEvent(task.spec.containerInstanceArn, container, 'start');
      this.emit({ type: 'started', taskArn: task.spec.taskArn, containerName: container.spec.name, runtimeId: container.view.id });
      const check = container.spec.healthCheck;
      if (check) {
        // Docker reports "starting" (UNKNOWN here) until the first check after the start period.
        const delay = Math.max(check.startPeriodSeconds, Math.min(check.intervalSeconds, 1)) * 1000;
        container.timers.push(
          setTimer(
            this.clock,
            () => this.setHealth(task.spec.taskArn, container.spec.name, this.healthOutcome?.(task.spec, container.spec) ?? 'HEALTHY'),
            delay,
          ),
        );
      }
    }
    const crashIn = this.crashAfterMs?.(task.spec);
    if (crashIn !== undefined) {
      const victim = task.containers.find((container) => container.spec.essential) ?? task.containers[0];
      if (victim) task.timers.push(setTimer(this.clock, () => this.crash(task.spec.taskArn, victim.spec.name, 1), crashIn));
    }
  }

  /** Test hook: sets a running container's health (as its health check would), with Docker's event. */
  setHealth(taskArn: string, containerName: string, health: Exclude<ContainerHealth, 'UNKNOWN'>): void {
    const container = this.container(taskArn, containerName);
    if (!container || container.view.state !== 'running' || !container.spec.healthCheck) return;
    if (container.view.health === health) return;
    container.view.health = health;
    this.viewEvent(container.view.labels[INSTANCE_LABEL] as string, container, `health_status: ${health.toLowerCase()}`);
    this.emit({ type: 'health', taskArn, containerName, health });
  }

  /** Test hook: the container's process dies with `exitCode` (137 with oom: killed by the OOM killer). */
  crash(taskArn: string, containerName: string, exitCode: number, options: { oom?: boolean } = {}): void {
    const container = this.container(taskArn, containerName);
    if (!container || container.view.state !== 'running') return;
    const instance = container.view.labels[INSTANCE_LABEL] as string;
    if (options.oom) {
      container.view.oomKilled = true;
      this.viewEvent(instance, container, 'oom');
    }
    this.exit(instance, taskArn, container, exitCode, options.oom ? 'OutOfMemoryError: Container killed due to memory usage' : '', options.oom === true);
  }

  private exit(instance: string, taskArn: string, container: SimContainer, exitCode: number, reason: string, oomKilled = false): void {
    for (const timer of container.timers) timer.cancel();
    container.timers = [];
    const wasRunning = container.view.state === 'running';
    container.view.state = 'exited';
    container.view.exitCode = exitCode;
    container.view.finishedAt = this.clock.wallMs();
    if (container.spec.healthCheck) container.view.health = 'UNKNOWN';
    if (wasRunning) this.viewEvent(instance, container, 'die', exitCode);
    this.emit({ type: 'exited', taskArn, containerName: container.spec.name, exitCode, reason, ...(oomKilled ? { oomKilled } : {}) });
  }

  async stop(taskArn: string, _graceSeconds: number): Promise<void> {
    const task = this.tasks.get(taskArn);
    if (!task) return;
    const live = task.containers.filter((container) => container.view.state !== 'exited');
    if (live.length === 0) return;
    task.stopping = true;
    for (const timer of task.timers) timer.cancel();
    task.timers = [];
    await new Promise<void>((resolve) => {
      setTimer(
        this.clock,
        () => {
          for (const container of live) {
            if (container.view.state === 'exited') continue;
            // A container that never started exits without running; Docker gives it no code.
            const started = container.view.state === 'running';
            this.exit(
              task.spec.containerInstanceArn,
              taskArn,
              container,
              started ? this.stopExitCode : 0,
              started ? '' : 'Task stopped before the container started',
            );
          }
          resolve();
        },
        this.stopLatencyMs,
      );
    });
  }

  async removeInstance(containerInstanceArn: string): Promise<void> {
    const list = this.byInstance.get(containerInstanceArn) ?? [];
    for (const container of list) {
      for (const timer of container.timers) timer.cancel();
      const taskArn = container.view.labels[ECS_LABELS.taskArn] as string;
      const task = this.tasks.get(taskArn);
      if (task) {
        for (const timer of task.timers) timer.cancel();
        task.stopping = true;
        this.tasks.delete(taskArn);
      }
    }
    this.byInstance.delete(containerInstanceArn);
    this.watchers.delete(containerInstanceArn);
  }

  containersOf(containerInstanceArn: string): ViewContainer[] {
    const found = this.byInstance.get(containerInstanceArn);
    if (!found) return [];
    const list = this.collect(containerInstanceArn, found);
    return list
      .slice()
      .reverse()
      .map((container) => ({ ...container.view, labels: { ...container.view.labels } }));
  }

  /** Removes exited containers older than the retention (as the agent's task cleanup does). */
  private collect(containerInstanceArn: string, list: SimContainer[]): SimContainer[] {
    const horizon = this.clock.wallMs() - this.exitedRetentionMs;
    const keep = list.filter((container) => !(container.view.state === 'exited' && (container.view.finishedAt ?? 0) <= horizon));
    if (keep.length === list.length) return list;
    for (const container of list) {
      if (keep.includes(container)) continue;
      this.viewEvent(containerInstanceArn, container, 'destroy');
      const taskArn = container.view.labels[ECS_LABELS.taskArn] as string;
      const task = this.tasks.get(taskArn);
      if (task && task.containers.every((item) => !keep.includes(item))) this.tasks.delete(taskArn);
    }
    this.byInstance.set(containerInstanceArn, keep);
    return keep;
  }

  watch(containerInstanceArn: string, onEvent: (event: ViewEvent) => void): () => void {
    let set = this.watchers.get(containerInstanceArn);
    if (!set) this.watchers.set(containerInstanceArn, (set = new Set()));
    set.add(onEvent);
    return () => {
      set.delete(onEvent);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.tasks.values()) {
      for (const timer of task.timers) timer.cancel();
      for (const container of task.containers) for (const timer of container.timers) timer.cancel();
    }
    this.watchers.clear();
  }

  private container(taskArn: string, containerName: string): SimContainer | undefined {
    return this.tasks.get(taskArn)?.containers.find((container) => container.spec.name === containerName);
  }

  private emit(event: RuntimeEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private viewEvent(containerInstanceArn: string, container: SimContainer, action: string, exitCode?: number): void {
    const set = this.watchers.get(containerInstanceArn);
    if (!set || set.size === 0) return;
    const event: ViewEvent = {
      containerId: container.view.id,
      action,
      labels: { ...container.view.labels },
      timeNano: BigInt(this.clock.wallMs()) * 1_000_000n,
      ...(exitCode !== undefined ? { exitCode } : {}),
    };
    for (const listener of set) listener(event);
  }
}
