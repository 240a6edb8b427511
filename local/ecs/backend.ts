// The ECS control plane the emulator serves: clusters, task definitions, container instances and
// tasks, with the semantics ECS documents. Every operation is synchronous over in-memory state and
// answers the JSON 1.1 wire shapes; the HTTP layer (emulator.ts) only frames them.
//
// Indexes keep each request's cost proportional to what it touches, not to the fleet: tasks are
// indexed by id per cluster, by container instance and by startedBy; instances by id per cluster.
//
// Behaviour modelled where the documentation leaves room is noted next to the code ("Modelled:").
import { lastArnSegment } from '../../core/keys.js';
import { randomUUID } from 'node:crypto';
import type {
  ContainerDefinition,
  ContainerOverride,
  PlacementConstraint,
  PlacementStrategy,
  RegisterTaskDefinitionRequest,
  TaskOverride,
} from '@aws-sdk/client-ecs';
import { evaluate, parseExpression, type Expression, type InstanceFacts } from '../../core/cql.js';
import type { ContainerHealth, RuntimeContainerSpec, RuntimeEvent, RuntimeTaskSpec, TaskRuntime } from '../runtime/types.js';
import type { Clock } from '../../core/clock.js';
import { clientError, clusterNotFound, EcsError, invalidParameter } from './errors.js';
import type {
  ContainerInstanceStatus,
  EmulatedContainer,
  EmulatedInstance,
  EmulatedNetworkBinding,
  EmulatedTask,
  Tag,
  TaskStateChange,
  TaskStopCode,
} from './types.js';

type Json = Record<string, unknown>;

export interface BackendOptions {
  region: string;
  accountId: string;
  runtime: TaskRuntime;
  clock: Clock;
  /** How long STOPPED tasks stay describable (ECS: "at least one hour"). */
  stoppedTaskRetentionMs?: number;
  rng?: () => number;
  log?: (level: 'info' | 'warn' | 'error', message: string, details?: Json) => void;
}

export interface RegisterInstanceInput {
  cluster: string;
  ec2InstanceId: string;
  instanceType: string;
  availabilityZone: string;
  amiId: string;
  osType?: 'linux';
  cpuArchitecture?: 'x86_64' | 'arm64';
  /** CPU units (1024 per vCPU). */
  cpu: number;
  /** MiB. */
  memory: number;
  attributes?: Record<string, string>;
}

/** Ports the ECS agent reserves on every instance (SSH, Docker, the agent's own). */
export const DEFAULT_RESERVED_PORTS = [22, 2375, 2376, 51678, 51679];
const EPHEMERAL_PORT_FIRST = 32768;
const EPHEMERAL_PORT_LAST = 60999;
const AGENT_VERSION = '1.70.0';
const MAX_CUSTOM_ATTRIBUTES = 10;
const DEFAULT_STOP_TIMEOUT_SECONDS = 30;

interface ClusterState {
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
}

interface InstanceState {
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

interface TaskDefinitionState {
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

interface TaskState extends EmulatedTask {
  seq: number;
  id: string;
  instance: InstanceState;
  cluster: ClusterState;
  overrides: TaskOverride;
  hostPorts: number[];
  hostUdpPorts: number[];
  stopRequested: boolean;
}

interface Requirement {
  cpu: number;
  memory: number;
  ports: number[];
  udpPorts: number[];
}

type TaskChangeListener = (change: TaskStateChange) => void;

const STARTED_BY_PATTERN = /^[A-Za-z0-9_/-]{1,36}$/;
const CLUSTER_NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
const FAMILY_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
const CONTAINER_NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
const ATTRIBUTE_NAME_PATTERN = /^[A-Za-z0-9_./\\-]{1,128}$/;
const ATTRIBUTE_VALUE_PATTERN = /^[A-Za-z0-9_.@/\\: -]{1,128}$/;

const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);
const newId = (): string => randomUUID().replace(/-/g, '');

/** Drops undefined members so the wire carries only what is set. */
function compact<T extends Json>(value: T): T {
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return value;
}

export class EcsBackend {
  readonly region: string;
  readonly accountId: string;
  private readonly runtime: TaskRuntime;
  private readonly clock: Clock;
  private readonly retentionMs: number;
  private readonly rng: () => number;
  private readonly log: NonNullable<BackendOptions['log']>;
  private seq = 0;
  private readonly clusters = new Map<string, ClusterState>();
  private readonly families = new Map<string, TaskDefinitionState[]>();
  private readonly tasksByArn = new Map<string, TaskState>();
  private readonly instancesByArn = new Map<string, InstanceState>();
  private stoppedQueue: TaskState[] = [];
  private stoppedHead = 0;
  private readonly listeners = new Set<TaskChangeListener>();

  constructor(options: BackendOptions) {
    this.region = options.region;
    this.accountId = options.accountId;
    this.runtime = options.runtime;
    this.clock = options.clock;
    this.retentionMs = options.stoppedTaskRetentionMs ?? 60 * 60 * 1000;
    this.rng = options.rng ?? Math.random;
    this.log = options.log ?? (() => {});
    this.runtime.onEvent((event) => this.onRuntimeEvent(event));
  }

  /** The operations served, by ECS operation name. */
  readonly operations: Record<string, (input: Json) => Json> = {
    CreateCluster: (input) => this.createCluster(input),
    DeleteCluster: (input) => this.deleteCluster(input),
    DescribeClusters: (input) => this.describeClusters(input),
    ListClusters: (input) => this.listClusters(input),
    RegisterTaskDefinition: (input) => this.registerTaskDefinition(input as unknown as RegisterTaskDefinitionRequest & Json),
    DescribeTaskDefinition: (input) => this.describeTaskDefinition(input),
    DeregisterTaskDefinition: (input) => this.deregisterTaskDefinition(input),
    ListTaskDefinitions: (input) => this.listTaskDefinitions(input),
    ListTaskDefinitionFamilies: (input) => this.listTaskDefinitionFamilies(input),
    RegisterContainerInstance: (input) => this.registerContainerInstanceApi(input),
    DeregisterContainerInstance: (input) => this.deregisterContainerInstance(input),
    DescribeContainerInstances: (input) => this.describeContainerInstances(input),
    ListContainerInstances: (input) => this.listContainerInstances(input),
    UpdateContainerInstancesState: (input) => this.updateContainerInstancesState(input),
    PutAttributes: (input) => this.putAttributes(input),
    DeleteAttributes: (input) => this.deleteAttributes(input),
    ListAttributes: (input) => this.listAttributes(input),
    StartTask: (input) => this.startTask(input),
    RunTask: (input) => this.runTask(input),
    StopTask: (input) => this.stopTask(input),
    DescribeTasks: (input) => this.describeTasks(input),
    ListTasks: (input) => this.listTasks(input),
    TagResource: (input) => this.tagResource(input),
    UntagResource: (input) => this.untagResource(input),
    ListTagsForResource: (input) => this.listTagsForResource(input),
  };

  // ---------------------------------------------------------------- ARNs

  clusterArn(name: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:cluster/${name}`;
  }
  private instanceArn(cluster: string, id: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:container-instance/${cluster}/${id}`;
  }
  private taskArn(cluster: string, id: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:task/${cluster}/${id}`;
  }
  private taskDefinitionArn(family: string, revision: number): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:task-definition/${family}:${revision}`;
  }

  // ---------------------------------------------------------------- housekeeping

