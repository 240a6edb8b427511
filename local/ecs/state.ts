// The emulator's state and its indexes: clusters, task definitions, container instances and
// tasks, and how a request's reference (name, id or ARN) finds them. Indexes keep each request's
// cost proportional to what it touches, not to the fleet: tasks are indexed by id per cluster, by
// container instance and by startedBy; instances by id per cluster; both by ARN.
import { lastArnSegment } from '../../core/keys.js';
import type { ContainerDefinition, PlacementConstraint, TaskOverride } from './shapes.js';
import { clientError, clusterNotFound, invalidParameter } from './errors.js';
import type { ServiceState } from './services/state.js';
import type { ContainerInstanceStatus, EmulatedTask, Tag } from './types.js';

export type Json = Record<string, unknown>;

export interface ClusterState {
  seq: number;
  arn: string;
  name: string;
  status: 'ACTIVE' | 'INACTIVE';
  tags: Tag[];
  settings: Json[];
  /** Registered (ACTIVE or DRAINING) instances by id. */
  instances: Map<string, InstanceState>;
  /** Deregistered instances stay describable as INACTIVE. */
  inactiveInstances: Map<string, InstanceState>;
  tasks: Map<string, TaskState>;
  tasksByStartedBy: Map<string, Map<string, TaskState>>;
  /** RunTask clientToken -> the task ARNs that call started. */
  runTaskTokens: Map<string, string[]>;
  /** Services by name; an INACTIVE one stays describable until its name is used again. */
  services: Map<string, ServiceState>;
}

export interface InstanceState {
  seq: number;
  id: string;
  arn: string;
  cluster: ClusterState;
  ec2InstanceId: string;
  instanceType: string;
  availabilityZone: string;
  amiId: string;
  status: ContainerInstanceStatus;
  agentConnected: boolean;
  registeredAt: number;
  attributes: Map<string, string | undefined>;
  registeredCpu: number;
  registeredMemory: number;
  reservedPorts: number[];
  reservedUdpPorts: number[];
  usedCpu: number;
  usedMemory: number;
  usedPorts: Map<number, number>;
  usedUdpPorts: Map<number, number>;
  nextEphemeralPort: number;
  tasks: Map<string, TaskState>;
  version: number;
  tags: Tag[];
  versionInfo: Json;
}

export interface TaskDefinitionState {
  seq: number;
  arn: string;
  family: string;
  revision: number;
  status: 'ACTIVE' | 'INACTIVE';
  registeredAt: number;
  deregisteredAt: number | undefined;
  containerDefinitions: ContainerDefinition[];
  networkMode: string | undefined;
  cpu: number | undefined;
  memory: number | undefined;
  placementConstraints: PlacementConstraint[];
  /** The request as given, for DescribeTaskDefinition. */
  body: Json;
  tags: Tag[];
}

export interface TaskState extends EmulatedTask {
  seq: number;
  id: string;
  instance: InstanceState;
  cluster: ClusterState;
  overrides: TaskOverride;
  hostPorts: number[];
  hostUdpPorts: number[];
  stopRequested: boolean;
}

export class EcsState {
  private seq = 0;
  readonly clusters = new Map<string, ClusterState>();
  readonly families = new Map<string, TaskDefinitionState[]>();
  readonly tasksByArn = new Map<string, TaskState>();
  readonly instancesByArn = new Map<string, InstanceState>();
  private stoppedQueue: TaskState[] = [];
  private stoppedHead = 0;

  constructor(
    readonly region: string,
    readonly accountId: string,
  ) {}

  /** One sequence for every resource: list order and page tokens follow it. */
  nextSeq(): number {
    return ++this.seq;
  }

  // ---------------------------------------------------------------- ARNs

  clusterArn(name: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:cluster/${name}`;
  }
  instanceArn(cluster: string, id: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:container-instance/${cluster}/${id}`;
  }
  taskArn(cluster: string, id: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:task/${cluster}/${id}`;
  }
  taskDefinitionArn(family: string, revision: number): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:task-definition/${family}:${revision}`;
  }
  serviceArn(cluster: string, name: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:service/${cluster}/${name}`;
  }
  containerArn(cluster: string, taskId: string, containerId: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:container/${cluster}/${taskId}/${containerId}`;
  }

  // ---------------------------------------------------------------- lookups

