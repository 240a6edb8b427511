// The pure decision (agent/decide) and its plan: examples, then properties on random steps. The
// act half, with the same rules end to end, is in agent-world.test.ts (the seeded world on the
// real reconcile step) and agent-act.test.ts.
import { describe, expect, it } from 'vitest';
import { DEFAULT_DEPLOYMENT_CONFIGURATION, DEFAULT_RESTART_POLICY, type ClaimRecord, type Environment, type EnvironmentRevision } from '../../core/records.js';
import { decide } from '../../agent/decide/decide.js';
import { pace, type ReplacementBudget } from '../../agent/decide/pace.js';
import { instanceActions, plan } from '../../agent/decide/plan.js';
import { attemptToken } from '../../agent/lease.js';
import type {
  Action,
  Chain,
  ClaimView,
  Decision,
  Desired,
  DesiredEnvironment,
  EnvMemoryView,
  InstanceLeaseView,
  Now,
  Observed,
  ObservedTask,
} from '../../agent/model.js';
import { initialRestartState } from '../../agent/restart-policy.js';
import { pick, seeded } from '../support/prng.js';

const ME = 'agent-000000000001';
const options = { orphanGraceMs: 10_000, attemptSettleMs: 5_000, expectationTimeoutMs: 30_000 };
const WALL0 = 1_700_000_000_000;

function env(name: string, over: Partial<Environment> = {}, rev = 1, surge = '0'): DesiredEnvironment & { kind: 'valid' } {
  const environment: Environment = {
    kind: 'Environment',
    schemaVersion: 1,
    name,
    cluster: 'c',
    status: 'ACTIVE',
    health: 'unknown',
    currentRevision: rev,
    latestRevision: rev,
    token: 't',
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    ...over,
  };
  const revision: EnvironmentRevision = {
    kind: 'EnvironmentRevision',
    schemaVersion: 1,
    environment: name,
    revision: rev,
    taskDefinition: `${name}:${rev}`,
    instanceGroup: { cluster: 'c' },
    deploymentConfiguration: { ...DEFAULT_DEPLOYMENT_CONFIGURATION, maxSurge: surge },
    restartPolicy: DEFAULT_RESTART_POLICY,
    critical: false,
    order: 0,
    createdAt: '2026-01-01T00:00:00Z',
  };
  return { name, kind: 'valid', environment, revision, matches: true, matchReason: 'matches' };
}
const acting = { acting: true, reason: 'acting' };
const observed = (over: Partial<Observed> = {}): Observed => ({ instance: acting, claims: {}, tasks: [], memory: {}, orphanSince: {}, ...over });
const now = (monoMs = 100_000): Now => ({ wallMs: WALL0 + monoMs, monoMs, nonce: 'n0nce0000000000x' });
const claimItem = (over: Partial<ClaimRecord> = {}): ClaimRecord => ({
  kind: 'Claim',
  schemaVersion: 1,
  environment: 'logs',
  containerInstanceId: 'ci',
  owner: ME,
  recordVersion: 'v1',
  attempts: [],
  updatedAt: '2026-01-01T00:00:00Z',
  ...over,
});
const mine = (over: Partial<ClaimRecord> = {}): ClaimView => ({ state: 'mine', item: claimItem(over), reason: 'mine' });
const absent: ClaimView = { state: 'absent', reason: 'none' };
const task = (arn: string, over: Partial<ObservedTask> = {}): ObservedTask => ({
  taskArn: arn,
  environment: 'logs',
  revision: 1,
  lastStatus: 'RUNNING',
  desiredStatus: 'RUNNING',
  hasHealthCheck: false,
  ours: true,
  ...over,
});
const memory = (over: Partial<EnvMemoryView> = {}): EnvMemoryView => ({ expectations: [], attempts: {}, ...over });
const attempt = (token: string, over: Partial<ClaimRecord['attempts'][number]> = {}) => ({
  token,
  revision: 1,
  issuedAt: new Date(WALL0 + 99_000).toISOString(),
  role: 'current' as const,
  ...over,
});
const heldInstance: InstanceLeaseView = { state: 'mine', reason: 'mine' };

