// The edge agent's figures, each beside a baseline measured in the same run (absolute times on a
// shared machine are noisy; the ratios and overheads are what to read):
//   npx tsx bench/agent.ts [--trials 10] [--cold-trials 3] [--crashes 10] [--agents 20]
//                          [--environments 1,3,10] [--steady-compression 20] [--idle-seconds 60]
//                          [--start-latency-ms 200] [--read-price 0.125] [--write-price 0.625]
//                          [--quick] [--strict]
// 1. time to daemon: agent start -> its task RUNNING, in process (createAgent) and as a cold
//    `node dist/agent.js`, beside a bare StartTask through @aws-sdk/client-ecs (same emulator, same
//    simulated start latency, RUNNING observed the same way: the emulator's task state events);
// 2. reaction: SimulatedRuntime.crash() -> the agent's StartTask reaching the emulator, beside the
//    same death arriving on the instance's Docker view /events stream (the notification floor);
// 3. steady-state cost per instance-hour: K converged agents against DynamoDB Local behind a
//    counting proxy and the emulator's call counts, time-compressed, scaled to the defaults;
// 4. RSS and CPU at idle of `node dist/agent.js`, beside a bare `node -e setInterval` process;
// 5. bundle size of dist/agent.js (and gzip), beside dist/blox.js.
// Exits 1 when something could not be measured (never prints a made-up figure); with --strict,
// exits 3 when a target is missed. Run `npm run build` first (dist/agent.js is measured as is).
import { ECSClient, StartTaskCommand } from '@aws-sdk/client-ecs';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CONFIG_KEYS, type AgentConfig } from '../agent/config.js';
import { LineSplitter } from '../core/json-lines.js';
import type { EmulatedTask, TaskStateChange } from '../local/ecs/emulator.js';
import { SimulatedRuntime } from '../local/runtime/simulated.js';
import { ECS_LABELS } from '../local/runtime/types.js';
import { startAgentWorld, waitFor, type AgentWorld, type ChildAgent, type RunningAgent } from '../test/support/agent-world.js';
import { localCredentials } from '../test/support/services.js';
import { dollarsPerMonth, HOURS_PER_MONTH, steadyStateCost, v1Model, type SteadyStateFigures, type UnitPrices } from './steady-state.js';
import { startDynamoMeter, type DynamoMeter } from './support/dynamo-meter.js';
import { startDynamoDbLocal, type DynamoDbLocal } from './support/dynamodb-local.js';
import { profileIdle, type IdleProfile } from './support/proc.js';
import { dist, kib, median, mib, ms, num, p90, table } from './support/report.js';

// ------------------------------------------------------------------ options

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(`--${name}`);
const QUICK = flag('quick');
const STRICT = flag('strict');
function option(name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(argv[i + 1]) : Number.NaN;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}
const TRIALS = option('trials', QUICK ? 5 : 10);
const COLD_TRIALS = option('cold-trials', QUICK ? 2 : 3);
const CRASHES = option('crashes', QUICK ? 5 : 10);
const AGENTS = option('agents', QUICK ? 10 : 20);
/** Idle sampling window; the agent's RSS settles only 20-25 s after start (V8 gives start-up memory back late). */
const IDLE_S = option('idle-seconds', QUICK ? 30 : 60);
const START_LATENCY_MS = option('start-latency-ms', 200);
/** Idle sampling starts this long after the agent process reports ready (start-up garbage collected). */
const IDLE_SETTLE_MS = 5_000;
/** Steady state: every interval this many times faster, so that its window (one status refresh interval) stays short. */
const STEADY_COMPRESSION = option('steady-compression', 20);
const ENVIRONMENT_COUNTS = (() => {
  const i = argv.indexOf('--environments');
  const list = (i >= 0 ? (argv[i + 1] ?? '') : QUICK ? '1,10' : '1,3,10')
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  return list.length ? list : [1, 3, 10];
})();
const PRICES: UnitPrices = { read: option('read-price', 0.125), write: option('write-price', 0.625) };

/** The agent's own defaults (docs/agent-config.md) for every interval: what production runs with. */
const DEFAULT_TIMINGS: Partial<AgentConfig> = Object.fromEntries(
  CONFIG_KEYS.filter((k) => typeof k.default === 'number').map((k) => [k.key, k.default]),
) as Partial<AgentConfig>;
const DEFAULT_TICK_MS = 1_000; // AgentDeps.tickMs default (agent/agent.ts); main.ts passes none

