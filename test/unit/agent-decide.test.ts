import { describe, expect, it } from 'vitest';
import { DEFAULT_DEPLOYMENT_CONFIGURATION, DEFAULT_RESTART_POLICY, type Environment, type EnvironmentRevision } from '../../core/records.js';
import { attemptToken, decide } from '../../agent/decide.js';
import { judgeLease, type LeaseItem, type LeaseView } from '../../agent/lease.js';
import type { Action, Desired, DesiredEnvironment, Now, Observed, ObservedTask } from '../../agent/model.js';
import { initialRestartState } from '../../agent/restart-policy.js';
import { pick, seeded } from '../support/prng.js';

const ME = 'me:1:aaaa';
const options = { orphanGraceMs: 10_000, attemptSettleMs: 5_000, expectationTimeoutMs: 60_000 };

function env(name: string, over: Partial<Environment> = {}, rev = 1, taskDefinition = `${name}:1`): DesiredEnvironment & { kind: 'valid' } {
  const environment: Environment = { kind: 'Environment', schemaVersion: 1, name, cluster: 'c', status: 'ACTIVE', health: 'unknown', currentRevision: rev, latestRevision: rev, token: 't', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', ...over };
  const revision: EnvironmentRevision = { kind: 'EnvironmentRevision', schemaVersion: 1, environment: name, revision: rev, taskDefinition, instanceGroup: { cluster: 'c' }, deploymentConfiguration: DEFAULT_DEPLOYMENT_CONFIGURATION, restartPolicy: DEFAULT_RESTART_POLICY, critical: false, order: 0, createdAt: '2026-01-01T00:00:00Z' };
  return { name, kind: 'valid', environment, revision, matches: true, matchReason: 'matches' };
}
const observed = (over: Partial<Observed> = {}): Observed => ({ leases: {}, renewDue: {}, tasks: [], pending: {}, lookups: {}, attemptFirstSeen: {}, restart: {}, startBackoff: {}, orphanSince: {}, ...over });
const now = (monoMs = 100_000): Now => ({ wallMs: 1_700_000_000_000 + monoMs, monoMs, nonce: 'n0nce0000000000x' });
const leaseItem = (over: Partial<LeaseItem> = {}): LeaseItem => ({ kind: 'Lease', schemaVersion: 1, environment: 'logs', containerInstanceId: 'ci', owner: ME, recordVersion: 'v1', leaseDurationMs: 30_000, released: false, updatedAt: 'x', ...over });
const mine = (over: Partial<LeaseItem> = {}): LeaseView => ({ state: 'mine', item: leaseItem(over), reason: 'mine' });
const task = (arn: string, over: Partial<ObservedTask> = {}): ObservedTask => ({ taskArn: arn, environment: 'logs', revision: 1, lastStatus: 'RUNNING', desiredStatus: 'RUNNING', hasHealthCheck: false, ours: true, ...over });
const types = (actions: Action[]) => actions.map((a) => a.type);

describe('decide: examples', () => {
  it('a new matching instance: acquire the lease, then (with the item that came back) write the attempt token and start with it', () => {
    const first = decide({ environments: [env('logs')], fresh: true }, observed(), now(), options);
    expect(types(first.actions)).toEqual(['acquire-lease']);
    expect(first.reports[0]?.state).toBe('starting');
    const plan = decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: mine() }, renewDue: { logs: false } }), now(), options);
    expect(types(plan.actions)).toEqual(['record-attempt', 'start']);
    const [record, start] = plan.actions;
    expect(record?.type === 'record-attempt' && start?.type === 'start' && record.token === start.token).toBe(true);
    expect(start?.type === 'start' && start.token.length).toBeLessThanOrEqual(36);
    expect(plan.reports[0]?.state).toBe('starting');
  });
  it('an unknown lease is only acquired: a released lease may come back with a previous attempt to look up first', () => {
    const running = decide({ environments: [env('logs')], fresh: true }, observed({ tasks: [task('t1')] }), now(), options);
    expect(types(running.actions)).toEqual(['acquire-lease']);
    const released = mine({ released: false, attempt: { token: 'bx-old', revision: 1, issuedAt: 'x' } });
    const next = decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: released } }), now(), options);
    expect(types(next.actions)).toEqual(['lookup-attempt']);
  });
  it('the heartbeat comes first whenever it is due, also while waiting or stopping (a slow or failing step never holds it up)', () => {
    const due = { leases: { logs: mine({ attempt: { token: 'bx-a', revision: 1, issuedAt: 'x' } }) }, renewDue: { logs: true } };
    const waiting = decide({ environments: [env('logs')], fresh: true }, observed({ ...due, pending: { logs: { token: 'bx-a', revision: 1, issuedMono: 99_000 } } }), now(), options);
    expect(types(waiting.actions)).toEqual(['renew-lease', 'wait']);
    const resolving = decide({ environments: [env('logs')], fresh: true }, observed(due), now(), options);
    expect(types(resolving.actions)).toEqual(['renew-lease', 'lookup-attempt']);
    const held = { leases: { logs: mine({ taskArn: 't1' }) }, renewDue: { logs: true } };
    const replacing = decide({ environments: [env('logs', {}, 2)], fresh: true }, observed({ ...held, tasks: [task('t1')] }), now(), options);
    expect(types(replacing.actions)).toEqual(['renew-lease', 'stop']);
    const stopping = decide({ environments: [env('logs', {}, 2)], fresh: true }, observed({ ...held, tasks: [task('t1', { desiredStatus: 'STOPPED' })] }), now(), options);
    expect(types(stopping.actions)).toEqual(['renew-lease', 'wait']);
  });
  it('stops and look-ups of an environment wait out its ECS backoff; its heartbeat does not', () => {
    const held = { leases: { logs: mine({ taskArn: 't1' }) }, renewDue: { logs: true }, ecsBackoff: { logs: { untilMono: 103_000, attempts: 2, reason: 'ThrottlingException' } } };
    const plan = decide({ environments: [env('logs', {}, 2)], fresh: true }, observed({ ...held, tasks: [task('t1')] }), now(), options);
    expect(plan.actions).toEqual([expect.objectContaining({ type: 'renew-lease' }), expect.objectContaining({ type: 'wait', untilMono: 103_000, reason: expect.stringMatching(/stop held 3000 ms: ECS backoff after ThrottlingException/) })]);
    const later = decide({ environments: [env('logs', {}, 2)], fresh: true }, observed({ ...held, tasks: [task('t1')] }), now(103_000), options);
    expect(types(later.actions)).toEqual(['renew-lease', 'stop']);
  });
  it('several environments each get their own start', () => {
    const held = { leases: { logs: mine(), metrics: mine({ environment: 'metrics' }) }, renewDue: { logs: false, metrics: false } };
    const plan = decide({ environments: [env('logs'), env('metrics')], fresh: true }, observed(held), now(), options);
    const starts = plan.actions.filter((a) => a.type === 'start');
    expect(starts.map((a) => a.environment).sort()).toEqual(['logs', 'metrics']);
    expect(new Set(starts.map((a) => a.type === 'start' && a.token)).size).toBe(2);
  });
  it('a non-matching instance gets nothing; a matching one that stops matching stops its daemon, then releases', () => {
    const noMatch = { ...env('logs'), matches: false, matchReason: 'expression false' };
    expect(decide({ environments: [noMatch], fresh: true }, observed(), now(), options).actions).toEqual([]);
    const stop = decide({ environments: [noMatch], fresh: true }, observed({ leases: { logs: mine({ taskArn: 't1' }) }, tasks: [task('t1')] }), now(), options);
    expect(types(stop.actions)).toEqual(['stop']);
    const release = decide({ environments: [noMatch], fresh: true }, observed({ leases: { logs: mine({ taskArn: 't1' }) }, tasks: [task('t1', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })] }), now(), options);
    expect(types(release.actions)).toEqual(['release-lease']);
  });
  it('a running daemon is kept and its lease renewed when due; a steady state plans nothing else', () => {
    const o = observed({ leases: { logs: mine({ taskArn: 't1' }) }, tasks: [task('t1')] });
    expect(decide({ environments: [env('logs')], fresh: true }, o, now(), options).actions).toEqual([]);
    expect(types(decide({ environments: [env('logs')], fresh: true }, { ...o, renewDue: { logs: true } }, now(), options).actions)).toEqual(['renew-lease']);
  });
  it('an unresolved attempt is looked up before anything is started, and its task adopted', () => {
    const lease = mine({ attempt: { token: 'bx-1', revision: 1, issuedAt: 'x' } });
    const first = decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: lease }, attemptFirstSeen: { 'bx-1': 0 } }), now(), options);
    expect(types(first.actions)).toEqual(['lookup-attempt']);
    const found = decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: lease }, attemptFirstSeen: { 'bx-1': 0 }, lookups: { 'bx-1': { token: 'bx-1', taskArns: ['t9'], atMono: 100_000 } } }), now(), options);
    expect(found.actions).toMatchObject([{ type: 'adopt', taskArn: 't9' }]);
    const voidAttempt = decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: lease }, attemptFirstSeen: { 'bx-1': 0 }, lookups: { 'bx-1': { token: 'bx-1', taskArns: [], atMono: 100_000 } } }), now(), options);
    expect(types(voidAttempt.actions)).toEqual(['record-attempt', 'start']);
  });
  it('a lookup finding nothing too soon after the attempt was seen proves nothing: wait and look again', () => {
    const lease = mine({ attempt: { token: 'bx-1', revision: 1, issuedAt: 'x' } });
    const plan = decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: lease }, attemptFirstSeen: { 'bx-1': 99_000 }, lookups: { 'bx-1': { token: 'bx-1', taskArns: [], atMono: 99_500 } } }), now(100_000), options);
    expect(types(plan.actions)).toEqual(['wait']);
  });
  it('a start issued but not observed yet (slow ECS) is waited for, never repeated', () => {
    const lease = mine({ attempt: { token: 'bx-1', revision: 1, issuedAt: 'x' } });
    const plan = decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: lease }, pending: { logs: { token: 'bx-1', revision: 1, issuedMono: 90_000 } } }), now(), options);
    expect(types(plan.actions)).toEqual(['wait']);
  });
  it('another agent holding the lease: this one does nothing', () => {
    const other: LeaseView = judgeLease(leaseItem({ owner: 'other' }), ME, undefined, 0);
    expect(decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: other } }), now(), options).actions).toEqual([]);
  });
  it('an expired lease is taken conditionally on the record version that was watched', () => {
    const view = judgeLease(leaseItem({ owner: 'dead', recordVersion: 'v7' }), ME, { recordVersion: 'v7', firstSeenMono: 0 }, 40_000);
    const plan = decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: view } }), now(), options);
    expect(plan.actions[0]).toMatchObject({ type: 'acquire-lease', expectedRecordVersion: 'v7' });
  });
  it('restart backoff and StartTask backoff wait', () => {
    const restart = { logs: { ...initialRestartState(), recentStops: [99_000], notBeforeMono: 101_000, restartDue: true } };
    expect(types(decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: mine() }, restart }), now(), options).actions)).toEqual(['wait']);
    const later = decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: mine() }, restart }), now(101_000), options);
    expect(types(later.actions)).toEqual(['record-attempt', 'start']);
    expect(later.actions[1]?.reason).toMatch(/restart/);
    const startBackoff = { logs: { untilMono: 150_000, attempts: 2, reason: 'RESOURCE:MEMORY' } };
    expect(types(decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: mine() }, startBackoff }), now(), options).actions)).toEqual(['wait']);
  });
  it('environment DELETING: stop with a reason; environment gone from the list: orphans stopped after the grace', () => {
    const deleting = env('logs', { status: 'DELETING' });
    expect(decide({ environments: [deleting], fresh: true }, observed({ leases: { logs: mine({ taskArn: 't1' }) }, tasks: [task('t1')] }), now(), options).actions).toMatchObject([{ type: 'stop', taskArn: 't1', reason: expect.stringMatching(/DELETING/) }]);
    const early = decide({ environments: [], fresh: true }, observed({ tasks: [task('t1')], orphanSince: { t1: 95_000 } }), now(), options);
    expect(early.actions).toEqual([]);
    expect(early.unclaimed).toEqual(['t1']);
    const late = decide({ environments: [], fresh: true }, observed({ tasks: [task('t1')], orphanSince: { t1: 80_000 } }), now(), options);
    expect(late.actions).toMatchObject([{ type: 'stop', taskArn: 't1' }]);
  });
  it('never stops for lack of information: stale list, invalid record, unknown match, unseen tasks', () => {
    const o = observed({ leases: { logs: mine({ taskArn: 't1' }) }, tasks: [task('t1'), task('t2')], orphanSince: { t1: 0, t2: 0 } });
    expect(decide({ environments: [], fresh: false }, o, now(), options).actions.filter((a) => a.type === 'stop')).toEqual([]);
    expect(decide({ environments: undefined, fresh: false }, o, now(), options).actions).toEqual([]);
    const invalid = decide({ environments: [{ name: 'logs', kind: 'invalid', error: 'bad' }], fresh: true }, o, now(), options);
    expect(invalid.actions.filter((a) => a.type === 'stop')).toEqual([]);
    expect(invalid.reports[0]?.state).toBe('invalid');
    const unknownMatch = { ...env('logs'), matches: undefined, matchReason: 'attributes not read' };
    expect(decide({ environments: [unknownMatch], fresh: true }, o, now(), options).actions.filter((a) => a.type === 'stop')).toEqual([]);
    expect(decide({ environments: [env('logs', { status: 'DELETING' })], fresh: true }, { ...o, tasks: undefined }, now(), options).actions).toEqual([]);
  });
  it('duplicates found: keep the one the lease records, stop the others', () => {
    const plan = decide({ environments: [env('logs')], fresh: true }, observed({ leases: { logs: mine({ taskArn: 't2' }) }, tasks: [task('t1'), task('t2')] }), now(), options);
    expect(plan.actions).toMatchObject([{ type: 'stop', taskArn: 't1', reason: expect.stringMatching(/duplicate/) }]);
  });
  it('tokens are unique per environment and at most 36 characters', () => {
    expect(attemptToken('abcdefghijklmnopqrstuvwxyz', 'x'.repeat(64)).length).toBeLessThanOrEqual(36);
    expect(attemptToken('n', 'a')).not.toBe(attemptToken('n', 'b'));
    expect(attemptToken('n', 'a')).toMatch(/^[a-zA-Z0-9_-]+$/);
  });
});

