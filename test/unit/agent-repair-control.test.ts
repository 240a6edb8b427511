// The repair budget carried out (agent/act/repair-control.ts) against the fake table and ECS:
// take, wait while full, free a holder only on evidence (its heartbeat long expired), and two
// agents racing for the last slot through conditional writes: one wins, the other reads again.
import { describe, expect, it } from 'vitest';
import { RepairControl, type RepairEnvState } from '../../agent/act/repair-control.js';
import { SelfDrain } from '../../agent/act/self-drain.js';
import { InstanceFactsSource } from '../../agent/observe/instance-facts.js';
import { ManualClock } from '../../core/clock.js';
import { keys } from '../../core/keys.js';
import { FakeEcs, FakeTable } from '../support/fake-ports.js';
import { FakeSteward } from '../support/fake-steward.js';
import { simAgent } from '../support/sim-agent.js';

const failing: RepairEnvState = {
  environment: 'logs',
  critical: true,
  matching: true,
  revision: 2,
  order: 0,
  repair: 'drain',
  repairBudget: '1',
  crashLoop: true,
  notReadyForMs: 0,
  healthyDeadlineMs: 300_000,
  rollout: 'none',
};

function world() {
  const clock = new ManualClock();
  const table = new FakeTable();
  const ecs = new FakeEcs({ clock, random: () => 0.5 });
  const agentOn = (id: string) => {
    const arn = ecs.addInstance(id);
    const port = ecs.portFor(arn);
    const { ctx } = simAgent({
      owner: `owner-${id}`,
      containerInstanceArn: arn,
      clock,
      random: () => 0.5,
      ports: {} as never,
      config: { repairRetryMs: 10_000 },
    });
    const facts = new InstanceFactsSource(ctx, port);
    const control = new RepairControl(
      ctx,
      { repair: table, claims: table, ecs: port, steward: new FakeSteward(table), autoScaling: undefined },
      new SelfDrain(ctx, port, facts),
    );
    const step = async () => {
      await facts.refresh(clock.monoMs());
      return control.step([failing], facts.status, clock.monoMs());
    };
    return { id, arn, step };
  };
  const heartbeat = (id: string, validUntilMs: number) =>
    table.putRaw({
      ...keys.heartbeat(id),
      kind: 'InstanceHeartbeat',
      schemaVersion: 1,
      cluster: 'sim',
      containerInstanceId: id,
      owner: `owner-${id}`,
      recordVersion: 'v1',
      leaseDurationMs: 180_000,
      released: false,
      agentVersion: 'test',
      updatedAt: new Date(clock.wallMs()).toISOString(),
      validUntil: Math.floor(validUntilMs / 1000),
      expiresAt: Math.floor(validUntilMs / 1000) + 3600,
    });
  const holders = async () => Object.keys((await table.getRepairBudget('logs'))?.holders ?? {}).sort();
  return { clock, table, ecs, agentOn, heartbeat, holders };
}

describe('the repair budget, carried out', () => {
  it('takes the one slot, drains; a second instance waits, and takes the slot once the holder is proven gone', async () => {
    const w = world();
    const a = w.agentOn('a');
    const b = w.agentOn('b');
    w.heartbeat('a', w.clock.wallMs() + 180_000);
    for (let i = 0; i < 3; i++) await a.step(); // read, take, drain
    expect(await w.holders()).toEqual(['a']);
    expect(w.ecs.status.get(a.arn) === 'DRAINING').toBe(true);
    for (let i = 0; i < 3; i++) await b.step();
    expect(await w.holders()).toEqual(['a']);
    expect(w.ecs.status.get(b.arn) === 'DRAINING').toBe(false);
    // a's agent lives on (heartbeat valid): b waits however often it tries
    w.clock.advance(20_000);
    await b.step();
    expect(await w.holders()).toEqual(['a']);
    // a's heartbeat is long expired: evidence its instance is gone; b frees it and takes the slot
    w.heartbeat('a', w.clock.wallMs() - 31_000);
    w.clock.advance(20_000);
    await b.step();
    await b.step();
    expect(await w.holders()).toEqual(['b']);
    expect(w.ecs.status.get(b.arn) === 'DRAINING').toBe(true);
  });

  it('two instances racing for the last slot: one wins the conditional write, the other reads again and waits', async () => {
    const w = world();
    const b = w.agentOn('b');
    const c = w.agentOn('c');
    // both agents live (a holder without a heartbeat would count as gone)
    w.heartbeat('b', w.clock.wallMs() + 180_000);
    w.heartbeat('c', w.clock.wallMs() + 180_000);
    await Promise.all([b.step(), c.step()]); // both read: not holding
    await Promise.all([b.step(), c.step()]); // both take from the same read
    expect(w.table.calls.conflicts).toBeGreaterThanOrEqual(1);
    const held = await w.holders();
    expect(held).toHaveLength(1);
    await Promise.all([b.step(), c.step()]);
    expect(await w.holders()).toEqual(held);
    expect([w.ecs.status.get(b.arn) === 'DRAINING', w.ecs.status.get(c.arn) === 'DRAINING'].filter(Boolean)).toHaveLength(1);
  });
});