// ------------------------------------------------------------------ results and cleanup

interface Row {
  metric: string;
  value: string;
  baseline: string;
  relation: string;
  target: string;
  ok: 'yes' | 'NO' | '-';
}
const rows: Row[] = [];
const notMeasured: string[] = [];
const notes: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
const childPids = new Set<number>();

const log = (line: string): void => console.log(line);
const elapsed = (since: number): string => `${((performance.now() - since) / 1000).toFixed(1)} s`;
const loadLine = (): string => {
  const [a, b, c] = os.loadavg();
  return `load average ${a?.toFixed(2)} ${b?.toFixed(2)} ${c?.toFixed(2)} on ${os.cpus().length} CPUs`;
};

async function part(name: string, run: () => Promise<void>): Promise<void> {
  const started = performance.now();
  log(`\n== ${name}  (${loadLine()})`);
  try {
    await run();
    log(`   done in ${elapsed(started)}`);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    notMeasured.push(`${name}: ${message}`);
    log(`!! ${name}: NOT MEASURED: ${message}`);
  }
}

async function cleanup(): Promise<void> {
  for (const run of cleanups.splice(0).reverse()) await run().catch((error: unknown) => log(`   cleanup: ${String(error)}`));
}

process.on('exit', () => {
  for (const pid of childPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ task observation

/** Exact times (performance.now) of every task's 'created' and 'RUNNING', from the emulator's own events. */
function observeTasks(world: AgentWorld): { created: Map<string, number>; running: Map<string, number> } {
  const created = new Map<string, number>();
  const running = new Map<string, number>();
  world.emulator.onTaskStateChange(({ task, change }: TaskStateChange) => {
    const t = performance.now();
    if (change === 'created') created.set(task.taskArn, t);
    else if (change === 'RUNNING' && !running.has(task.taskArn)) running.set(task.taskArn, t);
  });
  return { created, running };
}

/** An idempotent close of a world, also run by the final cleanup. */
function closable(world: AgentWorld): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= world.close());
  cleanups.push(close);
  return close;
}
let closeTtdWorld: (() => Promise<void>) | undefined;

const liveOf = (world: AgentWorld, instanceArn: string, environment: string): EmulatedTask[] => world.liveTasks(instanceArn, environment);

// ------------------------------------------------------------------ 1. time to daemon

interface Trial {
  /** start -> StartTask reached the emulator */
  issuedMs: number;
  /** start -> RUNNING */
  runningMs: number;
}

async function timeToDaemon(
  dynamodbEndpoint: string,
  bareBundle: string | undefined,
  coldSkipReason: string | undefined,
  keepForIdle: (child: ChildAgent, world: AgentWorld) => void,
): Promise<void> {
  const world = await startAgentWorld({
    dynamodbEndpoint,
    runtime: new SimulatedRuntime({ startLatencyMs: START_LATENCY_MS, stopLatencyMs: 10 }),
    cluster: `bench-ttd-${process.pid}`,
  });
  closeTtdWorld = closable(world);
  const { created, running } = observeTasks(world);
  const td = await world.registerTaskDefinition('bench-daemon');
  await world.createEnvironment('bench-ttd', td);

  const baselineTrial = async (): Promise<Trial> => {
    const instance = await world.addInstance();
    const ecs = new ECSClient({ endpoint: world.emulator.url, region: 'us-east-1', credentials: localCredentials, maxAttempts: 1 });
    const t0 = performance.now();
    const out = await ecs.send(
      new StartTaskCommand({ cluster: world.cluster, taskDefinition: td, containerInstances: [instance.arn], startedBy: 'bench-baseline' }),
    );
    const arn = out.tasks?.[0]?.taskArn;
    if (!arn) throw new Error(`baseline StartTask started nothing: ${JSON.stringify(out.failures)}`);
    await waitFor('baseline task RUNNING', 30_000, () => running.has(arn), 5);
    ecs.destroy();
    return { issuedMs: created.get(arn)! - t0, runningMs: running.get(arn)! - t0 };
  };
  const agentTrial = async (): Promise<Trial> => {
    const instance = await world.addInstance();
    const t0 = performance.now();
    const agent: RunningAgent = await world.startAgent(instance, DEFAULT_TIMINGS, { tickMs: DEFAULT_TICK_MS });
    const task = await waitFor('daemon RUNNING', 30_000, () => liveOf(world, instance.arn, 'bench-ttd').find((t) => running.has(t.taskArn)), 5);
    const trial = { issuedMs: created.get(task.taskArn)! - t0, runningMs: running.get(task.taskArn)! - t0 };
    await agent.stop();
    return trial;
  };

  // one unrecorded pair warms the SDK, the agent's modules and the emulator's code paths
  await baselineTrial();
  await agentTrial();
  const base: Trial[] = [];
  const agent: Trial[] = [];
  for (let i = 0; i < TRIALS; i++) {
    base.push(await baselineTrial());
    agent.push(await agentTrial());
  }
  const b = base.map((t) => t.runningMs);
  const a = agent.map((t) => t.runningMs);
  const overhead = median(a) - median(b);
  log(
    `   simulated start latency ${START_LATENCY_MS} ms; ${TRIALS} trials each, interleaved; agent config = the defaults (poll ${DEFAULT_TIMINGS.pollIntervalMs} ms, tick ${DEFAULT_TICK_MS} ms)`,
  );
  log(`   bare StartTask -> RUNNING:         ${dist(b)}   (StartTask reached the emulator after ${dist(base.map((t) => t.issuedMs))})`);
  log(`   createAgent().start() -> RUNNING:  ${dist(a)}   (its StartTask reached the emulator after ${dist(agent.map((t) => t.issuedMs))})`);
  log(`   per-trial agent ms: ${a.map((v) => v.toFixed(0)).join(' ')}`);
  rows.push({
    metric: 'time to daemon, in process (start -> RUNNING)',
    value: dist(a),
    baseline: `${dist(b)} bare StartTask`,
    relation: `overhead ${ms(overhead)} (p90 ${ms(p90(a) - p90(b))}), x${(median(a) / median(b)).toFixed(2)}`,
    target: 'overhead < 1000 ms',
    ok: overhead < 1_000 ? 'yes' : 'NO',
  });

  // cold processes: node dist/agent.js against a bare bundled StartTask script
  if (coldSkipReason) {
    log(`   cold process trials skipped: ${coldSkipReason}`);
    return;
  }
  if (!bareBundle) throw new Error('the bare StartTask script could not be bundled (see above)');
  const coldBase: number[] = [];
  const coldAgent: number[] = [];
  for (let i = 0; i < COLD_TRIALS; i++) {
    {
      const instance = await world.addInstance();
      const t0 = performance.now();
      const child = spawn(process.execPath, [bareBundle, world.emulator.url, world.cluster, td, instance.arn], { stdio: ['ignore', 'pipe', 'pipe'] });
      if (child.pid) childPids.add(child.pid);
      let output = '';
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const task = await waitFor(
        'bare process task RUNNING',
        30_000,
        () => world.emulator.tasksOnInstance(instance.arn).find((t) => running.has(t.taskArn)),
        5,
      ).catch(async (error: unknown) => {
        throw new Error(`${String(error)}; bare script said: ${output.trim().slice(0, 300)}`);
      });
      coldBase.push(running.get(task.taskArn)! - t0);
      const code = await exited;
      if (child.pid) childPids.delete(child.pid);
      if (code !== 0) throw new Error(`the bare StartTask script exited ${code}: ${output.trim().slice(0, 300)}`);
    }
    {
      const instance = await world.addInstance();
      const t0 = performance.now();
      const child = await world.spawnAgent(instance, DEFAULT_TIMINGS);
      if (child.child.pid) childPids.add(child.child.pid);
      const task = await waitFor(
        'agent process daemon RUNNING',
        30_000,
        () => liveOf(world, instance.arn, 'bench-ttd').find((t) => running.has(t.taskArn)),
        5,
      ).catch(async (error: unknown) => {
        throw new Error(`${String(error)}; agent output: ${child.output().trim().split('\n').slice(-5).join(' | ').slice(0, 800)}`);
      });
      coldAgent.push(running.get(task.taskArn)! - t0);
      if (i === COLD_TRIALS - 1) {
        keepForIdle(child, world);
      } else {
        child.child.kill('SIGTERM');
        await child.exited;
        if (child.child.pid) childPids.delete(child.child.pid);
      }
    }
  }
  const coldOverhead = median(coldAgent) - median(coldBase);
  log(`   cold process (spawn -> RUNNING), ${COLD_TRIALS} each: bare bundled StartTask script ${dist(coldBase)}; node dist/agent.js ${dist(coldAgent)}`);
  rows.push({
    metric: 'time to daemon, cold process (spawn -> RUNNING)',
    value: dist(coldAgent),
    baseline: `${dist(coldBase)} bare script`,
    relation: `overhead ${ms(coldOverhead)}, x${(median(coldAgent) / median(coldBase)).toFixed(2)}`,
    target: 'overhead < 1000 ms',
    ok: coldOverhead < 1_000 ? 'yes' : 'NO',
  });
}

/** The bare StartTask script, bundled as dist/agent.js is (one minified ESM file). */
async function buildBareBundle(dir: string): Promise<string> {
  const { build } = await import('esbuild');
  const out = join(dir, 'bare-start-task.mjs');
  await build({
    entryPoints: [new URL('./support/bare-start-task.ts', import.meta.url).pathname],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    logLevel: 'warning',
    banner: { js: "import { createRequire as __bloxCreateRequire } from 'node:module'; const require = __bloxCreateRequire(import.meta.url);" },
  });
  return out;
}

// ------------------------------------------------------------------ 4. idle RSS and CPU

async function idleProfile(child: ChildAgent, world: AgentWorld): Promise<void> {
  const pid = child.child.pid;
  if (!pid) throw new Error('the agent process has no pid');
  await waitFor('agent /readyz 200', 30_000, async () => (await fetch(`${child.url}/readyz`)).status === 200, 100).catch((error: unknown) => {
    throw new Error(`${String(error)}; agent output: ${child.output().trim().split('\n').slice(-5).join(' | ').slice(0, 800)}`);
  });
  const bare: ChildProcess = spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' });
  if (!bare.pid) throw new Error('could not start the bare node process');
  childPids.add(bare.pid);
  const bareExited = new Promise<void>((resolve) => bare.once('exit', () => resolve()));
  try {
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS)); // both past their start-up
    const before = world.emulator.callCounts();
    const profiles = await profileIdle([pid, bare.pid], IDLE_S);
    const after = world.emulator.callCounts();
    const agentP = profiles.get(pid) as IdleProfile;
    const bareP = profiles.get(bare.pid) as IdleProfile;
    const ecsCalls = Object.keys(after).reduce((sum, op) => sum + (after[op] ?? 0) - (before[op] ?? 0), 0);
    log(
      `   node dist/agent.js (defaults, converged, 1 daemon): RSS first ${mib(agentP.rssFirstKb)}, last ${mib(agentP.rssLastKb)}, mean ${mib(agentP.rssMeanKb)}, max ${mib(agentP.rssMaxKb)}, peak since start (VmHWM) ${mib(agentP.hwmKb)}; CPU ${agentP.cpuSeconds.toFixed(2)} s in ${agentP.seconds.toFixed(1)} s = ${agentP.cpuPercent.toFixed(2)}% of a core; ECS calls meanwhile ${ecsCalls}`,
    );
    log(`   agent RSS samples (MiB, every second): ${agentP.rssSeriesKb.map((kb) => (kb / 1024).toFixed(0)).join(' ')}`);
    log(
      `   node -e setInterval (bare):                          RSS mean ${mib(bareP.rssMeanKb)}, max ${mib(bareP.rssMaxKb)}, VmHWM ${mib(bareP.hwmKb)}; CPU ${bareP.cpuSeconds.toFixed(2)} s = ${bareP.cpuPercent.toFixed(2)}% of a core`,
    );
    const mb = (kb: number): string => `${((kb * 1024) / 1e6).toFixed(1)} MB`;
    // settled: the median of the window's second half (start-up memory given back by then)
    const settled = (p: IdleProfile): number => median(p.rssSeriesKb.slice(Math.floor(p.rssSeriesKb.length / 2)));
    const agentSettled = settled(agentP);
    const bareSettled = settled(bareP);
    rows.push({
      metric: `agent RSS at idle, settled (median of last ${Math.round(IDLE_S / 2)} s)`,
      value: `${mib(agentSettled)} = ${mb(agentSettled)}`,
      baseline: `${mib(bareSettled)} bare node`,
      relation: `+${mib(agentSettled - bareSettled)}, x${(agentSettled / bareSettled).toFixed(2)}`,
      target: '< 80 MB (76.3 MiB)',
      ok: agentSettled * 1024 < 80e6 ? 'yes' : 'NO',
    });
    rows.push({
      metric: `agent RSS max over ${IDLE_S} s idle (peak since start)`,
      value: `${mib(agentP.rssMaxKb)} (${mib(agentP.hwmKb)})`,
      baseline: `${mib(bareP.rssMaxKb)} (${mib(bareP.hwmKb)}) bare node`,
      relation: `x${(agentP.rssMaxKb / bareP.rssMaxKb).toFixed(2)} (x${(agentP.hwmKb / bareP.hwmKb).toFixed(2)})`,
      target: '-',
      ok: '-',
    });
    rows.push({
      metric: `agent CPU at idle (${IDLE_S} s window)`,
      value: `${agentP.cpuPercent.toFixed(2)}% of a core`,
      baseline: `${bareP.cpuPercent.toFixed(2)}% bare node`,
      relation: `+${(agentP.cpuPercent - bareP.cpuPercent).toFixed(2)} points`,
      target: '-',
      ok: '-',
    });
    // What loading the bundle alone costs: `--version` parses and runs every module's top level,
    // then exits; each process reports its own RSS at exit (same for an empty script).
    const loaded = rssAtExit(['dist/agent.js', '--version']);
    const empty = rssAtExit(['-e', '0']);
    log(`   RSS at exit of node dist/agent.js --version (bundle loaded, nothing started): ${mib(loaded)}; of node -e 0: ${mib(empty)}`);
    rows.push({
      metric: 'RSS with the bundle only loaded (--version)',
      value: mib(loaded),
      baseline: `${mib(empty)} node -e 0`,
      relation: `+${mib(loaded - empty)}`,
      target: '-',
      ok: '-',
    });
  } finally {
    bare.kill('SIGKILL');
    await bareExited;
    childPids.delete(bare.pid);
    child.child.kill('SIGTERM');
    await child.exited;
    if (child.child.pid) childPids.delete(child.child.pid);
  }
}

