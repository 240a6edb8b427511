// The data the pure decision function works on: what should run (Desired), what the agent knows
// about what runs and what it has asked for (Observed), and what to do about it (Plan).
import type { DaemonState, Environment, EnvironmentRevision } from '../core/records.js';
import type { LeaseView } from './lease.js';
import type { RestartState } from './restart-policy.js';

/** The time of one reconcile step, and its randomness (so `decide` stays a pure function). */
export interface Now {
  wallMs: number;
  monoMs: number;
  /** A fresh random string (base36, >= 12 characters) for this step's attempt tokens. */
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

export type TaskHealth = 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';

/** A task on this container instance, merged from the ECS agent, Docker events and ECS Describe. */
export interface ObservedTask {
  taskArn: string;
  /** The environment it belongs to (its group `blox:<env>` or its tags), if this system started it. */
  environment?: string;
  revision?: number;
  startedBy?: string;
  lastStatus: string;
  desiredStatus: string;
  health?: TaskHealth;
  hasHealthCheck: boolean;
  /** Started by blox-edge (group, tags or startedBy say so). */
  ours: boolean;
}

/** A StartTask issued by this process whose task has not been observed yet (an expectation). */
export interface PendingStart {
  token: string;
  revision: number;
  issuedMono: number;
}

/** The answer of ListTasks(startedBy = token) + DescribeTasks. */
export interface AttemptLookup {
  token: string;
  taskArns: string[];
  atMono: number;
  /** Definitive without waiting for ECS to settle: StartTask answered with failures and no task. */
  conclusive?: boolean;
}

export interface Backoff {
  untilMono: number;
  attempts: number;
  reason: string;
}

export interface Observed {
  /** Lease of each environment for this instance; a missing entry means not known yet. */
  leases: Record<string, LeaseView>;
  /** Whether this agent's own lease needs a heartbeat now. */
  renewDue: Record<string, boolean>;
  /** The tasks of this instance; undefined when the agent cannot see them. */
  tasks: ObservedTask[] | undefined;
  pending: Record<string, PendingStart>;
  lookups: Record<string, AttemptLookup>;
  /** Monotonic time at which an attempt token was first seen in a lease. */
  attemptFirstSeen: Record<string, number>;
  restart: Record<string, RestartState>;
  startBackoff: Record<string, Backoff>;
  /** Per environment ('' for a task of no environment): StopTask or ListTasks failed; those calls wait it out. */
  ecsBackoff?: Record<string, Backoff>;
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

export const DEFAULT_DECIDE_OPTIONS: DecideOptions = { orphanGraceMs: 60_000, attemptSettleMs: 5_000, expectationTimeoutMs: 120_000 };

export type Action =
  | { type: 'acquire-lease'; environment: string; expectedRecordVersion?: string; reason: string }
  | { type: 'renew-lease'; environment: string; reason: string }
  | { type: 'lookup-attempt'; environment: string; token: string; reason: string }
  | { type: 'record-attempt'; environment: string; token: string; revision: number; reason: string }
  | { type: 'start'; environment: string; token: string; revision: number; taskDefinition: string; reason: string }
  | { type: 'adopt'; environment: string; taskArn: string; revision?: number; reason: string }
  | { type: 'stop'; environment?: string; taskArn: string; reason: string }
  | { type: 'release-lease'; environment: string; reason: string }
  | { type: 'wait'; environment: string; untilMono?: number; reason: string };

export interface Report {
  environment: string;
  state: DaemonState;
  revision: number;
  taskDefinition: string;
  taskArn?: string;
  lastStatus?: string;
  health?: TaskHealth;
  /** Matching environments count for readiness. */
  matching: boolean;
  /** RUNNING, and HEALTHY where there is a health check. */
  ready: boolean;
  reason: string;
}

export interface Plan {
  /** In order; the actor runs each environment's actions in order and skips the rest after a failure. */
  actions: Action[];
  reports: Report[];
  /** Tasks of ours no environment claims now (the loop keeps their `orphanSince`); undefined when not judged (desired state stale or tasks unseen). */
  unclaimed: string[] | undefined;
}