// ---- property tests: random single steps ----

const STATUSES = ['PROVISIONING', 'PENDING', 'RUNNING', 'STOPPED'] as const;

function randomStep(random: () => number): { desired: Desired; observed: Observed; now: Now } {
  const names = ['a', 'b', 'c'];
  const environments: DesiredEnvironment[] = [];
  for (const name of names) {
    const r = random();
    if (r < 0.15) continue;
    if (r < 0.3) environments.push({ name, kind: 'invalid', error: 'bad field' });
    else {
      const e = env(name, { status: pick(random, ['ACTIVE', 'ACTIVE', 'ACTIVE', 'INACTIVE', 'DELETING'] as const) }, 1 + Math.floor(random() * 2));
      environments.push({ ...e, matches: pick(random, [true, true, false, undefined]) });
    }
  }
  const desired: Desired = random() < 0.1 ? { environments: undefined, fresh: false } : { environments, fresh: random() < 0.75 };
  const tasks: ObservedTask[] = [];
  const n = Math.floor(random() * 4);
  for (let i = 0; i < n; i++) {
    const last = pick(random, STATUSES);
    tasks.push({ taskArn: `t${i}`, environment: random() < 0.9 ? pick(random, names) : undefined, revision: 1 + Math.floor(random() * 2), startedBy: random() < 0.5 ? `bx-${i}` : undefined, lastStatus: last, desiredStatus: last === 'STOPPED' || random() < 0.2 ? 'STOPPED' : 'RUNNING', hasHealthCheck: random() < 0.3, ours: random() < 0.9 });
  }
  const leases: Record<string, LeaseView> = {};
  const pending: Observed['pending'] = {};
  const lookups: Observed['lookups'] = {};
  for (const name of names) {
    const r = random();
    const attempt = random() < 0.3 ? { token: `bx-${Math.floor(random() * 4)}`, revision: 1, issuedAt: 'x' } : undefined;
    const base = leaseItem({ environment: name, ...(attempt ? { attempt } : {}), ...(random() < 0.5 ? { taskArn: `t${Math.floor(random() * 4)}` } : {}) });
    if (r < 0.2) continue;
    if (r < 0.5) leases[name] = { state: 'mine', item: base, reason: 'mine' };
    else if (r < 0.65) leases[name] = { state: 'other', item: { ...base, owner: 'x' }, reason: 'other' };
    else if (r < 0.8) leases[name] = { state: 'expired', item: { ...base, owner: 'x' }, reason: 'expired' };
    else if (r < 0.9) leases[name] = { state: 'free', reason: 'none' };
    else leases[name] = { state: 'unknown', reason: '?' };
    if (attempt && random() < 0.3) pending[name] = { token: attempt.token, revision: 1, issuedMono: 100_000 - Math.floor(random() * 120_000) };
    if (attempt && random() < 0.5) lookups[attempt.token] = { token: attempt.token, taskArns: random() < 0.5 ? [`t${Math.floor(random() * 5)}`] : [], atMono: 100_000 - Math.floor(random() * 10_000), conclusive: random() < 0.3 };
  }
  const orphanSince: Record<string, number> = {};
  for (const t of tasks) if (random() < 0.5) orphanSince[t.taskArn] = 100_000 - Math.floor(random() * 20_000);
  const observedState = observed({ leases, tasks: random() < 0.1 ? undefined : tasks, pending, lookups, orphanSince, renewDue: { a: random() < 0.5, b: random() < 0.5, c: random() < 0.5 } });
  return { desired, observed: observedState, now: now(100_000) };
}