/** RSS (KiB) a node process reports for itself when it exits, through a preloaded exit hook. */
function rssAtExit(args: string[]): number {
  const hook = `data:text/javascript,process.on('exit',()=>process.stderr.write('BENCH_RSS='+process.memoryUsage().rss+'\\n'))`;
  const out = spawnSync(process.execPath, ['--import', hook, ...args], { encoding: 'utf8', timeout: 30_000 });
  const m = /BENCH_RSS=(\d+)/.exec(out.stderr ?? '');
  if (!m) throw new Error(`node ${args.join(' ')} reported no RSS (exit ${out.status}): ${(out.stderr ?? '').slice(0, 300)}`);
  return Number(m[1]) / 1024;
}

// ------------------------------------------------------------------ 2. reaction time

/** Subscribes to a Docker view's /events (die only); calls back with the task ARN at arrival. */
function watchDies(socketPath: string, onDie: (taskArn: string, at: number) => void): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['die'] }));
    const req = httpRequest({ socketPath, path: `/events?filters=${filters}`, method: 'GET' }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`/events answered ${res.statusCode}`));
      const lines = new LineSplitter();
      res.on('data', (chunk: Buffer) => {
        const at = performance.now();
        for (const line of lines.push(chunk)) {
          const event = JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } };
          const arn = event.Actor?.Attributes?.[ECS_LABELS.taskArn];
          if (arn) onDie(arn, at);
        }
      });
      res.on('error', () => undefined);
      resolve(() => req.destroy());
    });
    req.on('error', reject);
    req.end();
  });
}

