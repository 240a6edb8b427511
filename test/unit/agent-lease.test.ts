import { describe, expect, it } from 'vitest';
import { InvalidRecordError } from '../../core/errors.js';
import { judgeLease, leaseKey, ownLeaseStale, parseLease, renewDue, type LeaseItem } from '../../agent/lease.js';

const item = (over: Partial<LeaseItem> = {}): LeaseItem => ({
  kind: 'Lease', schemaVersion: 1, environment: 'logs', containerInstanceId: 'ci-1', owner: 'host-a:1:abc', recordVersion: 'v1', leaseDurationMs: 10_000, released: false, updatedAt: '2026-01-01T00:00:00Z', ...over,
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

describe('lease record', () => {
  it('parses the stored item and its key', () => {
    const stored = { ...leaseKey('logs', 'ci-1'), ...item({ attempt: { token: 'bx-abc', revision: 2, issuedAt: '2026-01-01T00:00:00Z' }, taskArn: 'arn:t', revision: 1 }), expiresAt: 5 };
    expect(stored.pk).toBe('ENV#logs');
    expect(stored.sk).toBe('LEASE#ci-1');
    const lease = parseLease(stored);
    expect(lease.attempt?.token).toBe('bx-abc');
    expect(lease.taskArn).toBe('arn:t');
  });
  it('rejects a malformed item naming the field', () => {
    expect(() => parseLease({ ...item(), leaseDurationMs: 'x' })).toThrow(InvalidRecordError);
    expect(() => parseLease({ ...item(), attempt: { token: 'x'.repeat(37), revision: 1, issuedAt: 'now' } })).toThrow(/attempt.token/);
    expect(() => parseLease({ ...item(), extra: 1 })).toThrow(/extra/);
  });
});