  /** Forgets STOPPED tasks older than the retention period; amortised O(1) per call. */
  expire(): void {
    const horizon = this.clock.wallMs() - this.retentionMs;
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

  onTaskChange(listener: TaskChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(task: TaskState, change: string): void {
    task.version++;
    if (this.listeners.size === 0) return;
    const snapshot = this.snapshotTask(task);
    for (const listener of this.listeners) {
      try {
        listener({ task: snapshot, change });
      } catch (error) {
        this.log('warn', 'task change listener failed', { error: String(error) });
      }
    }
  }

  // ---------------------------------------------------------------- lookups

  private clusterRef(ref: unknown): ClusterState {
    const name = this.clusterNameOf(ref);
    const cluster = this.clusters.get(name);
    if (!cluster || cluster.status !== 'ACTIVE') throw clusterNotFound();
    return cluster;
  }

  private clusterNameOf(ref: unknown): string {
    if (ref === undefined || ref === null || ref === '') return 'default';
    if (typeof ref !== 'string') throw invalidParameter('cluster must be a string.');
    const match = /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:cluster\/(.+)$/.exec(ref);
    if (match) return match[1] as string;
    if (ref.startsWith('arn:')) throw invalidParameter(`Invalid identifier: Unexpected ARN for cluster: ${ref}`);
    return ref;
  }

  private findInstance(cluster: ClusterState, ref: string, includeInactive = false): InstanceState | undefined {
    const id = lastArnSegment(ref);
    return cluster.instances.get(id) ?? (includeInactive ? cluster.inactiveInstances.get(id) : undefined);
  }

  private instanceRefArn(cluster: ClusterState, ref: string): string {
    return ref.startsWith('arn:') ? ref : this.instanceArn(cluster.name, ref);
  }

  private findTask(cluster: ClusterState, ref: string): TaskState | undefined {
    return cluster.tasks.get(lastArnSegment(ref));
  }

  /** `family`, `family:revision` or a full ARN; `family` alone means the latest ACTIVE revision. */
  private taskDefinitionRef(ref: unknown): TaskDefinitionState {
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

  // ---------------------------------------------------------------- validation helpers

  private tagsOf(value: unknown, field = 'tags'): Tag[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw invalidParameter(`${field} must be a list.`);
    if (value.length > 50) throw invalidParameter('Tags can contain at most 50 tags.');
    const tags: Tag[] = [];
    for (const item of value as Array<{ key?: unknown; value?: unknown }>) {
      if (typeof item?.key !== 'string' || item.key.length === 0) throw invalidParameter('Tag keys must not be empty.');
      if (item.key.toLowerCase().startsWith('aws:')) throw invalidParameter('Tag keys may not start with the reserved prefix "aws:".');
      tags.push({ key: item.key, value: typeof item.value === 'string' ? item.value : '' });
    }
    return tags;
  }

  private mergeTags(existing: Tag[], added: Tag[]): Tag[] {
    const byKey = new Map(existing.map((tag) => [tag.key, tag.value]));
    for (const tag of added) byKey.set(tag.key, tag.value);
    if (byKey.size > 50) throw invalidParameter('A resource can have at most 50 tags.');
    return [...byKey].map(([key, value]) => ({ key, value }));
  }

  private maxResultsOf(value: unknown, limit = 100): number {
    if (value === undefined || value === null) return limit;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > limit) {
      throw invalidParameter(`maxResults must be between 1 and ${limit}.`);
    }
    return value;
  }

  /**
   * Pages a list sorted by sequence number. The token names the last item served, so items added
   * or removed between pages never shift the rest (ECS tokens are opaque; ours are too).
   */
  private paginate<T>(items: Iterable<T>, seqOf: (item: T) => number, input: Json, max = 100): { page: T[]; nextToken: string | undefined } {
    const limit = this.maxResultsOf(input.maxResults, max);
    let after = -1;
    if (input.nextToken !== undefined && input.nextToken !== null) {
      const decoded = typeof input.nextToken === 'string' ? /^v1:(\d+)$/.exec(Buffer.from(input.nextToken, 'base64url').toString('utf8')) : null;
      if (!decoded) throw invalidParameter('Invalid nextToken.');
      after = Number(decoded[1]);
    }
    const page: T[] = [];
    let more = false;
    for (const item of items) {
      if (seqOf(item) <= after) continue;
      if (page.length === limit) {
        more = true;
        break;
      }
      page.push(item);
    }
    const last = page[page.length - 1];
    const nextToken = more && last !== undefined ? Buffer.from(`v1:${seqOf(last)}`, 'utf8').toString('base64url') : undefined;
    return { page, nextToken };
  }

  // ---------------------------------------------------------------- clusters

  createCluster(input: Json): Json {
    const name = input.clusterName === undefined ? 'default' : input.clusterName;
    if (typeof name !== 'string' || !CLUSTER_NAME_PATTERN.test(name)) {
      throw invalidParameter('Cluster name can only contain up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.');
    }
    const tags = this.tagsOf(input.tags);
    let cluster = this.clusters.get(name);
    // Modelled: CreateCluster is idempotent for an ACTIVE cluster (it answers the existing one).
    if (!cluster || cluster.status === 'INACTIVE') {
      cluster = {
        seq: ++this.seq,
        arn: this.clusterArn(name),
        name,
        status: 'ACTIVE',
        tags,
        settings: Array.isArray(input.settings) ? (input.settings as Json[]) : [{ name: 'containerInsights', value: 'disabled' }],
        instances: new Map(),
        inactiveInstances: new Map(),
        tasks: new Map(),
        tasksByStartedBy: new Map(),
        runTaskTokens: new Map(),
      };
      this.clusters.delete(name);
      this.clusters.set(name, cluster);
    }
    return { cluster: this.clusterWire(cluster, ['TAGS', 'SETTINGS']) };
  }

  deleteCluster(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    if (cluster.instances.size > 0) {
      throw new EcsError('ClusterContainsContainerInstancesException', 'The Cluster cannot be deleted while Container Instances are active or draining.');
    }
    for (const task of cluster.tasks.values()) {
      if (task.lastStatus !== 'STOPPED') throw new EcsError('ClusterContainsTasksException', 'The Cluster cannot be deleted while Tasks are active.');
    }
    cluster.status = 'INACTIVE';
    return { cluster: this.clusterWire(cluster, ['TAGS']) };
  }

  describeClusters(input: Json): Json {
    const refs = Array.isArray(input.clusters) && input.clusters.length > 0 ? (input.clusters as string[]) : ['default'];
    if (refs.length > 100) throw invalidParameter('Clusters can contain at most 100 entries.');
    const include = Array.isArray(input.include) ? (input.include as string[]) : [];
    const clusters: Json[] = [];
    const failures: Json[] = [];
    for (const ref of refs) {
      const name = this.clusterNameOf(ref);
      const cluster = this.clusters.get(name);
      if (cluster) clusters.push(this.clusterWire(cluster, include));
      else failures.push({ arn: this.clusterArn(name), reason: 'MISSING' });
    }
    return { clusters, failures };
  }

  listClusters(input: Json): Json {
    const active = [...this.clusters.values()].filter((cluster) => cluster.status === 'ACTIVE').sort((a, b) => a.seq - b.seq);
    const { page, nextToken } = this.paginate(active, (cluster) => cluster.seq, input);
    return compact({ clusterArns: page.map((cluster) => cluster.arn), nextToken });
  }

  private clusterWire(cluster: ClusterState, include: string[]): Json {
    let running = 0;
    let pending = 0;
    if (cluster.status === 'ACTIVE') {
      for (const instance of cluster.instances.values()) {
        const counts = this.countTasks(instance);
        running += counts.running;
        pending += counts.pending;
      }
    }
    return compact({
      clusterArn: cluster.arn,
      clusterName: cluster.name,
      status: cluster.status,
      registeredContainerInstancesCount: cluster.status === 'ACTIVE' ? cluster.instances.size : 0,
      runningTasksCount: running,
      pendingTasksCount: pending,
      activeServicesCount: 0,
      statistics: [],
      tags: include.includes('TAGS') ? cluster.tags : [],
      settings: include.includes('SETTINGS') ? cluster.settings : undefined,
      capacityProviders: [],
      defaultCapacityProviderStrategy: [],
    });
  }

  // ---------------------------------------------------------------- task definitions

  registerTaskDefinition(input: RegisterTaskDefinitionRequest & Json): Json {
    const family = input.family;
    if (typeof family !== 'string' || !FAMILY_PATTERN.test(family)) {
      throw clientError('Family contains invalid characters; up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.');
    }
    const containers = input.containerDefinitions;
    if (!Array.isArray(containers) || containers.length === 0) throw clientError('Container list cannot be empty.');
    if (containers.length > 10) throw clientError('Too many containers: a task definition can have at most 10.');
    const taskCpu = parseCpu(input.cpu);
    const taskMemory = parseMemory(input.memory);
    if (input.cpu !== undefined && taskCpu === undefined) throw clientError(`Invalid 'cpu' setting for task.`);
    if (input.memory !== undefined && taskMemory === undefined) throw clientError(`Invalid 'memory' setting for task.`);
    const names = new Set<string>();
    let essentials = 0;
    for (const container of containers) {
      if (typeof container.name !== 'string' || !CONTAINER_NAME_PATTERN.test(container.name)) {
        throw clientError(
          'Container.name should not be null or empty, and may contain up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.',
        );
      }
      if (names.has(container.name)) throw clientError(`Duplicate container name found: ${container.name}`);
      names.add(container.name);
      if (typeof container.image !== 'string' || container.image === '') throw clientError('Container.image should not be null or empty.');
      // Documented: without task-level memory, every container needs memory or memoryReservation.
      if (taskMemory === undefined && container.memory === undefined && container.memoryReservation === undefined) {
        throw clientError(`Invalid setting for container '${container.name}'. At least one of 'memory' or 'memoryReservation' must be specified.`);
      }
      if (container.memory !== undefined && container.memoryReservation !== undefined && container.memoryReservation > container.memory) {
        throw clientError(`Invalid setting for container '${container.name}'. 'memoryReservation' must be less than or equal to 'memory'.`);
      }
      if (container.memory !== undefined && container.memory < 6)
        throw clientError(`Invalid 'memory' setting for container '${container.name}': the minimum is 6 MiB.`);
      if (container.essential !== false) essentials++;
      const check = container.healthCheck;
      if (check) {
        if (!Array.isArray(check.command) || check.command.length === 0)
          throw clientError(`Invalid healthCheck for container '${container.name}': command is required.`);
        if (check.interval !== undefined && (check.interval < 5 || check.interval > 300))
          throw clientError('Health check interval must be between 5 and 300 seconds.');
        if (check.timeout !== undefined && (check.timeout < 2 || check.timeout > 120))
          throw clientError('Health check timeout must be between 2 and 120 seconds.');
        if (check.retries !== undefined && (check.retries < 1 || check.retries > 10)) throw clientError('Health check retries must be between 1 and 10.');
        if (check.startPeriod !== undefined && (check.startPeriod < 0 || check.startPeriod > 300))
          throw clientError('Health check startPeriod must be between 0 and 300 seconds.');
      }
    }
    if (essentials === 0) throw clientError('Task definition does not have any essential container.');
    const tags = this.tagsOf(input.tags);
    const revisions = this.families.get(family) ?? [];
    this.families.set(family, revisions);
    const revision = revisions.length + 1;
    const body: Json = { ...input };
    delete body.tags;
    const state: TaskDefinitionState = {
      seq: ++this.seq,
      arn: this.taskDefinitionArn(family, revision),
      family,
      revision,
      status: 'ACTIVE',
      registeredAt: this.clock.wallMs(),
      deregisteredAt: undefined,
      containerDefinitions: containers.map((container) => ({ ...container })),
      networkMode: input.networkMode,
      cpu: taskCpu,
      memory: taskMemory,
      placementConstraints: (input.placementConstraints ?? []) as PlacementConstraint[],
      body,
      tags,
    };
    revisions.push(state);
    return { taskDefinition: this.taskDefinitionWire(state), tags };
  }

  describeTaskDefinition(input: Json): Json {
    const state = this.taskDefinitionRef(input.taskDefinition);
    const include = Array.isArray(input.include) ? (input.include as string[]) : [];
    return compact({ taskDefinition: this.taskDefinitionWire(state), tags: include.includes('TAGS') ? state.tags : undefined });
  }

  deregisterTaskDefinition(input: Json): Json {
    const ref = input.taskDefinition;
    if (typeof ref !== 'string' || !/:\d+$/.test(ref)) throw clientError('A revision must be specified: use family:revision or the full ARN.');
    const state = this.taskDefinitionRef(ref);
    if (state.status === 'ACTIVE') {
      state.status = 'INACTIVE';
      state.deregisteredAt = this.clock.wallMs();
    }
    return { taskDefinition: this.taskDefinitionWire(state) };
  }

  listTaskDefinitions(input: Json): Json {
    const status = input.status ?? 'ACTIVE';
    const familyFilter = typeof input.familyPrefix === 'string' ? input.familyPrefix : undefined;
    const all: TaskDefinitionState[] = [];
    // Documented: familyPrefix is "the full family name" to filter with.
    for (const [family, revisions] of this.families) {
      if (familyFilter !== undefined && family !== familyFilter) continue;
      for (const revision of revisions) if (revision.status === status) all.push(revision);
    }
    // ASC: by family name, then revision; DESC reverses it. Sequence numbers follow that order.
    all.sort((a, b) => (a.family < b.family ? -1 : a.family > b.family ? 1 : a.revision - b.revision));
    if (input.sort === 'DESC') all.reverse();
    const ordered = all.map((state, index) => ({ state, index }));
    const { page, nextToken } = this.paginate(ordered, (item) => item.index, input);
    return compact({ taskDefinitionArns: page.map((item) => item.state.arn), nextToken });
  }

  listTaskDefinitionFamilies(input: Json): Json {
    const prefix = typeof input.familyPrefix === 'string' ? input.familyPrefix : '';
    const status = input.status ?? 'ACTIVE';
    const families = [...this.families]
      .filter(([family, revisions]) => family.startsWith(prefix) && (status === 'ALL' || revisions.some((revision) => revision.status === status)))
      .map(([family]) => family)
      .sort();
    const ordered = families.map((family, index) => ({ family, index }));
    const { page, nextToken } = this.paginate(ordered, (item) => item.index, input);
    return compact({ families: page.map((item) => item.family), nextToken });
  }

  private taskDefinitionWire(state: TaskDefinitionState): Json {
    const body = state.body;
    return compact({
      ...body,
      taskDefinitionArn: state.arn,
      family: state.family,
      revision: state.revision,
      containerDefinitions: state.containerDefinitions.map((container) =>
        compact({
          ...(container as Json),
          cpu: container.cpu ?? 0,
          essential: container.essential ?? true,
          portMappings: (container.portMappings ?? []).map((mapping) =>
            compact({
              ...(mapping as Json),
              hostPort: mapping.hostPort ?? (state.networkMode === 'host' ? mapping.containerPort : undefined),
              protocol: mapping.protocol ?? 'tcp',
            }),
          ),
          environment: container.environment ?? [],
          mountPoints: container.mountPoints ?? [],
          volumesFrom: container.volumesFrom ?? [],
        }),
      ),
      volumes: (body.volumes as unknown[] | undefined) ?? [],
      status: state.status,
      placementConstraints: state.placementConstraints,
      compatibilities: ['EXTERNAL', 'EC2'],
      requiresAttributes: [],
      registeredAt: seconds(state.registeredAt),
      deregisteredAt: seconds(state.deregisteredAt),
      registeredBy: `arn:aws:iam::${this.accountId}:root`,
    });
  }

  // ---------------------------------------------------------------- container instances

  /** What the ECS agent does at boot: RegisterContainerInstance with its resources and attributes. */
  registerInstance(input: RegisterInstanceInput): { containerInstanceArn: string } {
    const cluster = this.clusterRef(input.cluster);
    const instance = this.addInstance(cluster, {
      ec2InstanceId: input.ec2InstanceId,
      instanceType: input.instanceType,
      availabilityZone: input.availabilityZone,
      amiId: input.amiId,
      osType: input.osType ?? 'linux',
      cpuArchitecture: input.cpuArchitecture ?? 'x86_64',
      cpu: input.cpu,
      memory: input.memory,
      ports: DEFAULT_RESERVED_PORTS,
      udpPorts: [],
      attributes: Object.entries(input.attributes ?? {}).map(([name, value]) => ({ name, value })),
      tags: [],
      versionInfo: undefined,
    });
    return { containerInstanceArn: instance.arn };
  }

  private registerContainerInstanceApi(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    let identity: Json = {};
    if (typeof input.instanceIdentityDocument === 'string') {
      try {
        identity = JSON.parse(input.instanceIdentityDocument) as Json;
      } catch {
        throw clientError('Unable to parse the instance identity document.');
      }
    }
    const ec2InstanceId = typeof identity.instanceId === 'string' ? identity.instanceId : undefined;
    if (!ec2InstanceId) throw clientError('An instance identity document with an instanceId is required.');
    const resources = Array.isArray(input.totalResources) ? (input.totalResources as Json[]) : [];
    const resource = (name: string): Json | undefined => resources.find((item) => item.name === name);
    const integer = (item: Json | undefined): number | undefined =>
      typeof item?.integerValue === 'number' ? item.integerValue : typeof item?.longValue === 'number' ? item.longValue : undefined;
    const cpu = integer(resource('CPU'));
    const memory = integer(resource('MEMORY'));
    if (cpu === undefined || memory === undefined) throw clientError('totalResources must give CPU and MEMORY.');
    const ports = (list: Json | undefined, fallback: number[]): number[] =>
      Array.isArray(list?.stringSetValue) ? (list.stringSetValue as string[]).map(Number).filter(Number.isInteger) : fallback;
    const attributes = Array.isArray(input.attributes) ? (input.attributes as Array<{ name: string; value?: string }>) : [];
    const given = new Map(attributes.map((attribute) => [attribute.name, attribute.value]));
    // Re-registration with the same containerInstanceArn (an agent restart) answers that instance.
    if (typeof input.containerInstanceArn === 'string') {
      const existing = this.findInstance(cluster, input.containerInstanceArn);
      if (existing) {
        existing.agentConnected = true;
        existing.version++;
        return { containerInstance: this.instanceWire(existing, []) };
      }
    }
    const instance = this.addInstance(cluster, {
      ec2InstanceId,
      instanceType: typeof identity.instanceType === 'string' ? identity.instanceType : (given.get('ecs.instance-type') ?? 'unknown'),
      availabilityZone: typeof identity.availabilityZone === 'string' ? identity.availabilityZone : (given.get('ecs.availability-zone') ?? `${this.region}a`),
      amiId: typeof identity.imageId === 'string' ? identity.imageId : (given.get('ecs.ami-id') ?? 'ami-00000000'),
      osType: given.get('ecs.os-type') ?? 'linux',
      cpuArchitecture: given.get('ecs.cpu-architecture') ?? (identity.architecture === 'arm64' ? 'arm64' : 'x86_64'),
      cpu,
      memory,
      ports: ports(resource('PORTS'), DEFAULT_RESERVED_PORTS),
      udpPorts: ports(resource('PORTS_UDP'), []),
      attributes,
      tags: this.tagsOf(input.tags),
      versionInfo: input.versionInfo as Json | undefined,
    });
    return { containerInstance: this.instanceWire(instance, ['TAGS']) };
  }

  private addInstance(
    cluster: ClusterState,
    spec: {
      ec2InstanceId: string;
      instanceType: string;
      availabilityZone: string;
      amiId: string;
      osType: string;
      cpuArchitecture: string;
      cpu: number;
      memory: number;
      ports: number[];
      udpPorts: number[];
      attributes: Array<{ name: string; value?: string }>;
      tags: Tag[];
      versionInfo: Json | undefined;
    },
  ): InstanceState {
    if (!Number.isInteger(spec.cpu) || spec.cpu < 0 || !Number.isInteger(spec.memory) || spec.memory < 0) {
      throw invalidParameter('CPU and MEMORY must be non-negative integers.');
    }
    for (const existing of cluster.instances.values()) {
      if (existing.ec2InstanceId === spec.ec2InstanceId) throw clientError(`EC2 instance ${spec.ec2InstanceId} is already registered as ${existing.arn}.`);
    }
    const attributes = new Map<string, string | undefined>();
    // Built-in attributes, as the ECS agent reports them.
    attributes.set('ecs.instance-type', spec.instanceType);
    attributes.set('ecs.availability-zone', spec.availabilityZone);
    attributes.set('ecs.ami-id', spec.amiId);
    attributes.set('ecs.os-type', spec.osType);
    attributes.set('ecs.os-family', 'LINUX');
    attributes.set('ecs.cpu-architecture', spec.cpuArchitecture);
    for (const capability of [
      'com.amazonaws.ecs.capability.docker-remote-api.1.17',
      'com.amazonaws.ecs.capability.docker-remote-api.1.21',
      'com.amazonaws.ecs.capability.docker-remote-api.1.25',
      'com.amazonaws.ecs.capability.docker-remote-api.1.29',
      'com.amazonaws.ecs.capability.logging-driver.json-file',
      'com.amazonaws.ecs.capability.task-iam-role',
      'ecs.capability.container-health-check',
      'ecs.capability.task-eni',
    ]) {
      attributes.set(capability, undefined);
    }
    for (const attribute of spec.attributes) attributes.set(attribute.name, attribute.value);
    const id = newId();
    const instance: InstanceState = {
      seq: ++this.seq,
      id,
      arn: this.instanceArn(cluster.name, id),
      cluster,
      ec2InstanceId: spec.ec2InstanceId,
      instanceType: spec.instanceType,
      availabilityZone: spec.availabilityZone,
      amiId: spec.amiId,
      status: 'ACTIVE',
      agentConnected: true,
      registeredAt: this.clock.wallMs(),
      attributes,
      registeredCpu: spec.cpu,
      registeredMemory: spec.memory,
      reservedPorts: [...spec.ports],
      reservedUdpPorts: [...spec.udpPorts],
      usedCpu: 0,
      usedMemory: 0,
      usedPorts: new Map(),
      usedUdpPorts: new Map(),
      nextEphemeralPort: EPHEMERAL_PORT_FIRST,
      tasks: new Map(),
      version: 1,
      tags: spec.tags,
      versionInfo: spec.versionInfo ?? { agentVersion: AGENT_VERSION, agentHash: 'emulated', dockerVersion: 'DockerVersion: 24.0.5' },
    };
    cluster.instances.set(id, instance);
    this.instancesByArn.set(instance.arn, instance);
    return instance;
  }

  deregisterContainerInstance(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    if (typeof input.containerInstance !== 'string') throw invalidParameter('containerInstance is required.');
    const instance = this.findInstance(cluster, input.containerInstance);
    if (!instance) throw invalidParameter('The referenced container instance was not found.');
    const live = [...instance.tasks.values()].some((task) => task.lastStatus !== 'STOPPED');
    // Documented: without force, an instance with tasks cannot be deregistered; with force, its
    // tasks keep running, orphaned, until they stop some other way.
    if (live && input.force !== true) throw invalidParameter('Found running tasks on the instance.');
    this.deactivate(instance);
    return { containerInstance: this.instanceWire(instance, []) };
  }

  private deactivate(instance: InstanceState): void {
    instance.status = 'INACTIVE';
    instance.agentConnected = false;
    instance.version++;
    instance.cluster.instances.delete(instance.id);
    instance.cluster.inactiveInstances.set(instance.id, instance);
  }

  /** The instance vanishes: its agent disconnects, its tasks stop, its containers are removed. */
  terminateInstance(containerInstanceArn: string): Promise<void> {
    const instance = this.instancesByArn.get(containerInstanceArn);
    if (!instance) throw new Error(`no container instance ${containerInstanceArn}`);
    if (instance.status !== 'INACTIVE') {
      instance.agentConnected = false;
      // Modelled: ECS stops the tasks of a terminated host with the reason below and no stopCode
      // from the TaskStopCode list (none of them describe a host that vanished).
      for (const task of instance.tasks.values()) {
        if (task.lastStatus === 'STOPPED') continue;
        task.desiredStatus = 'STOPPED';
        task.stoppingAt ??= this.clock.wallMs();
        task.stoppedReason = `Host EC2 (instance ${instance.ec2InstanceId}) terminated.`;
        for (const container of task.containers) if (container.lastStatus !== 'STOPPED') container.lastStatus = 'STOPPED';
        this.finishStopped(task);
      }
      this.deactivate(instance);
    }
    return this.runtime.removeInstance(instance.arn);
  }

  drainInstance(containerInstanceArn: string): void {
    const instance = this.instancesByArn.get(containerInstanceArn);
    if (!instance || instance.status === 'INACTIVE') throw new Error(`no registered container instance ${containerInstanceArn}`);
    this.setStatus(instance, 'DRAINING');
  }

  /** Test hook: the agent loses (false) or regains (true) its connection to ECS. */
  setAgentConnected(containerInstanceArn: string, connected: boolean): void {
    const instance = this.instancesByArn.get(containerInstanceArn);
    if (!instance || instance.status === 'INACTIVE') throw new Error(`no registered container instance ${containerInstanceArn}`);
    instance.agentConnected = connected;
    instance.version++;
  }

  private setStatus(instance: InstanceState, status: 'ACTIVE' | 'DRAINING'): void {
    if (instance.status === status) return;
    instance.status = status;
    instance.version++;
    // Modelled: draining affects service tasks only; this emulator has no services, so standalone
    // tasks (StartTask/RunTask) keep running on a DRAINING instance, as ECS documents.
  }

  describeContainerInstances(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    const refs = input.containerInstances;
    if (!Array.isArray(refs) || refs.length === 0) throw invalidParameter('Container instances cannot be empty.');
    if (refs.length > 100) throw invalidParameter('Container instances can contain at most 100 entries.');
    const include = Array.isArray(input.include) ? (input.include as string[]) : [];
    const containerInstances: Json[] = [];
    const failures: Json[] = [];
    for (const ref of refs as string[]) {
      const instance = this.findInstance(cluster, ref, true);
      if (instance) containerInstances.push(this.instanceWire(instance, include));
      else failures.push({ arn: this.instanceRefArn(cluster, ref), reason: 'MISSING' });
    }
    return { containerInstances, failures };
  }

  listContainerInstances(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    const status = input.status as string | undefined;
    if (status !== undefined && !['ACTIVE', 'DRAINING', 'REGISTERING', 'DEREGISTERING', 'REGISTRATION_FAILED'].includes(status)) {
      throw invalidParameter(`Invalid status: ${status}`);
    }
    let filter: ((instance: InstanceState) => boolean) | undefined;
    if (typeof input.filter === 'string' && input.filter.trim() !== '') filter = this.compileCql(input.filter);
    const selected: InstanceState[] = [];
    // Documented: without status, every state but INACTIVE is listed.
    for (const instance of cluster.instances.values()) {
      if (status !== undefined && instance.status !== status) continue;
      if (filter && !filter(instance)) continue;
      selected.push(instance);
    }
    const { page, nextToken } = this.paginate(selected, (instance) => instance.seq, input);
    return compact({ containerInstanceArns: page.map((instance) => instance.arn), nextToken });
  }

  private compileCql(text: string): (instance: InstanceState) => boolean {
    let expression: Expression;
    try {
      expression = parseExpression(text);
    } catch (error) {
      throw invalidParameter(`Invalid cluster query expression: ${cqlErrorMessage(error)}`);
    }
    return (instance) => {
      try {
        return evaluate(expression, this.cqlFacts(instance));
      } catch (error) {
        throw invalidParameter(`Invalid cluster query expression: ${cqlErrorMessage(error)}`);
      }
    };
  }

  private cqlFacts(instance: InstanceState, extraGroups: string[] = []): InstanceFacts {
    const attributes: Record<string, string> = {};
    for (const [name, value] of instance.attributes) attributes[name] = value ?? '';
    const groups = new Set(extraGroups);
    let running = 0;
    for (const task of instance.tasks.values()) {
      if (task.lastStatus === 'STOPPED') continue;
      groups.add(task.group);
      if (task.lastStatus === 'RUNNING') running++;
    }
    return {
      attributes,
      ec2InstanceId: instance.ec2InstanceId,
      registeredAt: new Date(instance.registeredAt),
      runningTasksCount: running,
      taskGroups: [...groups],
      agentConnected: instance.agentConnected,
      agentVersion: typeof instance.versionInfo.agentVersion === 'string' ? instance.versionInfo.agentVersion : AGENT_VERSION,
    };
  }

  updateContainerInstancesState(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    const refs = input.containerInstances;
    if (!Array.isArray(refs) || refs.length === 0) throw invalidParameter('Container instances cannot be empty.');
    if (refs.length > 10) throw invalidParameter('Container instances can contain at most 10 entries.');
    const status = input.status;
    if (status !== 'ACTIVE' && status !== 'DRAINING') throw invalidParameter('Container instance status can only be updated to ACTIVE or DRAINING.');
    const containerInstances: Json[] = [];
    const failures: Json[] = [];
    for (const ref of refs as string[]) {
      const instance = this.findInstance(cluster, ref);
      if (!instance) {
        failures.push({ arn: this.instanceRefArn(cluster, ref), reason: 'MISSING' });
        continue;
      }
      this.setStatus(instance, status);
      containerInstances.push(this.instanceWire(instance, []));
    }
    return { containerInstances, failures };
  }

  private countTasks(instance: InstanceState): { running: number; pending: number } {
    let running = 0;
    let pending = 0;
    for (const task of instance.tasks.values()) {
      if (task.lastStatus === 'RUNNING') running++;
      else if (task.lastStatus === 'PENDING' || task.lastStatus === 'PROVISIONING') pending++;
    }
    return { running, pending };
  }

  private instanceWire(instance: InstanceState, include: string[]): Json {
    const counts = this.countTasks(instance);
    const integer = (name: string, value: number): Json => ({ name, type: 'INTEGER', doubleValue: 0, longValue: 0, integerValue: value });
    const stringSet = (name: string, values: number[]): Json => ({
      name,
      type: 'STRINGSET',
      doubleValue: 0,
      longValue: 0,
      integerValue: 0,
      stringSetValue: values.map(String),
    });
    const usedTcp = [...new Set([...instance.reservedPorts, ...instance.usedPorts.keys()])];
    const usedUdp = [...new Set([...instance.reservedUdpPorts, ...instance.usedUdpPorts.keys()])];
    return compact({
      containerInstanceArn: instance.arn,
      ec2InstanceId: instance.ec2InstanceId,
      version: instance.version,
      versionInfo: instance.versionInfo,
      remainingResources: [
        integer('CPU', instance.registeredCpu - instance.usedCpu),
        integer('MEMORY', instance.registeredMemory - instance.usedMemory),
        stringSet('PORTS', usedTcp),
        stringSet('PORTS_UDP', usedUdp),
      ],
      registeredResources: [
        integer('CPU', instance.registeredCpu),
        integer('MEMORY', instance.registeredMemory),
        stringSet('PORTS', instance.reservedPorts),
        stringSet('PORTS_UDP', instance.reservedUdpPorts),
      ],
      status: instance.status,
      agentConnected: instance.agentConnected,
      runningTasksCount: counts.running,
      pendingTasksCount: counts.pending,
      attributes: [...instance.attributes].map(([name, value]) => compact({ name, value })),
      registeredAt: seconds(instance.registeredAt),
      attachments: [],
      tags: include.includes('TAGS') ? instance.tags : undefined,
    });
  }

  // ---------------------------------------------------------------- attributes

  private attributeTarget(cluster: ClusterState, attribute: Json): InstanceState {
    if (attribute.targetType !== undefined && attribute.targetType !== 'container-instance') throw invalidParameter('targetType must be container-instance.');
    if (typeof attribute.targetId !== 'string') throw invalidParameter('Attribute targetId is required.');
    const instance = this.findInstance(cluster, attribute.targetId);
    if (!instance) throw new EcsError('TargetNotFoundException', `Could not find ${attribute.targetId}.`);
    return instance;
  }

  putAttributes(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    const attributes = input.attributes;
    if (!Array.isArray(attributes) || attributes.length === 0) throw invalidParameter('Attributes cannot be empty.');
    if (attributes.length > 10) throw invalidParameter('You can specify up to 10 attributes in a single call.');
    const plan: Array<{ instance: InstanceState; name: string; value: string | undefined }> = [];
    for (const attribute of attributes as Json[]) {
      const instance = this.attributeTarget(cluster, attribute);
      const name = attribute.name;
      if (typeof name !== 'string' || !ATTRIBUTE_NAME_PATTERN.test(name)) {
        throw invalidParameter('Attribute names can contain up to 128 letters, numbers, hyphens, underscores, periods, forward slashes and back slashes.');
      }
      const value = attribute.value;
      if (value !== undefined && (typeof value !== 'string' || !ATTRIBUTE_VALUE_PATTERN.test(value))) {
        throw invalidParameter(
          'Attribute values can contain up to 128 letters, numbers, hyphens, underscores, periods, at signs, forward slashes, back slashes, colons or spaces.',
        );
      }
      plan.push({ instance, name, value: value as string | undefined });
    }
    // Documented limit: 10 custom attributes per resource (built-in ecs.* and capabilities excluded).
    for (const instance of new Set(plan.map((item) => item.instance))) {
      const names = new Set([...instance.attributes.keys()].filter(isCustomAttribute));
      for (const item of plan) if (item.instance === instance && isCustomAttribute(item.name)) names.add(item.name);
      if (names.size > MAX_CUSTOM_ATTRIBUTES) throw new EcsError('AttributeLimitExceededException', 'You can apply up to 10 custom attributes per resource.');
    }
    for (const item of plan) {
      item.instance.attributes.set(item.name, item.value);
      item.instance.version++;
    }
    return { attributes: plan.map((item) => compact({ name: item.name, value: item.value, targetType: 'container-instance', targetId: item.instance.arn })) };
  }

  deleteAttributes(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    const attributes = input.attributes;
    if (!Array.isArray(attributes) || attributes.length === 0) throw invalidParameter('Attributes cannot be empty.');
    const deleted: Json[] = [];
    for (const attribute of attributes as Json[]) {
      const instance = this.attributeTarget(cluster, attribute);
      if (typeof attribute.name !== 'string') throw invalidParameter('Attribute name is required.');
      if (instance.attributes.delete(attribute.name)) instance.version++;
      deleted.push(compact({ name: attribute.name, value: attribute.value as string | undefined, targetType: 'container-instance', targetId: instance.arn }));
    }
    return { attributes: deleted };
  }

  listAttributes(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    if (input.targetType !== 'container-instance') throw invalidParameter('targetType must be container-instance.');
    const name = input.attributeName as string | undefined;
    const value = input.attributeValue as string | undefined;
    if (value !== undefined && name === undefined) throw invalidParameter('attributeValue can only be used together with attributeName.');
    const rows: Array<{ seq: number; attribute: Json }> = [];
    let seq = 0;
    for (const instance of cluster.instances.values()) {
      for (const [attributeName, attributeValue] of instance.attributes) {
        seq++;
        if (name !== undefined && attributeName !== name) continue;
        if (value !== undefined && attributeValue !== value) continue;
        rows.push({ seq, attribute: compact({ name: attributeName, value: attributeValue, targetType: 'container-instance', targetId: instance.arn }) });
      }
    }
    const { page, nextToken } = this.paginate(rows, (row) => row.seq, input);
    return compact({ attributes: page.map((row) => row.attribute), nextToken });
  }

  // ---------------------------------------------------------------- tasks

  private requirementOf(definition: TaskDefinitionState, overrides: TaskOverride): Requirement {
    const containerOverride = (name: string | undefined): ContainerOverride | undefined => overrides.containerOverrides?.find((item) => item.name === name);
    let cpu = parseCpu(overrides.cpu) ?? definition.cpu;
    let memory = parseMemory(overrides.memory) ?? definition.memory;
    if (cpu === undefined) {
      cpu = 0;
      for (const container of definition.containerDefinitions) cpu += containerOverride(container.name)?.cpu ?? container.cpu ?? 0;
    }
    if (memory === undefined) {
      memory = 0;
      for (const container of definition.containerDefinitions) {
        const override = containerOverride(container.name);
        // Documented: the hard limit (memory) is what is reserved; memoryReservation when no limit.
        memory += override?.memory ?? container.memory ?? override?.memoryReservation ?? container.memoryReservation ?? 0;
      }
    }
    const ports: number[] = [];
    const udpPorts: number[] = [];
    for (const container of definition.containerDefinitions) {
      for (const mapping of container.portMappings ?? []) {
        const hostPort = definition.networkMode === 'host' ? (mapping.hostPort ?? mapping.containerPort) : mapping.hostPort;
        if (!hostPort) continue; // 0 or absent in bridge mode: a dynamic host port
        (mapping.protocol === 'udp' ? udpPorts : ports).push(hostPort);
      }
    }
    return { cpu, memory, ports, udpPorts };
  }

  /** Why an instance cannot take a task now, as ECS names it in `failures`; undefined if it can. */
  private unfitReason(instance: InstanceState, need: Requirement): string | undefined {
    if (instance.status === 'INACTIVE') return 'INACTIVE';
    if (!instance.agentConnected) return 'AGENT';
    if (need.cpu > instance.registeredCpu - instance.usedCpu) return 'RESOURCE:CPU';
    if (need.memory > instance.registeredMemory - instance.usedMemory) return 'RESOURCE:MEMORY';
    for (const port of need.ports) if (instance.reservedPorts.includes(port) || instance.usedPorts.has(port)) return 'RESOURCE:PORTS';
    for (const port of need.udpPorts) if (instance.reservedUdpPorts.includes(port) || instance.usedUdpPorts.has(port)) return 'RESOURCE:PORTS_UDP';
    return undefined;
  }

  private validateStartedBy(value: unknown): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || !STARTED_BY_PATTERN.test(value)) {
      throw invalidParameter('startedBy can contain up to 36 letters (uppercase and lowercase), numbers, hyphens, forward slashes, and underscores.');
    }
    return value;
  }