async function reactionTime(meter: DynamoMeter): Promise<void> {
  const dynamodbEndpoint = meter.url;
  const runtime = new SimulatedRuntime({ startLatencyMs: 50, stopLatencyMs: 10 });
  const world = await startAgentWorld({ dynamodbEndpoint, runtime, cluster: `bench-react-${process.pid}` });
  const close = closable(world);
  const { created, running } = observeTasks(world);
  const env = 'bench-react';
  const td = await world.registerTaskDefinition('bench-react');
  // Restart policy of the bench's revision: no initial delay (the default is 1 s), and no crash-loop
  // cap within the run, so that every crash measures the reaction, not the policy's wait.
  await world.createEnvironment(env, td, { restartPolicy: { initialDelayMs: 0, maxDelayMs: 1_000, crashLoopRestarts: 1_000 } });
  const instance = await world.addInstance();
  const dies = new Map<string, number>();
  const unwatch = await watchDies(instance.endpoints.dockerSocket, (arn, at) => {
    if (!dies.has(arn)) dies.set(arn, at);
  });
  cleanups.push(async () => unwatch());
  const { agent } = await world.startAgent(instance, DEFAULT_TIMINGS, { tickMs: DEFAULT_TICK_MS });
  const settled = async (what: string, not?: string): Promise<EmulatedTask> => {
    const task = await waitFor(what, 30_000, () => liveOf(world, instance.arn, env).find((t) => t.taskArn !== not && running.has(t.taskArn)), 5);
    await waitFor('task recorded in the lease', 15_000, () => agent.status().claims[env]?.taskArn === task.taskArn, 10);
    await new Promise((r) => setTimeout(r, 300)); // let the step that recorded it finish and the loop go idle
    return task;
  };
  let current = await settled('first daemon RUNNING');
  const reaction: number[] = [];
  const floor: number[] = [];
  const leaseSent: number[] = [];
  const leaseAnswered: number[] = [];
  let leaseWrites: { receivedAt: number; answeredAt: number }[] = [];
  const offMeter = meter.onExchange((e) => {
    if (e.operation === 'PutItem' && e.kind === 'LEASE') leaseWrites.push(e);
  });
  cleanups.push(async () => offMeter());
  for (let i = 0; i < CRASHES; i++) {
    leaseWrites = [];
    const t0 = performance.now();
    runtime.crash(current.taskArn, 'main', 1);
    const old = current.taskArn;
    const next = await waitFor('restart StartTask', 15_000, () => liveOf(world, instance.arn, env).find((t) => t.taskArn !== old && created.has(t.taskArn)), 2);
    const issued = created.get(next.taskArn)!;
    reaction.push(issued - t0);
    // the attempt token's conditional write, which must succeed before StartTask
    const write = leaseWrites.filter((w) => w.answeredAt <= issued).at(-1);
    if (write) {
      leaseSent.push(write.receivedAt - t0);
      leaseAnswered.push(write.answeredAt - t0);
    }
    const seen = dies.get(old);
    if (seen === undefined) throw new Error(`the die event of ${old} never arrived on the Docker view /events stream`);
    floor.push(seen - t0);
    current = await settled('restarted daemon RUNNING', old);
  }
  unwatch();
  const restarts = agent.metrics.total('blox_agent_restarts_total');
  log(
    `   ${CRASHES} crashes (exit 1) of the daemon's container; restart policy initialDelayMs 0 (set in the bench's environment revision; the default is 1000 ms); agent restarts counted: ${restarts}`,
  );
  log(`   die seen on the Docker view /events stream: ${dist(floor, 1)}`);
  log(
    `   the claim write of the attempt token (PutItem) reached DynamoDB: ${dist(leaseSent, 1)}, answered: ${dist(leaseAnswered, 1)} (${leaseSent.length} of ${CRASHES} crashes)`,
  );
  log(`   agent's StartTask reached the emulator:     ${dist(reaction, 1)}   per crash: ${reaction.map((v) => v.toFixed(1)).join(' ')}`);
  rows.push({
    metric: 'reaction: container death -> StartTask issued',
    value: dist(reaction, 1),
    baseline: `${dist(floor, 1)} die on /events`,
    relation: `+${ms(median(reaction) - median(floor), 1)} over the floor`,
    target: '< 100 ms',
    ok: median(reaction) < 100 && p90(reaction) < 100 ? 'yes' : 'NO',
  });
  await close();
}

