// The agent's edges: small interfaces that the adapters (agent/adapters/, the only files that
// import an SDK) implement, and that tests and simulations fake (test/support/fake-ports.ts).
// Everything between them (observe, decide, plan, act, report) is written against these.
import type { InstanceFacts } from '../core/cql.js';
import { ConflictError, type InvalidRecordError } from '../core/errors.js';
import type {
  ChangeMarker,
  Claim,
  ClaimRecord,
  Environment,
  EnvironmentRevision,
  HealthStatus,
  InstanceHeartbeat,
  InstanceStatus,
  RolloutControl,
  Deployment,
  RepairBudgetRecord,
  StewardLease,
} from '../core/records.js';

import type { StewardRecord } from '../core/store/rollouts.js';
import type { RolloutCounterMove } from './model.js';

/** An environment head with the revision it converges to, or why it is unusable. */
export type EnvironmentEntry =
  { name: string; kind: 'valid'; environment: Environment; revision: EnvironmentRevision } | { name: string; kind: 'invalid'; error: string };

/** The environments of the agent's cluster (DynamoDB). */
export interface DesiredStatePort {
  /** The cluster's change marker: the one read per poll. */
  getMarker(cluster: string): Promise<ChangeMarker | undefined>;
  /** Every environment head of the cluster with its current revision (or why it is invalid). */
  loadEnvironments(cluster: string): Promise<EnvironmentEntry[]>;
}

/** A lost conditional write; `current` is the item that won (null: there is none). */
export class WriteConflictError<T> extends ConflictError<T | null> {
  constructor(message: string, current: T | null) {
    super(message, current);
    this.name = 'WriteConflictError';
  }
}

/** The rollout control refused a counter move (no room, paused, another deployment): read it again. */
export class RolloutRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RolloutRefusedError';
  }
}

/** The rollout of an environment's active deployment (core/records/rollout.ts). */
export interface RolloutPort {
  /** Eventually consistent unless `consistent`: null when there is none. */
  getControl(environment: string, consistent?: boolean): Promise<RolloutControl | null>;
  /** A revision (immutable): the stable one new instances get while the target is untrusted. */
  getRevision(environment: string, revision: number): Promise<EnvironmentRevision | undefined>;
}

/** What the steward of a rollout reads and writes (core/store/rollouts.ts implements it for DynamoDB). */
export interface StewardPort {
  control(environment: string): Promise<RolloutControl | undefined>;
  deployment(environment: string, id: string): Promise<Deployment | undefined>;
  /** The cluster's live status records. */
  statuses(cluster: string): Promise<InstanceStatus[]>;
  acquire(environment: string, deploymentId: string, lease: StewardLease, seenRenewals: number | undefined): Promise<boolean>;
  record(rec: StewardRecord): Promise<boolean>;
  /** Frees the admissions held by instances whose agent is gone (from the last `statuses`); how many. */
  freeAbandoned(environment: string, deploymentId: string, cluster: string, now: string): Promise<number>;
  /** Rolls the failed deployment back to `revision` (a new deployment of a copy of it). */
  rollback(environment: string, failedDeploymentId: string, revision: number): Promise<void>;
}

/** The instance heartbeat and the claims (DynamoDB). Every write is conditional: absent, or exactly the version read. */
export interface ClaimPort {
  getHeartbeat(containerInstanceId: string): Promise<InstanceHeartbeat | null>;
  /** Writes the heartbeat if the item is absent (`expected` undefined) or has that record version; else WriteConflictError. */
  putHeartbeat(heartbeat: InstanceHeartbeat, expectedRecordVersion: string | undefined): Promise<void>;
  /** The claims of `environments` on the instance, read together (strongly consistent): absent ones null, unreadable ones their error. */
  getClaims(environments: readonly string[], containerInstanceId: string): Promise<Map<string, ClaimRecord | null | InvalidRecordError>>;
  /**
   * Writes the claim if the item is absent (`expected` undefined) or has that record version; else
   * WriteConflictError. With `counter`, in one transaction with the move of the rollout counter
   * (an admission only while the control admits: RolloutRefusedError otherwise).
   */
  putClaim(claim: Claim, expectedRecordVersion: string | undefined, counter?: RolloutCounterMove): Promise<void>;
  /** Deletes the claim if it still has that record version; else WriteConflictError. */
  deleteClaim(environment: string, containerInstanceId: string, expectedRecordVersion: string): Promise<void>;
}

export interface StatusPort {
  putInstanceStatus(status: InstanceStatus): Promise<void>;
}

/** A task as ECS describes it, in the agent's terms. */
export interface TaskInfo {
  taskArn: string;
  taskDefinitionArn: string;
  group?: string;
  startedBy?: string;
  environment?: string;
  revision?: number;
  lastStatus: string;
  desiredStatus: string;
  healthStatus?: HealthStatus;
  containerInstanceArn?: string;
  stoppedReason?: string;
  /** Group, tags or startedBy say blox-edge started it. */
  ours: boolean;
  /** ECS answered MISSING: it no longer knows the task (long stopped); nothing else is known. */
  missing?: true;
}

export interface StartFailure {
  arn?: string;
  reason: string;
  detail?: string;
}

export interface SelfDescription {
  status: string;
  facts: InstanceFacts;
}

