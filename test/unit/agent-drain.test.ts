// Daemons last (agent/decide/drain.ts), through the composition the Reconciler runs
// (agent/decide/step.ts, then plan): on a DRAINING instance the daemons outlive every other task,
// then stop in reverse order, one order at a time, their claims released, nothing started.
import { describe, expect, it } from 'vitest';
import { planDrain, type DrainInput } from '../../agent/decide/drain.js';
import { plan } from '../../agent/decide/plan.js';
import { decideStep } from '../../agent/decide/step.js';
import type { Action, ClaimView, Desired, ObservedTask } from '../../agent/model.js';
import { initialRestartState } from '../../agent/restart-policy.js';
import { absent, env, memory, mine, now, observed, options, task } from '../support/decide-fixtures.js';

const H48 = 48 * 3_600_000;
const withOrder = (name: string, order: number) => {
  const e = env(name);
  return { ...e, revision: { ...e.revision, order } };
};
const desired: Desired = { environments: [withOrder('logs', 0), withOrder('metrics', 1), withOrder('security', 2)], fresh: true };
const daemon = (env: string, over: Partial<ObservedTask> = {}) => task(`t-${env}`, { environment: env, ...over });
const replica = (arn: string, over: Partial<ObservedTask> = {}): ObservedTask => ({
  taskArn: arn,
  lastStatus: 'RUNNING',
  desiredStatus: 'RUNNING',
  hasHealthCheck: false,
  ours: false,
  ...over,
});
const claimsOf = (tasks: ObservedTask[], released: string[] = []): Record<string, ClaimView> =>
  Object.fromEntries(
    ['logs', 'metrics', 'security'].map((e) => [
      e,
      released.includes(e) ? absent : mine({ environment: e, current: { taskArn: `t-${e}`, revision: 1, since: '2026-01-01T00:00:00Z' } }),
    ]),
  );

function run(tasks: ObservedTask[], over: Partial<DrainInput> = {}, released: string[] = []) {
  const claims = claimsOf(tasks, released);
  const drain = planDrain({
    ecsStatus: 'DRAINING',
    drainingForMs: 60_000,
    boundMs: H48,
    tasks,
    localView: true,
    desired,
    claims,
    closed: true,
    ...over,
  });
  const o = observed({ claims, tasks });
  const decision = decideStep({ desired, observed: o, now: now(), options, drain, notReadySince: {} });
  const actions = plan({ decision, observed: o, now: now() }).flatMap((c) => c.actions);
  const of = (type: Action['type']) => actions.filter((a) => a.type === type).map((a) => ('environment' in a ? a.environment : undefined));
  return { drain, decision, actions, stops: of('stop'), starts: of('start'), deletes: of('delete-claim') };
}
const all = () => [daemon('logs'), daemon('metrics'), daemon('security')];

