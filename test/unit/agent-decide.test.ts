// The pure decision (agent/decide) and its plan, by example. Properties on random steps are in
// agent-decide-properties.test.ts; the act half, with the same rules end to end, in
// agent-world.test.ts (the seeded world on the real reconcile step) and agent-act.test.ts.
import { describe, expect, it } from 'vitest';
import type { ReplacementBudget } from '../../agent/decide/pace.js';
import { instanceActions } from '../../agent/decide/plan.js';
import { attemptToken } from '../../agent/lease.js';
import type { ClaimView, Desired, Observed } from '../../agent/model.js';
import { initialRestartState } from '../../agent/restart-policy.js';
import {
  absent,
  actionsOf,
  attempt,
  claimItem,
  env,
  heldInstance,
  memory,
  mine,
  now,
  observed,
  one,
  step,
  task,
  types,
  WALL0,
} from '../support/decide-fixtures.js';

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
