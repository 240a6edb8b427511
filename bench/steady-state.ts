// Steady-state cost of a converged fleet, per instance-hour at the agent's defaults, with N
// environments per instance: K agents in one process against DynamoDB Local behind a counting
// proxy (bench/support/dynamo-meter.ts) and the ECS emulator's call counts, every interval of the
// agent compressed by the same factor. The window is one status refresh interval, so each agent's
// slow refresh falls in it exactly once; the sweep and heartbeat intervals divide it.
import type { AgentConfig } from '../agent/config.js';
import { SimulatedRuntime } from '../local/runtime/simulated.js';
import { startAgentWorld, waitFor, type AgentWorld, type RunningAgent, type WorldInstance } from '../test/support/agent-world.js';
import type { DynamoMeter, MeterCounts } from './support/dynamo-meter.js';

export interface SteadyStateInput {
  meter: DynamoMeter;
  /** The agent's defaults (what production runs with). */
  defaults: AgentConfig;
  defaultTickMs: number;
  agents: number;
  environments: number;
  compression: number;
  /** Called with the world so the caller's cleanup can close it on Ctrl-C. */
  track: (close: () => Promise<void>) => void;
  log: (line: string) => void;
}

export interface SteadyStateFigures {
  environments: number;
  /** Per agent, scaled to one instance-hour at the defaults. */
  perHour: {
    polls: number;
    reads: number;
    writes: number;
    rcu: number;
    wcu: number;
    ecs: number;
    writesByKind: Record<string, number>;
    ecsByOperation: Record<string, number>;
  };
  readsPerPoll: number;
  notes: string[];
}

