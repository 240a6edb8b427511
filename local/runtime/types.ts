// The seam between the ECS emulator (which owns task state) and what runs a task's containers:
// real containers on a Docker engine, or an in-process simulation. The emulator calls start/stop;
// the runtime reports container lifecycle back through the listener. Both runtimes also offer a
// per-instance "Docker view" (containers + events) that the instance endpoints serve to agents.
import type { HealthStatus } from '../../core/records.js';

export interface RuntimeHealthCheck {
  command: string[];
  intervalSeconds: number;
  timeoutSeconds: number;
  retries: number;
  startPeriodSeconds: number;
}

export interface RuntimeContainerSpec {
  name: string;
  image: string;
  essential: boolean;
  command?: string[];
  entryPoint?: string[];
  environment: Record<string, string>;
  memoryMiB?: number;
  cpuUnits?: number;
  healthCheck?: RuntimeHealthCheck;
}

export interface RuntimeTaskSpec {
  taskArn: string;
  clusterName: string;
  clusterArn: string;
  containerInstanceArn: string;
  family: string;
  revision: number;
  containers: RuntimeContainerSpec[];
  /** The task definition's networkMode (bridge, host, awsvpc, none); absent = the runtime's default. */
  networkMode?: string;
}

export type ContainerHealth = HealthStatus;

/** What a runtime reports about one container of a task. */
export type RuntimeEvent =
  | { type: 'started'; taskArn: string; containerName: string; runtimeId: string }
  | { type: 'health'; taskArn: string; containerName: string; health: ContainerHealth }
  | { type: 'exited'; taskArn: string; containerName: string; exitCode: number; reason: string; oomKilled?: boolean };

export type RuntimeListener = (event: RuntimeEvent) => void;

/** A container as the per-instance Docker view shows it (shape of Docker's /containers/json). */
export interface ViewContainer {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  state: 'created' | 'running' | 'exited';
  exitCode: number | null;
  health: ContainerHealth;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Killed by the kernel's OOM killer (Docker's State.OOMKilled); absent = false. */
  oomKilled?: boolean;
  /** Whether the container has a health check (Docker shows State.Health only then); absent = false. */
  hasHealthCheck?: boolean;
}

/** A Docker-style event: `action` is start, die, oom, health_status: healthy|unhealthy, destroy. */
export interface ViewEvent {
  containerId: string;
  action: string;
  labels: Record<string, string>;
  timeNano: bigint;
  exitCode?: number;
}

export interface TaskRuntime {
  readonly kind: 'docker' | 'simulated';
  /** Creates and starts the task's containers; events follow through the listener. */
  start(spec: RuntimeTaskSpec): Promise<void>;
  /** Stops the task's containers (SIGTERM, then SIGKILL after `graceSeconds`). Idempotent. */
  stop(taskArn: string, graceSeconds: number): Promise<void>;
  /** Removes every container this runtime made for an instance that vanished. */
  removeInstance(containerInstanceArn: string): Promise<void>;
  /** The containers of one instance, newest first. */
  containersOf(containerInstanceArn: string): ViewContainer[];
  /** Subscribes to one instance's container events; returns the unsubscribe function. */
  watch(containerInstanceArn: string, onEvent: (event: ViewEvent) => void): () => void;
  onEvent(listener: RuntimeListener): void;
  close(): Promise<void>;
}

export { ECS_LABELS } from '../../core/ecs-labels.js';

/** Sandbox-only label: which emulated container instance a container belongs to. */
export const INSTANCE_LABEL = 'blox-local.container-instance-arn';