  /** The ACTIVE cluster a request names (`default` when it names none). */
  clusterRef(ref: unknown): ClusterState {
    const cluster = this.clusters.get(this.clusterNameOf(ref));
    if (!cluster || cluster.status !== 'ACTIVE') throw clusterNotFound();
    return cluster;
  }

  clusterNameOf(ref: unknown): string {
    if (ref === undefined || ref === null || ref === '') return 'default';
    if (typeof ref !== 'string') throw invalidParameter('cluster must be a string.');
    const match = /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:cluster\/(.+)$/.exec(ref);
    if (match) return match[1] as string;
    if (ref.startsWith('arn:')) throw invalidParameter(`Invalid identifier: Unexpected ARN for cluster: ${ref}`);
    return ref;
  }

  findInstance(cluster: ClusterState, ref: string, includeInactive = false): InstanceState | undefined {
    const id = lastArnSegment(ref);
    return cluster.instances.get(id) ?? (includeInactive ? cluster.inactiveInstances.get(id) : undefined);
  }

  instanceRefArn(cluster: ClusterState, ref: string): string {
    return ref.startsWith('arn:') ? ref : this.instanceArn(cluster.name, ref);
  }

  findTask(cluster: ClusterState, ref: string): TaskState | undefined {
    return cluster.tasks.get(lastArnSegment(ref));
  }

  /** `family`, `family:revision` or a full ARN; `family` alone means the latest ACTIVE revision. */
  taskDefinitionRef(ref: unknown): TaskDefinitionState {
    if (typeof ref !== 'string' || ref === '') throw invalidParameter('Task Definition can not be blank.');
    let text = ref;
    const arnMatch = /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:task-definition\/(.+)$/.exec(ref);
    if (arnMatch) text = arnMatch[1] as string;
    const colon = text.lastIndexOf(':');
    const family = colon >= 0 ? text.slice(0, colon) : text;
    const revisions = this.families.get(family);
    if (colon >= 0) {
      const revision = Number(text.slice(colon + 1));
      if (!Number.isInteger(revision) || revision < 1) throw clientError(`Invalid revision number. Number: ${text.slice(colon + 1)}`);
      const found = revisions?.[revision - 1];
      if (!found) throw clientError('Unable to describe task definition.');
      return found;
    }
    const active = revisions ? [...revisions].reverse().find((revision) => revision.status === 'ACTIVE') : undefined;
    if (!active) throw clientError('Unable to describe task definition.');
    return active;
  }

  taskDefinitionOf(task: TaskState): TaskDefinitionState | undefined {
    return this.families.get(task.family)?.[task.revision - 1];
  }

  // ---------------------------------------------------------------- task indexes and retention

  indexTask(task: TaskState): void {
    task.cluster.tasks.set(task.id, task);
    task.instance.tasks.set(task.id, task);
    this.tasksByArn.set(task.taskArn, task);
    if (task.startedBy !== undefined) {
      let index = task.cluster.tasksByStartedBy.get(task.startedBy);
      if (!index) task.cluster.tasksByStartedBy.set(task.startedBy, (index = new Map()));
      index.set(task.id, task);
    }
  }

  /** A task just STOPPED: it stays describable for the retention period, then is forgotten. */
  retainStopped(task: TaskState): void {
    this.stoppedQueue.push(task);
  }

  /** Forgets STOPPED tasks that stopped at or before `horizon`; amortised O(1) per call. */
  expireStoppedBefore(horizon: number): void {
    while (this.stoppedHead < this.stoppedQueue.length) {
      const task = this.stoppedQueue[this.stoppedHead] as TaskState;
      if ((task.stoppedAt ?? 0) > horizon) break;
      this.stoppedHead++;
      this.forget(task);
    }
    if (this.stoppedHead > 1024 && this.stoppedHead * 2 > this.stoppedQueue.length) {
      this.stoppedQueue = this.stoppedQueue.slice(this.stoppedHead);
      this.stoppedHead = 0;
    }
  }

  private forget(task: TaskState): void {
    this.tasksByArn.delete(task.taskArn);
    task.cluster.tasks.delete(task.id);
    task.instance.tasks.delete(task.id);
    if (task.startedBy !== undefined) {
      const index = task.cluster.tasksByStartedBy.get(task.startedBy);
      index?.delete(task.id);
      if (index?.size === 0) task.cluster.tasksByStartedBy.delete(task.startedBy);
    }
  }
}
