// The rollout of an environment's active deployment, carried out by the agents with no central
// process (docs/deploying.md "How a rollout is paced"). Two records:
//
// - RolloutControl, `ENV#<name>/ROLLOUT`: one small item per environment, replaced whole by the
//   store when a deployment starts (so a newer deployment resets every counter), read by the agents
//   of the environment only while the deployment is unfinished. `inFlight` counts instances admitted
//   to replace their daemon and not yet released; an admission is a transaction that adds one to it
//   on the condition `inFlight < cap` together with the instance's claim write, and a release
//   subtracts one together with the claim write that records it, so the counter and the claims
//   never disagree, whoever crashes when. `cap` and the phase are the steward's: one agent, elected
//   by a lease kept in the item (`steward`), counts the fleet and advances the deployment.
// - ClaimRollout, inside the instance's claim: where this instance is in the deployment (admitted,
//   released, failed). The claim is the instance's, not the agent's: a successor on the same
//   instance continues the admission; the steward frees the admission of an instance that is gone.
import { nestedReader, recordName, recordReader, TIMESTAMP } from './reader.js';
import type { ObjectReader } from '../validate.js';

export const ROLLOUT_CONTROL_KIND = 'RolloutControl';

/**
 * - pending: stored by the store; nothing is admitted until the steward's first count;
 * - canary: admissions until `canary` instances were admitted;
 * - awaiting_promotion: the canaries baked; nothing new until promoted;
 * - rolling: admissions while `inFlight < cap`;
 * - done: the deployment finished (completed, failed, stopped or rolled back): nothing new begins.
 */
export const ROLLOUT_PHASES = ['pending', 'canary', 'awaiting_promotion', 'rolling', 'done'] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];

export interface StewardLease {
  owner: string;
  containerInstanceId: string;
  /** Added to on every renewal: a reader judges the lease expired after seeing the same value for `leaseMs` on its own clock. */
  renewals: number;
  leaseMs: number;
}

export interface RolloutControl {
  kind: 'RolloutControl';
  schemaVersion: number;
  environment: string;
  deploymentId: string;
  targetRevision: number;
  /** What new instances get while the target is not yet trusted (canary phases, a failed deployment). */
  stableRevision?: number;
  phase: RolloutPhase;
  /** Nothing new is admitted; instances mid-update finish. */
  paused: boolean;
  /** Set with phase done: how the deployment ended (failed keeps new instances on the stable revision). */
  outcome?: 'completed' | 'failed' | 'stopped' | 'rolled_back';
  /** Admissions that may be in flight at once (the steward's: maxUnavailable less instances unavailable for other reasons, or maxSurge). */
  cap: number;
  inFlight: number;
  /** Admissions ever made in this deployment (canary counting). */
  admitted: number;
  /** Canary instances (absolute; 0: no canary phase). */
  canary: number;
  /** Matching instances at the steward's last count. */
  desired: number;
  /**
   * The whole fleet's replacements take at least this long (the steward's desired / its ECS budget
   * per second), so 10,000 agents do not meet ECS's throttle, nor the control item's write limit,
   * at once: an unlimited rollout gives every instance its own moment in [rollingAt, rollingAt +
   * spreadMs); a paced one lets no more than desired / spreadMs instances per second try to be admitted.
   */
  spreadMs: number;
  /** When the phase became rolling (the steward's first count, or the promotion): where an unlimited rollout's spread begins. */
  rollingAt?: string;
  /** No counter is kept: every instance may go (maxUnavailable covers the whole fleet). */
  unlimited: boolean;
  steward?: StewardLease;
  updatedAt: string;
}

export const CLAIM_ROLLOUT_STATES = ['admitted', 'released', 'failed', 'abandoned'] as const;
export type ClaimRolloutState = (typeof CLAIM_ROLLOUT_STATES)[number];

/** This instance's part in one deployment's rollout, kept in its claim. */
export interface ClaimRollout {
  deploymentId: string;
  /** admitted: counted in flight; released: done (counted out); failed: not ready by the deadline (stays counted); abandoned: freed by the steward. */
  state: ClaimRolloutState;
  /** When the state was entered (this instance's clock; the healthy deadline runs from admission). */
  at: string;
  /** Whether the admission counts in the control's inFlight (false when unlimited or when the old daemon was already not ready). */
  counted: boolean;
  reason?: string;
}