export async function steadyStateCost(input: SteadyStateInput): Promise<SteadyStateFigures> {
  const { meter, defaults: d, compression: F, log } = input;
  const timings: Partial<AgentConfig> = {
    pollIntervalMs: d.pollIntervalMs / F,
    leaseDurationMs: d.leaseDurationMs / F,
    statusHeartbeatMs: d.statusHeartbeatMs / F,
    ecsReconcileIntervalMs: d.ecsReconcileIntervalMs / F,
    fullReloadIntervalMs: d.fullReloadIntervalMs / F,
    orphanGraceMs: d.orphanGraceMs / F,
    attemptSettleMs: d.attemptSettleMs / F,
  };
  const tickMs = input.defaultTickMs / F;
  const notes: string[] = [];
  const world: AgentWorld = await startAgentWorld({
    dynamodbEndpoint: meter.url,
    runtime: new SimulatedRuntime({ startLatencyMs: 50, stopLatencyMs: 10 }),
    cluster: `bench-steady-${input.environments}-${process.pid}`,
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= world.close());
  input.track(close);
  try {
    const envs = Array.from({ length: input.environments }, (_, i) => `steady-${input.environments}-${i}`);
    for (const env of envs) await world.createEnvironment(env, await world.registerTaskDefinition(env));
    const instances: WorldInstance[] = [];
    for (let i = 0; i < input.agents; i++) instances.push(await world.addInstance());
    const agents: RunningAgent[] = [];
    for (const instance of instances) agents.push(await world.startAgent(instance, timings, { tickMs }));
    const t0 = performance.now();
    const converged = (): boolean =>
      instances.every((instance, i) => {
        const status = agents[i]!.agent.status();
        return (
          status.ready &&
          envs.every((env) => {
            const live = world.liveTasks(instance.arn, env);
            return live.length === 1 && live[0]!.lastStatus === 'RUNNING' && status.claims[env]?.taskArn === live[0]!.taskArn;
          })
        );
      });
    await waitFor(`${input.agents} agents with ${input.environments} environment(s) converged`, 120_000, converged, 50);
    const convergedAt = performance.now() - t0;
    // Let the start-up writes (claims, the first status records) settle for a heartbeat, then count one refresh interval.
    await new Promise((r) => setTimeout(r, timings.leaseDurationMs! / 3));
    const starts = () => agents.reduce((sum, a) => sum + a.agent.metrics.total('blox_agent_starts_total'), 0);
    const startsBefore = starts();
    meter.reset();
    world.emulator.resetCallCounts();
    const windowBegan = performance.now();
    await new Promise((r) => setTimeout(r, timings.statusHeartbeatMs!));
    const windowMs = performance.now() - windowBegan;
    const counts: MeterCounts = meter.counts();
    const ecs = world.emulator.callCounts();
    if (!converged()) notes.push(`${input.environments} environment(s): the fleet was no longer converged at the end of the window`);
    if (starts() !== startsBefore) notes.push(`${input.environments} environment(s): ${starts() - startsBefore} StartTask(s) during the window`);
    const polls = counts.byKind['GetItem MARKER'] ?? 0;
    if (polls === 0) throw new Error('no change-marker GetItem seen through the meter: the agents did not poll');
    if (counts.unmetered > 0) throw new Error(`${counts.unmetered} DynamoDB answers carried no ConsumedCapacity; the units would be understated`);
    const sum = (ops: string[]) => ops.reduce((total, op) => total + (counts.requests[op] ?? 0), 0);
    const reads = sum(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
    const writes = sum(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
    const equivalentS = (windowMs / 1000) * F;
    const perHour = (n: number): number => (n / input.agents) * (3600 / equivalentS);
    log(
      `   ${input.environments} environment(s) x ${input.agents} agents, time-compressed x${F}: poll ${timings.pollIntervalMs} ms, tick ${tickMs} ms, lease ${timings.leaseDurationMs} ms, status refresh ${timings.statusHeartbeatMs} ms, sweep ${timings.ecsReconcileIntervalMs} ms; converged in ${(convergedAt / 1000).toFixed(1)} s`,
    );
    log(
      `   window ${(windowMs / 1000).toFixed(1)} s (= ${equivalentS.toFixed(0)} s at the defaults); DynamoDB requests ${JSON.stringify(counts.byKind)}; units read ${counts.readUnits.toFixed(1)} write ${counts.writeUnits.toFixed(1)} (${JSON.stringify(counts.unitsByKind)}); errors ${JSON.stringify(counts.errors)}; ECS ${JSON.stringify(ecs)}`,
    );
    const writesByKind = Object.fromEntries(
      Object.entries(counts.byKind)
        .filter(([k]) => /^(Put|Update|Delete|Transact)/.test(k))
        .map(([k, v]) => [k, perHour(v)]),
    );
    const ecsByOperation = Object.fromEntries(Object.entries(ecs).map(([k, v]) => [k, perHour(v)]));
    return {
      environments: input.environments,
      perHour: {
        polls: perHour(polls),
        reads: perHour(reads),
        writes: perHour(writes),
        rcu: perHour(counts.readUnits),
        wcu: perHour(counts.writeUnits),
        ecs: perHour(Object.values(ecs).reduce((a, b) => a + b, 0)),
        writesByKind,
        ecsByOperation,
      },
      readsPerPoll: reads / polls,
      notes,
    };
  } finally {
    await close();
  }
}

/** On-demand DynamoDB prices (USD per million request units; us-east-1 since November 2024). */
export interface UnitPrices {
  read: number;
  write: number;
}

export const HOURS_PER_MONTH = 730;

export function dollarsPerMonth(rcuPerHour: number, wcuPerHour: number, prices: UnitPrices): number {
  return ((rcuPerHour * prices.read + wcuPerHour * prices.write) * HOURS_PER_MONTH) / 1e6;
}

/**
 * The v1 lease contract at its defaults, for comparison (computed, not measured: the v1 agent is
 * not built here): a lease per environment renewed every 20 s (a third of 60 s) and a status record
 * every 60 s, each a write of 1 WCU; reads as now (one marker GetItem per 5 s poll, 0.5 RCU).
 */
export function v1Model(environments: number): { wcu: number; rcu: number } {
  return { wcu: environments * (3600 / 20) + 3600 / 60, rcu: (3600 / 5) * 0.5 };
}