  private taskCommon(input: Json): { definition: TaskDefinitionState; startedBy: string | undefined; group: string; tags: Tag[]; overrides: TaskOverride } {
    const definition = this.taskDefinitionRef(input.taskDefinition);
    // Documented: an INACTIVE revision can't be used to run new tasks.
    if (definition.status !== 'ACTIVE') throw clientError('TaskDefinition is inactive');
    const startedBy = this.validateStartedBy(input.startedBy);
    const group = input.group === undefined || input.group === null ? `family:${definition.family}` : input.group;
    if (typeof group !== 'string' || group.length === 0 || group.length > 255) throw invalidParameter('group must be 1 to 255 characters.');
    let tags = this.tagsOf(input.tags);
    // propagateTags TASK_DEFINITION copies the task definition's tags to the task (request tags win).
    if (input.propagateTags === 'TASK_DEFINITION') tags = this.mergeTags(definition.tags, tags);
    const overrides = (input.overrides ?? {}) as TaskOverride;
    for (const override of overrides.containerOverrides ?? []) {
      if (!definition.containerDefinitions.some((container) => container.name === override.name)) {
        throw invalidParameter(`Override for container named ${String(override.name)} is not a container in the TaskDefinition.`);
      }
    }
    return { definition, startedBy, group, tags, overrides };
  }