describe('decide: properties (seeded)', () => {
  it('holds its safety invariants on 20,000 random steps', () => {
    for (let seed = 1; seed <= 20_000; seed++) {
      const random = seeded(seed);
      const { desired, observed: o, now: t } = randomStep(random);
      const plan = decide(desired, o, t, options);
      const ctx = `seed ${seed}`;
      const byEnv = new Map<string, Action[]>();
      for (const a of plan.actions) if (a.environment !== undefined) byEnv.set(a.environment, [...(byEnv.get(a.environment) ?? []), a]);
      for (const [name, actions] of byEnv) {
        const starts = actions.filter((a) => a.type === 'start');
        // never two tasks for one (environment, instance)
        expect(starts.length, ctx).toBeLessThanOrEqual(1);
        const start = starts[0];
        if (start?.type === 'start') {
          const d = desired.environments?.find((e) => e.name === name);
          // never starts on a non-matching instance, nor for anything but a valid ACTIVE environment
          expect(d?.kind === 'valid' && d.matches === true && d.environment.status === 'ACTIVE', ctx).toBe(true);
          expect(o.tasks, ctx).toBeDefined();
          expect(o.tasks!.some((x) => x.environment === name && x.lastStatus !== 'STOPPED'), `${ctx}: a task of ${name} exists`).toBe(false);
          const p = o.pending[name];
          expect(p !== undefined && t.monoMs - p.issuedMono < options.expectationTimeoutMs && !o.tasks!.some((x) => x.startedBy === p.token), `${ctx}: a start is expected`).toBe(false);
          const lease = o.leases[name];
          expect(lease?.state, ctx).not.toBe('other');
          const idx = actions.indexOf(start);
          const before = actions.slice(0, idx);
          expect(before.some((a) => a.type === 'record-attempt' && a.token === start.token), `${ctx}: token recorded before start`).toBe(true);
          if (lease?.state !== 'mine') expect(before[0]?.type, ctx).toBe('acquire-lease');
          expect(start.token.length).toBeLessThanOrEqual(36);
          const attempt = lease?.item?.attempt;
          if (attempt) {
            const lookup = o.lookups[attempt.token];
            const gone = (arn: string) => o.tasks!.some((x) => x.taskArn === arn && (x.lastStatus === 'STOPPED' || x.environment !== name));
            const seenStopped = o.tasks!.some((x) => x.startedBy === attempt.token && x.lastStatus === 'STOPPED');
            if (seenStopped) continue;
            expect(lookup !== undefined && lookup.taskArns.every(gone), `${ctx}: unresolved attempt started over without proof`).toBe(true);
            expect(lookup!.taskArns.length > 0 || lookup!.conclusive || lookup!.atMono - (o.attemptFirstSeen[attempt.token] ?? t.monoMs) >= options.attemptSettleMs, `${ctx}: lookup too early to prove the attempt void`).toBe(true);
          }
        }
      }
      const stops = plan.actions.filter((a) => a.type === 'stop');
      // never stops for lack of information
      if (!desired.fresh || desired.environments === undefined || o.tasks === undefined) expect(stops, ctx).toEqual([]);
      for (const stop of stops) {
        if (stop.type !== 'stop') continue;
        const t0 = o.tasks?.find((x) => x.taskArn === stop.taskArn);
        const envName = stop.environment ?? t0?.environment;
        const d = desired.environments?.find((e) => e.name === envName);
        expect(d?.kind, `${ctx}: stopped a task of an invalid environment`).not.toBe('invalid');
        if (d?.kind === 'valid' && d.environment.status === 'ACTIVE' && d.matches !== false) {
          // only a duplicate or a superseded revision, and only with the full picture
          expect(d.matches, ctx).toBe(true);
          const attemptRevision = Object.values(o.lookups).some((l) => l.taskArns.includes(stop.taskArn)) ? o.leases[d.name]?.item?.attempt?.revision : undefined;
          const taskRevision = t0?.revision ?? attemptRevision;
          const superseded = taskRevision !== undefined && taskRevision !== d.revision.revision;
          const others = plan.actions.filter((a) => a.type === 'stop').map((a) => (a as { taskArn: string }).taskArn);
          const attemptArns = Object.values(o.lookups).flatMap((l) => l.taskArns);
          const survivor = (o.tasks ?? []).some((x) => x.environment === envName && x.lastStatus !== 'STOPPED' && x.desiredStatus !== 'STOPPED' && !others.includes(x.taskArn)) || attemptArns.some((arn) => !others.includes(arn));
          expect(superseded || survivor, `${ctx}: stopped the only daemon of a wanted environment ${JSON.stringify({ stop, o, d: desired.environments?.map((e) => e.kind === 'valid' ? [e.name, e.environment.status, e.matches, e.revision.revision] : e) })}`).toBe(true);
        }
        if (d === undefined) {
          expect(t0?.ours, ctx).toBe(true);
          expect(t0 && o.orphanSince[t0.taskArn] !== undefined && t.monoMs - o.orphanSince[t0.taskArn]! >= options.orphanGraceMs, `${ctx}: orphan stopped before its grace`).toBe(true);
        }
      }
    }
  });
});