/** decide, then plan, as the reconciler does (unpaced unless a budget is given). */
function step(
  desired: Desired,
  o: Observed,
  t: Now = now(),
  budget?: ReplacementBudget,
  instance: { view: InstanceLeaseView; renewDue: boolean } = { view: heldInstance, renewDue: false },
): { decision: Decision; chains: Chain[] } {
  const decision = budget ? pace(decide(desired, o, t, options), budget) : decide(desired, o, t, options);
  const own = instanceActions(instance.view, instance.renewDue);
  return { decision, chains: [...(own.length ? [{ key: '#instance', actions: own }] : []), ...plan({ decision, observed: o, now: t })] };
}
const actionsOf = (chains: Chain[], key = 'logs'): Action[] => chains.find((c) => c.key === key)?.actions ?? [];
const types = (actions: Action[]) => actions.map((a) => a.type);
const one = (e: DesiredEnvironment): Desired => ({ environments: [e], fresh: true });

describe('decide and plan: examples', () => {
  it('a new matching instance with no claim: the attempt token is written (creating the claim) right before StartTask', () => {
    const { chains, decision } = step(one(env('logs')), observed({ claims: { logs: absent } }));
    const [write, start] = actionsOf(chains);
    expect(types(actionsOf(chains))).toEqual(['write-claim', 'start']);
    expect(write?.type === 'write-claim' && write.write.expectedRecordVersion).toBeUndefined();
    expect(write?.type === 'write-claim' && start?.type === 'start' && write.write.content.attempts.map((a) => a.token)).toEqual([
      start?.type === 'start' ? start.token : '?',
    ]);
    expect(start?.type === 'start' && start.token.length).toBeLessThanOrEqual(36);
    expect(decision.environments[0]?.report.state).toBe('starting');
  });
  it('nothing is done before the claim is read, nor by an agent that does not act for the instance', () => {
    expect(step(one(env('logs')), observed({ claims: {} })).chains).toEqual([]);
    expect(step(one(env('logs')), observed({ claims: { logs: { state: 'unread', reason: '' } } })).chains).toEqual([]);
    const other = step(
      one(env('logs')),
      observed({ instance: { acting: false, reason: 'another agent acts' }, claims: { logs: absent }, tasks: [task('t1', { revision: 9 })] }),
      now(),
      undefined,
      { view: { state: 'other', reason: 'held by x' }, renewDue: false },
    );
    expect(other.chains).toEqual([]);
    expect(other.decision.environments[0]?.report).toMatchObject({ state: 'running', reason: 'another agent acts' });
  });
  it('the instance heartbeat: acquired when unknown or free (conditional on its absence) or expired (conditional on what was seen), renewed when due, its chain first', () => {
    expect(instanceActions({ state: 'unknown', reason: '' }, false)).toEqual([
      expect.objectContaining({ type: 'acquire-instance', expectedRecordVersion: undefined }),
    ]);
    expect(instanceActions({ state: 'other', reason: '' }, false)).toEqual([]);
    const free = step(one(env('logs')), observed({ instance: { acting: false, reason: 'no lease' } }), now(), undefined, {
      view: { state: 'free', reason: 'no lease' },
      renewDue: false,
    });
    expect(free.chains).toEqual([{ key: '#instance', actions: [expect.objectContaining({ type: 'acquire-instance', expectedRecordVersion: undefined })] }]);
    const expired = step(one(env('logs')), observed({ instance: { acting: false, reason: '' } }), now(), undefined, {
      view: { state: 'expired', reason: 'unchanged', item: { recordVersion: 'hv7' } as never },
      renewDue: false,
    });
    expect(expired.chains[0]?.actions[0]).toMatchObject({ type: 'acquire-instance', expectedRecordVersion: 'hv7' });
    const renew = step(one(env('logs')), observed({ claims: { logs: absent } }), now(), undefined, { view: heldInstance, renewDue: true });
    expect(renew.chains.map((c) => c.key)).toEqual(['#instance', 'logs']);
    expect(types(renew.chains[0]!.actions)).toEqual(['renew-instance']);
  });
  it('a running daemon the claim records: nothing to do, nothing written', () => {
    const o = observed({ claims: { logs: mine({ current: { taskArn: 't1', revision: 1, since: '2026-01-01T00:00:00.000Z' } }) }, tasks: [task('t1')] });
    expect(step(one(env('logs')), o).chains).toEqual([]);
  });
  it('a running task the claim does not record is adopted with one claim write; no StartTask', () => {
    const { chains } = step(one(env('logs')), observed({ claims: { logs: absent }, tasks: [task('t1', { startedBy: 'bx-x' })] }));
    expect(actionsOf(chains)).toEqual([
      expect.objectContaining({
        type: 'write-claim',
        write: expect.objectContaining({ content: { current: expect.objectContaining({ taskArn: 't1', revision: 1 }), attempts: [] }, event: 'acquired' }),
      }),
    ]);
  });
  it('several environments each get their own start and token', () => {
    const { chains } = step({ environments: [env('logs'), env('metrics')], fresh: true }, observed({ claims: { logs: absent, metrics: absent } }));
    const starts = chains.flatMap((c) => c.actions).filter((a) => a.type === 'start');
    expect(starts.map((a) => a.type === 'start' && a.environment).sort()).toEqual(['logs', 'metrics']);
    expect(new Set(starts.map((a) => a.type === 'start' && a.token)).size).toBe(2);
  });
  it('a non-matching instance gets nothing; one that stops matching stops its daemon, then deletes the claim', () => {
    const noMatch = { ...env('logs'), matches: false, matchReason: 'expression false' };
    expect(step(one(noMatch), observed({ claims: { logs: absent } })).chains).toEqual([]);
    const stop = step(one(noMatch), observed({ claims: { logs: mine({ current: { taskArn: 't1' } }) }, tasks: [task('t1')] }));
    expect(types(actionsOf(stop.chains))).toEqual(['stop']);
    const release = step(
      one(noMatch),
      observed({ claims: { logs: mine({ current: { taskArn: 't1' } }) }, tasks: [task('t1', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })] }),
    );
    expect(actionsOf(release.chains)).toEqual([expect.objectContaining({ type: 'delete-claim', expectedRecordVersion: 'v1' })]);
  });
  it('an unresolved attempt is looked up before anything starts; a task found is recorded; one proven void starts over', () => {
    const claim = mine({ attempts: [attempt('bx-1')] });
    const first = step(one(env('logs')), observed({ claims: { logs: claim }, memory: { logs: memory({ attempts: { 'bx-1': { firstSeenMono: 0 } } }) } }));
    expect(types(actionsOf(first.chains))).toEqual(['lookup-attempt']);
    const found = step(
      one(env('logs')),
      observed({
        claims: { logs: claim },
        memory: { logs: memory({ attempts: { 'bx-1': { firstSeenMono: 0, lookup: { taskArns: ['t9'], atMono: 100_000 } } } }) },
      }),
    );
    expect(actionsOf(found.chains)).toEqual([
      expect.objectContaining({
        type: 'write-claim',
        write: expect.objectContaining({
          content: { current: expect.objectContaining({ taskArn: 't9', revision: 1, since: claim.item!.attempts[0]!.issuedAt }), attempts: [] },
        }),
      }),
    ]);
    const old = mine({ attempts: [attempt('bx-1', { issuedAt: new Date(WALL0).toISOString() })] });
    const voided = step(
      one(env('logs')),
      observed({ claims: { logs: old }, memory: { logs: memory({ attempts: { 'bx-1': { firstSeenMono: 0, lookup: { taskArns: [], atMono: 100_000 } } } }) } }),
    );
    expect(types(actionsOf(voided.chains))).toEqual(['write-claim', 'start']);
  });
  it('a look-up finding nothing too soon proves nothing: wait and look again', () => {
    const claim = mine({ attempts: [attempt('bx-1')] });
    const { chains } = step(
      one(env('logs')),
      observed({
        claims: { logs: claim },
        memory: { logs: memory({ attempts: { 'bx-1': { firstSeenMono: 99_000, lookup: { taskArns: [], atMono: 99_500 } } } }) },
      }),
    );
    expect(types(actionsOf(chains))).toEqual(['wait']);
  });
  it('a start issued but not seen yet is waited for, never repeated, with or without its attempt in the claim view', () => {
    const expectations = [{ token: 'bx-1', role: 'current' as const, revision: 1, issuedMono: 90_000 }];
    for (const claim of [mine({ attempts: [attempt('bx-1')] }), mine(), absent]) {
      const { chains } = step(one(env('logs')), observed({ claims: { logs: claim }, memory: { logs: memory({ expectations }) } }));
      expect(types(actionsOf(chains))).toEqual(['wait']);
    }
  });
  it('a task the claim records that is not visible yet is waited for (ECS may lag), then forgotten once its window has passed', () => {
    const since = new Date(WALL0 + 95_000).toISOString();
    const o = observed({
      claims: {
        logs: {
          state: 'takeable',
          item: claimItem({ owner: 'agent-gone', current: { taskArn: 't7', revision: 1, since } }),
          reason: 'predecessor',
          takeOver: 'taken-over',
        },
      },
    });
    const early = step(one(env('logs')), o);
    expect(types(actionsOf(early.chains))).toEqual(['wait']);
    const late = step(one(env('logs')), o, now(126_000));
    expect(types(actionsOf(late.chains))).toEqual(['write-claim', 'start']);
  });
  it("a predecessor's claim is taken over with one write before anything else, its content kept", () => {
    const view: ClaimView = {
      state: 'takeable',
      item: claimItem({ owner: 'agent-gone', recordVersion: 'p7', current: { taskArn: 't1', revision: 1 } }),
      reason: 'predecessor',
      takeOver: 'taken-over',
    };
    const { chains } = step(one(env('logs')), observed({ claims: { logs: view }, tasks: [task('t1')] }));
    expect(actionsOf(chains)).toEqual([
      expect.objectContaining({
        type: 'write-claim',
        write: expect.objectContaining({
          expectedRecordVersion: 'p7',
          event: 'taken-over',
          content: expect.objectContaining({ current: expect.objectContaining({ taskArn: 't1' }) }),
        }),
      }),
    ]);
    const watching: ClaimView = { state: 'watching', item: claimItem({ owner: 'v1-agent' }), reason: 'v1 lease held' };
    expect(step(one(env('logs')), observed({ claims: { logs: watching }, tasks: [] })).chains).toEqual([]);
  });
  it('restart backoff and StartTask backoff wait', () => {
    const restart = { ...initialRestartState(), recentStops: [99_000], notBeforeMono: 101_000, restartDue: true };
    expect(types(actionsOf(step(one(env('logs')), observed({ claims: { logs: mine() }, memory: { logs: memory({ restart }) } })).chains))).toEqual(['wait']);
    const later = step(one(env('logs')), observed({ claims: { logs: mine() }, memory: { logs: memory({ restart }) } }), now(101_000));
    expect(types(actionsOf(later.chains))).toEqual(['write-claim', 'start']);
    expect(actionsOf(later.chains)[1]?.reason).toMatch(/restart/);
    const startBackoff = { untilMono: 150_000, attempts: 2, reason: 'RESOURCE:MEMORY' };
    expect(types(actionsOf(step(one(env('logs')), observed({ claims: { logs: mine() }, memory: { logs: memory({ startBackoff }) } })).chains))).toEqual([
      'wait',
    ]);
  });
  it('stops and look-ups of an environment wait out its ECS backoff', () => {
    const ecsBackoff = { untilMono: 103_000, attempts: 2, reason: 'ThrottlingException' };
    const o = observed({
      claims: { logs: mine({ current: { taskArn: 't1', revision: 1, since: '2026-01-01T00:00:00.000Z' } }) },
      tasks: [task('t1')],
      memory: { logs: memory({ ecsBackoff }) },
    });
    const held = step(one(env('logs', {}, 2)), o);
    expect(actionsOf(held.chains)).toEqual([
      expect.objectContaining({ type: 'wait', untilMono: 103_000, reason: expect.stringMatching(/stop held 3000 ms: ECS backoff after ThrottlingException/) }),
    ]);
    expect(types(actionsOf(step(one(env('logs', {}, 2)), o, now(103_000)).chains))).toEqual(['stop']);
  });
  it('environment DELETING: stop with a reason; gone from the list: orphans stopped after the grace, then the claim deleted', () => {
    const deleting = env('logs', { status: 'DELETING' });
    expect(actionsOf(step(one(deleting), observed({ claims: { logs: mine({ current: { taskArn: 't1' } }) }, tasks: [task('t1')] })).chains)).toMatchObject([
      { type: 'stop', taskArn: 't1', reason: expect.stringMatching(/DELETING/) },
    ]);
    const early = step({ environments: [], fresh: true }, observed({ tasks: [task('t1')], orphanSince: { t1: 95_000 } }));
    expect(early.chains).toEqual([]);
    expect(early.decision.unclaimed).toEqual(['t1']);
    const late = step({ environments: [], fresh: true }, observed({ tasks: [task('t1')], orphanSince: { t1: 80_000 } }));
    expect(late.chains).toEqual([{ key: 'task:t1', actions: [expect.objectContaining({ type: 'stop', taskArn: 't1' })] }]);
    const cleanup = step(
      { environments: [], fresh: true },
      observed({ claims: { logs: mine({ current: { taskArn: 't1' } }) }, tasks: [task('t1', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })] }),
    );
    expect(types(actionsOf(cleanup.chains))).toEqual(['delete-claim']);
  });
  it('never stops for lack of information: stale list, invalid record, unknown match, unseen tasks', () => {
    const o = observed({ claims: { logs: mine({ current: { taskArn: 't1' } }) }, tasks: [task('t1'), task('t2')], orphanSince: { t1: 0, t2: 0 } });
    const stops = (d: Desired, x: Observed = o) =>
      step(d, x)
        .chains.flatMap((c) => c.actions)
        .filter((a) => a.type === 'stop');
    expect(stops({ environments: [], fresh: false })).toEqual([]);
    expect(stops({ environments: undefined, fresh: false })).toEqual([]);
    expect(stops({ environments: [{ name: 'logs', kind: 'invalid', error: 'bad' }], fresh: true })).toEqual([]);
    expect(stops(one({ ...env('logs'), matches: undefined, matchReason: 'attributes not read' }))).toEqual([]);
    expect(stops(one(env('logs', { status: 'DELETING' })), { ...o, tasks: undefined })).toEqual([]);
    expect(stops({ environments: [env('logs', {}, 2)], fresh: false })).toEqual([]);
  });
  it('duplicates found: keep the one the claim records, stop the others', () => {
    const { chains } = step(
      one(env('logs')),
      observed({ claims: { logs: mine({ current: { taskArn: 't2', revision: 1 } }) }, tasks: [task('t1'), task('t2')] }),
    );
    expect(actionsOf(chains)).toMatchObject([{ type: 'stop', taskArn: 't1', reason: expect.stringMatching(/duplicate/) }]);
  });
  it('a superseded revision is replaced: stop then start without surge; with surge, start the new task beside it, then stop the old once the new one is ready', () => {
    const o = observed({ claims: { logs: mine({ current: { taskArn: 't1', revision: 1 } }) }, tasks: [task('t1')] });
    const plain = step(one(env('logs', {}, 2)), o);
    expect(actionsOf(plain.chains)).toMatchObject([{ type: 'stop', taskArn: 't1', reason: 'revision 1 superseded by 2' }]);
    const surge = step(one(env('logs', {}, 2, '1')), o);
    const [write, start] = actionsOf(surge.chains);
    expect(start).toMatchObject({ type: 'start', role: 'next', revision: 2 });
    expect(write).toMatchObject({
      type: 'write-claim',
      write: { content: { current: { taskArn: 't1' }, attempts: [{ role: 'next', token: (start as { token: string }).token }] } },
    });
    const starting = observed({
      claims: { logs: mine({ current: { taskArn: 't1', revision: 1 } }) },
      tasks: [task('t1'), task('t2', { revision: 2, lastStatus: 'PENDING' })],
    });
    const waiting = step(one(env('logs', {}, 2, '1')), starting);
    expect(types(actionsOf(waiting.chains))).toEqual(['write-claim']); // records t2 as next, stops nothing
    expect(waiting.decision.environments[0]?.claim).toMatchObject({ current: { taskArn: 't1' }, next: { taskArn: 't2' } });
    expect(waiting.decision.environments[0]?.report.next).toMatchObject({ taskArn: 't2', ready: false });
    const ready = step(
      one(env('logs', {}, 2, '1')),
      observed({
        claims: { logs: mine({ current: { taskArn: 't1', revision: 1 }, next: { taskArn: 't2', revision: 2 } }) },
        tasks: [task('t1'), task('t2', { revision: 2 })],
      }),
    );
    expect(actionsOf(ready.chains)).toMatchObject([
      { type: 'write-claim', write: { content: { current: { taskArn: 't2' } } } },
      { type: 'stop', taskArn: 't1', reason: expect.stringMatching(/replaced by t2/) },
    ]);
    expect(ready.decision.environments[0]?.claim?.next).toBeUndefined();
  });
  it('a pacing budget may hold a replacement: the daemon keeps running and the report says why', () => {
    const budget: ReplacementBudget = { admit: () => ({ admitted: false, reason: '3 instances already replacing (maxUnavailable 3)' }) };
    const { chains, decision } = step(
      one(env('logs', {}, 2)),
      observed({ claims: { logs: mine({ current: { taskArn: 't1', revision: 1 } }) }, tasks: [task('t1')] }),
      now(),
      budget,
    );
    expect(actionsOf(chains)).toEqual([expect.objectContaining({ type: 'wait', reason: expect.stringMatching(/held: 3 instances already replacing/) })]);
    expect(decision.environments[0]?.report.reason).toMatch(/held: 3 instances/);
  });
  it('tokens are unique per environment and at most 36 characters', () => {
    expect(attemptToken('abcdefghijklmnopqrstuvwxyz', 'x'.repeat(64)).length).toBeLessThanOrEqual(36);
    expect(attemptToken('n', 'a')).not.toBe(attemptToken('n', 'b'));
    expect(attemptToken('n', 'a')).toMatch(/^[a-zA-Z0-9_-]+$/);
  });
});