  startTask(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    const refs = input.containerInstances;
    if (!Array.isArray(refs) || refs.length === 0) throw invalidParameter('Container instances cannot be empty.');
    // Documented: "You can specify up to 10 container instances."
    if (refs.length > 10) throw invalidParameter('Container instances can contain at most 10 entries.');
    const common = this.taskCommon(input);
    const need = this.requirementOf(common.definition, common.overrides);
    const tasks: Json[] = [];
    const failures: Json[] = [];
    for (const ref of refs as string[]) {
      const instance = typeof ref === 'string' ? this.findInstance(cluster, ref) : undefined;
      if (!instance) {
        failures.push({ arn: this.instanceRefArn(cluster, String(ref)), reason: 'MISSING' });
        continue;
      }
      // Modelled: StartTask is manual placement and bypasses the scheduler, so it is accepted on a
      // DRAINING instance (draining keeps the *scheduler* away; RunTask never places there).
      const reason = this.unfitReason(instance, need);
      if (reason) {
        failures.push({ arn: instance.arn, reason });
        continue;
      }
      tasks.push(this.taskWire(this.launch(cluster, instance, need, common), false));
    }
    return { tasks, failures };
  }

  runTask(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    // RunTask's clientToken (newer than some service models): a retry with the same token answers
    // the tasks the first call started instead of starting more, as ECS documents for idempotency.
    const clientToken = typeof input.clientToken === 'string' && input.clientToken !== '' ? input.clientToken : undefined;
    if (clientToken !== undefined) {
      if (clientToken.length > 64) throw invalidParameter('clientToken can be at most 64 characters.');
      const earlier = cluster.runTaskTokens.get(clientToken);
      if (earlier) {
        const tasks = earlier.map((arn) => this.tasksByArn.get(arn)).filter((task): task is TaskState => !!task);
        return { tasks: tasks.map((task) => this.taskWire(task, false)), failures: [] };
      }
    }
    const answer = this.placeTasks(cluster, input);
    if (clientToken !== undefined)
      cluster.runTaskTokens.set(
        clientToken,
        (answer.tasks as Json[]).map((task) => task.taskArn as string),
      );
    return answer;
  }

