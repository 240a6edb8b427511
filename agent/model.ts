// The data the pure parts of the agent work on: what should run (Desired), what the agent knows
// about what runs and what it has asked for (Observed), what it means to do about it (Decision:
// intents per environment, with reasons), and the ordered actions that carry it out (Chain).
import type {
  ClaimAttempt,
  ClaimRecord,
  ClaimRollout,
  ClaimRole,
  ClaimTask,
  DaemonState,
  Environment,
  EnvironmentRevision,
  HealthStatus,
  InstanceHeartbeat,
} from '../core/records.js';
import type { LeaseJudgement } from './lease.js';
import type { RestartState } from './restart-policy.js';

/** The time of one reconcile step, and its randomness (so decide and plan stay pure functions). */
export interface Now {
  wallMs: number;
  monoMs: number;
  /** A fresh random string (>= 16 characters) for this step's attempt tokens. */
  nonce: string;
}

export type DesiredEnvironment =
  | {
      name: string;
      kind: 'valid';
      environment: Environment;
      revision: EnvironmentRevision;
      /** The instance group's expression on this instance: undefined when it cannot be evaluated yet. */
      matches: boolean | undefined;
      matchReason: string;
    }
  | { name: string; kind: 'invalid'; error: string };

export interface Desired {
  /** The cluster's environments; undefined until they have been read once. */
  environments: DesiredEnvironment[] | undefined;
  /** The list was read in the last poll; false when DynamoDB is unreachable (stale: nothing is stopped). */
  fresh: boolean;
}

/** A task on this container instance, merged from the ECS agent, Docker and ECS Describe. */
export interface ObservedTask {
  taskArn: string;
  /** The environment it belongs to (its group `blox:<env>` or its tags), if this system started it. */
  environment?: string;
  revision?: number;
  startedBy?: string;
  lastStatus: string;
  desiredStatus: string;
  health?: HealthStatus;
  hasHealthCheck: boolean;
  /** Started by blox-edge (group, tags or startedBy say so). */
  ours: boolean;
}

/** The instance heartbeat as this agent last saw or wrote it. */
export type InstanceLeaseView = LeaseJudgement<InstanceHeartbeat> | { state: 'unknown'; reason: string; item?: undefined; sighting?: undefined };

/** Whether this agent acts for the instance now: it holds the heartbeat and renewed it within the lease. */
export interface InstanceStanding {
  acting: boolean;
  reason: string;
}

/**
 * A claim as this agent sees it, while it holds the instance:
 * - unread: not read yet (observe reads it before anything is decided for the environment);
 * - absent: no item; the first write creates it;
 * - mine: written by this agent;
 * - takeable: written by an owner that does not hold the instance (a predecessor), a v1 lease of
 *   this owner, or a v1 lease released or watched expire: taken over, conditional on its version;
 * - watching: a v1 lease another agent still heartbeats (an upgrade overlap): hands off;
 * - invalid: not a record this agent can read: hands off, reported.
 */
export type ClaimState = 'unread' | 'absent' | 'mine' | 'takeable' | 'watching' | 'invalid';

export interface ClaimView {
  state: ClaimState;
  item?: ClaimRecord;
  reason: string;
  /** For takeable: `migrated` when it is this agent's own v1 lease. */
  takeOver?: 'migrated' | 'taken-over';
}

/** A StartTask issued by this process whose task has not been observed yet. */
export interface Expectation {
  token: string;
  role: ClaimRole;
  revision: number;
  issuedMono: number;
}

/** The answer of ListTasks(startedBy = token) + DescribeTasks. */
export interface AttemptLookup {
  taskArns: string[];
  atMono: number;
  /** Definitive without waiting for ECS to settle: StartTask answered with failures and no task. */
  conclusive?: boolean;
}

/** What the agent knows of one attempt token it has seen in a claim or issued. */
export interface AttemptMemo {
  firstSeenMono: number;
  lookup?: AttemptLookup;
}

export interface BackoffView {
  untilMono: number;
  attempts: number;
  reason: string;
}

/** One environment's memory, as decide reads it (agent/memory/env-memory.ts owns it). */
export interface EnvMemoryView {
  expectations: Expectation[];
  attempts: Record<string, AttemptMemo>;
  restart?: RestartState;
  /** StartTask failed: the next start waits. */
  startBackoff?: BackoffView;
  /** StopTask or a look-up failed: those calls wait. */
  ecsBackoff?: BackoffView;
}

export interface Observed {
  instance: InstanceStanding;
  claims: Record<string, ClaimView>;
  /** The tasks of this instance; undefined when the agent cannot see them. */
  tasks: ObservedTask[] | undefined;
  /** Per environment ('' for tasks of no environment). */
  memory: Record<string, EnvMemoryView>;
  /** Monotonic time since which a task of ours has been claimed by no environment. */
  orphanSince: Record<string, number>;
}