// ---- properties on random single steps ----

const STATUSES = ['PROVISIONING', 'PENDING', 'RUNNING', 'STOPPED'] as const;
const NAMES = ['a', 'b', 'c'];

function randomStep(random: () => number): { desired: Desired; observed: Observed; now: Now } {
  const environments: DesiredEnvironment[] = [];
  for (const name of NAMES) {
    const r = random();
    if (r < 0.15) continue;
    if (r < 0.25) environments.push({ name, kind: 'invalid', error: 'bad field' });
    else
      environments.push({
        ...env(
          name,
          { status: pick(random, ['ACTIVE', 'ACTIVE', 'ACTIVE', 'INACTIVE', 'DELETING'] as const) },
          1 + Math.floor(random() * 3),
          random() < 0.4 ? '1' : '0',
        ),
        matches: pick(random, [true, true, false, undefined]),
      });
  }
  const desired: Desired = random() < 0.08 ? { environments: undefined, fresh: false } : { environments, fresh: random() < 0.8 };
  const tasks: ObservedTask[] = [];
  const n = Math.floor(random() * 5);
  for (let i = 0; i < n; i++) {
    const last = pick(random, STATUSES);
    tasks.push({
      taskArn: `t${i}`,
      environment: random() < 0.9 ? pick(random, NAMES) : undefined,
      revision: 1 + Math.floor(random() * 3),
      startedBy: random() < 0.6 ? `bx-${i}` : undefined,
      lastStatus: last,
      desiredStatus: last === 'STOPPED' || random() < 0.15 ? 'STOPPED' : 'RUNNING',
      hasHealthCheck: random() < 0.3,
      health: pick(random, ['HEALTHY', 'UNHEALTHY', 'UNKNOWN'] as const),
      ours: random() < 0.9,
    });
  }
  const claims: Record<string, ClaimView> = {};
  const memories: Record<string, EnvMemoryView> = {};
  for (const name of NAMES) {
    const attempts =
      random() < 0.35
        ? [
            {
              token: `bx-${Math.floor(random() * 5)}`,
              revision: 1 + Math.floor(random() * 3),
              issuedAt: new Date(WALL0 + 100_000 - Math.floor(random() * 60_000)).toISOString(),
              role: pick(random, ['current', 'next'] as const),
            },
          ]
        : [];
    const recordedTask = () => ({
      taskArn: `t${Math.floor(random() * 6)}`,
      revision: 1 + Math.floor(random() * 3),
      ...(random() < 0.5 ? { since: new Date(WALL0 + 100_000 - Math.floor(random() * 60_000)).toISOString() } : {}),
    });
    const item = claimItem({
      environment: name,
      attempts,
      ...(random() < 0.5 ? { current: recordedTask() } : {}),
      ...(random() < 0.2 ? { next: recordedTask() } : {}),
    });
    const r = random();
    if (r < 0.1) claims[name] = { state: 'unread', reason: '' };
    else if (r < 0.3) claims[name] = absent;
    else if (r < 0.6) claims[name] = { state: 'mine', item, reason: '' };
    else if (r < 0.8) claims[name] = { state: 'takeable', item: { ...item, owner: 'agent-gone' }, reason: '', takeOver: 'taken-over' };
    else if (r < 0.9) claims[name] = { state: 'watching', item, reason: '' };
    else claims[name] = { state: 'invalid', reason: 'bad' };
    const expectations: EnvMemoryView['expectations'] = [];
    // expectations with and without their attempt in the claim view (a conflict may have refreshed it)
    if (random() < 0.25)
      expectations.push({
        token: random() < 0.5 && attempts[0] ? attempts[0].token : `bx-${Math.floor(random() * 6)}`,
        role: 'current',
        revision: 1,
        issuedMono: 100_000 - Math.floor(random() * 40_000),
      });
    const attemptMemo: EnvMemoryView['attempts'] = {};
    for (const a of attempts)
      if (random() < 0.6)
        attemptMemo[a.token] = {
          firstSeenMono: 100_000 - Math.floor(random() * 20_000),
          ...(random() < 0.6
            ? {
                lookup: {
                  taskArns: random() < 0.5 ? [`t${Math.floor(random() * 6)}`] : [],
                  atMono: 100_000 - Math.floor(random() * 10_000),
                  ...(random() < 0.3 ? { conclusive: true } : {}),
                },
              }
            : {}),
        };
    memories[name] = memory({
      expectations,
      attempts: attemptMemo,
      ...(random() < 0.2 ? { restart: { ...initialRestartState(), notBeforeMono: 100_000 + Math.floor(random() * 4_000) - 2_000, restartDue: true } } : {}),
      ...(random() < 0.1 ? { startBackoff: { untilMono: 101_000, attempts: 1, reason: 'x' } } : {}),
      ...(random() < 0.1 ? { ecsBackoff: { untilMono: 101_000, attempts: 1, reason: 'x' } } : {}),
    });
  }
  const orphanSince: Record<string, number> = {};
  for (const t of tasks) if (random() < 0.5) orphanSince[t.taskArn] = 100_000 - Math.floor(random() * 20_000);
  const instance = random() < 0.85 ? acting : { acting: false, reason: 'another agent acts' };
  return { desired, observed: observed({ instance, claims, tasks: random() < 0.08 ? undefined : tasks, memory: memories, orphanSince }), now: now(100_000) };
}

