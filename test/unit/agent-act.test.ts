// The act half without services: the real reconcile step on fake ports and a manual clock. The
// guards that keep StartTask from running without its claim write, or without the instance.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.js';
import { WriteConflictError } from '../../agent/ports.js';
import { FakeEcs, FakeTable, InjectedError } from '../support/fake-ports.js';
import { FakeSteward } from '../support/fake-steward.js';
import { seeded } from '../support/prng.js';
import { environmentEntry, simAgent } from '../support/sim-agent.js';

function world(seed = 1) {
  const clock = new ManualClock();
  const random = seeded(seed);
  const table = new FakeTable();
  const ecs = new FakeEcs({ clock, random, startLatencyMs: 100 });
  const instance = ecs.addInstance('0123456789abcdef0123456789abcdef');
  table.setEnvironments([environmentEntry('logs', 1)]);
  const port = ecs.portFor(instance);
  const agent = (owner = 'agent-00000000000a', over: { leaseDurationMs?: number } = {}) =>
    simAgent({
      owner,
      containerInstanceArn: instance,
      clock,
      random,
      ports: { desired: table, claims: table, rollout: table, steward: new FakeSteward(table), status: table, ecs: port, ecsAgent: port },
      config: { leaseDurationMs: 9_000, pollIntervalMs: 1_000, ...over },
    });
  /** Steps the agent `n` times, a second apart. */
  const run = async (a: ReturnType<typeof agent>, n: number) => {
    for (let i = 0; i < n; i++) {
      clock.advance(1_000);
      ecs.advance();
      await a.reconciler.step();
    }
  };
  return { clock, table, ecs, instance, agent, run };
}

describe('acting on the fake world', () => {
  it('a new instance: heartbeat, then one claim write with the attempt, then StartTask, then the task recorded', async () => {
    const w = world();
    const a = w.agent();
    await w.run(a, 6);
    expect(w.ecs.live(w.instance, 'logs')).toHaveLength(1);
    expect(w.ecs.calls.StartTask).toBe(1);
    const claim = w.table.raw('ENV#logs', `LEASE#0123456789abcdef0123456789abcdef`);
    expect(claim).toMatchObject({ kind: 'Claim', owner: 'agent-00000000000a', current: { taskArn: w.ecs.live(w.instance, 'logs')[0]!.taskArn, revision: 1 } });
    expect(claim?.attempts).toBeUndefined();
    expect(w.table.raw('INSTANCE#0123456789abcdef0123456789abcdef', 'HEARTBEAT')).toMatchObject({ owner: 'agent-00000000000a', released: false });
  });

  it('the attempt write fails while the agent believes it holds the claim: StartTask never runs, then it starts once the write succeeds', async () => {
    for (const failure of [() => new InjectedError('ProvisionedThroughputExceededException'), () => new WriteConflictError('lost', null)]) {
      const w = world();
      const a = w.agent();
      // from the first step on
      let refusals = 0;
      const put = w.table.putClaim.bind(w.table);
      w.table.putClaim = async (claim, expected) => {
        if (claim.attempts.length > 0 && refusals < 3) {
          refusals++;
          throw failure();
        }
        return put(claim, expected);
      };
      await w.run(a, 3);
      expect(refusals).toBeGreaterThan(0);
      expect(w.ecs.calls.StartTask ?? 0).toBe(0);
      await w.run(a, 30);
      expect(refusals).toBe(3);
      expect(w.ecs.calls.StartTask).toBe(1);
      expect(w.ecs.live(w.instance, 'logs')).toHaveLength(1);
    }
  });

  it('an agent whose heartbeat went stale acts on nothing until a renewal proves it still holds the instance', async () => {
    const w = world();
    const a = w.agent();
    await w.run(a, 6);
    const task = w.ecs.live(w.instance, 'logs')[0]!;
    // DynamoDB unreachable for longer than the lease: the heartbeat cannot be renewed
    w.table.fault = () => new InjectedError('NetworkingError');
    await w.run(a, 12);
    expect(a.reconciler.claims.standing(w.clock.monoMs()).acting).toBe(false);
    w.ecs.crash(task); // a start now would have no claim write to precede it, and no instance
    const starts = w.ecs.calls.StartTask ?? 0;
    await w.run(a, 3);
    expect(w.ecs.calls.StartTask).toBe(starts);
    w.table.fault = undefined;
    await w.run(a, 10);
    expect(w.ecs.live(w.instance, 'logs')).toHaveLength(1);
    expect(w.ecs.calls.StartTask).toBe(starts + 1);
  });

  it('a second agent on the instance watches the heartbeat and does nothing; it takes over once the first is gone for a lease duration', async () => {
    const w = world();
    const first = w.agent('agent-00000000000a');
    const second = w.agent('agent-00000000000b');
    await w.run(first, 6);
    for (let i = 0; i < 20; i++) {
      await w.run(first, 1);
      await w.run(second, 1);
    }
    expect(second.reconciler.claims.standing(w.clock.monoMs())).toMatchObject({ acting: false, reason: expect.stringMatching(/held by agent-00000000000a/) });
    expect(w.ecs.calls.StartTask).toBe(1);
    const writesBefore = w.table.calls.writes;
    await w.run(second, 5);
    expect(w.table.calls.writes).toBe(writesBefore); // the watcher writes nothing (no status record either)
    // the first agent dies: after a lease duration of an unchanged heartbeat, the second takes over and adopts the daemon
    await w.run(second, 15);
    expect(second.reconciler.claims.standing(w.clock.monoMs()).acting).toBe(true);
    expect(w.ecs.calls.StartTask).toBe(1);
    expect(w.table.raw('ENV#logs', 'LEASE#0123456789abcdef0123456789abcdef')).toMatchObject({ owner: 'agent-00000000000b' });
  });

  it('a clean stop releases the instance: a successor acts at once, without waiting for expiry', async () => {
    const w = world();
    const first = w.agent('agent-00000000000a', { leaseDurationMs: 600_000 });
    await w.run(first, 6);
    await first.reconciler.release();
    expect(w.table.raw('INSTANCE#0123456789abcdef0123456789abcdef', 'HEARTBEAT')).toMatchObject({ released: true });
    const next = w.agent('agent-00000000000b', { leaseDurationMs: 600_000 });
    await w.run(next, 3);
    expect(next.reconciler.claims.standing(w.clock.monoMs()).acting).toBe(true);
    expect(w.ecs.calls.StartTask).toBe(1);
  });
});
