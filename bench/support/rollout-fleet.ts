// A fleet for a real-time rollout: the integration tests' local world (test/support/agent-world.ts)
// over the simulated runtime, N `node dist/agent.js` processes (world.spawnAgent) talking to
// DynamoDB Local through the counting proxy (dynamo-meter.ts), one environment on every instance;
// then rollouts to new revisions, each measured in wall time: to the deployment's `completed`
// (its finishedAt, written by the steward), to every instance ready on the target, the most
// instances without a ready daemon (sampled on every emulator task change), and the agents'
// DynamoDB requests and ECS calls in that window.
import type { AgentConfig } from '../../agent/config.js';
import type { EmulatedTask } from '../../local/ecs/emulator.js';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { readyTask, startAgentWorld, waitFor, type AgentWorld, type ChildAgent, type WorldInstance } from '../../test/support/agent-world.js';
import { startDynamoMeter, type DynamoMeter } from './dynamo-meter.js';

export interface FleetSettings {
  dynamodbEndpoint: string;
  agents: number;
  /** The simulated runtime's latencies: StopTask to the container's exit, StartTask to RUNNING. */
  stopMs: number;
  startMs: number;
  /** RUNNING to HEALTHY: the task definition's health check start period (whole seconds, at least 1). */
  readySeconds: number;
  /** The deployment configuration's minHealthySeconds. */
  bakeSeconds: number;
  /** The agents' configuration over the world's (timings, as flags of node dist/agent.js). */
  agentConfig: Partial<AgentConfig>;
  log: (line: string) => void;
}

export interface RolloutFleet {
  world: AgentWorld;
  meter: DynamoMeter;
  instances: WorldInstance[];
  children: ChildAgent[];
  environment: string;
  readySeconds: number;
  /** Start-up to every daemon ready and the first deployment completed. */
  convergedMs: number;
  close(): Promise<void>;
}

export interface RealRollout {
  maxUnavailable: string;
  outcome: string;
  /** From the update that started the deployment to its finishedAt. */
  completedMs: number | undefined;
  /** To the first moment every instance had a ready daemon of the target. */
  allReadyMs: number | undefined;
  maxUnavailableSeen: number;
  maxPerInstance: number;
  /** The agents' DynamoDB requests from the update to completedMs, and by "operation kind" (errors, e.g. cancelled transactions, as "(refused)"). */
  dynamoRequests: number;
  requestsByKind: Map<string, number>;
  /** ECS calls by operation in the same window. */
  ecsCalls: Map<string, number>;
}

const ENVIRONMENT = 'rollout-rt';

