// Docker events through dockerode, for reaction in milliseconds: die, oom and health_status of
// containers that carry the ECS task-arn label, with reconnection after the stream ends or fails.
// Also the containers' health per task (the ECS agent's /v1/tasks does not carry it).
import Docker from 'dockerode';
import { LineSplitter } from '../../core/json-lines.js';
import { ECS_LABELS } from '../../core/ecs-labels.js';
import type { DockerPort, TaskHealthView } from '../ports.js';

export interface TaskContainerEvent {
  taskArn: string;
  containerName?: string;
  action: 'die' | 'oom' | 'health_status';
  health?: 'healthy' | 'unhealthy' | 'starting';
  exitCode?: number;
  timeNano?: string;
}

export interface DockerWatchOptions {
  socketPath: string;
  onEvent: (event: TaskContainerEvent) => void;
  onState?: (connected: boolean, error?: unknown) => void;
  /** Reconnect delays: doubles from 250 ms up to this. */
  maxReconnectDelayMs?: number;
}

export class DockerWatcher implements DockerPort {
  private readonly docker: Docker;
  private stream: NodeJS.ReadableStream | undefined;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private delay = 250;
  private lastTimeSeconds: number | undefined;

  constructor(private readonly options: DockerWatchOptions) {
    this.docker = new Docker({ socketPath: options.socketPath });
  }

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    try {
      const filters = { type: ['container'], event: ['die', 'oom', 'health_status'], label: [ECS_LABELS.taskArn] };
      const stream = (await this.docker.getEvents({
        filters: JSON.stringify(filters) as unknown as Record<string, string[]>,
        ...(this.lastTimeSeconds ? { since: this.lastTimeSeconds } : {}),
      })) as NodeJS.ReadableStream;
      if (this.closed) {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        return;
      }
      this.stream = stream;
      this.delay = 250;
      this.options.onState?.(true);
      const lines = new LineSplitter();
      stream.on('data', (chunk: Buffer | string) => {
        for (const line of lines.push(chunk)) this.handle(line);
      });
      const again = (error?: unknown) => {
        if (this.stream !== stream) return;
        this.stream = undefined;
        this.options.onState?.(false, error);
        this.schedule();
      };
      stream.on('end', () => again());
      stream.on('close', () => again());
      stream.on('error', (error: unknown) => again(error));
    } catch (error) {
      this.options.onState?.(false, error);
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, this.options.maxReconnectDelayMs ?? 10_000);
  }

  private handle(line: string): void {
    let event: { status?: string; Action?: string; time?: number; timeNano?: number | string; Actor?: { Attributes?: Record<string, string> } };
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    const action = event.Action ?? event.status ?? '';
    const attributes = event.Actor?.Attributes ?? {};
    const taskArn = attributes[ECS_LABELS.taskArn];
    if (!taskArn) return;
    if (typeof event.time === 'number') this.lastTimeSeconds = event.time;
    const base = {
      taskArn,
      ...(attributes[ECS_LABELS.containerName] ? { containerName: attributes[ECS_LABELS.containerName] } : {}),
      ...(event.timeNano !== undefined ? { timeNano: String(event.timeNano) } : {}),
    };
    if (action === 'die') {
      const exitCode = Number(attributes.exitCode);
      this.options.onEvent({ ...base, action: 'die', ...(Number.isFinite(exitCode) ? { exitCode } : {}) });
    } else if (action === 'oom') this.options.onEvent({ ...base, action: 'oom' });
    else if (action.startsWith('health_status')) {
      const health = action.split(':')[1]?.trim();
      if (health === 'healthy' || health === 'unhealthy' || health === 'starting') this.options.onEvent({ ...base, action: 'health_status', health });
    }
  }

  /** Health of each task's containers, from the engine's container list (label-filtered). */
  async taskHealth(): Promise<Map<string, TaskHealthView>> {
    const containers = await this.docker.listContainers({
      all: false,
      filters: JSON.stringify({ label: [ECS_LABELS.taskArn] }) as unknown as Record<string, string[]>,
    });
    const result = new Map<string, TaskHealthView>();
    for (const c of containers) {
      const taskArn = c.Labels?.[ECS_LABELS.taskArn];
      if (!taskArn) continue;
      const status = c.Status ?? '';
      const health = /\(healthy\)/.test(status)
        ? 'HEALTHY'
        : /\(unhealthy\)/.test(status)
          ? 'UNHEALTHY'
          : /\(health: starting\)/.test(status)
            ? 'UNKNOWN'
            : undefined;
      const prev = result.get(taskArn) ?? { health: 'HEALTHY' as const, hasHealthCheck: false, running: true };
      const next: TaskHealthView = { ...prev, running: prev.running && c.State === 'running' };
      if (health !== undefined) {
        next.hasHealthCheck = true;
        if (health === 'UNHEALTHY' || prev.health === 'UNHEALTHY') next.health = 'UNHEALTHY';
        else if (health === 'UNKNOWN' || (prev.hasHealthCheck && prev.health === 'UNKNOWN')) next.health = 'UNKNOWN';
        else next.health = 'HEALTHY';
      } else if (!prev.hasHealthCheck) next.health = 'UNKNOWN';
      result.set(taskArn, next);
    }
    return result;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const stream = this.stream as unknown as { destroy?: () => void } | undefined;
    this.stream = undefined;
    stream?.destroy?.();
  }
}
