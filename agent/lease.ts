// The lease of one (environment, container instance), modelled on the DynamoDB Lock Client: an
// owner name, a lease duration, and a record version number that changes on every write
// (heartbeat). Nobody compares wall clocks: an observer judges another owner's lease expired only
// after seeing the *same* record version for a full lease duration on its own monotonic clock.
// Every write is conditional on the record version the writer last saw (see adapters/dynamo.ts).
import { InvalidRecordError } from '../core/errors.js';
import { keys, SCHEMA_VERSION, type ItemKey } from '../core/keys.js';
import { ObjectReader } from '../core/validate.js';

export const LEASE_KIND = 'Lease';

/** The start in flight: written into the lease *before* StartTask, cleared once its task is recorded. */
export interface LeaseAttempt {
  /** The StartTask `startedBy` (at most 36 characters). */
  token: string;
  revision: number;
  /** Wall-clock ISO time, for people; never compared across hosts. */
  issuedAt: string;
}

export interface LeaseItem {
  kind: 'Lease';
  schemaVersion: number;
  environment: string;
  containerInstanceId: string;
  owner: string;
  recordVersion: string;
  leaseDurationMs: number;
  /** Set by a clean release (shutdown of the owner): anyone may take it at once. */
  released: boolean;
  attempt?: LeaseAttempt;
  /** The daemon task this lease's holder runs, and its revision. */
  taskArn?: string;
  revision?: number;
  updatedAt: string;
}

export function leaseKey(environment: string, containerInstanceId: string): ItemKey {
  return keys.lease(environment, containerInstanceId);
}

export const TOKEN_MAX_LENGTH = 36;

export function parseLease(item: unknown): LeaseItem {
  const o = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
  const record = `${String(o.pk ?? '?')}/${String(o.sk ?? '?')}`;
  const fail = (field: string, message: string) => new InvalidRecordError(record, field, message);
  const reader = ObjectReader.of(item, '', fail);
  reader.allow('pk', 'sk', 'expiresAt');
  if (reader.raw('kind') !== LEASE_KIND) throw fail('kind', `expected ${LEASE_KIND}, found ${JSON.stringify(o.kind)}`);
  const schemaVersion = reader.integer('schemaVersion', { min: 1 });
  if (schemaVersion > SCHEMA_VERSION) throw fail('schemaVersion', `${schemaVersion} is newer than this software understands`);
  const lease: LeaseItem = {
    kind: 'Lease',
    schemaVersion,
    environment: reader.string('environment'),
    containerInstanceId: reader.string('containerInstanceId'),
    owner: reader.string('owner'),
    recordVersion: reader.string('recordVersion'),
    leaseDurationMs: reader.integer('leaseDurationMs', { min: 1 }),
    released: reader.optionalBoolean('released', false),
    updatedAt: reader.string('updatedAt'),
  };
  const attempt = reader.optionalObject('attempt');
  if (attempt) {
    lease.attempt = { token: attempt.string('token', { maxLength: TOKEN_MAX_LENGTH }), revision: attempt.integer('revision', { min: 1 }), issuedAt: attempt.string('issuedAt') };
    attempt.noUnknownFields();
  }
  const taskArn = reader.optionalString('taskArn');
  if (taskArn !== undefined) lease.taskArn = taskArn;
  if (reader.has('revision')) lease.revision = reader.integer('revision', { min: 1 });
  else reader.allow('revision');
  reader.noUnknownFields();
  return lease;
}

/** What an observer remembers of a lease someone else holds. */
export interface LeaseSighting {
  recordVersion: string;
  /** Monotonic time at which this record version was first seen. */
  firstSeenMono: number;
}

export type LeaseState = 'mine' | 'free' | 'other' | 'expired' | 'unknown';

export interface LeaseView {
  state: LeaseState;
  item?: LeaseItem;
  /** For 'other' and 'expired': what the observer saw, carried to the next observation. */
  sighting?: LeaseSighting;
  /** Why, in words. */
  reason: string;
}

/**
 * Judges a lease just read (`item` null when there is none). `owner` is this agent's owner name;
 * `lastWriteMono` is when this agent last wrote the lease successfully (undefined if never).
 */
export function judgeLease(item: LeaseItem | null, owner: string, previous: LeaseSighting | undefined, nowMono: number): LeaseView {
  if (!item) return { state: 'free', reason: 'no lease' };
  if (item.released) return { state: 'free', item, reason: `released by ${item.owner}` };
  if (item.owner === owner) return { state: 'mine', item, reason: 'held by this agent' };
  const sighting = previous && previous.recordVersion === item.recordVersion ? previous : { recordVersion: item.recordVersion, firstSeenMono: nowMono };
  const unchangedFor = nowMono - sighting.firstSeenMono;
  if (unchangedFor >= item.leaseDurationMs) {
    return { state: 'expired', item, sighting, reason: `held by ${item.owner}, record version unchanged for ${unchangedFor} ms (lease ${item.leaseDurationMs} ms)` };
  }
  return { state: 'other', item, sighting, reason: `held by ${item.owner}` };
}

/**
 * Whether this agent must consider its own lease lost: its last successful heartbeat is older than
 * the lease duration, so a peer may have judged it expired and taken it.
 */
export function ownLeaseStale(lastWriteMono: number | undefined, leaseDurationMs: number, nowMono: number): boolean {
  return lastWriteMono === undefined || nowMono - lastWriteMono >= leaseDurationMs;
}

/** A heartbeat is due a third of the way into the lease, as the Lock Client does. */
export function renewDue(lastWriteMono: number | undefined, leaseDurationMs: number, nowMono: number): boolean {
  return lastWriteMono === undefined || nowMono - lastWriteMono >= leaseDurationMs / 3;
}

/** A fresh lease owner name (`agent-` and 12 hex digits), from a source of random bytes. */
export function newOwnerName(randomHex: (bytes: number) => string): string {
  return `agent-${randomHex(6)}`;
}

/** Owner names this agent writes (and reads back from its state directory). */
export const OWNER_NAME_PATTERN = /^agent-[0-9a-f]{12}$/;

/** A fresh random record version (UUID-sized hex), from a source of random bytes. */
export function newRecordVersion(randomHex: (bytes: number) => string): string {
  return randomHex(16);
}
