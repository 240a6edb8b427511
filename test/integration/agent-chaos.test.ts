// Chaos against real agent processes (node dist/agent.js), DynamoDB Local and the emulator: two
// agents per instance with different state directories (an operator mistake, an upgrade overlap)
// are SIGKILLed, SIGTERMed and restarted at random while daemons crash and ECS throttles and lags,
// and meanwhile one environment rolls out a new revision (maxUnavailable 1, a 1 s bake) that the
// agents pace among themselves. At no moment may an (environment, instance) have two live tasks;
// a sampler (test/support/rollout-sampler.ts) reads the rollout control, the deployment and every
// claim as of one moment every 100 ms and holds the rollout's invariants: the counter equals the
// counted claims, never more than maxUnavailable counted, phase and status never go back, and no
// ready old daemon is stopped without a counted admission of its instance. An instance whose old
// daemon is already not ready (UNHEALTHY) is replaced first and not counted. Once the chaos ends,
// the deployment completes and every instance runs exactly one daemon per environment, the rolled
// one on the new revision, with no orphan left.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { startAgentWorld, waitFor, type AgentWorld, type WorldInstance } from '../support/agent-world.js';
import { AgentSlots, runChaos } from '../support/chaos.js';
import { seeded } from '../support/prng.js';
import { startRolloutSampler } from '../support/rollout-sampler.js';
import { dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();
const CHAOS_MS = 20_000;
const ROLLED = 'chaos-logs';
const STEADY = 'chaos-metrics';
const ENVIRONMENTS = [ROLLED, STEADY];
const SEED = Number(process.env.BLOX_CHAOS_SEED ?? 20261127);

describe.skipIf(!endpoint)('edge agents under chaos (integration, real processes)', () => {
  let world: AgentWorld;
  const runtime = new SimulatedRuntime({ startLatencyMs: 50 });
  beforeAll(async () => {
    world = await startAgentWorld({ dynamodbEndpoint: endpoint!, runtime });
  });
  afterAll(async () => world?.close());

  it('kills, restarts and races agents while daemons crash, ECS throttles and a rollout runs: never two live tasks, the rollout paced and counted throughout, then one daemon each on the new revision', async () => {
    const random = seeded(SEED);
    const restartPolicy = { initialDelayMs: 100, maxDelayMs: 1_000 };
    const expression = 'attribute:chaos == yes';
    const v1 = await world.registerTaskDefinition(ROLLED, { healthCheck: true });
    await world.createEnvironment(ROLLED, v1, { expression, restartPolicy, deploymentConfiguration: { maxUnavailable: '1', minHealthySeconds: 1 } });
    await world.createEnvironment(STEADY, await world.registerTaskDefinition(STEADY), { expression, restartPolicy });
    const instances: WorldInstance[] = [];
    for (let i = 0; i < 4; i++) instances.push(await world.addInstance({ attributes: { chaos: 'yes' } }));
    const idOf = (i: WorldInstance) => i.arn.split('/').pop()!;

    // The invariant, checked on every task state change the emulator makes.
    const duplicates = world.watchDuplicates();

    // Two agent slots per instance, each with its own state directory (restarts keep it).
    const slots = new AgentSlots(world, instances, 2, { leaseDurationMs: 2_000, pollIntervalMs: 300, attemptSettleMs: 500, ecsReconcileIntervalMs: 3_000 });
    await slots.spawnIdle();
    // BLOX_CHAOS_LOGS=<dir>: every agent process's output and what the sampler saw are kept there, whatever the outcome.
    const logs = process.env.BLOX_CHAOS_LOGS;
    onTestFinished(() => {
      if (logs) slots.dumpOutputs(logs);
    });

    // Something to roll: revision 1 ready everywhere and its deployment completed.
    const readyOn = (i: WorldInstance, env: string, taskDefinition?: string) => {
      const live = world.liveTasks(i.arn, env);
      return (
        live.length === 1 &&
        live[0]!.lastStatus === 'RUNNING' &&
        live[0]!.healthStatus !== 'UNHEALTHY' &&
        (taskDefinition === undefined || live[0]!.taskDefinitionArn.endsWith(`/${taskDefinition}`))
      );
    };
    await waitFor('revision 1 everywhere', 60_000, () => instances.every((i) => ENVIRONMENTS.every((env) => readyOn(i, env))), 200);
    const first = (await world.store.getEnvironment(ROLLED)).activeDeployment!.id;
    await waitFor('the first deployment completed', 30_000, async () => (await world.store.getDeployment(ROLLED, first)).status === 'completed', 200);

    // One old daemon goes UNHEALTHY (nothing restarts it; the chaos spares it): the rollout replaces it first, uncounted.
    const sick = instances[0]!;
    const sickTask = world.liveTasks(sick.arn, ROLLED)[0]!.taskArn;
    runtime.setHealth(sickTask, 'main', 'UNHEALTHY');
    await waitFor('the sick daemon reported not ready', 20_000, async () => {
      const status = await world.rawItem(`CLUSTER#${world.cluster}`, `INSTANCE#${idOf(sick)}`);
      return (status?.daemons as { environment: string; ready?: boolean }[] | undefined)?.some((d) => d.environment === ROLLED && d.ready === false);
    });

    const sampler = startRolloutSampler({
      ddb: world.ddb,
      table: world.table,
      emulator: world.emulator,
      environment: ROLLED,
      instanceIds: instances.map(idOf),
      maxUnavailable: 1,
    });
    onTestFailed(() => console.error(`the rollout sampler saw:\n${[...sampler.history, ...sampler.violations].join('\n')}`));
    onTestFinished(async () => {
      await sampler.stop(); // after a failure it still runs
      if (!logs) return;
      mkdirSync(logs, { recursive: true });
      writeFileSync(join(logs, 'sampler.txt'), [...sampler.history, ...sampler.violations].join('\n'));
    });
    const v2 = await world.registerTaskDefinition(ROLLED, { healthCheck: true });
    let deploymentId: string | undefined;
    const chaosBegan = Date.now();
    const deploy = async () => {
      const head = await world.store.getEnvironment(ROLLED);
      deploymentId = (await world.store.updateEnvironment(ROLLED, { token: head.token, taskDefinition: v2, deploy: true })).deployment!.id;
    };
    const counts = await runChaos({
      world,
      runtime,
      slots,
      instances,
      random,
      durationMs: CHAOS_MS,
      // The rollout alone takes old daemons of the rolled environment down (a crashed one is replaced uncounted, as the sick one is).
      spare: (t) => t.group === `blox:${ROLLED}` && t.taskDefinitionArn.endsWith(`/${v1}`),
      schedule: [{ atMs: 2_000, run: deploy }],
    });
    const chaosEnded = Date.now();
    await slots.spawnIdle();

    const converged = () => instances.every((i) => readyOn(i, ROLLED, v2) && readyOn(i, STEADY));
    await waitFor('one running daemon per environment and instance, the rolled one on revision 2', 60_000, converged, 200);
    const done = await waitFor('the rollout completed', 30_000, async () => {
      const d = await world.store.getDeployment(ROLLED, deploymentId!);
      return d.status === 'completed' ? d : undefined;
    });
    await sampler.stop();
    duplicates.stop();
    const sickStop = sampler.notReadyStops.find((s) => s.taskArn === sickTask);
    const since = (iso: string) => Date.parse(iso) - chaosBegan;
    console.log(
      JSON.stringify({
        seed: SEED,
        counts,
        chaosMs: chaosEnded - chaosBegan,
        sample: {
          samples: sampler.samples,
          failedReads: sampler.failedReads,
          readyStops: sampler.readyStops.length,
          notReadyStops: sampler.notReadyStops.length,
        },
        sickStopMs: sickStop === undefined ? undefined : sickStop.atMs - chaosBegan,
        admittedMs: [...sampler.admissions.values()].map((a) => since(a.at)),
        completedMs: done.finishedAt === undefined ? undefined : since(done.finishedAt),
      }),
    );

    expect(duplicates.violations).toEqual([]);
    expect(sampler.violations).toEqual([]);
    expect(sampler.samples).toBeGreaterThan(50);
    expect(done.finishedAt).toBeDefined();
    expect(await world.rawItem(`ENV#${ROLLED}`, 'ROLLOUT')).toMatchObject({ deploymentId, phase: 'done', outcome: 'completed', inFlight: 0 });
    expect(sampler.phases.at(-1)).toBe(`${deploymentId}:done`);
    // The rollout did pace: ready old daemons were stopped under a counted admission, one at a time.
    expect(sampler.readyStops).toHaveLength(instances.length - 1);
    expect(sampler.admissions.size).toBe(instances.length - 1);
    expect(sampler.maxCounted).toBe(1);
    // The sick instance went first, stopped by its agent while not ready, and never counted.
    expect(sickStop).toBeDefined();
    expect(sampler.admissions.has(idOf(sick))).toBe(false);
    for (const a of sampler.admissions.values()) expect(Date.parse(a.at)).toBeGreaterThan(sickStop!.atMs);
    expect(counts.killed + counts.terminated).toBeGreaterThan(5);
    expect(counts.crashed).toBeGreaterThan(2);
    // nothing of ours beyond the one daemon per environment and instance
    for (const i of instances)
      expect(world.emulator.tasksOnInstance(i.arn).filter((t) => t.group?.startsWith('blox:') && t.lastStatus !== 'STOPPED')).toHaveLength(ENVIRONMENTS.length);
    expect(await slots.terminateAll()).toEqual(slots.slots.map(() => 0));
  }, 150_000);
});
