// The records of the contract, their defaults, and their validation. Every reader parses what it
// loads from DynamoDB through these functions: a record written by hand that breaks the contract
// becomes an InvalidRecordError naming the record and the field, and harms nothing else.
import { validateExpression } from '../cql.js';
import { InvalidInputError, InvalidRecordError } from '../errors.js';
import { clusterNameOf } from '../keys.js';
import type { ObjectReader } from '../validate.js';
import { nestedReader, recordName, recordReader, TIMESTAMP } from './reader.js';

export const ENVIRONMENT_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
export const ENVIRONMENT_STATUSES = ['ACTIVE', 'INACTIVE', 'DELETING'] as const;
export type EnvironmentStatus = (typeof ENVIRONMENT_STATUSES)[number];
export const ENVIRONMENT_HEALTHS = ['healthy', 'unhealthy', 'unknown'] as const;
export type EnvironmentHealth = (typeof ENVIRONMENT_HEALTHS)[number];
export const DEPLOYMENT_STATUSES = ['pending', 'in_progress', 'awaiting_promotion', 'completed', 'failed', 'stopped', 'rolled_back'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];
export const FINISHED_DEPLOYMENT_STATUSES: readonly DeploymentStatus[] = ['completed', 'failed', 'stopped', 'rolled_back'];

/** Which container instances an environment's daemon runs on. */
export interface InstanceGroup {
  /** Cluster name (an ARN given on input is reduced to its name). */
  cluster: string;
  /** Cluster Query Language expression over the instance's attributes; absent = every instance. */
  expression?: string;
}

export const DEPLOYMENT_STRATEGIES = ['rolling', 'on-delete'] as const;
export type DeploymentStrategy = (typeof DEPLOYMENT_STRATEGIES)[number];

/** Rollout pacing, carried out by the agents themselves (docs/deploying.md). Counts or "N%" are of the matching instances, rounded up. */
export interface DeploymentConfiguration {
  /** Matching instances that may be without a ready daemon at once: a count or "N%". */
  maxUnavailable: string;
  /** Instances that may run the new daemon beside the old one at once (surge), a count or "N%". */
  maxSurge: string;
  /** Seconds a new daemon must stay ready before its instance counts as updated (bake time). */
  minHealthySeconds: number;
  /** Seconds a new daemon has to become ready before the instance counts as failed. */
  healthyDeadlineSeconds: number;
  /** Seconds without an instance completing before the deployment fails as stuck. */
  progressDeadlineSeconds: number;
  /** Failed instances at which the deployment fails: a count or "N%". */
  failureThreshold: string;
  /** Roll forward to the last completed revision by itself when the deployment fails. */
  autoRollback: boolean;
  /** Instances that update and bake first, before the rest wait for promotion: a count or "N%". */
  canary: string;
  /** Promote by itself once the canaries have baked. */
  autoPromote: boolean;
  /** rolling: replace paced by the rules above; on-delete: replace only when the old task stops by itself. */
  strategy: DeploymentStrategy;
}

/**
 * What an agent does about its instance when this critical daemon crash-loops or stays not ready
 * past its healthy deadline (docs/deploying.md "Critical-daemon repair"): none only marks the
 * instance degraded; drain also drains it; replace also sets it Unhealthy in its Auto Scaling group.
 */
export const REPAIR_ACTIONS = ['none', 'drain', 'replace'] as const;
export type RepairAction = (typeof REPAIR_ACTIONS)[number];

/** Restarting a stopped daemon: exponential backoff with jitter and a cap (agent side). */
export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  /** This many restarts inside `crashLoopWindowSeconds` is reported as a crash loop. */
  crashLoopRestarts: number;
  crashLoopWindowSeconds: number;
}

export interface Environment {
  kind: 'Environment';
  schemaVersion: number;
  name: string;
  cluster: string;
  status: EnvironmentStatus;
  health: EnvironmentHealth;
  /** The revision agents converge to: the target of the newest deployment. */
  currentRevision: number;
  /** The highest revision number that exists. */
  latestRevision: number;
  /** The newest deployment, if any. */
  activeDeploymentId?: string;
  /** Optimistic-concurrency token (Blox called it deploymentToken); changes on every write. */
  token: string;
  createdAt: string;
  updatedAt: string;
}

