// The rollout gate (agent/decide/rollout.ts): whether an instance may replace its daemon now, its
// part's follow-ups, the revision it keeps to, its draw windows. Table-tested the way the
// Kubernetes DaemonSet controller's rolling update is: each row one situation, the verdict and why.
import { describe, expect, it } from 'vitest';
import {
  admission,
  counterDelta,
  followUp,
  keepsStable,
  nextWindowAt,
  spreadOffset,
  windowDraw,
  windowIndex,
  type GateInput,
} from '../../agent/decide/rollout.js';
import type { Report } from '../../agent/model.js';
import { DEFAULT_DEPLOYMENT_CONFIGURATION, type ClaimRollout, type RolloutControl } from '../../core/records.js';
import { control, iso, NOW, part, read } from '../support/rollout-fixtures.js';

function gate(overrides: Partial<GateInput> = {}): GateInput {
  return {
    deploymentId: 'dep-2',
    control: read(),
    config: DEFAULT_DEPLOYMENT_CONFIGURATION,
    claimRollout: undefined,
    oldReady: true,
    surge: false,
    instanceId: 'i-1',
    draw: 0,
    windowMs: 5_000,
    nowWallMs: NOW,
    ...overrides,
  };
}

describe('the rollout gate: may this instance replace its daemon now?', () => {
  const rows: [string, Partial<GateInput>, 'go' | 'admit' | 'hold', RegExp][] = [
    ['no deployment named by the head: unpaced', { deploymentId: undefined }, 'go', /unpaced/],
    ['the control not read yet: held', { control: { state: 'unread' } }, 'hold', /reading the rollout/],
    ['no control stored (a deployment from before rollouts): unpaced', { control: { state: 'absent' } }, 'go', /unpaced/],
    ['a control of another deployment (a read not caught up): held', { control: read({ deploymentId: 'dep-1' }) }, 'hold', /deployment dep-1/],
    ['room in flight: admitted, counted', {}, 'admit', /admitted: 1 of 3/],
    ['no room: held, saying how many are in flight', { control: read({ inFlight: 3 }) }, 'hold', /3 of 3 admitted/],
    [
      'already admitted (by a predecessor on this instance): carries on even without room',
      { control: read({ inFlight: 3 }), claimRollout: part('admitted') },
      'go',
      /admitted/,
    ],
    ['failed earlier: carries on (it stays counted)', { claimRollout: part('failed') }, 'go', /admitted \(failed\)/],
    ['freed by the steward (abandoned): must be admitted again', { control: read({ inFlight: 3 }), claimRollout: part('abandoned') }, 'hold', /3 of 3/],
    ['the old daemon is not ready: goes at once, not counted', { control: read({ inFlight: 3 }), oldReady: false }, 'go', /not ready/],
    ['paused: nothing new begins', { control: read({ paused: true }) }, 'hold', /paused/],
    ['pending: waits for the first count', { control: read({ phase: 'pending' }) }, 'hold', /first count/],
    ['awaiting promotion: held', { control: read({ phase: 'awaiting_promotion' }) }, 'hold', /promotion/],
    ['canary phase with canaries left: admitted', { control: read({ phase: 'canary', canary: 2, admitted: 1 }) }, 'admit', /admitted/],
    ['canary phase, every canary admitted: held', { control: read({ phase: 'canary', canary: 2, admitted: 2 }) }, 'hold', /canary/],
    ['failed deployment: nothing new begins', { control: read({ phase: 'done', outcome: 'failed' }) }, 'hold', /failed/],
    ['stopped deployment: nothing new begins', { control: read({ phase: 'done', outcome: 'stopped' }) }, 'hold', /stopped/],
    ['completed deployment: a straggler goes at once', { control: read({ phase: 'done', outcome: 'completed' }) }, 'go', /straggler/],
    [
      'strategy on-delete: held until the old task stops by itself',
      { config: { ...DEFAULT_DEPLOYMENT_CONFIGURATION, strategy: 'on-delete' } },
      'hold',
      /on-delete/,
    ],
  ];
  it.each(rows)('%s', (_name, input, verdict, reason) => {
    const result = admission(gate(input));
    expect(result.verdict).toBe(verdict);
    expect(result.reason).toMatch(reason);
  });

  it('with room for r among w waiting, an instance tries with probability 4r/w (a freed place draws a few writes, not thousands)', () => {
    const c = read({ cap: 100, inFlight: 99, desired: 10_000, admitted: 1_000 }); // room 1, 9,000 waiting
    expect(admission(gate({ control: c, draw: 0.0004 })).verdict).toBe('admit');
    expect(admission(gate({ control: c, draw: 0.0005 }))).toMatchObject({ verdict: 'hold', reason: expect.stringMatching(/room for 1; 9000 instance/) });
    expect(admission(gate({ control: read({ cap: 3, desired: 4 }), draw: 0.99 })).verdict).toBe('admit'); // room for everyone: always
  });

  it('no more than desired / spreadMs instances a second try, however much room (the first fill of 1,000 places is not 1,000 writes at once)', () => {
    // 10,000 instances at 20 a second: 100 tries per 5 s window among 10,000 waiting.
    const c = read({ cap: 1_000, inFlight: 0, desired: 10_000, admitted: 0, spreadMs: 500_000 });
    expect(admission(gate({ control: c, draw: 0.0099 })).verdict).toBe('admit');
    expect(admission(gate({ control: c, draw: 0.0101 })).verdict).toBe('hold');
    // No spread (a control from before it): only the room bounds the chance.
    expect(admission(gate({ control: read({ cap: 1_000, desired: 10_000 }), draw: 0.39 })).verdict).toBe('admit');
    // A small fleet: the bound never falls below one try a window.
    expect(admission(gate({ control: read({ cap: 3, desired: 4, spreadMs: 3_600_000 }), draw: 0.2 })).verdict).toBe('admit');
  });

  it('in the canary phase the room is the canary places left, not the cap', () => {
    const c = read({ phase: 'canary', canary: 1, admitted: 0, cap: 10_000, desired: 10_000, unlimited: true }); // 1 place among 10,000
    expect(admission(gate({ control: c, draw: 0.0003 }))).toMatchObject({ verdict: 'admit', rollout: { counted: true } });
    expect(admission(gate({ control: c, draw: 0.0005 }))).toMatchObject({ verdict: 'hold', reason: expect.stringMatching(/room for 1; 10000/) });
  });

  it("an unlimited rollout writes nothing before the instance's own moment in the spread, then admits without counting", () => {
    const result = admission(gate({ control: read({ unlimited: true, inFlight: 99, cap: 0 }) }));
    expect(result).toMatchObject({ verdict: 'admit', rollout: { state: 'admitted', counted: false } });
    const rollingAt = NOW - 1_000;
    const spread = read({ unlimited: true, spreadMs: 60_000, rollingAt: iso(rollingAt) });
    const offset = spreadOffset('i-1', 60_000);
    expect(offset).toBeGreaterThanOrEqual(1_000);
    expect(offset).toBeLessThan(60_000);
    const due = Math.ceil(rollingAt + offset);
    expect(admission(gate({ control: spread }))).toEqual({ verdict: 'hold', reason: expect.stringMatching(`due in ${due - NOW} ms`) });
    expect(admission(gate({ control: spread, nowWallMs: due - 1 })).verdict).toBe('hold');
    // Recorded when due: the healthy deadline runs from there, not from the wait's start.
    expect(admission(gate({ control: spread, nowWallMs: due }))).toMatchObject({ verdict: 'admit', rollout: { at: iso(due), counted: false } });
    // Without rollingAt (an older steward's control) there is no spread.
    expect(admission(gate({ control: read({ unlimited: true, spreadMs: 60_000 }) })).verdict).toBe('admit');
    // 10,000 instance ids spread evenly: no tenth of the window holds more than 12 % of them.
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 10_000; i++) buckets[Math.floor(spreadOffset(`0123abcd${i.toString(16).padStart(8, '0')}`, 1) * 10)]++;
    expect(Math.max(...buckets)).toBeLessThan(1_200);
  });
});