export async function startRolloutFleet(s: FleetSettings): Promise<RolloutFleet> {
  if (!Number.isInteger(s.readySeconds) || s.readySeconds < 1)
    throw new Error(`the ready latency is a health check's start period: whole seconds, at least 1 (got ${s.readySeconds} s)`);
  const began = performance.now();
  const meter = await startDynamoMeter(s.dynamodbEndpoint);
  // The world's own clients (the bench's reads and writes) go to DynamoDB Local directly: only the agents are counted.
  const world = await startAgentWorld({
    dynamodbEndpoint: s.dynamodbEndpoint,
    runtime: new SimulatedRuntime({ startLatencyMs: s.startMs, stopLatencyMs: s.stopMs }),
    cluster: `bench-rollout-rt-${process.pid}`,
  });
  let closing: Promise<void> | undefined;
  const fleet: RolloutFleet = {
    world,
    meter,
    instances: [],
    children: [],
    environment: ENVIRONMENT,
    readySeconds: s.readySeconds,
    convergedMs: 0,
    close: () =>
      (closing ??= (async () => {
        for (const c of fleet.children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGTERM');
        await Promise.race([Promise.all(fleet.children.map((c) => c.exited)), new Promise((r) => setTimeout(r, 10_000))]);
        await world.close(); // SIGKILLs any agent still up
        await meter.close();
      })()),
  };
  try {
    const v1 = await registerRevision(world, s.readySeconds);
    await world.createEnvironment(ENVIRONMENT, v1, { deploymentConfiguration: { minHealthySeconds: s.bakeSeconds } });
    for (let i = 0; i < s.agents; i++) fleet.instances.push(await world.addInstance());
    for (const instance of fleet.instances) fleet.children.push(await world.spawnAgent(instance, { ...s.agentConfig, dynamodbEndpoint: meter.url }));
    const env = await world.store.getEnvironment(ENVIRONMENT);
    const first = env.activeDeployment!.id;
    await waitFor(
      `${s.agents} agents: a ready daemon on every instance and the first deployment completed`,
      180_000,
      async () =>
        fleet.instances.every((i) => world.liveTasks(i.arn, ENVIRONMENT).some(readyTask)) &&
        (await world.store.getDeployment(ENVIRONMENT, first)).status === 'completed',
      250,
    ).catch((error: unknown) => {
      const gone = fleet.children.filter((c) => c.child.exitCode !== null);
      throw new Error(
        `${String(error)}${gone.length ? `; ${gone.length} agent(s) exited, the first said: ${gone[0]!.output().trim().split('\n').slice(-3).join(' | ').slice(0, 600)}` : ''}`,
      );
    });
    fleet.convergedMs = performance.now() - began;
    s.log(`   ${s.agents} agents converged and the first deployment completed in ${(fleet.convergedMs / 1000).toFixed(1)} s`);
    return fleet;
  } catch (error) {
    await fleet.close();
    throw error;
  }
}

function registerRevision(world: AgentWorld, readySeconds: number): Promise<string> {
  return world.registerTaskDefinition(ENVIRONMENT, { healthCheck: { startPeriodSeconds: readySeconds } });
}

const onTarget = (tasks: EmulatedTask[], taskDefinition: string): boolean =>
  tasks.some((t) => readyTask(t) && t.taskDefinitionArn.endsWith(`/${taskDefinition}`));

/** One rollout of the fleet to a new revision with `maxUnavailable`, measured until the steward finishes it. */
export async function measureRollout(fleet: RolloutFleet, maxUnavailable: string, bakeSeconds: number, timeoutMs: number): Promise<RealRollout> {
  const { world, meter, instances } = fleet;
  const target = await registerRevision(world, fleet.readySeconds);
  const exchanges: { at: number; label: string }[] = [];
  const offMeter = meter.onExchange((e) =>
    exchanges.push({ at: e.receivedAt, label: `${e.kind ? `${e.operation} ${e.kind}` : e.operation}${e.status >= 400 ? ' (refused)' : ''}` }),
  );
  const ecs: { at: number; operation: string }[] = [];
  const offEcs = world.emulator.onExchange((e) => ecs.push({ at: performance.now(), operation: e.operation }));
  let t0 = 0;
  let allReadyAt: number | undefined;
  const sampler = world.sampleFleet(fleet.environment, instances, {
    onSample: (at, live) => {
      if (allReadyAt === undefined && t0 > 0 && live.every((tasks) => onTarget(tasks, target))) allReadyAt = at;
    },
  });
  try {
    const head = await world.store.getEnvironment(fleet.environment);
    t0 = performance.now();
    const t0Wall = Date.now();
    const update = await world.store.updateEnvironment(fleet.environment, {
      token: head.token,
      taskDefinition: target,
      deploymentConfiguration: { maxUnavailable, minHealthySeconds: bakeSeconds },
      deploy: true,
    });
    const id = update.deployment!.id;
    const done = await waitFor(
      `deployment ${id} (maxUnavailable ${maxUnavailable}) finished`,
      timeoutMs,
      async () => {
        const d = await world.store.getDeployment(fleet.environment, id);
        return d.finishedAt !== undefined ? d : undefined;
      },
      200,
    );
    const completedMs = Date.parse(done.finishedAt!) - t0Wall;
    const windowEnd = t0 + completedMs;
    const requestsByKind = new Map<string, number>();
    let dynamoRequests = 0;
    for (const e of exchanges) {
      if (e.at < t0 || e.at > windowEnd) continue;
      dynamoRequests++;
      requestsByKind.set(e.label, (requestsByKind.get(e.label) ?? 0) + 1);
    }
    const ecsCalls = new Map<string, number>();
    for (const e of ecs) if (e.at >= t0 && e.at <= windowEnd) ecsCalls.set(e.operation, (ecsCalls.get(e.operation) ?? 0) + 1);
    // Every instance ready on the target may come after completion only if the steward was wrong; wait briefly to see it.
    if (allReadyAt === undefined) await waitFor('every instance ready on the target', 10_000, () => allReadyAt !== undefined, 50).catch(() => undefined);
    return {
      maxUnavailable,
      outcome: done.status,
      completedMs: done.status === 'completed' ? completedMs : undefined,
      allReadyMs: allReadyAt === undefined ? undefined : allReadyAt - t0,
      maxUnavailableSeen: sampler.maxUnavailable,
      maxPerInstance: sampler.maxPerInstance,
      dynamoRequests,
      requestsByKind,
      ecsCalls,
    };
  } finally {
    sampler.stop();
    offMeter();
    offEcs();
  }
}