export interface EnvironmentRevision {
  kind: 'EnvironmentRevision';
  schemaVersion: number;
  environment: string;
  revision: number;
  /** `family:revision` or a task definition ARN. */
  taskDefinition: string;
  instanceGroup: InstanceGroup;
  deploymentConfiguration: DeploymentConfiguration;
  restartPolicy: RestartPolicy;
  /** A critical daemon gates the instance's readiness for other work (daemons first). */
  critical: boolean;
  /** Lower starts first and stops last among an instance's daemons. */
  order: number;
  /** What a failing critical daemon does to its instance (none: only marked degraded). */
  repair: RepairAction;
  /** Instances of the environment that may repair at once (drain or replace): a count or "N%" of the cluster's live instances, rounded up. */
  repairBudget: string;
  /** Set when this revision was made by a rollback: the revision it copies. */
  copiedFrom?: number;
  createdAt: string;
}

export interface FailedInstance {
  containerInstanceArn: string;
  reason: string;
  at: string;
}

/** Counts in the style of the Kubernetes DaemonSet status, over the live matching instances (the steward's last count). */
export interface DeploymentCounts {
  /** Matching instances (that should run the daemon). */
  desired: number;
  /** Matching instances running a daemon of the environment (any revision). */
  current: number;
  /** Instances running the target revision. */
  updated: number;
  /** Instances whose daemon is ready (RUNNING, and HEALTHY where checked). */
  ready: number;
  /** Updated instances whose daemon has been ready for minHealthySeconds. */
  available: number;
  /** desired - instances with a ready daemon of any revision. */
  unavailable: number;
  /** Instances running a daemon that should not (not matching). */
  misscheduled: number;
  /** Instances per revision they run ("2": 10). */
  revisions: Record<string, number>;
}

export interface Deployment {
  kind: 'Deployment';
  schemaVersion: number;
  id: string;
  environment: string;
  targetRevision: number;
  previousRevision?: number;
  /** The revision of the last completed deployment: what new instances get during a canary, and what a rollback returns to. */
  stableRevision?: number;
  status: DeploymentStatus;
  paused: boolean;
  reasons: string[];
  failedInstances: FailedInstance[];
  counts?: DeploymentCounts;
  /** The steward's phase of the rollout (pending, canary, awaiting_promotion, rolling, done). */
  phase?: string;
  /** When the rollout's first count was made. */
  startedAt?: string;
  /** The last time an instance completed (the progress deadline runs from it). */
  progressAt?: string;
  /** Set on a failed deployment rolled back by itself: the rollback deployment. */
  rolledBackBy?: string;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
}

export interface ChangeMarker {
  kind: 'ChangeMarker';
  schemaVersion: number;
  cluster: string;
  version: number;
  updatedAt: string;
}

export interface EnvironmentIndex {
  kind: 'EnvironmentIndex';
  schemaVersion: number;
  name: string;
  cluster: string;
}

export const DEFAULT_DEPLOYMENT_CONFIGURATION: DeploymentConfiguration = {
  maxUnavailable: '1',
  maxSurge: '0',
  minHealthySeconds: 0,
  healthyDeadlineSeconds: 300,
  progressDeadlineSeconds: 600,
  failureThreshold: '1',
  autoRollback: false,
  canary: '0',
  autoPromote: false,
  strategy: 'rolling',
};

export const DEFAULT_REPAIR: RepairAction = 'none';
export const DEFAULT_REPAIR_BUDGET = '1';

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
  multiplier: 2,
  crashLoopRestarts: 5,
  crashLoopWindowSeconds: 300,
};