// ------------------------------------------------------------------ 3. steady-state cost

async function steadyState(meter: DynamoMeter): Promise<void> {
  const figures: SteadyStateFigures[] = [];
  for (const environments of ENVIRONMENT_COUNTS) {
    const f = await steadyStateCost({
      meter,
      defaults: DEFAULT_TIMINGS as AgentConfig,
      defaultTickMs: DEFAULT_TICK_MS,
      agents: AGENTS,
      environments,
      compression: STEADY_COMPRESSION,
      track: (close) => cleanups.push(close),
      log,
    });
    figures.push(f);
    notes.push(...f.notes);
  }
  for (const f of figures) {
    const h = f.perHour;
    const v1 = v1Model(f.environments);
    const ok = h.writes <= 70 && h.wcu <= 70 && h.rcu <= 400 && h.ecs <= 40;
    rows.push({
      metric: `per instance-hour, ${f.environments} environment(s)`,
      value: `${num(h.wcu, 1)} WCU (${num(h.writes, 0)} writes), ${num(h.rcu, 1)} RCU (${num(h.reads, 0)} reads, ${num(f.readsPerPoll, 2)}/poll), ${num(h.ecs, 1)} ECS calls`,
      baseline: `v1 contract (computed): ${num(v1.wcu, 0)} WCU, ${num(v1.rcu, 0)} RCU`,
      relation: `writes x${(h.wcu / v1.wcu).toFixed(2)}`,
      target: 'writes <= 70, reads <= 400, ECS <= 40',
      ok: ok ? 'yes' : 'NO',
    });
    rows.push({
      metric: `on-demand DynamoDB per instance-month, ${f.environments} environment(s)`,
      value: `$${dollarsPerMonth(h.rcu, h.wcu, PRICES).toFixed(3)}`,
      baseline: `v1 contract $${dollarsPerMonth(v1.rcu, v1.wcu, PRICES).toFixed(3)}`,
      relation: `x${(dollarsPerMonth(h.rcu, h.wcu, PRICES) / dollarsPerMonth(v1.rcu, v1.wcu, PRICES)).toFixed(2)}; 10,000 instances: $${num(dollarsPerMonth(h.rcu, h.wcu, PRICES) * 10_000, 0)} a month`,
      target: '-',
      ok: '-',
    });
    notes.push(
      `steady state, ${f.environments} environment(s), per instance-hour at the defaults: ${num(h.polls, 0)} polls; writes ${Object.entries(h.writesByKind)
        .map(([k, v]) => `${k} ${num(v, 1)}`)
        .join(', ')}; ECS ${Object.entries(h.ecsByOperation)
        .map(([k, v]) => `${k} ${num(v, 1)}`)
        .join(', ')}`,
    );
  }
  notes.push(
    `prices: on-demand DynamoDB at $${PRICES.read} per million read units and $${PRICES.write} per million write units (us-east-1 since November 2024; --read-price/--write-price to change), ${HOURS_PER_MONTH} hours a month; ECS API calls cost nothing`,
  );
}

