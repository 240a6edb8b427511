// The rollout gate (agent/decide/rollout.ts) and the steward's judgement (agent/steward/judge.ts),
// table-tested the way the Kubernetes DaemonSet controller's rolling update is: each row one
// situation, the verdict and why.
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
  type ControlView,
  type GateInput,
} from '../../agent/decide/rollout.js';
import type { Report } from '../../agent/model.js';
import { judge, writesOf, type JudgeInput } from '../../agent/steward/judge.js';
import { heldLease, leaseExpired, observeLease, type LeaseWatch } from '../../agent/steward/lease-watch.js';
import {
  DEFAULT_DEPLOYMENT_CONFIGURATION,
  type ClaimRollout,
  type Deployment,
  type DaemonStatus,
  type InstanceStatus,
  type RolloutControl,
} from '../../core/records.js';

const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function control(overrides: Partial<RolloutControl> = {}): RolloutControl {
  return {
    kind: 'RolloutControl',
    schemaVersion: 1,
    environment: 'logs',
    deploymentId: 'dep-2',
    targetRevision: 2,
    stableRevision: 1,
    phase: 'rolling',
    paused: false,
    cap: 3,
    inFlight: 0,
    admitted: 0,
    canary: 0,
    desired: 20,
    spreadMs: 0,
    unlimited: false,
    updatedAt: iso(NOW),
    ...overrides,
  };
}

const read = (c: Partial<RolloutControl> = {}): ControlView => ({ state: 'read', control: control(c) });

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

const part = (state: ClaimRollout['state'], at = NOW, counted = true): ClaimRollout => ({ deploymentId: 'dep-2', state, at: iso(at), counted });

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