const COUNT_OR_PERCENT = /^(\d{1,6}|(100|[1-9]?\d)%)$/;
const TASK_DEFINITION = /^([a-zA-Z0-9_-]{1,255}(:[1-9]\d*)?|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/[a-zA-Z0-9_-]{1,255}:[1-9]\d*)$/;
const CLUSTER = /^([a-zA-Z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[a-zA-Z0-9_-]{1,255})$/;

export const patterns = { COUNT_OR_PERCENT, TASK_DEFINITION, CLUSTER, TIMESTAMP } as const;

// ---- readers shared by the API (input) and the records (storage) ----

export function readDeploymentConfiguration(reader: ObjectReader | undefined, base = DEFAULT_DEPLOYMENT_CONFIGURATION): DeploymentConfiguration {
  if (!reader) return { ...base };
  const config: DeploymentConfiguration = {
    maxUnavailable: reader.has('maxUnavailable') ? String(readCountOrPercent(reader, 'maxUnavailable')) : base.maxUnavailable,
    maxSurge: reader.has('maxSurge') ? String(readCountOrPercent(reader, 'maxSurge')) : base.maxSurge,
    minHealthySeconds: reader.optionalInteger('minHealthySeconds', base.minHealthySeconds, { min: 0, max: 86_400 }),
    healthyDeadlineSeconds: reader.optionalInteger('healthyDeadlineSeconds', base.healthyDeadlineSeconds, { min: 1, max: 86_400 }),
    progressDeadlineSeconds: reader.optionalInteger('progressDeadlineSeconds', base.progressDeadlineSeconds, { min: 1, max: 7 * 86_400 }),
    failureThreshold: reader.has('failureThreshold') ? String(readCountOrPercent(reader, 'failureThreshold')) : base.failureThreshold,
    autoRollback: reader.optionalBoolean('autoRollback', base.autoRollback),
    canary: reader.has('canary') ? String(readCountOrPercent(reader, 'canary')) : base.canary,
    autoPromote: reader.optionalBoolean('autoPromote', base.autoPromote),
    strategy: reader.has('strategy') ? reader.oneOf('strategy', DEPLOYMENT_STRATEGIES) : base.strategy,
  };
  reader.noUnknownFields();
  if (config.maxUnavailable === '0' || config.maxUnavailable === '0%') {
    if (config.maxSurge === '0' || config.maxSurge === '0%') throw reader.error('maxUnavailable', 'maxUnavailable and maxSurge cannot both be 0');
  }
  if (config.failureThreshold === '0' || config.failureThreshold === '0%') throw reader.error('failureThreshold', 'must be at least 1 instance');
  return config;
}

/** The `repair` and `repairBudget` fields of a revision or an input (a budget of 0 would make repair a no-op: refused). */
export function readRepair(reader: ObjectReader, base: { repair: RepairAction; repairBudget: string }): { repair: RepairAction; repairBudget: string } {
  const repair = reader.has('repair') ? reader.oneOf('repair', REPAIR_ACTIONS) : (reader.allow('repair'), base.repair);
  const repairBudget = reader.has('repairBudget') ? readCountOrPercent(reader, 'repairBudget') : (reader.allow('repairBudget'), base.repairBudget);
  if (repairBudget === '0' || repairBudget === '0%') throw reader.error('repairBudget', 'must be at least 1 instance (use repair: "none" to turn repair off)');
  return { repair, repairBudget };
}

function readCountOrPercent(reader: ObjectReader, name: string): string {
  const value = reader.raw(name);
  const text = typeof value === 'number' && Number.isInteger(value) && value >= 0 ? String(value) : value;
  if (typeof text !== 'string' || !COUNT_OR_PERCENT.test(text)) throw reader.error(name, 'must be a count (e.g. 1) or a percentage (e.g. "25%")');
  return text;
}

export function readRestartPolicy(reader: ObjectReader | undefined, base = DEFAULT_RESTART_POLICY): RestartPolicy {
  if (!reader) return { ...base };
  const policy: RestartPolicy = {
    initialDelayMs: reader.optionalInteger('initialDelayMs', base.initialDelayMs, { min: 0, max: 3_600_000 }),
    // At least 1 s: a crash-looping daemon must never be restarted at the agent's loop pace.
    maxDelayMs: reader.optionalInteger('maxDelayMs', base.maxDelayMs, { min: 1_000, max: 86_400_000 }),
    multiplier: reader.has('multiplier') ? readMultiplier(reader) : base.multiplier,
    crashLoopRestarts: reader.optionalInteger('crashLoopRestarts', base.crashLoopRestarts, { min: 1, max: 1_000 }),
    crashLoopWindowSeconds: reader.optionalInteger('crashLoopWindowSeconds', base.crashLoopWindowSeconds, { min: 1, max: 86_400 }),
  };
  reader.noUnknownFields();
  if (policy.maxDelayMs < policy.initialDelayMs) throw reader.error('maxDelayMs', 'must be at least initialDelayMs');
  return policy;
}

function readMultiplier(reader: ObjectReader): number {
  const value = reader.raw('multiplier');
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1 || value > 10) throw reader.error('multiplier', 'must be a number from 1 to 10');
  return value;
}