/** A daemon's StartTask: `token` becomes its startedBy; environment and revision its group and tags. */
export interface StartTaskInput {
  taskDefinition: string;
  token: string;
  environment: string;
  revision: number;
}

/** ECS, always about the agent's own container instance. */
export interface EcsPort {
  startTask(input: StartTaskInput): Promise<{ task?: TaskInfo; failures: StartFailure[] }>;
  stopTask(taskArn: string, reason: string): Promise<void>;
  /** ListTasks(startedBy = token) then DescribeTasks: what an attempt started, on this instance. */
  findByStartedBy(token: string): Promise<TaskInfo[]>;
  /** With tags; a task ECS answers MISSING for comes back STOPPED with `missing`. */
  describeTasks(taskArns: string[]): Promise<TaskInfo[]>;
  /** Every task ECS places on this instance with desired status RUNNING. */
  listInstanceTaskArns(): Promise<string[]>;
  describeSelf(): Promise<SelfDescription>;
  putOwnAttribute(name: string, value: string): Promise<void>;
  /** Whether a task definition gives any container a health check (immutable: cacheable). */
  hasHealthCheck(taskDefinitionArn: string): Promise<boolean>;
  /** UpdateContainerInstancesState(DRAINING) on this instance (a no-op when it drains already). */
  drainSelf(): Promise<void>;
  /** ECS status (ACTIVE, DRAINING, INACTIVE; MISSING when ECS does not know it) of container instances of this cluster, by id. */
  instanceStatuses(containerInstanceIds: readonly string[]): Promise<Map<string, string>>;
}

/** EC2 instance metadata's lifecycle paths (IMDSv2); absent paths (404) leave their field out. */
export interface InstanceLifecyclePort {
  lifecycle(): Promise<{ targetLifecycleState?: string; spotAction?: { action: string; time: string } }>;
}

/** The termination lifecycle hook of a group, as DescribeLifecycleHooks answers. */
export interface TerminationHook {
  name: string;
  heartbeatTimeoutSeconds: number;
  globalTimeoutSeconds: number;
}

/** EC2 Auto Scaling, always about this agent's own instance. */
export interface AutoScalingPort {
  /** DescribeAutoScalingInstances on the instance: its group, or undefined when it is in none. */
  groupOf(ec2InstanceId: string): Promise<string | undefined>;
  /** The group's termination hook (the one named, or the first), or undefined. */
  terminationHook(groupName: string, hookName?: string): Promise<TerminationHook | undefined>;
  /** false: Auto Scaling has no open lifecycle action for the instance (completed, timed out). */
  recordHeartbeat(groupName: string, hookName: string, ec2InstanceId: string): Promise<boolean>;
  /** CompleteLifecycleAction CONTINUE; false: no open action (already over). */
  completeAction(groupName: string, hookName: string, ec2InstanceId: string): Promise<boolean>;
  /** SetInstanceHealth Unhealthy: the group replaces the instance. */
  setUnhealthy(ec2InstanceId: string): Promise<void>;
}

/** The repair budgets (core/records/repair.ts), DynamoDB. */
export interface RepairPort {
  /** Strongly consistent; null when there is none. */
  getRepairBudget(environment: string): Promise<RepairBudgetRecord | null>;
  /** Whole-item put if absent (`expected` undefined) or of that record version; else WriteConflictError. */
  putRepairBudget(record: RepairBudgetRecord, expectedRecordVersion: string | undefined): Promise<void>;
}

/** A task as the ECS agent's introspection API lists it. */
export interface LocalTask {
  taskArn: string;
  desiredStatus: string;
  /** The ECS agent's own status: NONE, PULLED, CREATED, RUNNING, STOPPED. */
  knownStatus: string;
}

/** The ECS agent on this instance (its introspection API): the tasks it runs, at no API cost. */
export interface EcsAgentPort {
  localTasks(): Promise<LocalTask[]>;
}

export interface TaskHealthView {
  /** Worst health of the task's containers that report one (HEALTHY only when all are). */
  health: HealthStatus;
  hasHealthCheck: boolean;
  running: boolean;
}

/** The Docker engine's view of this instance's task containers: their health. */
export interface DockerPort {
  taskHealth(): Promise<Map<string, TaskHealthView>>;
}

/** Everything the reconcile step reaches outside the process. */
export interface AgentPorts {
  desired: DesiredStatePort;
  claims: ClaimPort;
  rollout: RolloutPort;
  steward: StewardPort;
  status: StatusPort;
  ecs: EcsPort;
  ecsAgent: EcsAgentPort;
  /** Absent where no Docker engine is reachable (health then comes from ECS). */
  docker?: DockerPort;
  /** Absent: scale-in and Spot handling off (simulations). */
  lifecycle?: InstanceLifecyclePort;
  /** Absent: no lifecycle action is heartbeated or completed, no instance set Unhealthy. */
  autoScaling?: AutoScalingPort;
  /** Absent: critical-daemon repair only marks the instance degraded. */
  repair?: RepairPort;
}

/** The instance's identity: the ECS agent's /v1/metadata and EC2 instance metadata (IMDSv2). */
export interface IdentityPort {
  /** Throws while the ECS agent has not registered the instance. */
  ecsMetadata(): Promise<{ cluster: string; containerInstanceArn: string; version?: string }>;
  instanceIdentity(): Promise<{ ec2InstanceId?: string; availabilityZone?: string; instanceType?: string; amiId?: string; region?: string }>;
}
