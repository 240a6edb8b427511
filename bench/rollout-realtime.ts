// The rollout simulation (bench/rollout.ts) checked against a real run: the local world with N
// `node dist/agent.js` processes (DynamoDB Local, the ECS emulator over the simulated runtime),
// one environment on all of them, then a rollout to a new revision per scenario (maxUnavailable 3,
// then 100%), measured in wall time; beside it the simulation (bench/rollout/ours.ts, the real
// decision code in simulated time) with the SAME parameters: N instances, the runtime's stop,
// start and ready latencies, the bake, and the agents' own poll and steward intervals, over
// several seeds. Prints real vs simulated with ratios and a verdict per scenario (both times
// within the tolerance of the simulation's mean: ok, else MISSED).
//
//   npm run bench:rollout-realtime -- [--agents 20] [--seeds 20] [--scenarios 3,100%] [--tolerance 0.25]
//     [--stop-ms 1000] [--start-ms 2000] [--ready-ms 2000] [--bake-s 5] [--rollout-poll-ms 1000]
//     [--rollout-idle-poll-ms 60000] [--marker-poll-ms 5000] [--steward-interval-ms 10000] [--rollout-ecs-rate 20]
//
// The poll flags set the agents' configuration (rolloutPollMs, rolloutIdlePollMs, pollIntervalMs,
// stewardIntervalMs, rolloutEcsRatePerSecond) and the simulation's alike; their defaults are the
// agent's. Exit codes: 0 every scenario ok; 1 something could not be measured; 3 a scenario MISSED;
// 64 a --tick-ms other than the agent process's 1000.
// Needs Java 17 (DynamoDB Local) or BLOX_BENCH_DYNAMODB_ENDPOINT; builds dist/agent.js when stale.
import os from 'node:os';
import { CONFIG_KEYS, type AgentConfig } from '../agent/config.js';
import { resolveCountOrPercent } from '../core/records.js';
import { simulateOurs } from './rollout/ours.js';
import { DEFAULT_PARAMS, listArg, numberArg, readParams, type Params } from './rollout/params.js';
import type { Figures } from './rollout/sim-kit.js';
import { startDynamoDbLocal, type DynamoDbLocal } from './support/dynamodb-local.js';
import { measureRollout, startRolloutFleet, type RealRollout, type RolloutFleet } from './support/rollout-fleet.js';
import { table } from './support/report.js';

const argv = process.argv.slice(2);
const agentDefault = (key: keyof AgentConfig): number => Number(CONFIG_KEYS.find((k) => k.key === key)!.default);
/** The agent process's local tick (AgentDeps.tickMs; main.ts passes none, so 1000 ms: no flag sets it). */
const AGENT_TICK_MS = 1_000;

/** The local world's figures as the simulation's parameters; every flag of readParams overrides both sides. */
const LOCAL_DEFAULTS: Params = {
  ...DEFAULT_PARAMS,
  lagMs: 0, // DynamoDB Local: every read sees the last write
  stopMs: 1_000,
  startMs: 2_000,
  readyMs: 2_000,
  bakeSeconds: 5,
  ecsBurst: 1e9, // the emulator does not throttle
  ecsRatePerSecond: 1e9,
  rolloutPollMs: agentDefault('rolloutPollMs'),
  rolloutIdlePollMs: agentDefault('rolloutIdlePollMs'),
  markerPollMs: agentDefault('pollIntervalMs'),
  stewardIntervalMs: agentDefault('stewardIntervalMs'),
  rolloutEcsRatePerSecond: agentDefault('rolloutEcsRatePerSecond'),
  tickMs: AGENT_TICK_MS,
};
const params = readParams(argv, LOCAL_DEFAULTS);
const AGENTS = numberArg(argv, 'agents', 20);
const SEEDS = numberArg(argv, 'seeds', 20);
const SCENARIOS = listArg(argv, 'scenarios', ['3', '100%']);
const TOLERANCE = numberArg(argv, 'tolerance', 0.25);

/** The agents' configuration: every interval at the agent's default, the rollout's from the parameters. */
const AGENT_CONFIG: Partial<AgentConfig> = {
  ...(Object.fromEntries(CONFIG_KEYS.filter((k) => typeof k.default === 'number').map((k) => [k.key, k.default])) as Partial<AgentConfig>),
  pollIntervalMs: params.markerPollMs,
  rolloutPollMs: params.rolloutPollMs,
  rolloutIdlePollMs: params.rolloutIdlePollMs,
  stewardIntervalMs: params.stewardIntervalMs,
  rolloutEcsRatePerSecond: params.rolloutEcsRatePerSecond,
};