export function readInstanceGroup(reader: ObjectReader, validateExpression: (expression: string, field: string) => void): InstanceGroup {
  const cluster = reader.string('cluster', { pattern: CLUSTER, patternText: 'a cluster name or cluster ARN' });
  const expression = reader.optionalString('expression', { maxLength: 2_000 });
  reader.noUnknownFields();
  if (expression !== undefined) validateExpression(expression, reader.field('expression'));
  const name = /cluster\/(.+)$/.exec(cluster)?.[1] ?? cluster;
  return expression === undefined ? { cluster: name } : { cluster: name, expression };
}

export function parseEnvironment(item: unknown): Environment {
  const reader = recordReader(item, recordName(item), 'Environment');
  const env: Environment = {
    kind: 'Environment',
    schemaVersion: reader.integer('schemaVersion'),
    name: reader.string('name', { pattern: ENVIRONMENT_NAME_PATTERN }),
    cluster: clusterNameOf(reader.string('cluster', { pattern: CLUSTER })), // an ARN is tolerated; keys use the name
    status: reader.oneOf('status', ENVIRONMENT_STATUSES),
    health: reader.oneOf('health', ENVIRONMENT_HEALTHS),
    currentRevision: reader.integer('currentRevision', { min: 1 }),
    latestRevision: reader.integer('latestRevision', { min: 1 }),
    token: reader.string('token'),
    createdAt: reader.string('createdAt', { pattern: TIMESTAMP }),
    updatedAt: reader.string('updatedAt', { pattern: TIMESTAMP }),
  };
  const activeDeploymentId = reader.optionalString('activeDeploymentId');
  if (activeDeploymentId !== undefined) env.activeDeploymentId = activeDeploymentId;
  if (env.currentRevision > env.latestRevision) throw reader.error('currentRevision', `${env.currentRevision} is above latestRevision ${env.latestRevision}`);
  reader.noUnknownFields();
  return env;
}

export function parseRevision(item: unknown, validateExpression: (expression: string, field: string) => void): EnvironmentRevision {
  const reader = recordReader(item, recordName(item), 'EnvironmentRevision');
  const revision: EnvironmentRevision = {
    kind: 'EnvironmentRevision',
    schemaVersion: reader.integer('schemaVersion'),
    environment: reader.string('environment', { pattern: ENVIRONMENT_NAME_PATTERN }),
    revision: reader.integer('revision', { min: 1 }),
    taskDefinition: reader.string('taskDefinition', { pattern: TASK_DEFINITION, patternText: 'family, family:revision or a task definition ARN' }),
    instanceGroup: readInstanceGroup(reader.object('instanceGroup'), validateExpression),
    deploymentConfiguration: readDeploymentConfiguration(reader.optionalObject('deploymentConfiguration')),
    restartPolicy: readRestartPolicy(reader.optionalObject('restartPolicy')),
    critical: reader.optionalBoolean('critical', false),
    order: reader.optionalInteger('order', 0, { min: -1000, max: 1000 }),
    ...readRepair(reader, { repair: DEFAULT_REPAIR, repairBudget: DEFAULT_REPAIR_BUDGET }),
    createdAt: reader.string('createdAt', { pattern: TIMESTAMP }),
  };
  if (reader.has('copiedFrom')) revision.copiedFrom = reader.integer('copiedFrom', { min: 1 });
  else reader.allow('copiedFrom');
  reader.noUnknownFields();
  return revision;
}

