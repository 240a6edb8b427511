// The seeded simulated world: the agent's real reconcile step (observe, decide, pace, plan, act,
// report: agent/reconciler.ts) on fake ports (test/support/fake-ports.ts) and a manual clock.
// Agents are killed between any two calls and right after StartTask, stopped cleanly with their
// instance released, restarted with their own owner name or a fresh one; two agents share one
// instance; ECS shows starts only after up to 8 s; DynamoDB and ECS throttle; daemons die; new
// revisions arrive, with and without surge. After every change ECS makes, the invariants are checked:
// - at most one live task per (environment, instance, revision), at most two per (environment,
//   instance), the second only while surging (a start beside a live task is only ever of a
//   revision with maxSurge, beside one task of another revision);
// and once the chaos ends, the fleet converges to one RUNNING daemon of the latest revision.
import type pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.js';
import { FakeEcs, FakeTable, InjectedError } from '../support/fake-ports.js';
import { seeded } from '../support/prng.js';
import { environmentEntry, killableSimAgent, stepSim, type SimAgent } from '../support/sim-agent.js';

const ENV = 'logs';
const SEEDS = Number(process.env.BLOX_SIM_SEEDS ?? 150);

interface Slot {
  owner: string;
  agent: SimAgent;
  dead: () => boolean;
}

async function simulate(seed: number, logger?: pino.Logger): Promise<{ violations: string[]; converged: string | undefined; stats: Record<string, number> }> {
  const random = seeded(seed * 7919);
  const clock = new ManualClock();
  const table = new FakeTable();
  const ecs = new FakeEcs({ clock, random, maxVisibilityLagMs: 8_000, startLatencyMs: 300 });
  const instance = ecs.addInstance('0123456789abcdef0123456789abcdef');
  let revision = 1;
  const surgeOf = new Map<number, boolean>([[1, false]]);
  table.setEnvironments([environmentEntry(ENV, 1)]);
  const violations: string[] = [];
  const stats = { starts: 0, stops: 0, kills: 0, releases: 0, crashes: 0, revisions: 0, surges: 0 };
  ecs.listeners.push((change) => {
    const live = ecs.live(instance, ENV);
    const byRevision = new Map<number, number>();
    for (const t of live) byRevision.set(t.revision, (byRevision.get(t.revision) ?? 0) + 1);
    const describe = () =>
      `seed ${seed}: ${change.type} ${change.task.taskArn} rev ${change.task.revision}; live ${live.map((t) => `${t.taskArn}@${t.revision}`).join(', ')}`;
    if ([...byRevision.values()].some((n) => n > 1)) violations.push(`two live tasks of one revision: ${describe()}`);
    if (live.length > 2) violations.push(`more than two live tasks: ${describe()}`);
    if (change.type === 'start') {
      stats.starts++;
      const others = live.filter((t) => t !== change.task);
      if (others.length > 0) stats.surges++;
      if (others.length > 0 && !(surgeOf.get(change.task.revision) === true && others.length === 1 && others[0]!.revision !== change.task.revision))
        violations.push(`a start beside a live task outside a surge: ${describe()}`);
    } else stats.stops++;
  });

  let quiet = false;
  // DynamoDB and ECS throttle now and then (not in the quiet phase): every failure path runs too.
  table.fault = () => (!quiet && random() < 0.03 ? new InjectedError('ProvisionedThroughputExceededException') : undefined);
  ecs.fault = (operation) =>
    !quiet && random() < 0.03
      ? operation === 'StartTask' && random() < 0.5
        ? { reason: 'RESOURCE:MEMORY' }
        : new InjectedError('ThrottlingException')
      : undefined;
  const spawn = (index: number, owner?: string): Slot => {
    const name =
      owner ??
      `agent-${Math.floor(random() * 2 ** 40)
        .toString(16)
        .padStart(10, '0')}${index}`;
    const killAt = (operation: string): 'before' | 'after' | undefined => {
      if (quiet) return undefined;
      const r = random();
      if (operation === 'startTask' && r < 0.15) return 'after'; // the worst moment: StartTask sent, its answer lost
      return r < 0.02 ? 'before' : r < 0.03 ? 'after' : undefined;
    };
    const { agent, dead } = killableSimAgent({
      table,
      ecs,
      killAt,
      owner: name,
      containerInstanceArn: instance,
      clock,
      random,
      ...(logger ? { logger } : {}),
      config: {
        leaseDurationMs: 9_000,
        pollIntervalMs: 1_000,
        ecsReconcileIntervalMs: 20_000,
        attemptSettleMs: 5_000,
        orphanGraceMs: 10_000,
        statusHeartbeatMs: 60_000,
      },
    });
    return { owner: name, agent, dead };
  };
  const slots = [spawn(0), spawn(1)];

  for (let n = 0; n < 500; n++) {
    quiet = n >= 300;
    clock.advance(Math.floor(random() * 1_500));
    ecs.advance();
    const i = random() < 0.5 ? 0 : 1;
    const slot = slots[i]!;
    if (!quiet) {
      const r = random();
      if (r < 0.02) {
        // a clean stop (SIGTERM): the instance is released for a successor, daemons and claims left
        await slot.agent.reconciler.release().catch(() => undefined);
        stats.releases++;
        slots[i] = spawn(i, random() < 0.5 ? slot.owner : undefined);
        continue;
      }
      if (r < 0.04) {
        const victim = ecs.live(instance, ENV)[0];
        if (victim) {
          ecs.crash(victim);
          stats.crashes++;
        }
      } else if (r < 0.055) {
        revision++;
        const surge = random() < 0.5;
        surgeOf.set(revision, surge);
        table.setEnvironments([environmentEntry(ENV, revision, surge ? '1' : '0')]);
        stats.revisions++;
      }
    }
    await stepSim(slot.agent);
    if (slot.dead()) {
      stats.kills++;
      slots[i] = spawn(i, random() < 0.5 ? slot.owner : undefined); // restarted on its own state directory half the time
    }
  }
  const live = ecs.live(instance, ENV);
  const converged =
    live.length === 1 && live[0]!.revision === revision && live[0]!.lastStatus === 'RUNNING'
      ? undefined
      : `seed ${seed}: not converged: revision ${revision}, live ${live.map((t) => `${t.taskArn}@${t.revision} ${t.lastStatus}`).join(', ') || 'none'}`;
  return { violations, converged, stats };
}

describe('agents in a simulated world (seeded; the real reconcile step on fake ports)', () => {
  it(`${SEEDS} seeds: kills between any two calls and after StartTask, clean stops, two agents, ECS lag up to 8 s, new revisions with and without surge: the role invariants hold on every ECS change, then one daemon of the latest revision`, async () => {
    const totals: Record<string, number> = {};
    for (let seed = 1; seed <= SEEDS; seed++) {
      const { violations, converged, stats } = await simulate(seed);
      expect(violations, `seed ${seed}`).toEqual([]);
      expect(converged).toBeUndefined();
      for (const [k, v] of Object.entries(stats)) totals[k] = (totals[k] ?? 0) + v;
    }
    // The world really did what it claims (a world without kills or surges would prove little).
    expect(totals.kills).toBeGreaterThan(SEEDS * 5);
    expect(totals.surges).toBeGreaterThan(SEEDS / 2);
    expect(totals.revisions).toBeGreaterThan(SEEDS);
    expect(totals.releases).toBeGreaterThan(SEEDS);
  }, 300_000);
});
