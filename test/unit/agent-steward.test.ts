// The steward (agent/steward/): its judgement of the fleet, what the judgement writes, and its
// lease as an agent's reads show it. Table-tested: each row one situation and the outcome.
import { describe, expect, it } from 'vitest';
import { judge, writesOf, type JudgeInput } from '../../agent/steward/judge.js';
import { heldLease, leaseExpired, observeLease, type LeaseWatch } from '../../agent/steward/lease-watch.js';
import { DEFAULT_DEPLOYMENT_CONFIGURATION, type Deployment, type DaemonStatus, type InstanceStatus, type RolloutControl } from '../../core/records.js';
import { control, iso, NOW } from '../support/rollout-fixtures.js';

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