  private placeTasks(cluster: ClusterState, input: Json): Json {
    const count = input.count === undefined || input.count === null ? 1 : input.count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 10) throw invalidParameter('count must be between 1 and 10.');
    if (input.launchType !== undefined && input.launchType !== 'EC2')
      throw invalidParameter(`launchType ${String(input.launchType)} is not supported by this emulator; use EC2.`);
    const common = this.taskCommon(input);
    const need = this.requirementOf(common.definition, common.overrides);
    const constraints = [...common.definition.placementConstraints, ...((input.placementConstraints as PlacementConstraint[] | undefined) ?? [])];
    if (constraints.length > 10) throw invalidParameter('You can specify up to 10 placement constraints.');
    const strategies = (input.placementStrategy as PlacementStrategy[] | undefined) ?? [];
    if (strategies.length > 5) throw invalidParameter('You can specify up to 5 placement strategies.');
    for (const strategy of strategies) this.checkStrategy(strategy);
    const memberOf: Array<(instance: InstanceState) => boolean> = [];
    let distinct = false;
    for (const constraint of constraints) {
      if (constraint.type === 'distinctInstance') {
        if (constraint.expression) throw invalidParameter('distinctInstance takes no expression.');
        distinct = true;
      } else if (constraint.type === 'memberOf') {
        if (!constraint.expression) throw invalidParameter('memberOf needs an expression.');
        memberOf.push(this.compileCql(constraint.expression));
      } else {
        throw invalidParameter(`Unknown placement constraint type: ${String(constraint.type)}`);
      }
    }
    // Documented (RunTask): "No Container Instances were found in your cluster." when it has none.
    if (cluster.instances.size === 0) throw invalidParameter('No Container Instances were found in your cluster.');
    const tasks: Json[] = [];
    const failures = new Map<string, string>();
    const placedHere = new Set<InstanceState>();
    for (let i = 0; i < count; i++) {
      const candidates: InstanceState[] = [];
      for (const instance of cluster.instances.values()) {
        // RunTask never places on DRAINING instances.
        if (instance.status !== 'ACTIVE') continue;
        let reason = this.unfitReason(instance, need);
        if (!reason && memberOf.some((test) => !test(instance))) reason = 'MemberOf placement constraint unsatisfied.';
        if (!reason && distinct && (placedHere.has(instance) || this.hasGroupTask(instance, common.group)))
          reason = 'DistinctInstance placement constraint unsatisfied.';
        if (reason) {
          if (!failures.has(instance.arn)) failures.set(instance.arn, reason);
          continue;
        }
        candidates.push(instance);
      }
      if (candidates.length === 0) break;
      const chosen = this.choose(cluster, candidates, strategies, common.group);
      placedHere.add(chosen);
      failures.delete(chosen.arn);
      tasks.push(this.taskWire(this.launch(cluster, chosen, need, common), false));
    }
    if (tasks.length === count) failures.clear();
    return { tasks, failures: [...failures].map(([arn, reason]) => ({ arn, reason })) };
  }

