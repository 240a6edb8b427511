// The ECS container agent's introspection API (port 51678 on a real host) for one emulated
// instance. Shapes as the ECS agent (agent/handlers, ecs-agent/introspection/v1) answers them:
//   GET /                     {"AvailableCommands": [...]}
//   GET /v1/metadata          {"Cluster", "ContainerInstanceArn", "Version"}
//   GET /v1/tasks             {"Tasks": [TaskResponse...]}
//   GET /v1/tasks?taskarn=A   TaskResponse, or 404 with an empty TaskResponse
//   GET /v1/tasks?dockerid=D  TaskResponse (full id, or a short id of at most 12 characters);
//                             400 when both parameters are given or a short id is ambiguous
// TaskResponse = {Arn, DesiredStatus, KnownStatus, Family, Version, Containers:[{DockerId, DockerName, Name}]}.
// KnownStatus uses the ECS agent's own task statuses (NONE, PULLED, CREATED, RUNNING, STOPPED),
// mapped from the emulator's lastStatus. Containers lists only containers that have a Docker id, as
// the agent does (it lists its container map); it is [] rather than Go's null when there are none.
//
// The real agent starts this server only after it has registered the instance. Here the port is
// bound from the start (a port reserved but left unbound can be taken by any other socket) and
// every connection is reset until `register()` is called: the agent sees a connection error
// either way and retries with backoff.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { clusterNameOf } from '../../core/keys.js';
import type { TaskRuntime } from '../runtime/types.js';
import { boundPort, closeServer, listen } from '../../core/net.js';
import { sendJson, sendText } from './http.js';

export const ECS_AGENT_VERSION = 'Amazon ECS Agent - v1.89.0 (0b10c1a1)';

/** What introspection needs from the emulator: the tasks placed on an instance. */
export interface InstanceTaskSource {
  tasksOnInstance(containerInstanceArn: string): ReadonlyArray<IntrospectedTask>;
}

export interface IntrospectedTask {
  taskArn: string;
  clusterArn?: string;
  family: string;
  revision: number;
  lastStatus: string;
  desiredStatus: string;
  containers: ReadonlyArray<{ name: string; runtimeId?: string | null | undefined }>;
}

interface ContainerResponse {
  DockerId: string;
  DockerName: string;
  Name: string;
}

interface TaskResponse {
  Arn: string;
  DesiredStatus?: string;
  KnownStatus: string;
  Family: string;
  Version: string;
  Containers: ContainerResponse[] | null;
}

const EMPTY_TASK: TaskResponse = { Arn: '', KnownStatus: '', Family: '', Version: '', Containers: null };

/** The emulator's lastStatus (ECS API) -> the ECS agent's KnownStatus for a task. */
export function knownStatusOf(lastStatus: string, anyContainerCreated: boolean): string {
  switch (lastStatus) {
    case 'PROVISIONING':
      return 'NONE';
    case 'PENDING':
      return anyContainerCreated ? 'CREATED' : 'PULLED';
    case 'ACTIVATING':
    case 'RUNNING':
    case 'DEACTIVATING':
    case 'STOPPING':
      return 'RUNNING';
    case 'DEPROVISIONING':
    case 'STOPPED':
      return 'STOPPED';
    default:
      return 'NONE';
  }
}

export interface IntrospectionOptions {
  tasks: InstanceTaskSource;
  runtime: Pick<TaskRuntime, 'containersOf'>;
  host: string;
  /** 0 or absent: a free port, known once `start()` has resolved. */
  port?: number;
  version?: string;
}

export class IntrospectionServer {
  private readonly server: Server;
  private cluster = '';
  private containerInstanceArn = '';

  constructor(private readonly options: IntrospectionOptions) {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      if (!this.registered) socket.resetAndDestroy();
    });
  }

  get url(): string {
    return `http://${this.options.host}:${boundPort(this.server)}`;
  }

  /** Binds the port; connections are reset until `register()`. */
  start(): Promise<void> {
    return listen(this.server, { port: this.options.port ?? 0, host: this.options.host });
  }

  get registered(): boolean {
    return this.containerInstanceArn !== '';
  }

  /** The instance has registered: start answering (as the ECS agent does after RegisterContainerInstance). */
  register(containerInstanceArn: string, cluster: string): void {
    this.containerInstanceArn = containerInstanceArn;
    this.cluster = clusterNameOf(cluster);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'Method Not Allowed\n');
    if (url.pathname === '/') return sendJson(res, 200, { AvailableCommands: ['/v1/metadata', '/v1/tasks', '/license'] });
    if (url.pathname === '/license') return sendText(res, 200, 'Amazon Elastic Container Service Agent (emulated by blox-edge local)\n');
    if (url.pathname === '/v1/metadata') {
      return sendJson(res, 200, { Cluster: this.cluster, ContainerInstanceArn: this.containerInstanceArn, Version: this.options.version ?? ECS_AGENT_VERSION });
    }
    if (url.pathname === '/v1/tasks') return this.tasks(url, res);
    sendText(res, 404, '404 page not found\n');
  }

  private tasks(url: URL, res: ServerResponse): void {
    const all = this.taskResponses();
    const hasDockerId = url.searchParams.has('dockerid');
    const hasTaskArn = url.searchParams.has('taskarn');
    if (hasDockerId && hasTaskArn) return sendJson(res, 400, EMPTY_TASK);
    if (hasTaskArn) {
      const arn = url.searchParams.get('taskarn') ?? '';
      const task = all.find((candidate) => candidate.Arn === arn);
      return task ? sendJson(res, 200, task) : sendJson(res, 404, EMPTY_TASK);
    }
    if (hasDockerId) {
      const id = url.searchParams.get('dockerid') ?? '';
      const matches = all.filter((task) =>
        (task.Containers ?? []).some((container) => (id.length > 12 ? container.DockerId === id : id !== '' && container.DockerId.startsWith(id))),
      );
      if (matches.length > 1) return sendJson(res, 400, EMPTY_TASK);
      return matches[0] ? sendJson(res, 200, matches[0]) : sendJson(res, 404, EMPTY_TASK);
    }
    sendJson(res, 200, { Tasks: all });
  }

  private taskResponses(): TaskResponse[] {
    const arn = this.containerInstanceArn;
    const views = new Map(this.options.runtime.containersOf(arn).map((view) => [view.id, view]));
    return this.options.tasks.tasksOnInstance(arn).map((task) => {
      const containers: ContainerResponse[] = [];
      for (const container of task.containers) {
        if (!container.runtimeId) continue;
        containers.push({ DockerId: container.runtimeId, DockerName: views.get(container.runtimeId)?.name ?? container.runtimeId, Name: container.name });
      }
      return {
        Arn: task.taskArn,
        DesiredStatus: task.desiredStatus,
        KnownStatus: knownStatusOf(task.lastStatus, containers.length > 0),
        Family: task.family,
        Version: String(task.revision),
        Containers: containers,
      };
    });
  }
}