// ------------------------------------------------------------------ 5. bundle size

function bundleSizes(): void {
  const sizes = (path: string) => {
    if (!existsSync(path)) throw new Error(`${path} is missing (run npm run build)`);
    const bytes = readFileSync(path);
    return { bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  };
  const agent = sizes('dist/agent.js');
  const blox = sizes('dist/blox.js');
  const nodeBinary = statSync(process.execPath).size;
  log(
    `   dist/agent.js ${agent.bytes} bytes (${kib(agent.bytes)}), gzip -9 ${agent.gzip} bytes (${kib(agent.gzip)}); dist/blox.js ${blox.bytes} bytes, gzip ${blox.gzip}; the node binary itself ${(nodeBinary / 1048576).toFixed(1)} MiB`,
  );
  rows.push({
    metric: 'bundle dist/agent.js (gzip -9)',
    value: `${kib(agent.bytes)} (${kib(agent.gzip)})`,
    baseline: `${kib(blox.bytes)} (${kib(blox.gzip)}) dist/blox.js`,
    relation: `x${(agent.bytes / blox.bytes).toFixed(2)} (gzip x${(agent.gzip / blox.gzip).toFixed(2)})`,
    target: '-',
    ok: '-',
  });
}

/** The newest source the bundle is built from, to warn about a stale dist/agent.js. */
function newestSource(dirs: string[]): { path: string; mtimeMs: number } {
  let newest = { path: '', mtimeMs: 0 };
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const m = statSync(path).mtimeMs;
        if (m > newest.mtimeMs) newest = { path, mtimeMs: m };
      }
    }
  };
  for (const dir of dirs) if (existsSync(dir)) walk(dir);
  return newest;
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  const began = performance.now();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    // not a checkout
  }
  log(`blox-edge agent bench — ${new Date().toISOString()}, commit ${commit}, node ${process.version}, ${os.cpus().length} CPUs, ${loadLine()}`);
  if ((os.loadavg()[0] ?? 0) > os.cpus().length)
    log(`   NOTE: the machine is loaded (1-min load ${os.loadavg()[0]?.toFixed(2)} > ${os.cpus().length} CPUs): absolute times are inflated; read the ratios`);
  const haveBundle = existsSync('dist/agent.js');
  if (!haveBundle) log('   dist/agent.js is missing: run `npm run build` first (the cold start, idle and bundle figures need it)');
  else {
    const src = newestSource(['agent', 'core']);
    if (src.mtimeMs > statSync('dist/agent.js').mtimeMs)
      log(`   NOTE: dist/agent.js is older than ${src.path}; the process figures measure the bundle as built`);
  }

  const tmp = mkdtempSync(join(os.tmpdir(), 'bx-bench-'));
  cleanups.push(async () => rmSync(tmp, { recursive: true, force: true }));
  let bareBundle: string | undefined;
  try {
    bareBundle = await buildBareBundle(tmp);
  } catch (error) {
    log(`!! could not bundle the bare StartTask script: ${String(error)}`);
  }

  let ddb: DynamoDbLocal;
  try {
    ddb = await startDynamoDbLocal();
  } catch (error) {
    log(`!! DynamoDB Local did not start: ${String(error)}`);
    notMeasured.push(`everything: DynamoDB Local did not start: ${String(error)}`);
    await cleanup();
    return 1;
  }
  if (ddb.pid) childPids.add(ddb.pid);
  cleanups.push(() => ddb.stop());
  log(`   DynamoDB Local at ${ddb.endpoint} (${ddb.pid ? `started in ${(ddb.startMs / 1000).toFixed(1)} s` : 'given'})`);
  const meter = await startDynamoMeter(ddb.endpoint);
  cleanups.push(() => meter.close());

  let idle: { child: ChildAgent; world: AgentWorld } | undefined;
  await part('1. time to daemon', async () => {
    if (!haveBundle) notMeasured.push('time to daemon, cold process: dist/agent.js is missing');
    await timeToDaemon(meter.url, bareBundle, haveBundle ? undefined : 'dist/agent.js is missing', (child, world) => (idle = { child, world }));
  });
  await part('4. agent RSS and CPU at idle', async () => {
    if (!idle) throw new Error(haveBundle ? 'no converged agent process (see part 1)' : 'dist/agent.js is missing');
    await idleProfile(idle.child, idle.world);
  });
  await closeTtdWorld?.(); // the idle agent process and its world go before the next part
  await part('2. reaction time', () => reactionTime(meter));
  await part('3. steady-state cost', () => steadyState(meter));
  await part('5. bundle size', async () => bundleSizes());

  log(`\n== results (${loadLine()}; whole run ${elapsed(began)})`);
  log(
    table(
      ['metric', 'blox-edge', 'baseline (same run)', 'ratio / overhead', 'target', 'ok?'],
      rows.map((r) => [r.metric, r.value, r.baseline, r.relation, r.target, r.ok]),
    ),
  );
  for (const note of notes) log(`- ${note}`);
  log(
    '- times: performance.now() in the bench process; StartTask "issued" = the emulator created the task (its handler, before it answers); RUNNING = the emulator\'s task state event',
  );
  log(`- reaction: restart policy initialDelayMs 0 in the bench environment's revision (default 1000 ms: add it for the default reaction)`);
  if ((os.loadavg()[0] ?? 0) > os.cpus().length) log(`- the machine was loaded during the run (${loadLine()}): absolute times are inflated`);
  await cleanup();
  if (notMeasured.length) {
    log(`\nNOT MEASURED (${notMeasured.length}):`);
    for (const m of notMeasured) log(`- ${m}`);
    return 1;
  }
  const missed = rows.filter((r) => r.ok === 'NO');
  if (missed.length) log(`\ntargets missed: ${missed.map((r) => r.metric).join('; ')}`);
  return STRICT && missed.length ? 3 : 0;
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    console.error(error);
    await cleanup();
    process.exit(1);
  },
);