describe('decide and plan: properties on 20,000 random steps (seeded)', () => {
  it('hold their safety rules', () => {
    for (let seed = 1; seed <= 20_000; seed++) {
      const random = seeded(seed);
      const { desired, observed: o, now: t } = randomStep(random);
      const decision = decide(desired, o, t, options);
      const chains = plan({ decision, observed: o, now: t });
      const ctx = `seed ${seed}`;
      const live = (name: string) => (o.tasks ?? []).filter((x) => x.environment === name && x.lastStatus !== 'STOPPED');
      for (const chain of chains) {
        const acts = chain.actions.filter((a) => a.type !== 'wait');
        if (acts.length && chain.key !== '#instance') expect(o.instance.acting, `${ctx}: acted without acting for the instance`).toBe(true);
        const starts = chain.actions.filter((a) => a.type === 'start');
        expect(starts.length, ctx).toBeLessThanOrEqual(1);
        expect(starts.length > 0 && chain.actions.some((a) => a.type === 'stop'), `${ctx}: a start and a stop in one chain`).toBe(false);
        const writes = chain.actions.filter((a) => a.type === 'write-claim');
        expect(writes.length, ctx).toBeLessThanOrEqual(1);
        if (writes.length) expect(chain.actions[0]?.type, `${ctx}: the claim write leads its chain`).toBe('write-claim');
        const start = starts[0];
        if (start?.type !== 'start') continue;
        const name = start.environment;
        const d = desired.environments?.find((e) => e.name === name);
        // a start only for a valid ACTIVE environment that matches, on fresh-enough knowledge
        expect(d?.kind === 'valid' && d.matches === true && d.environment.status === 'ACTIVE', ctx).toBe(true);
        expect(o.tasks, ctx).toBeDefined();
        const view = o.claims[name];
        expect(['absent', 'mine', 'takeable'], `${ctx}: start on a claim ${view?.state}`).toContain(view?.state);
        // its token is written by the write right before it
        const write = chain.actions[chain.actions.indexOf(start) - 1];
        expect(
          write?.type === 'write-claim' && write.write.content.attempts.some((a) => a.token === start.token && a.role === start.role),
          `${ctx}: token recorded right before start`,
        ).toBe(true);
        expect(write?.type === 'write-claim' && write.write.expectedRecordVersion, `${ctx}: the write is conditional on the version decided on`).toBe(
          view?.item?.recordVersion,
        );
        // never while a start is expected
        const mem = o.memory[name];
        for (const e of mem?.expectations ?? [])
          expect(t.monoMs - e.issuedMono < options.expectationTimeoutMs && !o.tasks!.some((x) => x.startedBy === e.token), `${ctx}: a start is expected`).toBe(
            false,
          );
        // roles: at most one live task per revision, at most two, the second only while surging
        // live: seen, or found by a look-up of the claim's attempts (and not known as stopped or another's)
        const found = (view?.item?.attempts ?? [])
          .flatMap((a) => (mem?.attempts[a.token]?.lookup?.taskArns ?? []).map((arn) => ({ arn, revision: a.revision })))
          .filter((f) => !o.tasks!.some((x) => x.taskArn === f.arn));
        const liveNow = [...live(name), ...found.map((f) => ({ taskArn: f.arn, revision: f.revision, desiredStatus: 'RUNNING' }))];
        expect(
          liveNow.some((x) => x.revision === start.revision),
          `${ctx}: a live task of revision ${start.revision} exists`,
        ).toBe(false);
        if (start.role === 'current') expect(liveNow, `${ctx}: a current start beside a live task`).toEqual([]);
        else {
          expect(d?.kind === 'valid' && d.revision.deploymentConfiguration.maxSurge !== '0', `${ctx}: next start without surge`).toBe(true);
          expect(liveNow.length, `${ctx}: next start beside ${liveNow.length} live tasks`).toBe(1);
          expect(liveNow[0]!.desiredStatus, ctx).toBe('RUNNING');
        }
        // every attempt in the claim is accounted for: seen, stopped, or looked up
        for (const a of view?.item?.attempts ?? []) {
          const seenLive = o.tasks!.some((x) => x.startedBy === a.token && x.lastStatus !== 'STOPPED');
          const seenStopped = o.tasks!.some((x) => x.startedBy === a.token && x.lastStatus === 'STOPPED');
          if (seenLive || seenStopped) continue;
          const lookup = mem?.attempts[a.token]?.lookup;
          expect(lookup, `${ctx}: attempt ${a.token} started over without a look-up`).toBeDefined();
          // what it found counts among the live tasks above (at most one per revision, the roles)
        }
        // a task the claim records and nobody sees is waited for while ECS may still lag
        for (const rt of [view?.item?.current, view?.item?.next]) {
          if (!rt || o.tasks!.some((x) => x.taskArn === rt.taskArn) || found.some((f) => f.arn === rt.taskArn) || rt.since === undefined) continue;
          expect(t.wallMs - Date.parse(rt.since) >= options.expectationTimeoutMs, `${ctx}: started beside a recorded task not visible yet`).toBe(true);
        }
      }
      const stops = chains.flatMap((c) => c.actions).filter((a): a is Extract<Action, { type: 'stop' }> => a.type === 'stop');
      // never stops for lack of information
      if (!desired.fresh || desired.environments === undefined || o.tasks === undefined || !o.instance.acting) expect(stops, ctx).toEqual([]);
      for (const stop of stops) {
        const t0 = o.tasks?.find((x) => x.taskArn === stop.taskArn);
        const name = stop.environment ?? t0?.environment;
        const d = desired.environments?.find((e) => e.name === name);
        expect(d?.kind, `${ctx}: stopped a task of an invalid environment`).not.toBe('invalid');
        if (d?.kind === 'valid' && d.environment.status === 'ACTIVE' && d.matches !== false) {
          // only a duplicate, a superseded revision or a replaced one, and only with the full picture
          expect(d.matches, ctx).toBe(true);
          const stoppedArns = stops.map((s) => s.taskArn);
          const survivor = live(d.name).some((x) => x.desiredStatus === 'RUNNING' && !stoppedArns.includes(x.taskArn));
          const viaLookup = o.claims[d.name]?.item?.attempts.find((a) => o.memory[d.name]?.attempts[a.token]?.lookup?.taskArns.includes(stop.taskArn));
          const revision = t0?.revision ?? viaLookup?.revision;
          const superseded = revision !== undefined && revision !== d.revision.revision;
          expect(
            survivor || superseded,
            `${ctx}: stopped the only daemon of a wanted environment ${JSON.stringify({ stop, tasks: o.tasks, claim: o.claims[d.name], mem: o.memory[d.name], d: [d.revision.revision, d.revision.deploymentConfiguration.maxSurge] })}`,
          ).toBe(true);
        }
        if (d === undefined) {
          expect(t0?.ours, ctx).toBe(true);
          expect(
            o.orphanSince[stop.taskArn] !== undefined && t.monoMs - o.orphanSince[stop.taskArn]! >= options.orphanGraceMs,
            `${ctx}: orphan stopped before its grace`,
          ).toBe(true);
        }
      }
    }
  });
});
