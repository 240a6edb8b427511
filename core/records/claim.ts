// The claim of one (environment, container instance): which daemon task(s) the instance's agent
// runs for the environment, and the start attempts it has in flight. Written only by the agent
// that holds the instance (its InstanceHeartbeat), and only when something happens: a start
// attempt, an adoption, a promotion after a surge, a take-over, a release. Liveness is not in the
// claim: it is the instance heartbeat's (core/records/instance.ts).
//
// Roles: `current` is the instance's daemon; `next` exists only during a surge, the new revision's
// task started beside the current one, promoted to current once it is ready. Invariant (kept by
// agent/decide, property-tested): at most one live task per (environment, instance, revision), at
// most two per (environment, instance), the second only in the `next` role.
//
// The item's key is the v1 lease's (`ENV#<name>/LEASE#<id>`). A v1 agent refuses a Claim (its
// parser expects kind Lease), so it never acts on one; a v2 agent reads a v1 Lease as a claim with
// its `legacy` part and migrates it with its first write.
import { TOKEN_MAX_LENGTH } from '../ecs-labels.js';
import type { ObjectReader } from '../validate.js';
import { nestedReader, recordName, recordReader, TIMESTAMP } from './reader.js';
import { readClaimRollout, type ClaimRollout } from './rollout.js';

export const CLAIM_KIND = 'Claim';
/** The v1 record at the same key: a per-(environment, instance) lease heartbeated by its owner. */
export const LEGACY_LEASE_KIND = 'Lease';

export const CLAIM_ROLES = ['current', 'next'] as const;
export type ClaimRole = (typeof CLAIM_ROLES)[number];

export interface ClaimTask {
  taskArn: string;
  /** The environment revision the task runs. */
  revision?: number;
  /**
   * When the task was started (its attempt's issuedAt) or first recorded, on this instance's clock:
   * a successor that cannot see the task yet waits for ECS's reads to catch up until this is older
   * than the expectation window, instead of starting another.
   */
  since?: string;
}

/** A start in flight: written into the claim *before* StartTask, removed once its task is recorded. */
export interface ClaimAttempt {
  /** The StartTask `startedBy` (at most 36 characters). */
  token: string;
  revision: number;
  /** Wall-clock ISO time of this instance's clock, for the successor's expectation window. */
  issuedAt: string;
  role: ClaimRole;
}

export interface Claim {
  kind: 'Claim';
  schemaVersion: number;
  environment: string;
  containerInstanceId: string;
  owner: string;
  /** Random; changes on every write. Every write is conditional on the version the writer read. */
  recordVersion: string;
  current?: ClaimTask;
  next?: ClaimTask;
  /** At most one per role. */
  attempts: ClaimAttempt[];
  /** This instance's part in the environment's rollout (core/records/rollout.ts). */
  rollout?: ClaimRollout;
  updatedAt: string;
  /** TTL (epoch seconds): a vanished instance's claims disappear; the holder refreshes it well before. */
  expiresAt?: number;
}

/** What only a v1 lease has: its own heartbeat (the record version changes every third of a lease). */
export interface LegacyLease {
  leaseDurationMs: number;
  /** Set by a clean shutdown of the v1 owner: anyone may take it at once. */
  released: boolean;
}

/** A claim as read: a Claim, or a v1 Lease seen as one (with `legacy`). */
export interface ClaimRecord extends Claim {
  legacy?: LegacyLease;
}

function readClaimTask(reader: ObjectReader | undefined): ClaimTask | undefined {
  if (!reader) return undefined;
  const task: ClaimTask = { taskArn: reader.string('taskArn') };
  if (reader.has('revision')) task.revision = reader.integer('revision', { min: 1 });
  else reader.allow('revision');
  const since = reader.optionalString('since', { pattern: TIMESTAMP });
  if (since !== undefined) task.since = since;
  reader.noUnknownFields();
  return task;
}

function readAttempt(reader: ObjectReader, role?: ClaimRole): ClaimAttempt {
  const attempt: ClaimAttempt = {
    token: reader.string('token', { maxLength: TOKEN_MAX_LENGTH }),
    revision: reader.integer('revision', { min: 1 }),
    issuedAt: reader.string('issuedAt'),
    role: role ?? reader.oneOf('role', CLAIM_ROLES),
  };
  reader.noUnknownFields();
  return attempt;
}

/** Reads the item at a claim's key: a Claim, or a v1 Lease (then `legacy` is set). */
export function parseClaimRecord(item: unknown): ClaimRecord {
  const kind =
    (typeof item === 'object' && item !== null ? (item as Record<string, unknown>).kind : undefined) === LEGACY_LEASE_KIND ? LEGACY_LEASE_KIND : CLAIM_KIND;
  const reader = recordReader(item, recordName(item), kind);
  const claim: ClaimRecord = {
    kind: 'Claim',
    schemaVersion: reader.integer('schemaVersion'),
    environment: reader.string('environment'),
    containerInstanceId: reader.string('containerInstanceId'),
    owner: reader.string('owner'),
    recordVersion: reader.string('recordVersion'),
    attempts: [],
    updatedAt: reader.string('updatedAt'),
  };
  if (kind === LEGACY_LEASE_KIND) {
    claim.legacy = { leaseDurationMs: reader.integer('leaseDurationMs', { min: 1 }), released: reader.optionalBoolean('released', false) };
    const attempt = reader.optionalObject('attempt');
    if (attempt) claim.attempts.push(readAttempt(attempt, 'current'));
    const taskArn = reader.optionalString('taskArn');
    const revision = reader.has('revision') ? reader.integer('revision', { min: 1 }) : (reader.allow('revision'), undefined);
    if (taskArn !== undefined) claim.current = revision === undefined ? { taskArn } : { taskArn, revision };
  } else {
    const current = readClaimTask(reader.optionalObject('current'));
    if (current) claim.current = current;
    const next = readClaimTask(reader.optionalObject('next'));
    if (next) claim.next = next;
    if (reader.has('attempts')) {
      claim.attempts = reader.array('attempts').map((value, index) => readAttempt(nestedReader(reader, `attempts[${index}]`, value)));
      const roles = claim.attempts.map((a) => a.role);
      if (new Set(roles).size !== roles.length) throw reader.error('attempts', 'at most one attempt per role');
    } else reader.allow('attempts');
    if (reader.has('rollout')) claim.rollout = readClaimRollout(reader, reader.raw('rollout'));
    else reader.allow('rollout');
    if (!TIMESTAMP.test(claim.updatedAt)) throw reader.error('updatedAt', 'must be an ISO-8601 UTC time');
  }
  const raw = (item as Record<string, unknown>).expiresAt;
  if (typeof raw === 'number' && Number.isFinite(raw)) claim.expiresAt = raw;
  reader.noUnknownFields();
  return claim;
}

/** The item a Claim is stored as (without keys); undefined fields and empty attempts left out. */
export function claimAttributes(claim: Claim): Record<string, unknown> {
  const out: Record<string, unknown> = {
    kind: CLAIM_KIND,
    schemaVersion: claim.schemaVersion,
    environment: claim.environment,
    containerInstanceId: claim.containerInstanceId,
    owner: claim.owner,
    recordVersion: claim.recordVersion,
    updatedAt: claim.updatedAt,
  };
  if (claim.current) out.current = { ...claim.current };
  if (claim.next) out.next = { ...claim.next };
  if (claim.attempts.length) out.attempts = claim.attempts.map((a) => ({ ...a }));
  if (claim.rollout) out.rollout = { ...claim.rollout };
  if (claim.expiresAt !== undefined) out.expiresAt = claim.expiresAt;
  return out;
}
