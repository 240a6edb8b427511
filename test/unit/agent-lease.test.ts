import { describe, expect, it } from 'vitest';
import { claimRefreshDue, judgeClaim } from '../../agent/claims.js';
import { judgeLease, ownLeaseStale, renewDue, type LeaseRecord } from '../../agent/lease.js';
import type { ClaimRecord } from '../../core/records.js';

const item = (over: Partial<LeaseRecord & { updatedAt: string }> = {}): LeaseRecord & { updatedAt: string } => ({
  owner: 'host-a:1:abc',
  recordVersion: 'v1',
  leaseDurationMs: 10_000,
  released: false,
  updatedAt: '2026-01-01T00:00:00Z',
  ...over,
});

describe('lease judgement (observer-side monotonic expiry)', () => {
  it('is free without an item or when released, mine for my owner name', () => {
    expect(judgeLease(null, 'me', undefined, 0).state).toBe('free');
    expect(judgeLease(item({ released: true }), 'me', undefined, 0).state).toBe('free');
    expect(judgeLease(item({ owner: 'me' }), 'me', undefined, 0).state).toBe('mine');
  });
  it('expires only after the same record version was seen for a full lease duration on the observer clock', () => {
    const first = judgeLease(item(), 'me', undefined, 1_000_000);
    expect(first.state).toBe('other');
    expect(first.sighting).toEqual({ recordVersion: 'v1', firstSeenMono: 1_000_000 });
    expect(judgeLease(item(), 'me', first.sighting, 1_009_999).state).toBe('other');
    expect(judgeLease(item(), 'me', first.sighting, 1_010_000).state).toBe('expired');
  });
  it('a heartbeat (new record version) restarts the observation, whatever the wall-clock updatedAt says', () => {
    const first = judgeLease(item({ updatedAt: '1999-01-01T00:00:00Z' }), 'me', undefined, 0);
    const beat = judgeLease(item({ recordVersion: 'v2', updatedAt: '1999-01-01T00:00:00Z' }), 'me', first.sighting, 9_000);
    expect(beat.state).toBe('other');
    expect(judgeLease(item({ recordVersion: 'v2' }), 'me', beat.sighting, 17_000).state).toBe('other');
    expect(judgeLease(item({ recordVersion: 'v2' }), 'me', beat.sighting, 19_000).state).toBe('expired');
  });
  it('heartbeats are due a third into the lease; an unrenewed own lease is stale after a full duration', () => {
    expect(renewDue(undefined, 30_000, 0)).toBe(true);
    expect(renewDue(0, 30_000, 9_999)).toBe(false);
    expect(renewDue(0, 30_000, 10_000)).toBe(true);
    expect(ownLeaseStale(0, 30_000, 29_999)).toBe(false);
    expect(ownLeaseStale(0, 30_000, 30_000)).toBe(true);
  });
});

describe('claim judgement (by the agent holding the instance)', () => {
  const claim = (over: Partial<ClaimRecord> = {}): ClaimRecord => ({
    kind: 'Claim',
    schemaVersion: 1,
    environment: 'logs',
    containerInstanceId: 'ci-1',
    owner: 'me',
    recordVersion: 'c1',
    attempts: [],
    updatedAt: '2026-01-01T00:00:00Z',
    ...over,
  });
  const v1 = (over: Partial<ClaimRecord> = {}, legacy: Partial<NonNullable<ClaimRecord['legacy']>> = {}): ClaimRecord =>
    claim({ owner: 'v1-agent', ...over, legacy: { leaseDurationMs: 10_000, released: false, ...legacy } });
  it("absent, mine, or a predecessor's (takeable: its owner no longer holds the instance)", () => {
    expect(judgeClaim(null, 'me', undefined, 0).view.state).toBe('absent');
    expect(judgeClaim(claim(), 'me', undefined, 0).view.state).toBe('mine');
    expect(judgeClaim(claim({ owner: 'old' }), 'me', undefined, 0).view).toMatchObject({ state: 'takeable', takeOver: 'taken-over' });
  });
  it("a v1 lease: this owner's is migrated at once, a released one taken, another owner's watched until it expires on the observer's clock", () => {
    expect(judgeClaim(v1({ owner: 'me' }), 'me', undefined, 0).view).toMatchObject({ state: 'takeable', takeOver: 'migrated' });
    expect(judgeClaim(v1({}, { released: true }), 'me', undefined, 0).view).toMatchObject({ state: 'takeable', takeOver: 'taken-over' });
    const first = judgeClaim(v1(), 'me', undefined, 1_000);
    expect(first.view.state).toBe('watching');
    expect(judgeClaim(v1(), 'me', first.sighting, 10_999).view.state).toBe('watching');
    expect(judgeClaim(v1(), 'me', first.sighting, 11_000).view).toMatchObject({ state: 'takeable', takeOver: 'taken-over' });
    // a heartbeat of the v1 agent (new record version) restarts the watch
    expect(judgeClaim(v1({ recordVersion: 'c2' }), 'me', first.sighting, 11_000).view.state).toBe('watching');
  });
  it('a claim is refreshed (its TTL pushed out) a week before it would expire', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(claimRefreshDue(claim({ expiresAt: now / 1000 + 8 * 86_400 }), now)).toBe(false);
    expect(claimRefreshDue(claim({ expiresAt: now / 1000 + 6 * 86_400 }), now)).toBe(true);
    expect(claimRefreshDue(claim(), now)).toBe(false);
  });
});