export interface DecideOptions {
  /** An unclaimed task of ours is stopped after this long (a deleted environment's head may lag). */
  orphanGraceMs: number;
  /** ListTasks(startedBy) finding nothing proves an attempt void only this long after it was seen. */
  attemptSettleMs: number;
  /** An expectation not met within this long is checked with a lookup instead. */
  expectationTimeoutMs: number;
}

export const DEFAULT_DECIDE_OPTIONS: DecideOptions = { orphanGraceMs: 60_000, attemptSettleMs: 5_000, expectationTimeoutMs: 30_000 };

/** What one environment's decision asks for, before pacing and planning. */
export type Intent =
  | { type: 'start'; role: ClaimRole; token: string; revision: number; taskDefinition: string; reason: string }
  | { type: 'stop'; taskArn: string; reason: string }
  /** The task runs a superseded revision: replace it (stop, or with surge start the new one beside it). A pacing step may hold it. */
  | { type: 'replace'; old: ClaimTask; revision: number; taskDefinition: string; surge: boolean; reason: string }
  | { type: 'lookup'; token: string; reason: string }
  | { type: 'release'; reason: string }
  | { type: 'wait'; untilMono?: number; reason: string };

/** The claim content an environment's actions need recorded (before any of them runs). */
export interface ClaimContent {
  current?: ClaimTask;
  next?: ClaimTask;
  attempts: ClaimAttempt[];
  /** The instance's part in the rollout (agent/decide/rollout.ts). */
  rollout?: ClaimRollout;
}

export interface EnvDecision {
  environment: string;
  intents: Intent[];
  /** Undefined: the claim is left as it is. */
  claim: ClaimContent | undefined;
  report: Report;
}

export interface Decision {
  environments: EnvDecision[];
  /** Stops of tasks of ours no environment claims (past their grace). */
  orphanStops: { taskArn: string; environment?: string; reason: string }[];
  /** Tasks of ours no environment claims now; undefined when not judged (desired state stale or tasks unseen). */
  unclaimed: string[] | undefined;
  /** Environments whose start the ordered start holds (decide/order.ts): their own healthy deadline has not begun. */
  heldByOrder?: string[];
}

export interface Report {
  environment: string;
  state: DaemonState;
  revision: number;
  taskDefinition: string;
  taskArn?: string;
  lastStatus?: string;
  health?: HealthStatus;
  /** During a surge: the new revision's task beside the current one. */
  next?: { taskArn: string; revision?: number; ready: boolean };
  /** Matching environments count for readiness. */
  matching: boolean;
  /** RUNNING, and HEALTHY where there is a health check. */
  ready: boolean;
  reason: string;
  /** The instance's part in the active deployment's rollout, as its claim records it. */
  rollout?: { deploymentId: string; state: ClaimRollout['state']; reason?: string };
}

/** One write of a claim: its whole new content, conditional on the version read (or its absence). */
export interface ClaimWrite {
  environment: string;
  content: ClaimContent;
  /** Undefined: the item must not exist. */
  expectedRecordVersion: string | undefined;
  /** Why (acquired, taken over, attempt, adopted, refreshed...), for the log and metrics. */
  event: string;
  /** The rollout counter moved with the claim, in one transaction (an admission or a release). */
  counter?: RolloutCounterMove;
}

/** +1 (admission, conditional on room) or -1 (release) on the control of `deploymentId`. */
export interface RolloutCounterMove {
  environment: string;
  deploymentId: string;
  delta: 1 | -1;
}

export type Action =
  | { type: 'acquire-instance'; expectedRecordVersion: string | undefined; reason: string }
  | { type: 'renew-instance'; reason: string }
  | { type: 'write-claim'; environment: string; write: ClaimWrite; reason: string }
  | { type: 'start'; environment: string; role: ClaimRole; token: string; revision: number; taskDefinition: string; reason: string }
  | { type: 'stop'; environment?: string; taskArn: string; reason: string }
  | { type: 'lookup-attempt'; environment: string; token: string; reason: string }
  | { type: 'delete-claim'; environment: string; expectedRecordVersion: string; reason: string }
  | { type: 'wait'; environment: string; untilMono?: number; reason: string };

/** Actions run in order; the first failure skips the rest of the chain (and only of that chain). */
export interface Chain {
  /** '#instance', an environment name, or `task:<arn>` for an orphan. */
  key: string;
  actions: Action[];
}

export const INSTANCE_CHAIN = '#instance';