export function parseRolloutControl(item: unknown): RolloutControl {
  const reader = recordReader(item, recordName(item), ROLLOUT_CONTROL_KIND);
  const control: RolloutControl = {
    kind: 'RolloutControl',
    schemaVersion: reader.integer('schemaVersion'),
    environment: reader.string('environment'),
    deploymentId: reader.string('deploymentId', { maxLength: 64 }),
    targetRevision: reader.integer('targetRevision', { min: 1 }),
    phase: reader.oneOf('phase', ROLLOUT_PHASES),
    paused: reader.optionalBoolean('paused', false),
    cap: reader.integer('cap', { min: 0 }),
    inFlight: reader.integer('inFlight', { min: -1_000_000 }),
    admitted: reader.integer('admitted', { min: 0 }),
    canary: reader.integer('canary', { min: 0 }),
    desired: reader.integer('desired', { min: 0 }),
    spreadMs: reader.integer('spreadMs', { min: 0 }),
    unlimited: reader.optionalBoolean('unlimited', false),
    updatedAt: reader.string('updatedAt', { pattern: TIMESTAMP }),
  };
  if (reader.has('stableRevision')) control.stableRevision = reader.integer('stableRevision', { min: 1 });
  else reader.allow('stableRevision');
  if (reader.has('rollingAt')) control.rollingAt = reader.string('rollingAt', { pattern: TIMESTAMP });
  else reader.allow('rollingAt');
  if (reader.has('outcome')) control.outcome = reader.oneOf('outcome', ['completed', 'failed', 'stopped', 'rolled_back'] as const);
  else reader.allow('outcome');
  const steward = reader.optionalObject('steward');
  if (steward) control.steward = readSteward(steward);
  reader.noUnknownFields();
  return control;
}

function readSteward(reader: ObjectReader): StewardLease {
  const lease = {
    owner: reader.string('owner'),
    containerInstanceId: reader.string('containerInstanceId'),
    renewals: reader.integer('renewals', { min: 0 }),
    leaseMs: reader.integer('leaseMs', { min: 1 }),
  };
  reader.noUnknownFields();
  return lease;
}

export function readClaimRollout(parent: ObjectReader, value: unknown): ClaimRollout {
  const reader = nestedReader(parent, 'rollout', value);
  const rollout: ClaimRollout = {
    deploymentId: reader.string('deploymentId', { maxLength: 64 }),
    state: reader.oneOf('state', CLAIM_ROLLOUT_STATES),
    at: reader.string('at', { pattern: TIMESTAMP }),
    counted: reader.boolean('counted'),
  };
  const reason = reader.optionalString('reason', { minLength: 0, maxLength: 1_000 });
  if (reason !== undefined) rollout.reason = reason;
  reader.noUnknownFields();
  return rollout;
}

/** The item a RolloutControl is stored as (without keys). */
export function rolloutControlAttributes(control: RolloutControl): Record<string, unknown> {
  const { steward, ...rest } = control;
  const out: Record<string, unknown> = { ...rest };
  for (const [key, value] of Object.entries(out)) if (value === undefined) delete out[key];
  if (steward) out.steward = { ...steward };
  return out;
}

/**
 * The condition of a counter move on the control, as a DynamoDB expression (agent/adapters) and as
 * a predicate on the item (the test fakes): an admission needs room, the phase admitting and no
 * pause; a release only the same deployment.
 */
export const COUNTER_CONDITION = {
  admit:
    'deploymentId = :d AND (phase = :rolling OR (phase = :canary AND admitted < canary)) AND (attribute_not_exists(paused) OR paused = :false) AND inFlight < cap',
  release: 'deploymentId = :d',
} as const;

export function counterAllows(control: RolloutControl | undefined, deploymentId: string, delta: 1 | -1): boolean {
  if (!control || control.deploymentId !== deploymentId) return false;
  if (delta === -1) return true;
  const admitting = control.phase === 'rolling' || (control.phase === 'canary' && control.admitted < control.canary);
  return admitting && !control.paused && control.inFlight < control.cap;
}

/** A count or "N%" of `of`, rounded up (as Kubernetes rounds maxUnavailable). */
export function resolveCountOrPercent(value: string, of: number): number {
  if (value.endsWith('%')) return Math.ceil((Number(value.slice(0, -1)) / 100) * of);
  return Number(value);
}
