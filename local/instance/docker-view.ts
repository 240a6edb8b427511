// A Docker Engine API view for one emulated instance, served over its own unix socket: what
// `/var/run/docker.sock` shows on a real container instance, limited to that instance's containers.
// Backed by the task runtime's containersOf()/watch(), so it works the same over the docker and the
// simulated runtimes, and dockerode (`new Docker({ socketPath })`) works against it unchanged.
//
// Routes (an optional `/v1.NN` prefix is accepted, as the engine does):
//   GET|HEAD /_ping                       "OK" with API-Version, OSType headers
//   GET /version, GET /info               engine identity, container counts
//   GET /containers/json                  `all`, `limit`, `filters` (label, status, id, name, health)
//   GET /containers/{id|name}/json        inspect: Id, Name, State{Status, Running, ExitCode, OOMKilled,
//                                         Health{Status}}, Config{Labels, Image}, ...
//   GET /events                           streaming JSON lines; `filters` (type, event, label,
//                                         container), `since` / `until` (unix seconds or RFC 3339);
//                                         events kept since the view started can be replayed by `since`
// Anything that would change state (create, start, kill, ...) answers 404: the agent talks to ECS,
// never to the engine, to run tasks. Only the read side an agent needs is offered.
import { existsSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { TaskRuntime, ViewContainer, ViewEvent } from '../runtime/types.js';
import { closeServer, listen } from '../../core/net.js';
import { sendJson, sendText } from './http.js';

export const VIEW_API_VERSION = '1.41';
export const VIEW_ENGINE_VERSION = '20.10.24';
const HISTORY_LIMIT = 1_000;

type Filters = Map<string, string[]>;

class FilterError extends Error {}

/** Docker's `filters` parameter: `{"label":["a=b"]}` or the older `{"label":{"a=b":true}}`. */
export function parseFilters(raw: string | null): Filters {
  const filters: Filters = new Map();
  if (!raw) return filters;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new FilterError(`invalid filter '${raw}'`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new FilterError(`invalid filter '${raw}'`);
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(value)) filters.set(key, value.map(String));
    else if (typeof value === 'object' && value !== null)
      filters.set(
        key,
        Object.entries(value)
          .filter(([, on]) => on === true)
          .map(([name]) => name),
      );
    else throw new FilterError(`invalid filter '${key}'`);
  }
  return filters;
}

function labelsMatch(wanted: string[] | undefined, labels: Record<string, string>): boolean {
  if (!wanted) return true;
  return wanted.every((expression) => {
    const equals = expression.indexOf('=');
    if (equals < 0) return expression in labels;
    return labels[expression.slice(0, equals)] === expression.slice(equals + 1);
  });
}

function dockerHealth(container: ViewContainer): 'starting' | 'healthy' | 'unhealthy' | 'none' {
  if (container.health === 'HEALTHY') return 'healthy';
  if (container.health === 'UNHEALTHY') return 'unhealthy';
  return container.hasHealthCheck ? 'starting' : 'none';
}

function iso(ms: number | null): string {
  return ms === null ? '0001-01-01T00:00:00Z' : new Date(ms).toISOString();
}

function humanDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 1) return 'Less than a second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.round(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours === 1) return 'About an hour';
  return `${hours} hours`;
}

/** A point in time from Docker's since/until: unix seconds (fractional allowed) or a date. */
function parseTime(raw: string | null): number | undefined {
  if (raw === null || raw === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw) * 1000;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new FilterError(`invalid time '${raw}'`);
  return ms;
}

interface RecordedEvent {
  event: ViewEvent;
  name: string;
  image: string;
}

export interface DockerViewOptions {
  runtime: Pick<TaskRuntime, 'containersOf' | 'watch'>;
  socketPath: string;
  /** The engine's name in /info; default the machine's host name. */
  name?: string;
}

export class DockerViewServer {
  private readonly server: Server;
  private instanceArn = '';
  private unwatch: (() => void) | undefined;
  private readonly history: RecordedEvent[] = [];
  private readonly known = new Map<string, { name: string; image: string }>();
  private readonly subscribers = new Set<(recorded: RecordedEvent) => void>();

  constructor(private readonly options: DockerViewOptions) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  get socketPath(): string {
    return this.options.socketPath;
  }

  async start(): Promise<void> {
    if (existsSync(this.options.socketPath)) rmSync(this.options.socketPath, { force: true });
    await listen(this.server, { path: this.options.socketPath });
  }

  /** Shows the containers of this container instance (known once the instance has registered). */
  setInstance(containerInstanceArn: string): void {
    if (this.instanceArn === containerInstanceArn) return;
    this.unwatch?.();
    this.instanceArn = containerInstanceArn;
    this.unwatch = this.options.runtime.watch(containerInstanceArn, (event) => this.record(event));
  }

