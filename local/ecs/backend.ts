// The ECS control plane the emulator serves, assembled from its parts: the state (state.ts), the
// task lifecycle (lifecycle.ts), the service scheduler (services/), and one module per resource
// (resources/), each answering its
// operations synchronously in ECS's JSON 1.1 wire shapes; the HTTP layer (emulator.ts) only
// frames them. Behaviour modelled where the documentation leaves room is noted next to the code
// ("Modelled:") and listed in docs/emulator.md.
import type { Clock } from '../../core/clock.js';
import type { TaskRuntime } from '../runtime/types.js';
import type { EcsContext, Operations } from './context.js';
import { TaskLifecycle, type Log, type TaskChangeListener } from './lifecycle.js';
import { attributeOperations } from './resources/attributes.js';
import { clusterOperations } from './resources/clusters.js';
import { ContainerInstances, type RegisterInstanceInput } from './resources/container-instances.js';
import { serviceOperations, serviceTaggable } from './resources/services.js';
import { tagOperations } from './resources/tags.js';
import { taskDefinitionOperations } from './resources/task-definitions.js';
import { taskOperations } from './resources/tasks.js';
import { ServiceScheduler } from './services/scheduler.js';
import { EcsState, type ClusterState } from './state.js';
import type { EmulatedInstance, EmulatedTask } from './types.js';
import { instanceView, taskView } from './wire.js';

export type { RegisterInstanceInput } from './resources/container-instances.js';

export interface BackendOptions {
  region: string;
  accountId: string;
  runtime: TaskRuntime;
  clock: Clock;
  /** How long STOPPED tasks stay describable (ECS: "at least one hour"). */
  stoppedTaskRetentionMs?: number;
  rng?: () => number;
  log?: Log;
}

export class EcsBackend {
  readonly region: string;
  readonly accountId: string;
  private readonly state: EcsState;
  private readonly lifecycle: TaskLifecycle;
  private readonly clock: Clock;
  private readonly retentionMs: number;
  private readonly instances: ContainerInstances;
  /** The operations served, by ECS operation name. */
  readonly operations: Operations;

  constructor(options: BackendOptions) {
    this.region = options.region;
    this.accountId = options.accountId;
    this.clock = options.clock;
    this.retentionMs = options.stoppedTaskRetentionMs ?? 60 * 60 * 1000;
    const log = options.log ?? (() => {});
    this.state = new EcsState(options.region, options.accountId);
    this.lifecycle = new TaskLifecycle(this.state, options.runtime, options.clock, log);
    const context: EcsContext = { state: this.state, lifecycle: this.lifecycle, clock: options.clock, rng: options.rng ?? Math.random, log };
    const scheduler = new ServiceScheduler(context);
    const placementChanged = (cluster: ClusterState): void => scheduler.poke(cluster);
    this.instances = new ContainerInstances(context, options.runtime, placementChanged);
    this.operations = {
      ...clusterOperations(context),
      ...taskDefinitionOperations(context),
      ...this.instances.operations,
      ...attributeOperations(context, placementChanged),
      ...taskOperations(context, (cluster, name) => cluster.services.get(name)?.tasks.keys()),
      ...serviceOperations(context, scheduler),
      ...tagOperations(context, { service: serviceTaggable(context) }),
    };
  }

  clusterArn(name: string): string {
    return this.state.clusterArn(name);
  }

  /** Forgets STOPPED tasks older than the retention period; amortised O(1) per call. */
  expire(): void {
    this.state.expireStoppedBefore(this.clock.wallMs() - this.retentionMs);
  }

  onTaskChange(listener: TaskChangeListener): () => void {
    return this.lifecycle.onTaskChange(listener);
  }

  // ---------------------------------------------------------------- host events

  registerInstance(input: RegisterInstanceInput): { containerInstanceArn: string } {
    return this.instances.register(input);
  }

  terminateInstance(containerInstanceArn: string): Promise<void> {
    return this.instances.terminate(containerInstanceArn);
  }

  drainInstance(containerInstanceArn: string): void {
    this.instances.drain(containerInstanceArn);
  }

  setAgentConnected(containerInstanceArn: string, connected: boolean): void {
    this.instances.setAgentConnected(containerInstanceArn, connected);
  }

  // ---------------------------------------------------------------- read-only views

  tasksOnInstance(containerInstanceArn: string): EmulatedTask[] {
    this.expire();
    const instance = this.state.instancesByArn.get(containerInstanceArn);
    if (!instance) return [];
    return [...instance.tasks.values()].map(taskView);
  }

  task(taskArn: string): EmulatedTask | undefined {
    this.expire();
    const task = this.state.tasksByArn.get(taskArn);
    return task ? taskView(task) : undefined;
  }

  instance(containerInstanceArn: string): EmulatedInstance | undefined {
    const instance = this.state.instancesByArn.get(containerInstanceArn);
    return instance ? instanceView(instance) : undefined;
  }

  instanceArns(cluster?: string): string[] {
    const clusters =
      cluster === undefined
        ? [...this.state.clusters.values()]
        : [this.state.clusters.get(this.state.clusterNameOf(cluster))].filter((item): item is ClusterState => !!item);
    return clusters.flatMap((item) => [...item.instances.values()].map((instance) => instance.arn));
  }
}
