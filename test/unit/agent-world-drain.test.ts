// Daemons last in the seeded simulated world: the agents' real reconcile step on fake ports and a
// manual clock, two agents on one instance killed between any two calls and restarted, throttling,
// daemons dying. The instance runs two daemons (orders 0 and 1) beside replica tasks of another
// scheduler; it is set DRAINING and the replicas leave one by one. On every change ECS makes:
// - no daemon is stopped for the drain while a replica is still on the instance (unless the drain
//   bound has passed), nor while the daemons-first attribute is not `pending`;
// - the order-0 daemon is never stopped for the drain while the order-1 one is live;
// and in the end every daemon is stopped, every claim deleted, and the agent says `drained`.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.js';
import { containerInstanceIdOf } from '../../core/keys.js';
import { FakeEcs, FakeTable, InjectedError, type FakeTask } from '../support/fake-ports.js';
import { seeded } from '../support/prng.js';
import { environmentEntry, killableSimAgent, stepSim, type SimAgent } from '../support/sim-agent.js';

const SEEDS = Number(process.env.BLOX_SIM_SEEDS ?? 60);
const ATTRIBUTE = 'blox-edge.daemons';
const ordered = (name: string, order: number) => {
  const entry = environmentEntry(name, 1);
  return { ...entry, revision: { ...entry.revision, order, critical: true } };
};

async function simulate(
  seed: number,
): Promise<{ violations: string[]; end: string | undefined; bounded: boolean; stats: { kills: number; crashes: number; drainStops: number } }> {
  const random = seeded(seed * 104_729);
  const clock = new ManualClock();
  const table = new FakeTable();
  const ecs = new FakeEcs({ clock, random, maxVisibilityLagMs: 4_000, startLatencyMs: 300 });
  const instance = ecs.addInstance('fedcba9876543210fedcba9876543210', { [ATTRIBUTE]: 'pending' });
  table.setEnvironments([ordered('logs', 0), ordered('metrics', 1)]);
  // A quarter of the seeds: replicas that never leave, and a drain bound of 60 s.
  const bounded = seed % 4 === 0;
  const boundMs = bounded ? 60_000 : 48 * 3_600_000;
  const replicas: FakeTask[] = [ecs.addForeign(instance), ecs.addForeign(instance), ecs.addForeign(instance)];
  const violations: string[] = [];
  const stats = { kills: 0, crashes: 0, drainStops: 0 };
  let drainingSince: number | undefined;
  ecs.listeners.push((change) => {
    if (change.type !== 'stop' || !change.reason.includes('instance draining')) return;
    stats.drainStops++;
    const at = `seed ${seed}: ${change.task.environment} stopped at ${clock.wallMs()}`;
    const left = replicas.filter((r) => r.lastStatus !== 'STOPPED');
    if (left.length > 0 && !(drainingSince !== undefined && clock.wallMs() - drainingSince >= boundMs))
      violations.push(`${at} while ${left.length} replica(s) still run`);
    if (ecs.attributes.get(instance)?.[ATTRIBUTE] !== 'pending') violations.push(`${at} before the instance was closed`);
    if (change.task.environment === 'logs' && ecs.live(instance, 'metrics').length > 0) violations.push(`${at} while metrics (order 1) is live`);
  });
  let quiet = false;
  table.fault = () => (!quiet && random() < 0.03 ? new InjectedError('ProvisionedThroughputExceededException') : undefined);
  ecs.fault = () => (!quiet && random() < 0.03 ? new InjectedError('ThrottlingException') : undefined);
  const spawn = (owner?: string): { agent: SimAgent; dead: () => boolean; owner: string } => {
    const name = owner ?? `agent-${Math.floor(random() * 2 ** 40).toString(16)}`;
    const { agent, dead } = killableSimAgent({
      table,
      ecs,
      killAt: (operation) => (quiet ? undefined : operation === 'startTask' && random() < 0.1 ? 'after' : random() < 0.02 ? 'before' : undefined),
      owner: name,
      containerInstanceArn: instance,
      clock,
      random,
      config: { leaseDurationMs: 9_000, pollIntervalMs: 1_000, ecsReconcileIntervalMs: 5_000, attemptSettleMs: 5_000, drainDaemonsTimeoutMs: boundMs },
    });
    return { agent, dead, owner: name };
  };
  const slots = [spawn(), spawn()];
  for (let n = 0; n < 600; n++) {
    quiet = n >= 400;
    clock.advance(Math.floor(random() * 1_500));
    ecs.advance();
    if (n === 100) {
      ecs.status.set(instance, 'DRAINING');
      drainingSince = clock.wallMs();
    }
    if (!quiet && n > 100 && !bounded && random() < 0.03) {
      const replica = replicas.find((r) => r.lastStatus !== 'STOPPED');
      if (replica) ecs.stop(replica, 'Container instance is being drained');
    }
    if (!quiet && random() < 0.02) {
      const victim = ecs.live(instance).find((t) => !t.foreign);
      if (victim) {
        ecs.crash(victim);
        stats.crashes++;
      }
    }
    if (quiet && !bounded) for (const r of replicas) ecs.stop(r, 'Container instance is being drained');
    const i = random() < 0.5 ? 0 : 1;
    const slot = slots[i]!;
    await stepSim(slot.agent);
    if (slot.dead()) {
      stats.kills++;
      slots[i] = spawn(random() < 0.5 ? slot.owner : undefined);
    }
  }
  const live = ecs.live(instance).filter((t) => !t.foreign);
  const claims = await table.getClaims(['logs', 'metrics'], containerInstanceIdOf(instance));
  const phases = slots.map((s) => s.agent.reconciler.drain.phase);
  const end =
    live.length === 0 && [...claims.values()].every((c) => c === null) && phases.includes('drained')
      ? undefined
      : `seed ${seed}: live ${live.map((t) => t.environment).join(', ') || 'none'}, claims ${[...claims].map(([e, c]) => `${e}:${c === null ? 'gone' : 'held'}`).join(' ')}, phases ${phases.join(' ')}`;
  return { violations, end, bounded, stats };
}

describe('daemons last in a simulated world (seeded; the real reconcile step on fake ports)', () => {
  it(`${SEEDS} seeds: kills, restarts, throttling, daemons dying while replicas drain: no daemon stops before the replicas left (or the bound), nor out of order; all stopped and released in the end`, async () => {
    const totals = { kills: 0, crashes: 0, drainStops: 0, bounded: 0 };
    for (let seed = 1; seed <= SEEDS; seed++) {
      const { violations, end, bounded, stats } = await simulate(seed);
      expect(violations, `seed ${seed}`).toEqual([]);
      expect(end).toBeUndefined();
      totals.kills += stats.kills;
      totals.crashes += stats.crashes;
      totals.drainStops += stats.drainStops;
      if (bounded) totals.bounded++;
    }
    expect(totals.kills).toBeGreaterThan(SEEDS * 3);
    expect(totals.crashes).toBeGreaterThan(SEEDS);
    expect(totals.drainStops).toBeGreaterThanOrEqual(SEEDS * 2);
    expect(totals.bounded).toBeGreaterThan(0);
  }, 300_000);
});