  async close(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    this.subscribers.clear();
    await closeServer(this.server);
    rmSync(this.options.socketPath, { force: true });
  }

  private containers(): ViewContainer[] {
    if (!this.instanceArn) return [];
    const containers = this.options.runtime.containersOf(this.instanceArn);
    for (const container of containers) this.known.set(container.id, { name: container.name, image: container.image });
    return containers;
  }

  private record(event: ViewEvent): void {
    const container = this.containers().find((candidate) => candidate.id === event.containerId);
    const known = this.known.get(event.containerId);
    const recorded: RecordedEvent = { event, name: container?.name ?? known?.name ?? '', image: container?.image ?? known?.image ?? '' };
    if (event.action === 'destroy') this.known.delete(event.containerId);
    this.history.push(recorded);
    if (this.history.length > HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
    for (const subscriber of [...this.subscribers]) subscriber(recorded);
  }

  private find(ref: string): ViewContainer | undefined {
    const containers = this.containers();
    const byName = ref.replace(/^\//, '');
    return (
      containers.find((container) => container.id === ref) ??
      containers.find((container) => container.name === byName) ??
      (() => {
        const prefixed = containers.filter((container) => container.id.startsWith(ref));
        return prefixed.length === 1 ? prefixed[0] : undefined;
      })()
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/^\/v\d+(\.\d+)?(?=\/)/, '');
    const headers = { 'Api-Version': VIEW_API_VERSION, 'Docker-Experimental': 'false', Ostype: 'linux', Server: `Docker/${VIEW_ENGINE_VERSION} (linux)` };
    try {
      if (path === '/_ping' && (req.method === 'GET' || req.method === 'HEAD'))
        return sendText(res, 200, 'OK', { ...headers, 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache' });
      if (req.method !== 'GET') return sendJson(res, 404, { message: 'page not found' }, headers);
      if (path === '/version') return sendJson(res, 200, this.version(), headers);
      if (path === '/info') return sendJson(res, 200, this.info(), headers);
      if (path === '/containers/json') return sendJson(res, 200, this.list(url), headers);
      const inspect = /^\/containers\/([^/]+)\/json$/.exec(path);
      if (inspect) {
        const ref = decodeURIComponent(inspect[1] ?? '');
        const container = this.find(ref);
        if (!container) return sendJson(res, 404, { message: `No such container: ${ref}` }, headers);
        return sendJson(res, 200, this.inspect(container), headers);
      }
      if (path === '/events') return this.events(req, res, url, headers);
      sendJson(res, 404, { message: 'page not found' }, headers);
    } catch (error) {
      if (error instanceof FilterError) return sendJson(res, 400, { message: error.message }, headers);
      sendJson(res, 500, { message: String(error) }, headers);
    }
  }

  private version(): Record<string, unknown> {
    return {
      Platform: { Name: 'Docker Engine - blox-local view' },
      Version: VIEW_ENGINE_VERSION,
      ApiVersion: VIEW_API_VERSION,
      MinAPIVersion: '1.12',
      GitCommit: 'blox-local',
      GoVersion: 'go1.19.8',
      Os: 'linux',
      Arch: process.arch === 'arm64' ? 'arm64' : 'amd64',
      KernelVersion: 'blox-local',
      BuildTime: '2026-01-01T00:00:00.000000000+00:00',
      Components: [{ Name: 'Engine', Version: VIEW_ENGINE_VERSION, Details: { ApiVersion: VIEW_API_VERSION } }],
    };
  }

  private info(): Record<string, unknown> {
    const containers = this.containers();
    return {
      ID: this.instanceArn || 'unregistered',
      Containers: containers.length,
      ContainersRunning: containers.filter((container) => container.state === 'running').length,
      ContainersPaused: 0,
      ContainersStopped: containers.filter((container) => container.state === 'exited').length,
      Name: this.options.name ?? hostname(),
      ServerVersion: VIEW_ENGINE_VERSION,
      OperatingSystem: 'blox-local',
      OSType: 'linux',
      Architecture: process.arch === 'arm64' ? 'aarch64' : 'x86_64',
      Labels: [],
    };
  }

  private list(url: URL): Record<string, unknown>[] {
    const filters = parseFilters(url.searchParams.get('filters'));
    for (const key of filters.keys()) {
      if (!['label', 'status', 'id', 'name', 'health'].includes(key)) throw new FilterError(`invalid filter '${key}'`);
    }
    const allParam = url.searchParams.get('all');
    const all = (allParam !== null && allParam !== '0' && allParam !== 'false') || filters.has('status');
    const now = Date.now();
    let containers = this.containers().filter((container) => {
      if (!all && container.state !== 'running') return false;
      if (!labelsMatch(filters.get('label'), container.labels)) return false;
      const statuses = filters.get('status');
      if (statuses && !statuses.includes(container.state)) return false;
      const ids = filters.get('id');
      if (ids && !ids.some((id) => container.id.startsWith(id))) return false;
      const names = filters.get('name');
      if (names && !names.some((name) => container.name.includes(name.replace(/^\//, '')))) return false;
      const healths = filters.get('health');
      if (healths && !healths.includes(dockerHealth(container))) return false;
      return true;
    });
    const limit = Number(url.searchParams.get('limit') ?? '-1');
    if (Number.isInteger(limit) && limit > 0) containers = containers.slice(0, limit);
    return containers.map((container) => ({
      Id: container.id,
      Names: [`/${container.name}`],
      Image: container.image,
      ImageID: '',
      Command: '',
      Created: Math.floor(container.createdAt / 1000),
      Ports: [],
      Labels: { ...container.labels },
      State: container.state,
      Status: this.statusText(container, now),
      HostConfig: { NetworkMode: 'default' },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    }));
  }

  private statusText(container: ViewContainer, now: number): string {
    if (container.state === 'created') return 'Created';
    if (container.state === 'running') {
      const health = dockerHealth(container);
      const suffix = health === 'none' ? '' : health === 'starting' ? ' (health: starting)' : ` (${health})`;
      return `Up ${humanDuration(now - (container.startedAt ?? now))}${suffix}`;
    }
    return `Exited (${container.exitCode ?? 0}) ${humanDuration(now - (container.finishedAt ?? now))} ago`;
  }

  private inspect(container: ViewContainer): Record<string, unknown> {
    const health = dockerHealth(container);
    return {
      Id: container.id,
      Created: iso(container.createdAt),
      Path: '',
      Args: [],
      State: {
        Status: container.state,
        Running: container.state === 'running',
        Paused: false,
        Restarting: false,
        OOMKilled: container.oomKilled === true,
        Dead: false,
        Pid: 0,
        ExitCode: container.exitCode ?? 0,
        Error: '',
        StartedAt: iso(container.startedAt),
        FinishedAt: iso(container.finishedAt),
        ...(health === 'none' ? {} : { Health: { Status: health, FailingStreak: health === 'unhealthy' ? 1 : 0, Log: [] } }),
      },
      Image: '',
      Name: `/${container.name}`,
      RestartCount: 0,
      Driver: 'vfs',
      Platform: 'linux',
      HostConfig: { NetworkMode: 'default' },
      Config: { Hostname: container.id.slice(0, 12), Image: container.image, Labels: { ...container.labels }, Env: [], Cmd: null },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    };
  }

  private events(req: IncomingMessage, res: ServerResponse, url: URL, headers: Record<string, string>): void {
    const filters = parseFilters(url.searchParams.get('filters'));
    const since = parseTime(url.searchParams.get('since'));
    const until = parseTime(url.searchParams.get('until'));
    const types = filters.get('type');
    const actions = filters.get('event');
    const containerRefs = filters.get('container');
    const matches = ({ event, name }: RecordedEvent): boolean => {
      if (types && !types.includes('container')) return false;
      if (actions && !actions.some((action) => action === event.action || action === event.action.split(':')[0])) return false;
      if (!labelsMatch(filters.get('label'), event.labels)) return false;
      if (containerRefs && !containerRefs.some((ref) => event.containerId.startsWith(ref) || name === ref.replace(/^\//, ''))) return false;
      const ms = Number(event.timeNano / 1_000_000n);
      if (since !== undefined && ms < since) return false;
      if (until !== undefined && ms > until) return false;
      return true;
    };
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json' });
    res.flushHeaders();
    const write = (recorded: RecordedEvent): void => {
      if (matches(recorded)) res.write(`${this.eventJson(recorded)}\n`);
    };
    if (since !== undefined) for (const recorded of this.history) write(recorded);
    if (until !== undefined && until <= Date.now()) {
      res.end();
      return;
    }
    this.subscribers.add(write);
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      this.subscribers.delete(write);
      if (timer) clearTimeout(timer);
    };
    if (until !== undefined) {
      timer = setTimeout(() => {
        finish();
        res.end();
      }, until - Date.now());
      timer.unref();
    }
    req.on('close', finish);
    res.on('close', finish);
  }

  private eventJson({ event, name, image }: RecordedEvent): string {
    const attributes: Record<string, string> = { ...event.labels, image, name };
    if (event.exitCode !== undefined) attributes.exitCode = String(event.exitCode);
    const seconds = event.timeNano / 1_000_000_000n;
    // timeNano exceeds 2^53: written as raw digits so no precision is lost.
    const body = JSON.stringify({
      status: event.action,
      id: event.containerId,
      from: image,
      Type: 'container',
      Action: event.action,
      Actor: { ID: event.containerId, Attributes: attributes },
      scope: 'local',
      time: Number(seconds),
    });
    return `${body.slice(0, -1)},"timeNano":${event.timeNano.toString()}}`;
  }
}