describe('an admitted instance: released after the bake, failed after the healthy deadline', () => {
  const report = (r: Partial<Report> = {}): Report => ({
    environment: 'logs',
    state: 'running',
    revision: 2,
    taskDefinition: 'logs:2',
    matching: true,
    ready: true,
    reason: 'running',
    ...r,
  });
  const input = (r: Partial<Report>, readyForMs: number, p = part('admitted', NOW - 10_000)) => ({
    control: read(),
    config: { ...DEFAULT_DEPLOYMENT_CONFIGURATION, minHealthySeconds: 5, healthyDeadlineSeconds: 30 },
    claimRollout: p,
    targetRevision: 2,
    report: report(r),
    readyForMs,
    nowWallMs: NOW,
  });
  it('ready on the target for the bake time: released', () => expect(followUp(input({}, 5_000))?.state).toBe('released'));
  it('ready but not baked yet: nothing', () => expect(followUp(input({}, 4_999))).toBeUndefined());
  it('still surging (the old task beside it): nothing', () => expect(followUp(input({ next: { taskArn: 't', ready: true } }, 9_000))).toBeUndefined());
  it('on the old revision still: nothing', () => expect(followUp(input({ revision: 1 }, 9_000))).toBeUndefined());
  it('not ready at the healthy deadline: failed, with the reason', () => {
    const failed = followUp(input({ ready: false, reason: 'exit code 1' }, 0, part('admitted', NOW - 30_000)));
    expect(failed).toMatchObject({ state: 'failed', reason: expect.stringMatching(/not ready within 30 s: exit code 1/) });
  });
  it('a failed instance whose daemon became ready and baked: released', () => expect(followUp(input({}, 5_000, part('failed')))?.state).toBe('released'));
  it('an abandoned part whose instance came back ready on the target and baked: released, the counter not moved again', () => {
    const released = followUp(input({}, 5_000, part('abandoned', NOW - 60_000)));
    expect(released?.state).toBe('released');
    expect(counterDelta(part('abandoned'), released)).toBe(0);
  });
  it('an abandoned part is never failed by the deadline (it is not counted any more): nothing', () =>
    expect(followUp(input({ ready: false, reason: 'exit code 1' }, 0, part('abandoned', NOW - 60_000)))).toBeUndefined());
  it('the counter moves +1 on a counted admission, -1 on its release, never on an uncounted one', () => {
    expect(counterDelta(undefined, part('admitted'))).toBe(1);
    expect(counterDelta(part('admitted'), part('released'))).toBe(-1);
    expect(counterDelta(part('failed'), part('released'))).toBe(-1);
    expect(counterDelta(part('admitted'), part('admitted'))).toBe(0);
    expect(counterDelta(part('admitted'), part('failed'))).toBe(0);
    expect(counterDelta(undefined, part('admitted', NOW, false))).toBe(0);
    expect(counterDelta(part('abandoned'), part('admitted'))).toBe(1);
  });
});