  private checkStrategy(strategy: PlacementStrategy): void {
    if (strategy.type === 'random') return;
    if (strategy.type === 'binpack') {
      if (strategy.field !== 'cpu' && strategy.field !== 'memory') throw invalidParameter('binpack field must be cpu or memory.');
      return;
    }
    if (strategy.type === 'spread') {
      const field = strategy.field ?? '';
      if (field === 'instanceId' || field === 'host' || /^attribute:.+/.test(field)) return;
      throw invalidParameter('spread field must be instanceId, host or attribute:<name>.');
    }
    throw invalidParameter(`Unknown placement strategy type: ${String(strategy.type)}`);
  }

  private hasGroupTask(instance: InstanceState, group: string): boolean {
    for (const task of instance.tasks.values()) if (task.lastStatus !== 'STOPPED' && task.group === group) return true;
    return false;
  }

  /**
   * Applies the strategies in order, each narrowing the candidates to its best ones; ties left at
   * the end are broken at random. Modelled: spread counts the live tasks of the same group (the
   * tasks the strategy is spreading); with no strategy RunTask places at random.
   */
  private choose(cluster: ClusterState, candidates: InstanceState[], strategies: PlacementStrategy[], group: string): InstanceState {
    let pool = candidates;
    for (const strategy of strategies) {
      if (pool.length <= 1) break;
      if (strategy.type === 'binpack') {
        const remaining = (instance: InstanceState): number =>
          strategy.field === 'cpu' ? instance.registeredCpu - instance.usedCpu : instance.registeredMemory - instance.usedMemory;
        const best = Math.min(...pool.map(remaining));
        pool = pool.filter((instance) => remaining(instance) === best);
      } else if (strategy.type === 'spread') {
        const field = strategy.field ?? 'instanceId';
        const keyOf = (instance: InstanceState): string =>
          field === 'instanceId' || field === 'host' ? instance.id : (instance.attributes.get(field.slice('attribute:'.length)) ?? '');
        const counts = new Map<string, number>();
        // Tasks count wherever they run in the cluster, on instances that cannot take this one too.
        for (const instance of cluster.instances.values()) {
          let n = 0;
          for (const task of instance.tasks.values()) if (task.lastStatus !== 'STOPPED' && task.group === group) n++;
          counts.set(keyOf(instance), (counts.get(keyOf(instance)) ?? 0) + n);
        }
        const best = Math.min(...pool.map((instance) => counts.get(keyOf(instance)) ?? 0));
        pool = pool.filter((instance) => (counts.get(keyOf(instance)) ?? 0) === best);
      }
      // random: leaves the pool as it is; the final pick is random.
    }
    return pool[Math.floor(this.rng() * pool.length)] ?? (pool[0] as InstanceState);
  }

  private launch(
    cluster: ClusterState,
    instance: InstanceState,
    need: Requirement,
    common: { definition: TaskDefinitionState; startedBy: string | undefined; group: string; tags: Tag[]; overrides: TaskOverride },
  ): TaskState {
    const { definition, overrides } = common;
    const id = newId();
    const taskArn = this.taskArn(cluster.name, id);
    const now = this.clock.wallMs();
    instance.usedCpu += need.cpu;
    instance.usedMemory += need.memory;
    for (const port of need.ports) instance.usedPorts.set(port, (instance.usedPorts.get(port) ?? 0) + 1);
    for (const port of need.udpPorts) instance.usedUdpPorts.set(port, (instance.usedUdpPorts.get(port) ?? 0) + 1);
    const containers: EmulatedContainer[] = definition.containerDefinitions.map((container) => {
      const override = overrides.containerOverrides?.find((item) => item.name === container.name);
      const bindings: EmulatedNetworkBinding[] = [];
      for (const mapping of container.portMappings ?? []) {
        const protocol = mapping.protocol === 'udp' ? 'udp' : 'tcp';
        let hostPort = definition.networkMode === 'host' ? (mapping.hostPort ?? mapping.containerPort) : mapping.hostPort;
        if (!hostPort) hostPort = this.ephemeralPort(instance);
        if (mapping.containerPort !== undefined) bindings.push({ bindIP: '0.0.0.0', containerPort: mapping.containerPort, hostPort, protocol });
      }
      return {
        name: container.name as string,
        containerArn: `arn:aws:ecs:${this.region}:${this.accountId}:container/${cluster.name}/${id}/${randomUUID()}`,
        image: container.image as string,
        essential: container.essential !== false,
        runtimeId: undefined,
        lastStatus: 'PENDING',
        exitCode: undefined,
        healthStatus: 'UNKNOWN',
        hasHealthCheck: container.healthCheck !== undefined,
        reason: undefined,
        networkBindings: bindings,
        cpu: override?.cpu ?? container.cpu ?? 0,
        memory: override?.memory ?? container.memory,
        memoryReservation: override?.memoryReservation ?? container.memoryReservation,
      };
    });
    const task: TaskState = {
      seq: ++this.seq,
      id,
      instance,
      cluster,
      overrides,
      hostPorts: need.ports,
      hostUdpPorts: need.udpPorts,
      stopRequested: false,
      taskArn,
      clusterArn: cluster.arn,
      clusterName: cluster.name,
      containerInstanceArn: instance.arn,
      ec2InstanceId: instance.ec2InstanceId,
      availabilityZone: instance.availabilityZone,
      taskDefinitionArn: definition.arn,
      family: definition.family,
      revision: definition.revision,
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      healthStatus: 'UNKNOWN',
      startedBy: common.startedBy,
      group: common.group,
      cpu: need.cpu,
      memory: need.memory,
      createdAt: now,
      pullStartedAt: undefined,
      pullStoppedAt: undefined,
      startedAt: undefined,
      stoppingAt: undefined,
      stoppedAt: undefined,
      stopCode: undefined,
      stoppedReason: undefined,
      containers,
      tags: common.tags,
      version: 0,
    };
    cluster.tasks.set(id, task);
    instance.tasks.set(id, task);
    this.tasksByArn.set(taskArn, task);
    if (task.startedBy !== undefined) {
      let index = cluster.tasksByStartedBy.get(task.startedBy);
      if (!index) cluster.tasksByStartedBy.set(task.startedBy, (index = new Map()));
      index.set(id, task);
    }
    this.changed(task, 'created');
    const spec = this.runtimeSpec(task, definition);
    this.runtime.start(spec).then(
      () => {
        if (task.lastStatus === 'PROVISIONING' && task.desiredStatus === 'RUNNING') {
          task.lastStatus = 'PENDING';
          task.pullStartedAt ??= this.clock.wallMs();
          this.changed(task, 'PENDING');
        }
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        this.log('warn', 'runtime could not start task', { taskArn, error: message });
        if (task.lastStatus === 'STOPPED') return;
        const reason = /^[A-Za-z]+Error:/.test(message) ? message : `CannotStartContainerError: ${message}`;
        this.beginStop(task, task.startedAt === undefined ? 'TaskFailedToStart' : 'EssentialContainerExited', reason);
        for (const container of task.containers) {
          if (container.lastStatus !== 'STOPPED') {
            container.lastStatus = 'STOPPED';
            container.reason ??= reason;
          }
        }
        this.finishStopped(task);
      },
    );
    return task;
  }

  private ephemeralPort(instance: InstanceState): number {
    for (let tries = 0; tries <= EPHEMERAL_PORT_LAST - EPHEMERAL_PORT_FIRST; tries++) {
      const port = instance.nextEphemeralPort;
      instance.nextEphemeralPort = port >= EPHEMERAL_PORT_LAST ? EPHEMERAL_PORT_FIRST : port + 1;
      if (!instance.usedPorts.has(port) && !instance.reservedPorts.includes(port)) return port;
    }
    return 0;
  }

