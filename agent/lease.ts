// Leases, modelled on the DynamoDB Lock Client: an owner name, a lease duration, and a record
// version that changes on every write. Nobody compares wall clocks: an observer judges another
// owner's lease expired only after seeing the *same* record version for a full lease duration on
// its own monotonic clock. Two records are judged this way: the instance heartbeat (who acts for
// the instance) and, during an upgrade, a v1 agent's per-environment lease.
// Claims (agent/claims.ts) are not leases: they are valid while their owner holds the instance.
import { TOKEN_MAX_LENGTH, TOKEN_PREFIX } from '../core/ecs-labels.js';

/** What judging needs of a lease record. */
export interface LeaseRecord {
  owner: string;
  recordVersion: string;
  leaseDurationMs: number;
  released: boolean;
}

/** What an observer remembers of a lease someone else holds. */
export interface LeaseSighting {
  recordVersion: string;
  /** Monotonic time at which this record version was first seen. */
  firstSeenMono: number;
}

export type LeaseState = 'free' | 'mine' | 'other' | 'expired';

export interface LeaseJudgement<T extends LeaseRecord> {
  state: LeaseState;
  item?: T;
  /** For 'other' and 'expired': what the observer saw, carried to the next observation. */
  sighting?: LeaseSighting;
  /** Why, in words. */
  reason: string;
}

/** Judges a lease just read (`item` null when there is none). `owner` is this agent's owner name. */
export function judgeLease<T extends LeaseRecord>(item: T | null, owner: string, previous: LeaseSighting | undefined, nowMono: number): LeaseJudgement<T> {
  if (!item) return { state: 'free', reason: 'no lease' };
  if (item.released) return { state: 'free', item, reason: `released by ${item.owner}` };
  if (item.owner === owner) return { state: 'mine', item, reason: 'held by this agent' };
  const sighting = previous && previous.recordVersion === item.recordVersion ? previous : { recordVersion: item.recordVersion, firstSeenMono: nowMono };
  const unchangedFor = nowMono - sighting.firstSeenMono;
  if (unchangedFor >= item.leaseDurationMs) {
    return {
      state: 'expired',
      item,
      sighting,
      reason: `held by ${item.owner}, record version unchanged for ${unchangedFor} ms (lease ${item.leaseDurationMs} ms)`,
    };
  }
  return { state: 'other', item, sighting, reason: `held by ${item.owner}` };
}

/**
 * Whether this agent must consider its own lease lost: its last successful write is older than the
 * lease duration, so a peer may have judged it expired and taken it.
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

/** A short stable hash of a string (FNV-1a, 8 hex digits). */
function hash8(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** `bx-<nonce 16>-<hash of environment 8>`: 28 characters, unique per step and environment. */
export function attemptToken(nonce: string, environment: string): string {
  const token = `${TOKEN_PREFIX}${nonce
    .replace(/[^a-z0-9]/gi, '')
    .slice(0, 16)
    .padEnd(16, '0')}-${hash8(environment)}`;
  return token.slice(0, TOKEN_MAX_LENGTH);
}