describe('which revision an instance converges to while the target is untrusted', () => {
  const rows: [string, Partial<RolloutControl> | undefined, ClaimRollout | undefined, boolean, boolean][] = [
    ['rolling: the target', { phase: 'rolling' }, undefined, true, false],
    ['awaiting promotion, no part: the stable revision', { phase: 'awaiting_promotion' }, undefined, true, true],
    ['awaiting promotion, a canary (admitted or released): the target', { phase: 'awaiting_promotion' }, part('released'), true, false],
    ['canary with places left, a daemon to replace: the target (it may become a canary)', { phase: 'canary', canary: 2, admitted: 1 }, undefined, true, false],
    ['canary with places left, a new instance: the stable revision', { phase: 'canary', canary: 2, admitted: 1 }, undefined, false, true],
    ['canary places taken: the stable revision', { phase: 'canary', canary: 2, admitted: 2 }, undefined, true, true],
    ['failed deployment, no part: the stable revision', { phase: 'done', outcome: 'failed' }, undefined, false, true],
    ['failed deployment, an admitted instance: stays as it is (the target)', { phase: 'done', outcome: 'failed' }, part('failed'), true, false],
    ['completed deployment: the target', { phase: 'done', outcome: 'completed' }, undefined, false, false],
    ['an abandoned part counts as none', { phase: 'awaiting_promotion' }, part('abandoned'), true, true],
    ['the control not read: the target', undefined, undefined, false, false],
    ['a control of another deployment: the target', { phase: 'awaiting_promotion', deploymentId: 'dep-1' }, undefined, false, false],
  ];
  it.each(rows)('%s', (_name, c, claimRollout, hasDaemon, stable) => {
    expect(keepsStable({ control: c ? control(c) : undefined, deploymentId: 'dep-2', claimRollout, hasDaemon })).toBe(stable);
  });
});

describe("a waiting instance's draw windows", () => {
  it('one draw per window, the next window where nextWindowAt says', () => {
    const start = nextWindowAt('i-7', NOW, 10_000);
    expect(start).toBeGreaterThan(NOW);
    expect(start - NOW).toBeLessThanOrEqual(10_000);
    expect(windowIndex('i-7', start - 1, 10_000)).toBe(windowIndex('i-7', NOW, 10_000));
    expect(windowIndex('i-7', start, 10_000)).toBe(windowIndex('i-7', NOW, 10_000) + 1);
    expect(windowDraw('i-7', 'dep-2', start - 1, 10_000)).toBe(windowDraw('i-7', 'dep-2', NOW, 10_000));
  });
  it("a fleet's windows do not all turn over in the same second (they would bunch its tries)", () => {
    const perSecond = new Array<number>(10).fill(0);
    for (let i = 0; i < 1_000; i++) perSecond[Math.floor(((nextWindowAt(`i-${i}`, NOW, 10_000) - NOW) % 10_000) / 1_000)]!++;
    expect(Math.max(...perSecond)).toBeLessThan(150); // 100 a second on average
  });
});