const log = (line: string): void => console.log(line);
const sec = (ms: number | undefined): string => (ms === undefined || !Number.isFinite(ms) ? 'never' : `${(ms / 1000).toFixed(1)} s`);
const loadLine = (): string => {
  const [a, b, c] = os.loadavg();
  return `load average ${a?.toFixed(2)} ${b?.toFixed(2)} ${c?.toFixed(2)} on ${os.cpus().length} CPUs`;
};

interface SimSummary {
  runs: Figures[];
  completed: number[];
  allReady: number[];
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
const spread = (xs: number[], format: (x: number) => string): string =>
  xs.length ? `${format(mean(xs))} [${format(Math.min(...xs))}-${format(Math.max(...xs))}]` : 'n/a';
const ratio = (real: number | undefined, sim: number): number => (real === undefined ? Number.NaN : real / sim);
const within = (r: number): boolean => Number.isFinite(r) && Math.abs(r - 1) <= TOLERANCE;

function simulate(maxUnavailable: string): SimSummary {
  const runs: Figures[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) runs.push(simulateOurs(AGENTS, maxUnavailable, { ...params, seed }));
  return {
    runs,
    completed: runs.flatMap((r) => (r.completedMs === undefined ? [] : [r.completedMs])),
    allReady: runs.flatMap((r) => (r.allReadyMs === undefined ? [] : [r.allReadyMs])),
  };
}

const cleanups: Array<() => Promise<void>> = [];
async function cleanup(): Promise<void> {
  for (const run of cleanups.splice(0).reverse()) await run().catch((error: unknown) => log(`   cleanup: ${String(error)}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const began = performance.now();
  if (params.tickMs !== AGENT_TICK_MS) {
    log(`--tick-ms ${params.tickMs}: the agent process's tick is ${AGENT_TICK_MS} ms (no flag sets it), so the simulation's must be too`);
    return 64;
  }
  log('Rollout, real time against simulated time: N agent processes in the local world, and bench/rollout/ours.ts with the same parameters.');
  log(
    `Parameters (both sides): ${AGENTS} instances; stop ${params.stopMs} ms, start ${params.startMs} ms, ready ${params.readyMs} ms (health check start period), bake (minHealthySeconds) ${params.bakeSeconds} s; ` +
      `agents: pollIntervalMs (marker) ${params.markerPollMs}, rolloutPollMs ${params.rolloutPollMs}, rolloutIdlePollMs ${params.rolloutIdlePollMs}, stewardIntervalMs ${params.stewardIntervalMs}, ` +
      `rolloutEcsRatePerSecond ${params.rolloutEcsRatePerSecond}, tick ${params.tickMs} ms, every other interval at its default; DynamoDB read lag ${params.lagMs} ms (DynamoDB Local); ECS not throttled (the emulator). ` +
      `Simulation: ${SEEDS} seeds. Verdict: completed and all-ready both within ${(TOLERANCE * 100).toFixed(0)}% of the simulation's mean.`,
  );
  log(`Start (${loadLine()})`);

  const reals: RealRollout[] = [];
  let dynamo: DynamoDbLocal | undefined;
  let fleet: RolloutFleet | undefined;
  try {
    dynamo = await startDynamoDbLocal();
    cleanups.push(dynamo.stop);
    log(`   DynamoDB Local at ${dynamo.endpoint} (${(dynamo.startMs / 1000).toFixed(1)} s to answer)`);
    fleet = await startRolloutFleet({
      dynamodbEndpoint: dynamo.endpoint,
      agents: AGENTS,
      stopMs: params.stopMs,
      startMs: params.startMs,
      readySeconds: params.readyMs / 1000,
      bakeSeconds: params.bakeSeconds,
      agentConfig: AGENT_CONFIG,
      log,
    });
    cleanups.push(fleet.close);
    for (const mu of SCENARIOS) {
      const limit = Math.max(1, resolveCountOrPercent(mu, AGENTS));
      const cycle = params.stopMs + params.startMs + params.readyMs + params.bakeSeconds * 1000;
      const timeoutMs = 3 * Math.ceil(AGENTS / limit) * cycle + 120_000;
      // Idle before each rollout, as the simulation starts: every agent past its last step's writes.
      await new Promise((r) => setTimeout(r, 2_000));
      const real = await measureRollout(fleet, mu, params.bakeSeconds, timeoutMs);
      reals.push(real);
      log(
        `   maxUnavailable ${mu}: ${real.outcome}; completed ${sec(real.completedMs)}, all ready on the target ${sec(real.allReadyMs)}, max without a ready daemon ${real.maxUnavailableSeen} (limit ${limit}), ` +
          `${real.dynamoRequests} DynamoDB requests, ECS ${[...real.ecsCalls].map(([k, v]) => `${k} ${v}`).join(', ')} (${loadLine()})`,
      );
    }
  } catch (error) {
    log(`!! NOT MEASURED: ${error instanceof Error ? error.message : String(error)}`);
    await cleanup();
    return 1;
  }
  await cleanup();

  const rows: string[][] = [];
  const verdicts: string[] = [];
  const kinds: string[] = [];
  let missed = false;
  for (const real of reals) {
    const mu = real.maxUnavailable;
    const limit = resolveCountOrPercent(mu, AGENTS);
    const sim = simulate(mu);
    const rCompleted = ratio(real.completedMs, mean(sim.completed));
    const rReady = ratio(real.allReadyMs, mean(sim.allReady));
    const simRequests = sim.runs.map((r) => r.dynamoRequests / AGENTS);
    const realRequests = real.dynamoRequests / AGENTS;
    const stopStart = (real.ecsCalls.get('StopTask') ?? 0) + (real.ecsCalls.get('StartTask') ?? 0);
    const otherEcs = [...real.ecsCalls].filter(([k]) => k !== 'StopTask' && k !== 'StartTask');
    const x = (r: number) => (Number.isFinite(r) ? `x${r.toFixed(2)}` : '-');
    rows.push(
      [mu, 'completed', sec(real.completedMs), spread(sim.completed, sec), x(rCompleted)],
      [mu, 'all ready on the target', sec(real.allReadyMs), spread(sim.allReady, sec), x(rReady)],
      [
        mu,
        `max without a ready daemon (limit ${limit})`,
        String(real.maxUnavailableSeen),
        spread(
          sim.runs.map((r) => r.maxUnavailableSeen),
          (v) => v.toFixed(1),
        ),
        '-',
      ],
      [mu, 'DynamoDB requests per instance', realRequests.toFixed(1), spread(simRequests, (v) => v.toFixed(1)), x(realRequests / mean(simRequests))],
      [
        mu,
        'ECS StopTask + StartTask',
        `${stopStart}${otherEcs.length ? ` (+ ${otherEcs.map(([k, v]) => `${v} ${k}`).join(', ')})` : ''}`,
        spread(
          sim.runs.map((r) => r.ecsCalls),
          (v) => v.toFixed(0),
        ),
        x(stopStart / mean(sim.runs.map((r) => r.ecsCalls))),
      ],
    );
    const problems: string[] = [];
    if (real.outcome !== 'completed') problems.push(`the real deployment ended ${real.outcome}`);
    if (!within(rCompleted)) problems.push(`completed x${rCompleted.toFixed(2)}`);
    if (!within(rReady)) problems.push(`all ready x${rReady.toFixed(2)}`);
    if (real.maxUnavailableSeen > limit) problems.push(`${real.maxUnavailableSeen} without a ready daemon > ${limit}`);
    if (problems.length) missed = true;
    verdicts.push(
      `- maxUnavailable ${mu}: real within ${(TOLERANCE * 100).toFixed(0)}% of the simulation (completed x${rCompleted.toFixed(2)}, all ready x${rReady.toFixed(2)}), never above the limit: ${problems.length ? `MISSED (${problems.join('; ')})` : 'ok'}`,
    );
    // Requests by kind per instance, the real agents' (operation and item kind, from the meter) beside the simulation's (its model's names, mean over seeds).
    const simKinds = new Map<string, number>();
    for (const r of sim.runs) for (const [k, v] of r.requestsByKind) simKinds.set(k, (simKinds.get(k) ?? 0) + v / sim.runs.length);
    const perInstance = (m: Map<string, number>) =>
      [...m]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${(v / AGENTS).toFixed(2)}`)
        .join(', ');
    kinds.push(`  maxUnavailable ${mu}, real: ${perInstance(real.requestsByKind)}`);
    kinds.push(`  maxUnavailable ${mu}, simulated: ${perInstance(simKinds)}`);
  }
  log('');
  log(table(['maxUnavailable', 'figure', 'real (wall time)', `simulated: mean [min-max] of ${SEEDS} seeds`, 'real / simulated'], rows));
  log('');
  log('DynamoDB requests per instance by kind, from the deployment to its completion (the gap is reported, not a target):');
  for (const line of kinds) log(line);
  log('');
  log('Verdict:');
  for (const line of verdicts) log(line);
  log(`Whole run ${((performance.now() - began) / 1000).toFixed(0)} s (${loadLine()}).`);
  return missed ? 3 : 0;
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    log(`!! ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await cleanup();
    process.exit(1);
  },
);