// ---- property test: a small world over many steps, with crashes, slow ECS and two agents ----

interface WorldTask { arn: string; startedBy: string; revision: number; stopped: boolean; visibleAt: number }

describe('decide: simulated world (seeded)', () => {
  it('two agents, crashes between any two calls, slow ECS: never two live tasks, and one converges', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const random = seeded(seed * 7919);
      let lease: LeaseItem | null = null;
      const tasks: WorldTask[] = [];
      let arnSeq = 0;
      let step = 0;
      const desired: Desired = { environments: [env('logs')], fresh: true };
      // A restarted agent keeps its owner name when it restarts on its own state directory (half the time here).
      const newAgent = (id: number, owner?: string) => ({ owner: owner ?? `agent-${id}-${Math.floor(random() * 1e9)}`, view: undefined as LeaseView | undefined, lastWrite: undefined as number | undefined, pending: {} as Observed['pending'], lookups: {} as Observed['lookups'], firstSeen: {} as Record<string, number> });
      const restarted = (id: number) => newAgent(id, random() < 0.5 ? agents[id]!.owner : undefined);
      const agents = [newAgent(0), newAgent(1)];
      const LEASE_MS = 10_000;
      const version = () => `v${Math.floor(random() * 1e12)}`;
      for (step = 0; step < 300; step++) {
        const mono = step * 1000;
        const i = random() < 0.5 ? 0 : 1;
        const quiet = step > 200; // no more crashes: liveness must follow
        const agent = agents[i]!;
        const visible: ObservedTask[] = tasks.filter((t) => t.visibleAt <= mono).map((t) => ({ taskArn: t.arn, environment: 'logs', revision: t.revision, startedBy: t.startedBy, lastStatus: t.stopped ? 'STOPPED' : 'RUNNING', desiredStatus: t.stopped ? 'STOPPED' : 'RUNNING', hasHealthCheck: false, ours: true }));
        for (const [env2, p] of Object.entries(agent.pending)) if (visible.some((t) => t.startedBy === p.token)) delete agent.pending[env2];
        // observe: a lease held by someone else is read again (GetItem) to watch its record version
        if (agent.view && agent.view.state !== 'mine') agent.view = judgeLease(lease, agent.owner, agent.view.sighting, mono);
        if (agent.view?.item?.attempt && agent.firstSeen[agent.view.item.attempt.token] === undefined) agent.firstSeen[agent.view.item.attempt.token] = mono;
        const o = observed({ leases: agent.view ? { logs: agent.view } : {}, renewDue: { logs: agent.lastWrite === undefined || mono - agent.lastWrite >= LEASE_MS / 3 }, tasks: visible, pending: agent.pending, lookups: agent.lookups, attemptFirstSeen: agent.firstSeen });
        const plan = decide(desired, o, { wallMs: mono, monoMs: mono, nonce: `${seed}s${step}`.padEnd(16, 'x') }, options);
        const ownsIt = () => lease !== null && lease.owner === agent.owner && lease.recordVersion === agent.view?.item?.recordVersion;
        const conflict = () => {
          const prev = agent.view?.sighting;
          agent.view = judgeLease(lease, agent.owner, prev, mono);
          if (agent.view.item?.attempt && agent.firstSeen[agent.view.item.attempt.token] === undefined) agent.firstSeen[agent.view.item.attempt.token] = mono;
          return false;
        };
        const write = (next: LeaseItem | null) => {
          lease = next;
          agent.view = next ? { state: 'mine', item: next, reason: 'mine' } : undefined;
          agent.lastWrite = mono;
          return true;
        };
        let crashed = false;
        for (const action of plan.actions) {
          let ok = true;
          if (!quiet && random() < 0.03) { agents[i] = restarted(i); crashed = true; break; }
          if (!quiet && random() < 0.02) {
            // a clean stop (SIGTERM) between two calls: its lease is released, attempt and task kept
            if (ownsIt()) lease = { ...lease!, released: true, recordVersion: version() };
            agents[i] = restarted(i);
            crashed = true;
            break;
          }
          switch (action.type) {
            case 'acquire-lease': {
              const current = lease as LeaseItem | null;
              // as the adapter: with a version, exactly that item (or none); without, none or a released one
              const free = current === null || (action.expectedRecordVersion !== undefined ? current.recordVersion === action.expectedRecordVersion : current.released);
              ok = free ? write({ ...(current ?? leaseItem()), owner: agent.owner, recordVersion: version(), released: false, leaseDurationMs: LEASE_MS }) : conflict();
              break;
            }
            case 'renew-lease': ok = ownsIt() ? write({ ...lease!, recordVersion: version() }) : conflict(); break;
            case 'record-attempt': ok = ownsIt() ? write({ ...lease!, recordVersion: version(), attempt: { token: action.token, revision: action.revision, issuedAt: new Date(mono).toISOString() } }) : conflict(); if (ok) agent.firstSeen[action.token] = mono; break;
            case 'start': {
              if (random() < 0.1) { ok = false; agent.lookups[action.token] = { token: action.token, taskArns: [], atMono: mono, conclusive: true }; break; } // RESOURCE failure
              // ECS may take longer than the settle time to show a start (up to 8 s here, settle is 5 s)
              tasks.push({ arn: `t${++arnSeq}`, startedBy: action.token, revision: action.revision, stopped: false, visibleAt: mono + Math.floor(random() * 8000) });
              agent.pending.logs = { token: action.token, revision: action.revision, issuedMono: mono };
              // the worst moment for a crash (the fault hook's): StartTask sent, the task not visible yet
              if (!quiet && random() < 0.15) crashed = true;
              break;
            }
            case 'lookup-attempt': agent.lookups[action.token] = { token: action.token, taskArns: tasks.filter((t) => t.startedBy === action.token && t.visibleAt <= mono).map((t) => t.arn), atMono: mono }; break;
            case 'adopt': { if (ownsIt()) { const { attempt: _a, ...rest } = lease!; ok = write({ ...rest, recordVersion: version(), taskArn: action.taskArn }); } else ok = conflict(); break; }
            case 'stop': { const t = tasks.find((x) => x.arn === action.taskArn); if (t) t.stopped = true; break; }
            case 'release-lease': ok = ownsIt() ? write(null) : conflict(); break;
            case 'wait': break;
          }
          const live = tasks.filter((t) => !t.stopped);
          expect(live.length, `seed ${seed} step ${step}: ${JSON.stringify(tasks)}`).toBeLessThanOrEqual(1);
          if (crashed) {
            agents[i] = restarted(i);
            break;
          }
          if (!ok) break;
        }
        // the daemon sometimes dies by itself
        if (!quiet && random() < 0.02) { const t = tasks.find((x) => !x.stopped); if (t) t.stopped = true; }
      }
      expect(tasks.filter((t) => !t.stopped).length, `seed ${seed}: converged to one daemon`).toBe(1);
    }
  });
});
