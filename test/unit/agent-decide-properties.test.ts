// The pure decision (agent/decide) and its plan: safety properties on 20,000 random steps; the
// ordered start and the drain (agent/decide/step.ts) on top of them on 10,000 more.
import { describe, expect, it } from 'vitest';
import { decide } from '../../agent/decide/decide.js';
import { planDrain } from '../../agent/decide/drain.js';
import { plan } from '../../agent/decide/plan.js';
import { decideStep } from '../../agent/decide/step.js';
import type { Action, ClaimView, Desired, DesiredEnvironment, EnvMemoryView, Now, Observed, ObservedTask } from '../../agent/model.js';
import { initialRestartState } from '../../agent/restart-policy.js';
import { pick, seeded } from '../support/prng.js';
import { absent, acting, claimItem, env, memory, now, observed, options, WALL0 } from '../support/decide-fixtures.js';

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

describe('ordered start and daemons last: properties on 10,000 random steps (seeded)', () => {
  const H = 3_600_000;
  it('hold their rules on top of decide and plan', () => {
    const phases: Record<string, number> = {};
    let orderedStarts = 0;
    for (let seed = 1; seed <= 10_000; seed++) {
      const random = seeded(seed * 7 + 3);
      const { desired: raw, observed: o, now: t } = randomStep(random);
      const desired: Desired = raw.environments
        ? {
            ...raw,
            environments: raw.environments.map((e) =>
              e.kind === 'valid'
                ? {
                    ...e,
                    revision: {
                      ...e.revision,
                      order: Math.floor(random() * 3),
                      deploymentConfiguration: { ...e.revision.deploymentConfiguration, healthyDeadlineSeconds: 1 + Math.floor(random() * 60) },
                    },
                  }
                : e,
            ),
          }
        : raw;
      const notReadySince: Record<string, number> = {};
      for (const name of NAMES) if (random() < 0.6) notReadySince[name] = t.monoMs - Math.floor(random() * 90_000);
      const input = {
        ecsStatus: random() < 0.7 ? 'DRAINING' : 'ACTIVE',
        drainingForMs: random() < 0.2 ? 48 * H : Math.floor(random() * H),
        boundMs: 48 * H,
        tasks: o.tasks,
        localView: random() < 0.9,
        desired,
        claims: o.claims,
        closed: random() < 0.8,
      };
      const drain = planDrain(input);
      const noDrain = planDrain({ ...input, ecsStatus: 'ACTIVE' });
      const run = (d: typeof drain) => {
        const decision = decideStep({ desired, observed: o, now: t, options, drain: d, notReadySince });
        return { decision, actions: plan({ decision, observed: o, now: t }).flatMap((c) => c.actions) };
      };
      const drained = run(drain);
      const base = run(noDrain);
      const ctx = `seed ${seed}: ${drain.view.phase} ${drain.view.reason}`;
      phases[drain.view.phase] = (phases[drain.view.phase] ?? 0) + 1;
      const orderOf = (name: string | undefined) => {
        const d = desired.environments?.find((e) => e.name === name);
        return d?.kind === 'valid' ? d.revision.order : undefined;
      };
      const others = (o.tasks ?? []).filter((x) => !x.ours && x.environment === undefined && x.lastStatus !== 'STOPPED');
      // while other tasks run (and the bound has not passed), or before the instance is closed, the drain changes nothing
      if (
        input.ecsStatus === 'DRAINING' &&
        ((others.length > 0 && input.drainingForMs < input.boundMs) || (!input.closed && input.drainingForMs < input.boundMs))
      )
        expect(drained.actions, ctx).toEqual(base.actions);
      if (drain.view.phase === 'none' || drain.view.phase === 'waiting-for-tasks') expect(drained.actions, ctx).toEqual(base.actions);
      if (drain.view.phase === 'stopping-daemons' || drain.view.phase === 'drained') {
        expect(
          drained.actions.filter((a) => a.type === 'start'),
          `${ctx}: a start while the drain stops daemons`,
        ).toEqual([]);
        // a stop the drain adds is of the highest order still live, never below a live higher order
        // live: a task seen not STOPPED, a start in flight, or a task the claim records not seen STOPPED
        const liveEnvs = new Set((o.tasks ?? []).filter((x) => x.environment !== undefined && x.lastStatus !== 'STOPPED').map((x) => x.environment));
        for (const [name, view] of Object.entries(o.claims)) {
          const item = view.item;
          const stopped = (arn: string) => (o.tasks ?? []).some((x) => x.taskArn === arn && x.lastStatus === 'STOPPED');
          if (item && (item.attempts.length > 0 || [item.current, item.next].some((r) => r && !stopped(r.taskArn)))) liveEnvs.add(name);
        }
        const top = Math.max(...[...liveEnvs].flatMap((name) => (orderOf(name) === undefined ? [] : [orderOf(name)!])));
        const baseStops = new Set(base.actions.flatMap((a) => (a.type === 'stop' ? [a.taskArn] : [])));
        for (const a of drained.actions) {
          if (a.type !== 'stop' || baseStops.has(a.taskArn)) continue;
          const order = orderOf(a.environment ?? o.tasks?.find((x) => x.taskArn === a.taskArn)?.environment);
          if (order !== undefined)
            expect(
              order,
              `${ctx}: ${a.environment} stopped below a live higher order ${JSON.stringify({ a, tasks: o.tasks, claim: o.claims[a.environment ?? ''], mem: o.memory[a.environment ?? ''] })}`,
            ).toBe(top);
        }
      }
      if (drain.view.phase === 'drained')
        expect(
          (o.tasks ?? []).filter((x) => (x.ours || x.environment !== undefined) && x.lastStatus !== 'STOPPED'),
          ctx,
        ).toEqual([]);
      // ordered start: a start only when every lower-order daemon wanted here is ready or past its deadline
      const reports = new Map(drained.decision.environments.map((e) => [e.environment, e.report]));
      for (const a of drained.actions) {
        if (a.type !== 'start' || a.role !== 'current') continue;
        const mine = orderOf(a.environment)!;
        if (mine > 0) orderedStarts++;
        for (const e of desired.environments ?? []) {
          const r = reports.get(e.name);
          if (e.kind !== 'valid' || e.revision.order >= mine || !r?.matching || r.ready) continue;
          const since = notReadySince[e.name] ?? t.monoMs;
          expect(t.monoMs - since, `${ctx}: ${a.environment} started before ${e.name}'s deadline`).toBeGreaterThanOrEqual(
            e.revision.deploymentConfiguration.healthyDeadlineSeconds * 1000,
          );
        }
      }
    }
    // every phase, and starts above order 0, came up often enough for the rules to mean something
    for (const phase of ['none', 'waiting-for-tasks', 'stopping-daemons']) expect(phases[phase] ?? 0, phase).toBeGreaterThan(200);
    expect(phases.drained ?? 0).toBeGreaterThan(25); // rarer: every claim of three environments released
    expect(orderedStarts).toBeGreaterThan(200);
  });
});
