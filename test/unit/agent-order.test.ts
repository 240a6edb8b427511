// Ordered start (agent/decide/order.ts), through the same pure composition the Reconciler runs
// (agent/decide/step.ts): a daemon starts only after every lower-order daemon wanted here is ready,
// or after that daemon's healthy deadline passed, and then it says why.
import { describe, expect, it } from 'vitest';
import { planDrain } from '../../agent/decide/drain.js';
import { plan } from '../../agent/decide/plan.js';
import { decideStep } from '../../agent/decide/step.js';
import type { Desired, Observed, ObservedTask } from '../../agent/model.js';
import { absent, env, now, observed, options, task } from '../support/decide-fixtures.js';

const NOW = 100_000;
const ordered = (name: string, order: number, deadlineSeconds = 300, matches = true) => {
  const e = env(name);
  return {
    ...e,
    matches,
    revision: { ...e.revision, order, deploymentConfiguration: { ...e.revision.deploymentConfiguration, healthyDeadlineSeconds: deadlineSeconds } },
  };
};
const noDrain = planDrain({
  ecsStatus: 'ACTIVE',
  drainingForMs: 0,
  boundMs: 1,
  tasks: [],
  localView: true,
  desired: { environments: [], fresh: true },
  claims: {},
  closed: true,
});

function run(desired: Desired, tasks: ObservedTask[], notReadySince: Record<string, number> = {}) {
  const claims = Object.fromEntries((desired.environments ?? []).map((e) => [e.name, absent]));
  const o: Observed = observed({ claims, tasks });
  const t = now(NOW);
  const decision = decideStep({ desired, observed: o, now: t, options, drain: noDrain, notReadySince });
  const chains = plan({ decision, observed: o, now: t });
  const started = chains.flatMap((c) => c.actions).flatMap((a) => (a.type === 'start' ? [a.environment] : []));
  const report = (name: string) => decision.environments.find((e) => e.environment === name)!.report;
  const waits = (name: string) => decision.environments.find((e) => e.environment === name)!.intents.filter((i) => i.type === 'wait');
  return { decision, chains, started, report, waits };
}
const three = (deadline = 300): Desired => ({ environments: [ordered('c', 2, deadline), ordered('a', 0, deadline), ordered('b', 1, deadline)], fresh: true });
const ready = (arn: string, environment: string): ObservedTask => task(arn, { environment });
const notHealthy = (arn: string, environment: string): ObservedTask => task(arn, { environment, hasHealthCheck: true, health: 'UNKNOWN' });

describe('ordered start', () => {
  it('a new instance: only the lowest order starts; the others wait and name what they wait for, until its deadline', () => {
    const { started, report, waits, decision } = run(three(), []);
    expect(started).toEqual(['a']);
    // the held ones are named, so that their own deadline starts only once they may start
    expect(decision.heldByOrder?.sort()).toEqual(['b', 'c']);
    expect(report('b')).toMatchObject({ state: 'starting', reason: expect.stringContaining('waiting for a (order 0) to be ready') });
    expect(report('c').reason).toContain('a (order 0), b (order 1)');
    expect(waits('b')).toEqual([expect.objectContaining({ untilMono: NOW + 300_000 })]);
  });

  it.each([
    ['order 0 ready: order 1 starts, order 2 waits for it', [ready('ta', 'a')], {}, ['b'], 'c', 'waiting for b (order 1)'],
    ['order 0 running but not healthy yet: nothing else starts', [notHealthy('ta', 'a')], { a: NOW - 10_000 }, [], 'b', 'waiting for a (order 0)'],
    ['orders 0 and 1 ready: order 2 starts', [ready('ta', 'a'), ready('tb', 'b')], {}, ['c'], undefined, undefined],
  ] as const)('%s', (_name, tasks, since, expected, waiting, why) => {
    const { started, report } = run(three(), [...tasks], { ...since });
    expect(started).toEqual(expected);
    if (waiting) expect(report(waiting).reason).toContain(why);
  });

  it("past the blocker's healthy deadline the next one starts anyway, and says why; the one after waits for it as usual", () => {
    const { started, chains, report } = run(three(5), [notHealthy('ta', 'a')], { a: NOW - 5_000 });
    expect(started).toEqual(['b']);
    const start = chains.flatMap((c) => c.actions).find((a) => a.type === 'start');
    expect(start?.reason).toContain('a (order 0) not ready after its healthy deadline: started without waiting');
    expect(report('b').reason).toContain('a (order 0) not ready after its healthy deadline');
    expect(report('c').reason).toContain('waiting for b (order 1)');
    expect(report('c').reason).not.toContain('a (order 0)');
    // once b runs, its report keeps saying it started without a, while a is not ready
    const later = run(three(5), [notHealthy('ta', 'a'), ready('tb', 'b')], { a: NOW - 60_000 });
    expect(later.report('b').reason).toContain('a (order 0) not ready after its healthy deadline');
    expect(later.started).toEqual(['c']);
    expect(later.decision.heldByOrder).toBeUndefined();
  });

  it("the deadline is the blocking revision's own: a blocker with a long deadline holds longer", () => {
    const desired: Desired = { environments: [ordered('a', 0, 600), ordered('b', 1, 5)], fresh: true };
    expect(run(desired, [notHealthy('ta', 'a')], { a: NOW - 10_000 }).started).toEqual([]);
    expect(run(desired, [notHealthy('ta', 'a')], { a: NOW - 600_000 }).started).toEqual(['b']);
  });

  it('equal orders do not wait for each other; a lower order that does not match here, or is ready, holds nothing', () => {
    expect(run({ environments: [ordered('a', 0), ordered('b', 0)], fresh: true }, []).started).toEqual(['a', 'b']);
    expect(run({ environments: [ordered('a', 0, 300, false), ordered('b', 1)], fresh: true }, []).started).toEqual(['b']);
    // one whose expression cannot be evaluated yet is not known to be wanted here: it holds nothing either
    expect(run({ environments: [{ ...ordered('a', 0), matches: undefined }, ordered('b', 1)], fresh: true }, []).started).toEqual(['b']);
  });

  it('a running higher-order daemon is never stopped by the gate; a restart of it waits like a first start', () => {
    const { chains, report } = run(three(), [notHealthy('ta', 'a'), ready('tb', 'b')], { a: NOW - 1_000 });
    expect(chains.flatMap((c) => c.actions).filter((a) => a.type === 'stop')).toEqual([]);
    expect(report('b').state).toBe('running');
    // b's task stopped by itself: its restart waits for a
    const restart = run(three(), [notHealthy('ta', 'a'), task('tb', { environment: 'b', lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })], {
      a: NOW - 1_000,
    });
    expect(restart.started).toEqual([]);
    expect(restart.report('b').reason).toContain('waiting for a (order 0)');
    // nothing is written for a held start (the claim stays as it is)
    expect(restart.chains.find((c) => c.key === 'b')?.actions.map((a) => a.type)).toEqual(['wait']);
  });
});
