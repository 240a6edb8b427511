// Records each instance's agent writes about itself, read by the coordinator: the status record.
import { nestedReader, recordName, recordReader, TIMESTAMP } from './reader.js';
import type { ObjectReader } from '../validate.js';
import { CLAIM_ROLLOUT_STATES, type ClaimRolloutState } from './rollout.js';

/** ECS's health status of a task or container (healthStatus), as every part of the system names it. */
export const HEALTH_STATUSES = ['HEALTHY', 'UNHEALTHY', 'UNKNOWN'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export const DAEMON_STATES = ['starting', 'running', 'healthy', 'unhealthy', 'stopped', 'backoff', 'crash_loop', 'stopping', 'invalid', 'blocked'] as const;
export type DaemonState = (typeof DAEMON_STATES)[number];

/** Daemons last on a DRAINING instance (agent/decide/drain.ts): where the instance's drain stands. */
export const DRAIN_PHASES = ['none', 'waiting-for-tasks', 'stopping-daemons', 'drained'] as const;
export type DrainPhase = (typeof DRAIN_PHASES)[number];

/** `drained`: every daemon of this system on the instance stopped and its claims released. */
export interface InstanceDrain {
  phase: DrainPhase;
  reason: string;
}

export interface DaemonStatus {
  environment: string;
  /** The revision this instance's daemon runs (or is starting). */
  revision: number;
  taskDefinition: string;
  state: DaemonState;
  taskArn?: string;
  /** ECS lastStatus of the task: PROVISIONING, PENDING, RUNNING, STOPPED... */
  lastStatus?: string;
  health?: HealthStatus;
  /** RUNNING, and HEALTHY where its task definition has a health check (what readiness waits for). */
  ready?: boolean;
  /** The environment's instance group matches this instance (absent from agents before rollouts: judged by state). */
  matching?: boolean;
  restarts: number;
  /** This instance's part in the active deployment's rollout (the steward counts it). */
  rollout?: { deploymentId: string; state: ClaimRolloutState; reason?: string };
  /** Why the daemon is in this state, in words (the last decision's reason). */
  reason?: string;
  since: string;
}

export interface InstanceStatus {
  kind: 'InstanceStatus';
  schemaVersion: number;
  cluster: string;
  containerInstanceArn: string;
  ec2InstanceId?: string;
  availabilityZone?: string;
  instanceType?: string;
  agentVersion: string;
  /** Every matching daemon RUNNING (and HEALTHY where it has a health check). */
  ready: boolean;
  /** The agent cannot reach DynamoDB or ECS and works from what it last knew. */
  degraded: boolean;
  /** The container instance's ECS status as the agent last read it (ACTIVE, DRAINING, ...). */
  ecsStatus?: string;
  /** Daemons last: the drain's phase and why (absent from agents before it). */
  drain?: InstanceDrain;
  daemons: DaemonStatus[];
  lastError?: { message: string; at: string };
  updatedAt: string;
  /** TTL (epoch seconds): a vanished instance's record disappears by itself. */
  expiresAt: number;
}

export function parseInstanceStatus(item: unknown): InstanceStatus {
  const reader = recordReader(item, recordName(item), 'InstanceStatus');
  const status: InstanceStatus = {
    kind: 'InstanceStatus',
    schemaVersion: reader.integer('schemaVersion'),
    cluster: reader.string('cluster'),
    containerInstanceArn: reader.string('containerInstanceArn'),
    agentVersion: reader.string('agentVersion'),
    ready: reader.boolean('ready'),
    degraded: reader.boolean('degraded'),
    daemons: reader.array('daemons').map((value, index) => readDaemonStatus(reader, index, value)),
    updatedAt: reader.string('updatedAt', { pattern: TIMESTAMP }),
    expiresAt: reader.integer('expiresAt', { min: 0 }),
  };
  for (const name of ['ec2InstanceId', 'availabilityZone', 'instanceType', 'ecsStatus'] as const) {
    const value = reader.optionalString(name);
    if (value !== undefined) status[name] = value;
  }
  const drain = reader.optionalObject('drain');
  if (drain) {
    status.drain = { phase: drain.oneOf('phase', DRAIN_PHASES), reason: drain.string('reason', { minLength: 0, maxLength: 1_000 }) };
    drain.noUnknownFields();
  }
  const lastError = reader.optionalObject('lastError');
  if (lastError) {
    status.lastError = { message: lastError.string('message', { minLength: 0 }), at: lastError.string('at', { pattern: TIMESTAMP }) };
    lastError.noUnknownFields();
  }
  reader.noUnknownFields();
  return status;
}

function readDaemonStatus(parent: ObjectReader, index: number, value: unknown): DaemonStatus {
  const reader = nestedReader(parent, `daemons[${index}]`, value);
  const daemon: DaemonStatus = {
    environment: reader.string('environment'),
    revision: reader.integer('revision', { min: 0 }),
    taskDefinition: reader.string('taskDefinition', { minLength: 0 }),
    state: reader.oneOf('state', DAEMON_STATES),
    restarts: reader.integer('restarts', { min: 0 }),
    since: reader.string('since', { pattern: TIMESTAMP }),
  };
  const taskArn = reader.optionalString('taskArn');
  if (taskArn !== undefined) daemon.taskArn = taskArn;
  const lastStatus = reader.optionalString('lastStatus');
  if (lastStatus !== undefined) daemon.lastStatus = lastStatus;
  if (reader.has('health')) daemon.health = reader.oneOf('health', HEALTH_STATUSES);
  else reader.allow('health');
  const reason = reader.optionalString('reason', { minLength: 0 });
  if (reason !== undefined) daemon.reason = reason;
  if (reader.has('ready')) daemon.ready = reader.boolean('ready');
  else reader.allow('ready');
  if (reader.has('matching')) daemon.matching = reader.boolean('matching');
  else reader.allow('matching');
  const rollout = reader.optionalObject('rollout');
  if (rollout) {
    daemon.rollout = { deploymentId: rollout.string('deploymentId', { maxLength: 64 }), state: rollout.oneOf('state', CLAIM_ROLLOUT_STATES) };
    const why = rollout.optionalString('reason', { minLength: 0, maxLength: 1_000 });
    if (why !== undefined) daemon.rollout.reason = why;
    rollout.noUnknownFields();
  }
  reader.noUnknownFields();
  return daemon;
}

// ---- the instance heartbeat: which agent acts for a container instance ----

export const HEARTBEAT_KIND = 'InstanceHeartbeat';

/**
 * One per container instance (`INSTANCE#<id>/HEARTBEAT`), modelled on the DynamoDB Lock Client: the
 * agent holding it is the only one that acts for the instance (starts, stops, claim writes) and
 * renews it a third of the way into its lease with a new record version. Another agent judges it
 * expired only after seeing the same record version for a full lease duration on its own
 * monotonic clock (on the same host, so one clock); nobody compares wall clocks for safety.
 */
export interface InstanceHeartbeat {
  kind: 'InstanceHeartbeat';
  schemaVersion: number;
  cluster: string;
  containerInstanceId: string;
  owner: string;
  /** Random; changes on every write. */
  recordVersion: string;
  leaseDurationMs: number;
  /** Set by a clean shutdown: another agent may take the instance at once. */
  released: boolean;
  agentVersion: string;
  updatedAt: string;
  /** Epoch seconds after which readers (the coordinator) treat the instance's agent as gone. */
  validUntil: number;
  /** TTL (epoch seconds), well after validUntil. */
  expiresAt: number;
}

export function parseInstanceHeartbeat(item: unknown): InstanceHeartbeat {
  const reader = recordReader(item, recordName(item), HEARTBEAT_KIND);
  const heartbeat: InstanceHeartbeat = {
    kind: 'InstanceHeartbeat',
    schemaVersion: reader.integer('schemaVersion'),
    cluster: reader.string('cluster'),
    containerInstanceId: reader.string('containerInstanceId'),
    owner: reader.string('owner'),
    recordVersion: reader.string('recordVersion'),
    leaseDurationMs: reader.integer('leaseDurationMs', { min: 1 }),
    released: reader.boolean('released'),
    agentVersion: reader.string('agentVersion'),
    updatedAt: reader.string('updatedAt', { pattern: TIMESTAMP }),
    validUntil: reader.integer('validUntil', { min: 0 }),
    expiresAt: reader.integer('expiresAt', { min: 0 }),
  };
  reader.noUnknownFields();
  return heartbeat;
}

/**
 * Whether a status record still describes a running agent, for readers: within its own validity
 * (`expiresAt`), and, when the instance has a heartbeat (agents since the claim contract), within
 * the heartbeat's. A v1 agent writes no heartbeat and refreshes its status record instead.
 */
export function statusIsLive(status: InstanceStatus, heartbeat: InstanceHeartbeat | undefined, nowMs: number): boolean {
  if (status.expiresAt * 1000 <= nowMs) return false;
  return heartbeat === undefined || heartbeat.validUntil * 1000 > nowMs;
}
