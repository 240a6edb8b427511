import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from '../../core/records.js';
import { ageRestartState, backoffDelay, initialRestartState, onDaemonStopped, onStartIssued } from '../../agent/restart-policy.js';
import { seeded } from '../support/prng.js';

const policy: RestartPolicy = { initialDelayMs: 1000, maxDelayMs: 30_000, multiplier: 2, crashLoopRestarts: 4, crashLoopWindowSeconds: 60 };

describe('backoffDelay', () => {
  it('grows exponentially from the initial delay, with half of it jittered', () => {
    expect(backoffDelay(1, policy, 0)).toBe(500);
    expect(backoffDelay(1, policy, 1)).toBe(1000);
    expect(backoffDelay(2, policy, 1)).toBe(2000);
    expect(backoffDelay(3, policy, 1)).toBe(4000);
    expect(backoffDelay(3, policy, 0.5)).toBe(3000);
  });
  it('is capped at maxDelayMs however many attempts, and never below half of the capped value', () => {
    const random = seeded(7);
    for (let i = 0; i < 2000; i++) {
      const attempt = 1 + Math.floor(random() * 200);
      const r = random();
      const d = backoffDelay(attempt, policy, r);
      const capped = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
      expect(d).toBeLessThanOrEqual(policy.maxDelayMs);
      expect(d).toBeGreaterThanOrEqual(Math.floor(capped / 2));
    }
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, DEFAULT_RESTART_POLICY, 1)).toBe(DEFAULT_RESTART_POLICY.maxDelayMs);
  });
});

describe('restart state', () => {
  it('backs off more with every stop inside the window and detects a crash loop', () => {
    let s = initialRestartState();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const now = i * 1000;
      s = onDaemonStopped(s, policy, now, 1);
      delays.push(s.notBeforeMono - now);
      s = onStartIssued(s);
    }
    expect(delays.slice(0, 3)).toEqual([1000, 2000, 4000]);
    expect(s.crashLoop).toBe(true);
    expect(delays[3]).toBe(30_000); // crash loop: held at the cap
    expect(s.restarts).toBe(5);
  });

  it('counts a start as a restart only when the daemon had stopped by itself (not a replacement the agent made)', () => {
    let s = onDaemonStopped(initialRestartState(), policy, 1_000, 1);
    expect(s.restartDue).toBe(true);
    s = onStartIssued(s);
    expect(s).toMatchObject({ restarts: 1, restartDue: false });
    s = onStartIssued(s); // e.g. the agent replaced the daemon with a new revision
    expect(s).toMatchObject({ restarts: 1, restartDue: false });
  });
  it('starts over after the daemon ran longer than the window; the crash loop ends when stops age out', () => {
    let s = initialRestartState();
    for (let i = 0; i < 4; i++) s = onDaemonStopped(s, policy, i * 100, 1);
    expect(s.crashLoop).toBe(true);
    s = ageRestartState(s, policy, 61_000);
    expect(s.crashLoop).toBe(false);
    expect(s.recentStops).toEqual([]);
    s = onDaemonStopped(s, policy, 200_000, 1);
    expect(s.notBeforeMono - 200_000).toBe(1000);
  });
});