describe("the steward's judgement", () => {
  function instance(n: number, daemon: Partial<DaemonStatus> | undefined): InstanceStatus {
    return {
      kind: 'InstanceStatus',
      schemaVersion: 1,
      cluster: 'c',
      containerInstanceArn: `arn:aws:ecs:us-east-1:1:container-instance/c/i${n}`,
      agentVersion: 'test',
      ready: true,
      degraded: false,
      daemons: daemon
        ? [
            {
              environment: 'logs',
              revision: 1,
              taskDefinition: 'logs:1',
              state: 'running',
              restarts: 0,
              since: iso(NOW),
              taskArn: `t${n}`,
              ready: true,
              matching: true,
              ...daemon,
            },
          ]
        : [],
      updatedAt: iso(NOW),
      expiresAt: NOW / 1000 + 600,
    };
  }
  const base = (statuses: InstanceStatus[], c: Partial<RolloutControl> = {}, config = {}): JudgeInput => ({
    environment: 'logs',
    control: control(c),
    config: { ...DEFAULT_DEPLOYMENT_CONFIGURATION, maxUnavailable: '3', ...config },
    sameAsTarget: new Set([2]),
    statuses,
    progressAtMs: NOW - 1_000,
    nowWallMs: NOW,
    ecsRatePerSecond: 20,
  });

  it('pending -> rolling with cap = maxUnavailable less the instances already unavailable for other reasons', () => {
    const statuses = [...Array.from({ length: 8 }, (_, i) => instance(i, {})), instance(8, { ready: false, state: 'crash_loop' })];
    const j = judge(base(statuses, { phase: 'pending' }));
    expect(j).toMatchObject({ phase: 'rolling', status: 'in_progress', desired: 9, cap: 2 });
    expect(j.counts).toMatchObject({ desired: 9, current: 9, updated: 0, ready: 8, unavailable: 1, revisions: { '1': 9 } });
  });
  it('percentages round up of the matching instances; surge paces by maxSurge', () => {
    const statuses = Array.from({ length: 10 }, (_, i) => instance(i, {}));
    expect(judge(base(statuses, {}, { maxUnavailable: '25%' })).cap).toBe(3);
    expect(judge(base(statuses, {}, { maxUnavailable: '0', maxSurge: '2' })).cap).toBe(2);
    // 10 instances at 20 ECS calls a second: the fleet's replacements over at least 500 ms, paced or not.
    expect(judge(base(statuses, {}, { maxUnavailable: '100%' }))).toMatchObject({ unlimited: true, spreadMs: 500 });
    expect(judge(base(statuses, {}, { maxUnavailable: '25%' }))).toMatchObject({ unlimited: false, spreadMs: 500 });
  });
  it('instances that do not match are not desired; one still running the daemon is misscheduled', () => {
    const j = judge(base([instance(0, {}), instance(1, { matching: false }), instance(2, undefined)]));
    expect(j.counts).toMatchObject({ desired: 1, misscheduled: 1 });
  });
  it('completed when every matching instance runs the target, available, and nothing is in flight', () => {
    const statuses = Array.from({ length: 3 }, (_, i) => instance(i, { revision: 2, rollout: { deploymentId: 'dep-2', state: 'released' } }));
    expect(judge(base(statuses))).toMatchObject({ phase: 'done', status: 'completed', outcome: 'completed' });
    expect(judge(base(statuses, { inFlight: 1 })).status).toBe('in_progress');
  });
  it('failed at the threshold, naming the failed instances and why', () => {
    const statuses = [
      instance(0, { revision: 2, ready: false, rollout: { deploymentId: 'dep-2', state: 'failed', reason: 'not ready within 300 s: exit 1' } }),
      instance(1, {}),
    ];
    const j = judge(base(statuses));
    expect(j).toMatchObject({ phase: 'done', status: 'failed', outcome: 'failed' });
    expect(j.failed).toEqual([expect.objectContaining({ containerInstanceArn: expect.stringMatching(/i0$/), reason: 'not ready within 300 s: exit 1' })]);
    expect(judge(base(statuses, {}, { failureThreshold: '2' })).status).toBe('in_progress');
  });
  it('stuck: no progress for the progress deadline fails the deployment', () => {
    const j = judge({ ...base([instance(0, {})], {}, { progressDeadlineSeconds: 60 }), progressAtMs: NOW - 60_000 });
    expect(j).toMatchObject({ status: 'failed', reason: expect.stringMatching(/stuck/) });
  });
  it('the canary size is fixed at the first count', () => {
    const statuses = Array.from({ length: 10 }, (_, i) => instance(i, {}));
    expect(judge(base(statuses, { phase: 'pending' }, { canary: '25%' }))).toMatchObject({ phase: 'canary', canary: 3 });
  });
  it('canary: the canaries bake, then the deployment awaits promotion (or promotes itself)', () => {
    const statuses = [instance(0, { revision: 2, rollout: { deploymentId: 'dep-2', state: 'released' } }), instance(1, {}), instance(2, {})];
    expect(judge(base(statuses, { phase: 'canary', canary: 1, admitted: 1 }))).toMatchObject({ phase: 'awaiting_promotion', status: 'awaiting_promotion' });
    expect(judge(base(statuses, { phase: 'canary', canary: 1, admitted: 1 }, { autoPromote: true }))).toMatchObject({ phase: 'rolling' });
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

describe("what the steward's judgement writes", () => {
  const deployment = (d: Partial<Deployment> = {}): Deployment => ({
    kind: 'Deployment',
    schemaVersion: 1,
    id: 'dep-2',
    environment: 'logs',
    targetRevision: 2,
    stableRevision: 1,
    status: 'in_progress',
    paused: false,
    reasons: ['deployment of revision 2 requested'],
    failedInstances: [],
    createdAt: iso(NOW),
    updatedAt: iso(NOW),
    ...d,
  });
  const at = { progressed: false, startedAt: iso(NOW - 60_000), nowIso: iso(NOW) };
  const judged = (c: Partial<RolloutControl>, statuses: InstanceStatus[] = []) =>
    judge({
      environment: 'logs',
      control: control(c),
      config: DEFAULT_DEPLOYMENT_CONFIGURATION,
      sameAsTarget: new Set([2]),
      statuses,
      progressAtMs: NOW,
      nowWallMs: NOW,
      ecsRatePerSecond: 20,
    });

  it('a status change is written with its reason; no change, no reason and no status', () => {
    const begun = writesOf(judged({ phase: 'pending' }), deployment({ status: 'pending' }), DEFAULT_DEPLOYMENT_CONFIGURATION, at);
    expect(begun.deployment).toMatchObject({ status: 'in_progress', startedAt: at.startedAt, phase: 'rolling' });
    expect(begun.deployment.reasons?.at(-1)).toMatch(/rollout begins/);
    // The spread begins when the phase becomes rolling, and only then.
    expect(begun.control).toMatchObject({ phase: 'rolling', rollingAt: iso(NOW) });
    const same = writesOf(judged({ phase: 'rolling' }), deployment(), DEFAULT_DEPLOYMENT_CONFIGURATION, { ...at, progressed: true });
    expect(same.control.rollingAt).toBeUndefined();
    expect(same.deployment.status).toBeUndefined();
    expect(same.deployment.reasons).toBeUndefined();
    // A phase change with the status unchanged (a canary promoted by itself) keeps its reason.
    const promoted = writesOf(
      { ...judged({ phase: 'canary' }), phase: 'rolling', status: 'in_progress', reason: '1 canary instance(s) baked: promoted by itself' },
      deployment({ phase: 'canary' }),
      DEFAULT_DEPLOYMENT_CONFIGURATION,
      at,
    );
    expect(promoted.deployment.status).toBeUndefined();
    expect(promoted.deployment.reasons?.at(-1)).toMatch(/promoted by itself/);
    expect(same.deployment.progressAt).toBe(at.nowIso);
    expect(same.rollingBack).toBe(false);
  });
  it('a failure with autoRollback leaves the control as it is (only desired) for the rollback to replace; without it the control ends failed', () => {
    const statuses = [
      {
        kind: 'InstanceStatus',
        schemaVersion: 1,
        cluster: 'c',
        containerInstanceArn: 'arn:aws:ecs:us-east-1:1:container-instance/c/i0',
        agentVersion: 'test',
        ready: false,
        degraded: false,
        daemons: [
          {
            environment: 'logs',
            revision: 2,
            taskDefinition: 'logs:2',
            state: 'crash_loop',
            restarts: 3,
            since: iso(NOW),
            taskArn: 't0',
            ready: false,
            matching: true,
            rollout: { deploymentId: 'dep-2', state: 'failed' },
          },
        ],
        updatedAt: iso(NOW),
        expiresAt: NOW / 1000 + 600,
      } as InstanceStatus,
    ];
    const j = judged({ phase: 'rolling' }, statuses);
    const rolling = writesOf(j, deployment(), { ...DEFAULT_DEPLOYMENT_CONFIGURATION, autoRollback: true }, at);
    expect(rolling).toMatchObject({ rollingBack: true, control: { desired: 1 }, deployment: { status: 'failed', finishedAt: at.nowIso } });
    expect(Object.keys(rolling.control)).toEqual(['desired']);
    const halted = writesOf(j, deployment(), DEFAULT_DEPLOYMENT_CONFIGURATION, at);
    expect(halted).toMatchObject({ rollingBack: false, control: { phase: 'done', outcome: 'failed' } });
    // Nothing to roll back to (no completed deployment before it): it halts.
    expect(writesOf(j, deployment({ stableRevision: undefined }), { ...DEFAULT_DEPLOYMENT_CONFIGURATION, autoRollback: true }, at).rollingBack).toBe(false);
  });
});

describe("the steward's lease, as an agent's reads show it", () => {
  const lease = (renewals: number) => ({ owner: 'o', containerInstanceId: 'i-9', renewals, leaseMs: 30_000 });
  /** The watch after reads at the given times, each showing the given renewal count. */
  const after = (reads: Array<[number, number | undefined]>, deploymentId = 'dep-2') => {
    let watch: LeaseWatch | undefined;
    for (const [at, renewals] of reads)
      watch = observeLease(watch, control({ deploymentId, steward: renewals === undefined ? undefined : lease(renewals) }), at);
    return watch!;
  };
  it('no steward: expired at once (the first reader takes it)', () => expect(leaseExpired(after([[0, undefined]]), control())).toBe(true));
  it('the count unchanged across reads a lease apart: expired', () =>
    expect(
      leaseExpired(
        after([
          [0, 5],
          [30_000, 5],
        ]),
        control({ steward: lease(5) }),
      ),
    ).toBe(true));
  it('the count unchanged, but the reads less than a lease apart: not expired', () =>
    expect(
      leaseExpired(
        after([
          [0, 5],
          [29_999, 5],
        ]),
        control({ steward: lease(5) }),
      ),
    ).toBe(false));
  it('an idle reader (a read a minute) of a steward that renews: never expired, however long since its last read', () => {
    const reads: Array<[number, number]> = [0, 60_000, 120_000, 180_000].map((at, i) => [at, 5 + i * 6]);
    const watch = after(reads);
    expect(leaseExpired(watch, control({ steward: lease(23) }))).toBe(false);
    // Between reads nothing is observed: the watch of the read 59 s ago is what is judged.
    expect(watch.confirmedMono).toBe(180_000);
  });
  it('a steward that died: an idle reader finds it expired at its next read that shows the same count', () => {
    expect(
      leaseExpired(
        after([
          [0, 5],
          [60_000, 11],
        ]),
        control({ steward: lease(11) }),
      ),
    ).toBe(false);
    expect(
      leaseExpired(
        after([
          [0, 5],
          [60_000, 11],
          [120_000, 11],
        ]),
        control({ steward: lease(11) }),
      ),
    ).toBe(true);
  });
  it("another deployment's control starts a new watch", () => {
    const watch = observeLease(
      after([
        [0, 5],
        [30_000, 5],
      ]),
      control({ deploymentId: 'dep-3', steward: lease(5) }),
      40_000,
    );
    expect(watch).toMatchObject({ deploymentId: 'dep-3', sinceMono: 40_000 });
    expect(leaseExpired(watch, control({ deploymentId: 'dep-3', steward: lease(5) }))).toBe(false);
  });
  it('held by this agent: its own write starts the watch afresh', () =>
    expect(leaseExpired(heldLease('dep-2', 6, 100_000), control({ steward: lease(6) }))).toBe(false));
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
