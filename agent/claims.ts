// How the agent holding an instance judges the claim of one of its environments (pure). A claim is
// valid while its owner holds the instance heartbeat; so for the holder:
// - its own Claim is `mine`;
// - a Claim of another owner is a predecessor's (which no longer holds the instance, and stopped
//   acting once its heartbeat went stale): `takeable`, conditional on its version, its attempts
//   and tasks kept;
// - a v1 Lease (an agent not yet upgraded wrote it) has its own heartbeat: this owner's own is
//   migrated at once (so that no v1 agent on another state directory can judge it expired), a
//   released one is taken, another owner's is watched like any v1 lease and taken once expired.
import type { ClaimRecord } from '../core/records.js';
import { judgeLease, type LeaseSighting } from './lease.js';
import type { ClaimView } from './model.js';

/** Claims vanish 30 days after their last write (an instance that went away); holders refresh them a week before. */
export const CLAIM_TTL_SECONDS = 30 * 24 * 3600;
const CLAIM_REFRESH_SECONDS = 7 * 24 * 3600;

export function claimRefreshDue(item: ClaimRecord, nowWallMs: number): boolean {
  return item.expiresAt !== undefined && item.expiresAt - nowWallMs / 1000 < CLAIM_REFRESH_SECONDS;
}

export function judgeClaim(
  item: ClaimRecord | null,
  owner: string,
  sighting: LeaseSighting | undefined,
  nowMono: number,
): { view: ClaimView; sighting?: LeaseSighting } {
  if (!item) return { view: { state: 'absent', reason: 'no claim yet' } };
  if (item.legacy) {
    if (item.owner === owner && !item.legacy.released)
      return { view: { state: 'takeable', item, takeOver: 'migrated', reason: 'v1 lease of this agent: migrated to a claim' } };
    const judged = judgeLease(
      { owner: item.owner, recordVersion: item.recordVersion, leaseDurationMs: item.legacy.leaseDurationMs, released: item.legacy.released },
      owner,
      sighting,
      nowMono,
    );
    if (judged.state === 'other')
      return {
        view: { state: 'watching', item, reason: `v1 lease ${judged.reason} (an agent not yet upgraded)` },
        ...(judged.sighting ? { sighting: judged.sighting } : {}),
      };
    return {
      view: { state: 'takeable', item, takeOver: 'taken-over', reason: `v1 lease ${judged.reason}` },
      ...(judged.sighting ? { sighting: judged.sighting } : {}),
    };
  }
  if (item.owner === owner) return { view: { state: 'mine', item, reason: 'written by this agent' } };
  return { view: { state: 'takeable', item, takeOver: 'taken-over', reason: `written by ${item.owner}, which no longer holds the instance` } };
}