  private runtimeSpec(task: TaskState, definition: TaskDefinitionState): RuntimeTaskSpec {
    const containers: RuntimeContainerSpec[] = definition.containerDefinitions.map((container) => {
      const override = task.overrides.containerOverrides?.find((item) => item.name === container.name);
      const environment: Record<string, string> = {};
      for (const pair of container.environment ?? []) if (pair.name) environment[pair.name] = pair.value ?? '';
      for (const pair of override?.environment ?? []) if (pair.name) environment[pair.name] = pair.value ?? '';
      const check = container.healthCheck;
      return {
        name: container.name as string,
        image: container.image as string,
        essential: container.essential !== false,
        ...((override?.command ?? container.command) ? { command: override?.command ?? container.command } : {}),
        ...(container.entryPoint ? { entryPoint: container.entryPoint } : {}),
        environment,
        ...((override?.memory ?? container.memory ?? override?.memoryReservation ?? container.memoryReservation) !== undefined
          ? { memoryMiB: override?.memory ?? container.memory ?? override?.memoryReservation ?? container.memoryReservation }
          : {}),
        ...((override?.cpu ?? container.cpu) !== undefined ? { cpuUnits: override?.cpu ?? container.cpu } : {}),
        ...(check
          ? {
              healthCheck: {
                command: check.command ?? [],
                intervalSeconds: check.interval ?? 30,
                timeoutSeconds: check.timeout ?? 5,
                retries: check.retries ?? 3,
                startPeriodSeconds: check.startPeriod ?? 0,
              },
            }
          : {}),
      };
    });
    return {
      taskArn: task.taskArn,
      clusterName: task.clusterName,
      clusterArn: task.clusterArn,
      containerInstanceArn: task.containerInstanceArn,
      family: task.family,
      revision: task.revision,
      containers,
      ...(definition.networkMode ? { networkMode: definition.networkMode } : {}),
    };
  }

  private onRuntimeEvent(event: RuntimeEvent): void {
    const task = this.tasksByArn.get(event.taskArn);
    if (!task || task.lastStatus === 'STOPPED') return;
    const container = task.containers.find((item) => item.name === event.containerName);
    if (!container) return;
    const now = this.clock.wallMs();
    switch (event.type) {
      case 'started': {
        if (container.lastStatus !== 'PENDING') return;
        container.lastStatus = 'RUNNING';
        container.runtimeId = event.runtimeId;
        task.pullStartedAt ??= now;
        if (task.lastStatus === 'PROVISIONING') task.lastStatus = 'PENDING';
        // Documented lifecycle: the task is RUNNING once its containers are.
        if (
          task.desiredStatus === 'RUNNING' &&
          task.containers.every((item) => item.lastStatus === 'RUNNING' || (!item.essential && item.lastStatus === 'STOPPED'))
        ) {
          task.lastStatus = 'RUNNING';
          task.pullStoppedAt ??= now;
          task.startedAt = now;
          this.updateHealth(task);
          this.changed(task, 'RUNNING');
        } else {
          this.changed(task, 'container');
        }
        return;
      }
      case 'health': {
        // Documented: without a healthCheck in the task definition a container reports UNKNOWN.
        if (!container.hasHealthCheck || container.lastStatus !== 'RUNNING') return;
        if (container.healthStatus === event.health) return;
        container.healthStatus = event.health;
        this.updateHealth(task);
        this.changed(task, 'health');
        return;
      }
      case 'exited': {
        if (container.lastStatus === 'STOPPED') return;
        const neverStarted = container.lastStatus === 'PENDING';
        container.lastStatus = 'STOPPED';
        // A container that never ran has no exit code in ECS, whatever the runtime says.
        container.exitCode = neverStarted ? undefined : event.exitCode;
        if (event.reason) container.reason = event.reason;
        else if (event.oomKilled) container.reason = 'OutOfMemoryError: Container killed due to memory usage';
        if (container.hasHealthCheck) container.healthStatus = 'UNKNOWN';
        if (task.desiredStatus === 'RUNNING') {
          if (neverStarted && container.essential && task.startedAt === undefined) {
            this.beginStop(task, 'TaskFailedToStart', container.reason ?? `Task failed to start: container ${container.name} did not start`);
          } else if (container.essential) {
            this.beginStop(task, 'EssentialContainerExited', 'Essential container in task exited');
          }
        }
        this.updateHealth(task);
        if (task.containers.every((item) => item.lastStatus === 'STOPPED')) this.finishStopped(task);
        else this.changed(task, 'container');
        return;
      }
    }
  }

  /**
   * Documented: task health is HEALTHY when all essential containers are; UNHEALTHY or UNKNOWN when
   * any essential container is. Modelled: containers without a health check are left out (they are
   * always UNKNOWN); with none at all the task is UNKNOWN.
   */
  private updateHealth(task: TaskState): void {
    const checked = task.containers.filter((container) => container.essential && container.hasHealthCheck);
    let health: ContainerHealth = 'UNKNOWN';
    if (checked.length > 0) {
      if (checked.some((container) => container.healthStatus === 'UNHEALTHY')) health = 'UNHEALTHY';
      else if (checked.every((container) => container.healthStatus === 'HEALTHY')) health = 'HEALTHY';
    }
    task.healthStatus = health;
  }

  /** Desired STOPPED: records why and asks the runtime to stop what still runs. */
  private beginStop(task: TaskState, stopCode: TaskStopCode, reason: string): void {
    if (task.desiredStatus === 'STOPPED') return;
    task.desiredStatus = 'STOPPED';
    task.stopCode = stopCode;
    task.stoppedReason = reason;
    task.stoppingAt = this.clock.wallMs();
    this.changed(task, 'stopping');
    // The agent's default stop timeout (ECS_CONTAINER_STOP_TIMEOUT) unless containers set stopTimeout.
    const timeouts = this.stopTimeouts(task);
    const graceSeconds = timeouts.length > 0 ? Math.max(...timeouts) : DEFAULT_STOP_TIMEOUT_SECONDS;
    this.runtime.stop(task.taskArn, graceSeconds).then(
      () => {
        // A runtime that reported no exit for some container: those are gone all the same.
        if (task.lastStatus === 'STOPPED') return;
        for (const container of task.containers) if (container.lastStatus !== 'STOPPED') container.lastStatus = 'STOPPED';
        this.finishStopped(task);
      },
      (error: unknown) => this.log('warn', 'runtime could not stop task', { taskArn: task.taskArn, error: String(error) }),
    );
  }

  private stopTimeouts(task: TaskState): number[] {
    const definition = this.families.get(task.family)?.[task.revision - 1];
    return (definition?.containerDefinitions ?? []).map((container) => container.stopTimeout).filter((value): value is number => typeof value === 'number');
  }

  private finishStopped(task: TaskState): void {
    if (task.lastStatus === 'STOPPED') return;
    const now = this.clock.wallMs();
    task.lastStatus = 'STOPPED';
    task.desiredStatus = 'STOPPED';
    task.stoppingAt ??= now;
    task.stoppedAt = now;
    const instance = task.instance;
    instance.usedCpu -= task.cpu;
    instance.usedMemory -= task.memory;
    for (const port of task.hostPorts) release(instance.usedPorts, port);
    for (const port of task.hostUdpPorts) release(instance.usedUdpPorts, port);
    this.stoppedQueue.push(task);
    this.changed(task, 'STOPPED');
  }