export function parseDeployment(item: unknown): Deployment {
  const reader = recordReader(item, recordName(item), 'Deployment');
  const deployment: Deployment = {
    kind: 'Deployment',
    schemaVersion: reader.integer('schemaVersion'),
    id: reader.string('id', { maxLength: 64 }),
    environment: reader.string('environment', { pattern: ENVIRONMENT_NAME_PATTERN }),
    targetRevision: reader.integer('targetRevision', { min: 1 }),
    status: reader.oneOf('status', DEPLOYMENT_STATUSES),
    paused: reader.optionalBoolean('paused', false),
    reasons: reader.has('reasons') ? reader.array('reasons').map((r, i) => stringAt(reader, `reasons[${i}]`, r)) : (reader.allow('reasons'), []),
    failedInstances: reader.has('failedInstances')
      ? reader.array('failedInstances').map((f, i) => readFailedInstance(reader, i, f))
      : (reader.allow('failedInstances'), []),
    createdAt: reader.string('createdAt', { pattern: TIMESTAMP }),
    updatedAt: reader.string('updatedAt', { pattern: TIMESTAMP }),
  };
  if (reader.has('previousRevision')) deployment.previousRevision = reader.integer('previousRevision', { min: 1 });
  else reader.allow('previousRevision');
  if (reader.has('stableRevision')) deployment.stableRevision = reader.integer('stableRevision', { min: 1 });
  else reader.allow('stableRevision');
  const counts = reader.optionalObject('counts');
  if (counts) deployment.counts = readCounts(counts);
  for (const name of ['phase', 'rolledBackBy'] as const) {
    const value = reader.optionalString(name, { maxLength: 64 });
    if (value !== undefined) deployment[name] = value;
  }
  for (const name of ['startedAt', 'progressAt'] as const) {
    const value = reader.optionalString(name, { pattern: TIMESTAMP });
    if (value !== undefined) deployment[name] = value;
  }
  const finishedAt = reader.optionalString('finishedAt', { pattern: TIMESTAMP });
  if (finishedAt !== undefined) deployment.finishedAt = finishedAt;
  reader.noUnknownFields();
  return deployment;
}

const COUNT_NAMES = ['desired', 'current', 'updated', 'ready', 'available', 'unavailable', 'misscheduled'] as const;

function readCounts(reader: ObjectReader): DeploymentCounts {
  const counts = { revisions: {} } as DeploymentCounts;
  for (const name of COUNT_NAMES) counts[name] = reader.integer(name, { min: 0 });
  const revisions = reader.optionalObject('revisions');
  if (revisions) {
    for (const key of revisions.keys()) counts.revisions[key] = revisions.integer(key, { min: 0 });
    revisions.noUnknownFields();
  }
  reader.noUnknownFields();
  return counts;
}

function stringAt(reader: ObjectReader, field: string, value: unknown): string {
  if (typeof value !== 'string') throw reader.error(field, 'must be a string');
  return value;
}

function readFailedInstance(parent: ObjectReader, index: number, value: unknown): FailedInstance {
  const reader = nestedReader(parent, `failedInstances[${index}]`, value);
  const failed = {
    containerInstanceArn: reader.string('containerInstanceArn'),
    reason: reader.string('reason'),
    at: reader.string('at', { pattern: TIMESTAMP }),
  };
  reader.noUnknownFields();
  return failed;
}

export function parseChangeMarker(item: unknown): ChangeMarker {
  const reader = recordReader(item, recordName(item), 'ChangeMarker');
  const marker: ChangeMarker = {
    kind: 'ChangeMarker',
    schemaVersion: reader.integer('schemaVersion'),
    cluster: reader.string('cluster'),
    version: reader.integer('version', { min: 0 }),
    updatedAt: reader.string('updatedAt', { pattern: TIMESTAMP }),
  };
  reader.noUnknownFields();
  return marker;
}

export function parseEnvironmentIndex(item: unknown): EnvironmentIndex {
  const reader = recordReader(item, recordName(item), 'EnvironmentIndex');
  const index: EnvironmentIndex = {
    kind: 'EnvironmentIndex',
    schemaVersion: reader.integer('schemaVersion'),
    name: reader.string('name', { pattern: ENVIRONMENT_NAME_PATTERN }),
    cluster: reader.string('cluster', { pattern: CLUSTER }),
  };
  reader.noUnknownFields();
  return index;
}

/** parseRevision, with a stored bad expression reported as the record's fault (not the caller's input). */
export function parseStoredRevision(item: unknown): EnvironmentRevision {
  const record = recordName(item);
  return parseRevision(item, (text, field) => {
    try {
      validateExpression(text, field);
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      const prefix = `${field}: `;
      throw new InvalidRecordError(record, field, error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message);
    }
  });
}