describe('daemons last on a DRAINING instance', () => {
  it('an ACTIVE instance: no drain, nothing changes', () => {
    const { drain, stops } = run(all(), { ecsStatus: 'ACTIVE' });
    expect(drain.view).toEqual({ phase: 'none', reason: '' });
    expect(stops).toEqual([]);
  });

  it.each([
    ['a replica still running', [replica('r1')]],
    ['a replica told to stop but still stopping', [replica('r1', { desiredStatus: 'STOPPED' })]],
    ['two replicas, one stopped', [replica('r1'), replica('r2', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })]],
  ])('%s: the daemons keep running (waiting-for-tasks)', (_name, replicas) => {
    const { drain, stops } = run([...all(), ...replicas]);
    expect(drain.view.phase).toBe('waiting-for-tasks');
    expect(drain.view.reason).toMatch(/other task.* still on the instance: daemons keep running \(stopped anyway after 48 h\)/);
    expect(stops).toEqual([]);
  });

  it('while tasks remain, a daemon that died is restarted as usual (the log shipper must outlive them)', () => {
    const tasks = [daemon('logs', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' }), daemon('metrics'), daemon('security'), replica('r1')];
    const claims = claimsOf(tasks);
    const drain = planDrain({ ecsStatus: 'DRAINING', drainingForMs: 1, boundMs: H48, tasks, localView: true, desired, claims, closed: true });
    const o = observed({ claims, tasks, memory: { logs: memory({ restart: { ...initialRestartState(), restartDue: true, notBeforeMono: 0 } }) } });
    const decision = decideStep({ desired, observed: o, now: now(), options, drain, notReadySince: {} });
    expect(plan({ decision, observed: o, now: now() }).flatMap((c) => c.actions.filter((a) => a.type === 'start').map((a) => a.environment))).toEqual(['logs']);
  });

  it('waits when the local view is missing, or before the instance is closed to new work', () => {
    expect(run(all(), { localView: false }).drain.view).toMatchObject({ phase: 'waiting-for-tasks', reason: expect.stringContaining('/v1/tasks') });
    expect(run(all(), { tasks: undefined }).stops).toEqual([]);
    const open = run(all(), { closed: false });
    expect(open.drain.view).toMatchObject({ phase: 'waiting-for-tasks', reason: expect.stringContaining('closing the instance') });
    expect(open.stops).toEqual([]);
  });

  it('no other task left: the highest order stops first, the lower ones wait for it, nothing starts', () => {
    const { drain, stops, starts, decision } = run([...all(), replica('r1', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })]);
    expect(drain.view.phase).toBe('stopping-daemons');
    expect(drain.view.reason).toContain('no other task left: stopping security (order 2); then logs, metrics');
    expect(stops).toEqual(['security']);
    expect(starts).toEqual([]);
    expect(decision.environments.find((e) => e.environment === 'metrics')?.report.reason).toContain('waits for security (order 2) to stop first');
  });

  it('the next order stops only once the previous one has stopped; its claim is released then', () => {
    // security still stopping: nothing else stops
    expect(run([daemon('logs'), daemon('metrics'), daemon('security', { desiredStatus: 'STOPPED' })]).stops).toEqual([]);
    // security stopped: its claim goes, metrics stops, logs waits
    const next = run([daemon('logs'), daemon('metrics'), daemon('security', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })]);
    expect(next.stops).toEqual(['metrics']);
    expect(next.deletes).toEqual(['security']);
    const last = run([daemon('logs'), daemon('metrics', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })], {}, ['security']);
    expect(last.stops).toEqual(['logs']);
    expect(last.deletes).toEqual(['metrics']);
  });

  it('drained once every daemon stopped and every claim was released; a daemon that dies meanwhile is not restarted', () => {
    const stopped = [daemon('logs', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })];
    const releasing = run(stopped, {}, ['metrics', 'security']);
    expect(releasing.drain.view.phase).toBe('stopping-daemons');
    expect(releasing.drain.view.reason).toContain('releasing the claims of logs');
    expect(releasing.deletes).toEqual(['logs']);
    expect(releasing.starts).toEqual([]);
    const done = run(stopped, {}, ['logs', 'metrics', 'security']);
    expect(done.drain.view).toEqual({ phase: 'drained', reason: 'every daemon stopped and its claim released (no other task left)' });
    expect(done.actions.filter((a) => a.type !== 'wait')).toEqual([]);
  });

  it('past the drain bound the daemons stop anyway, and the reason says so', () => {
    const { drain, stops } = run([...all(), replica('r1')], { drainingForMs: H48 });
    expect(drain.view.phase).toBe('stopping-daemons');
    expect(drain.view.reason).toContain('drain bound of 48 h passed with 1 other task(s) still running: daemons stopped anyway');
    expect(stops).toEqual(['security']);
  });

  it('set ACTIVE again mid-drain: the daemons start again, in order', () => {
    const { drain, starts, decision } = run([daemon('logs')], { ecsStatus: 'ACTIVE' }, ['metrics', 'security']);
    expect(drain.view.phase).toBe('none');
    expect(starts).toEqual(['metrics']);
    expect(decision.environments.find((e) => e.environment === 'security')?.report.reason).toContain('waiting for metrics (order 1)');
  });

  it('a stale desired state stops nothing', () => {
    const drain = planDrain({
      ecsStatus: 'DRAINING',
      drainingForMs: H48,
      boundMs: H48,
      tasks: all(),
      localView: true,
      desired: { ...desired, fresh: false },
      claims: {},
      closed: true,
    });
    expect(drain.view.phase).toBe('waiting-for-tasks');
    expect(drain.stop.size).toBe(0);
  });
});