  stopTask(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    if (typeof input.task !== 'string' || input.task === '') throw invalidParameter('Task cannot be empty.');
    const reason = input.reason;
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > 255)) throw invalidParameter('reason can be at most 255 characters.');
    const task = this.findTask(cluster, input.task);
    if (!task) throw invalidParameter('The referenced task was not found.');
    if (task.lastStatus !== 'STOPPED' && task.desiredStatus === 'RUNNING') {
      task.stopRequested = true;
      // Modelled: without a reason, DescribeTasks shows "Task stopped by user".
      this.beginStop(task, 'UserInitiated', typeof reason === 'string' && reason !== '' ? reason : 'Task stopped by user');
      // ECS's StopTask reference: "Any tags associated with the task will be deleted."
      task.tags = [];
    }
    return { task: this.taskWire(task, true) };
  }

  describeTasks(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    const refs = input.tasks;
    if (!Array.isArray(refs) || refs.length === 0) throw invalidParameter('Tasks cannot be empty.');
    if (refs.length > 100) throw invalidParameter('Tasks can have at most 100 items.');
    const include = Array.isArray(input.include) && (input.include as string[]).includes('TAGS');
    const tasks: Json[] = [];
    const failures: Json[] = [];
    for (const ref of refs as string[]) {
      const task = typeof ref === 'string' ? this.findTask(cluster, ref) : undefined;
      if (task) tasks.push(this.taskWire(task, include));
      else failures.push({ arn: typeof ref === 'string' && ref.startsWith('arn:') ? ref : this.taskArn(cluster.name, String(ref)), reason: 'MISSING' });
    }
    return { tasks, failures };
  }

  listTasks(input: Json): Json {
    const cluster = this.clusterRef(input.cluster);
    if (input.serviceName !== undefined) throw new EcsError('ServiceNotFoundException', 'Service not found.');
    const startedBy = input.startedBy as string | undefined;
    if (startedBy !== undefined) {
      // Documented: "When you specify startedBy as the filter, it must be the only filter that you
      // use." Modelled: any other filter besides cluster (and paging) is an InvalidParameterException.
      const others = ['containerInstance', 'family', 'serviceName', 'desiredStatus', 'launchType'].filter(
        (name) => input[name] !== undefined && input[name] !== null,
      );
      if (others.length > 0) throw invalidParameter(`startedBy must be the only filter when it is given; drop ${others.join(', ')}.`);
    }
    if (input.launchType !== undefined && input.launchType !== 'EC2') {
      return {};
    }
    const desired = (input.desiredStatus as string | undefined) ?? 'RUNNING';
    let source: Iterable<TaskState>;
    if (startedBy !== undefined) {
      source = cluster.tasksByStartedBy.get(startedBy)?.values() ?? [];
    } else if (typeof input.containerInstance === 'string') {
      const instance = this.findInstance(cluster, input.containerInstance, true);
      if (!instance) throw invalidParameter('The referenced container instance was not found.');
      source = instance.tasks.values();
    } else {
      source = cluster.tasks.values();
    }
    const family = input.family as string | undefined;
    const selected: TaskState[] = [];
    for (const task of source) {
      // Documented: the default filter is desiredStatus RUNNING (PENDING never matches anything).
      if (startedBy === undefined && task.desiredStatus !== desired) continue;
      if (startedBy !== undefined && task.desiredStatus !== 'RUNNING') continue;
      if (family !== undefined && task.family !== family) continue;
      selected.push(task);
    }
    const { page, nextToken } = this.paginate(selected, (task) => task.seq, input);
    return compact({ taskArns: page.map((task) => task.taskArn), nextToken });
  }

  private taskWire(task: TaskState, includeTags: boolean): Json {
    return compact({
      taskArn: task.taskArn,
      clusterArn: task.clusterArn,
      taskDefinitionArn: task.taskDefinitionArn,
      containerInstanceArn: task.containerInstanceArn,
      overrides: { containerOverrides: task.overrides.containerOverrides ?? [], inferenceAcceleratorOverrides: [] },
      lastStatus: task.lastStatus,
      desiredStatus: task.desiredStatus,
      cpu: String(task.cpu),
      memory: String(task.memory),
      containers: task.containers.map((container) =>
        compact({
          containerArn: container.containerArn,
          taskArn: task.taskArn,
          name: container.name,
          image: container.image,
          runtimeId: container.runtimeId,
          lastStatus: container.lastStatus,
          exitCode: container.exitCode,
          reason: container.reason,
          networkBindings: container.networkBindings.map((binding) => ({ ...binding })),
          networkInterfaces: [],
          healthStatus: container.healthStatus,
          cpu: String(container.cpu),
          memory: container.memory === undefined ? undefined : String(container.memory),
          memoryReservation: container.memoryReservation === undefined ? undefined : String(container.memoryReservation),
        }),
      ),
      startedBy: task.startedBy,
      version: task.version,
      stopCode: task.stopCode,
      stoppedReason: task.stoppedReason,
      connectivity: 'CONNECTED',
      connectivityAt: seconds(task.createdAt),
      pullStartedAt: seconds(task.pullStartedAt),
      pullStoppedAt: seconds(task.pullStoppedAt),
      createdAt: seconds(task.createdAt),
      startedAt: seconds(task.startedAt),
      stoppingAt: seconds(task.stoppingAt),
      stoppedAt: seconds(task.stoppedAt),
      executionStoppedAt: seconds(task.stoppedAt),
      group: task.group,
      launchType: 'EC2',
      availabilityZone: task.availabilityZone,
      attributes: [{ name: 'ecs.cpu-architecture', value: task.instance.attributes.get('ecs.cpu-architecture') ?? 'x86_64' }],
      healthStatus: task.healthStatus,
      enableExecuteCommand: false,
      attachments: [],
      tags: includeTags ? task.tags : undefined,
    });
  }

  // ---------------------------------------------------------------- tags

  private taggable(resourceArn: unknown): { tags: Tag[]; set(tags: Tag[]): void } {
    if (typeof resourceArn !== 'string') throw invalidParameter('resourceArn is required.');
    const match = /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:(cluster|task|container-instance|task-definition)\/(.+)$/.exec(resourceArn);
    if (!match) throw invalidParameter(`Invalid resource ARN: ${resourceArn}`);
    const kind = match[1];
    const rest = match[2] as string;
    const notFound = (): EcsError => new EcsError('ResourceNotFoundException', 'The specified resource could not be found.');
    if (kind === 'cluster') {
      const cluster = this.clusters.get(rest);
      if (!cluster || cluster.status !== 'ACTIVE') throw new EcsError('ClusterNotFoundException', 'Cluster not found.');
      return { tags: cluster.tags, set: (tags) => void (cluster.tags = tags) };
    }
    if (kind === 'task') {
      const task = this.tasksByArn.get(resourceArn);
      if (!task) throw invalidParameter('The specified task is stopped or could not be found.');
      return { tags: task.tags, set: (tags) => void (task.tags = tags) };
    }
    if (kind === 'container-instance') {
      const instance = this.instancesByArn.get(resourceArn);
      if (!instance || instance.status === 'INACTIVE') throw notFound();
      return { tags: instance.tags, set: (tags) => void (instance.tags = tags) };
    }
    const definition = this.taskDefinitionRefOrUndefined(rest);
    if (!definition) throw notFound();
    return { tags: definition.tags, set: (tags) => void (definition.tags = tags) };
  }

  private taskDefinitionRefOrUndefined(ref: string): TaskDefinitionState | undefined {
    try {
      return this.taskDefinitionRef(ref);
    } catch {
      return undefined;
    }
  }

  tagResource(input: Json): Json {
    const target = this.taggable(input.resourceArn);
    const tags = this.tagsOf(input.tags);
    if (tags.length === 0) throw invalidParameter('Tags cannot be empty.');
    target.set(this.mergeTags(target.tags, tags));
    return {};
  }

  untagResource(input: Json): Json {
    const target = this.taggable(input.resourceArn);
    const keys = Array.isArray(input.tagKeys) ? (input.tagKeys as string[]) : [];
    target.set(target.tags.filter((tag) => !keys.includes(tag.key)));
    return {};
  }

  listTagsForResource(input: Json): Json {
    return { tags: this.taggable(input.resourceArn).tags };
  }

  // ---------------------------------------------------------------- read-only views

  tasksOnInstance(containerInstanceArn: string): EmulatedTask[] {
    this.expire();
    const instance = this.instancesByArn.get(containerInstanceArn);
    if (!instance) return [];
    return [...instance.tasks.values()].map((task) => this.snapshotTask(task));
  }

  task(taskArn: string): EmulatedTask | undefined {
    this.expire();
    const task = this.tasksByArn.get(taskArn);
    return task ? this.snapshotTask(task) : undefined;
  }

  instance(containerInstanceArn: string): EmulatedInstance | undefined {
    const instance = this.instancesByArn.get(containerInstanceArn);
    if (!instance) return undefined;
    const counts = this.countTasks(instance);
    return {
      containerInstanceArn: instance.arn,
      clusterArn: instance.cluster.arn,
      clusterName: instance.cluster.name,
      ec2InstanceId: instance.ec2InstanceId,
      instanceType: instance.instanceType,
      availabilityZone: instance.availabilityZone,
      amiId: instance.amiId,
      status: instance.status,
      agentConnected: instance.agentConnected,
      registeredAt: instance.registeredAt,
      attributes: Object.fromEntries(instance.attributes),
      registeredCpu: instance.registeredCpu,
      registeredMemory: instance.registeredMemory,
      remainingCpu: instance.registeredCpu - instance.usedCpu,
      remainingMemory: instance.registeredMemory - instance.usedMemory,
      usedPorts: [...new Set([...instance.reservedPorts, ...instance.usedPorts.keys()])],
      usedUdpPorts: [...new Set([...instance.reservedUdpPorts, ...instance.usedUdpPorts.keys()])],
      runningTasksCount: counts.running,
      pendingTasksCount: counts.pending,
      version: instance.version,
      tags: instance.tags.map((tag) => ({ ...tag })),
    };
  }

  instanceArns(cluster?: string): string[] {
    const clusters =
      cluster === undefined ? [...this.clusters.values()] : [this.clusters.get(this.clusterNameOf(cluster))].filter((item): item is ClusterState => !!item);
    return clusters.flatMap((item) => [...item.instances.values()].map((instance) => instance.arn));
  }

  private snapshotTask(task: TaskState): EmulatedTask {
    return {
      taskArn: task.taskArn,
      clusterArn: task.clusterArn,
      clusterName: task.clusterName,
      containerInstanceArn: task.containerInstanceArn,
      ec2InstanceId: task.ec2InstanceId,
      availabilityZone: task.availabilityZone,
      taskDefinitionArn: task.taskDefinitionArn,
      family: task.family,
      revision: task.revision,
      lastStatus: task.lastStatus,
      desiredStatus: task.desiredStatus,
      healthStatus: task.healthStatus,
      startedBy: task.startedBy,
      group: task.group,
      cpu: task.cpu,
      memory: task.memory,
      createdAt: task.createdAt,
      pullStartedAt: task.pullStartedAt,
      pullStoppedAt: task.pullStoppedAt,
      startedAt: task.startedAt,
      stoppingAt: task.stoppingAt,
      stoppedAt: task.stoppedAt,
      stopCode: task.stopCode,
      stoppedReason: task.stoppedReason,
      containers: task.containers.map((container) => ({ ...container, networkBindings: container.networkBindings.map((binding) => ({ ...binding })) })),
      tags: task.tags.map((tag) => ({ ...tag })),
      version: task.version,
    };
  }
}

function release(ports: Map<number, number>, port: number): void {
  const count = (ports.get(port) ?? 0) - 1;
  if (count <= 0) ports.delete(port);
  else ports.set(port, count);
}

function isCustomAttribute(name: string): boolean {
  return !name.startsWith('ecs.') && !name.startsWith('com.amazonaws.ecs.');
}

/** A CqlSyntaxError's message, with its column when the message lacks it. */
function cqlErrorMessage(error: unknown): string {
  const column = (error as { column?: unknown }).column;
  const message = error instanceof Error ? error.message : String(error);
  return typeof column === 'number' && !message.includes(`column ${column}`) ? `${message} (column ${column})` : message;
}

/** Task-level cpu: "1024" or "1 vCPU" / "0.25 vcpu". */
function parseCpu(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const vcpu = /^\s*([\d.]+)\s*vcpu\s*$/i.exec(value);
  if (vcpu) return Math.round(Number(vcpu[1]) * 1024);
  const units = Number(value);
  return Number.isInteger(units) && units >= 0 ? units : undefined;
}

/** Task-level memory: "512" (MiB) or "1 GB" / "0.5gb". */
function parseMemory(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const gb = /^\s*([\d.]+)\s*gb\s*$/i.exec(value);
  if (gb) return Math.round(Number(gb[1]) * 1024);
  const mib = Number(value);
  return Number.isInteger(mib) && mib >= 0 ? mib : undefined;
}
