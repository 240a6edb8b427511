// Chaos against real agent processes (node dist/agent.js), DynamoDB Local and the emulator: two
// agents per instance with different state directories (an operator mistake, an upgrade overlap)
// are SIGKILLed, SIGTERMed and restarted at random while daemons crash and ECS throttles and lags.
// At no moment may an (environment, instance) have two live tasks; once the chaos ends, every
// instance converges to exactly one running daemon per environment, with no orphan left.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { startAgentWorld, waitFor, type AgentWorld, type ChildAgent, type WorldInstance } from '../support/agent-world.js';
import { seeded } from '../support/prng.js';
import { dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();
const CHAOS_MS = 25_000;
const ENVIRONMENTS = ['chaos-logs', 'chaos-metrics'];

describe.skipIf(!endpoint)('edge agents under chaos (integration, real processes)', () => {
  let world: AgentWorld;
  const runtime = new SimulatedRuntime({ startLatencyMs: 50 });
  beforeAll(async () => {
    world = await startAgentWorld({ dynamodbEndpoint: endpoint!, runtime });
  });
  afterAll(async () => world?.close());

  it('kills, restarts and races agents while daemons crash and ECS throttles: never two live tasks per environment and instance, then one each', async () => {
    const random = seeded(20261127);
    for (const name of ENVIRONMENTS)
      await world.createEnvironment(name, await world.registerTaskDefinition(name), {
        expression: 'attribute:chaos == yes',
        restartPolicy: { initialDelayMs: 100, maxDelayMs: 1_000 },
      });
    const instances: WorldInstance[] = [];
    for (let i = 0; i < 3; i++) instances.push(await world.addInstance({ attributes: { chaos: 'yes' } }));

    // The invariant, checked on every task state change the emulator makes.
    const duplicates = world.watchDuplicates();

    // Two agent slots per instance, each with its own state directory (restarts keep it).
    const config = { leaseDurationMs: 2_000, pollIntervalMs: 300, attemptSettleMs: 500, ecsReconcileIntervalMs: 3_000 };
    const slots = instances.flatMap((instance) =>
      [0, 1].map(() => ({ instance, stateDir: mkdtempSync(join(tmpdir(), 'blox-chaos-')), agent: undefined as ChildAgent | undefined })),
    );
    const spawnSlot = async (slot: (typeof slots)[number]) => {
      slot.agent = await world.spawnAgent(slot.instance, { ...config, stateDir: slot.stateDir });
    };
    for (const slot of slots) await spawnSlot(slot);

    world.emulator.faults.setLatency('StartTask', 150);
    world.emulator.faults.setErrorRate('StartTask', 0.15, 'ThrottlingException');
    world.emulator.faults.setErrorRate('ListTasks', 0.15, 'ThrottlingException');
    const counts = { killed: 0, terminated: 0, crashed: 0 };
    const chaosEnds = Date.now() + CHAOS_MS;
    while (Date.now() < chaosEnds) {
      await new Promise((r) => setTimeout(r, 300 + random() * 700));
      const roll = random();
      if (roll < 0.6) {
        const slot = slots[Math.floor(random() * slots.length)]!;
        const running = slot.agent && slot.agent.child.exitCode === null && slot.agent.child.signalCode === null;
        if (running) {
          const signal = random() < 0.7 ? 'SIGKILL' : 'SIGTERM';
          slot.agent!.child.kill(signal);
          await slot.agent!.exited;
          counts[signal === 'SIGKILL' ? 'killed' : 'terminated']++;
        }
        await spawnSlot(slot);
      } else {
        const victims = instances.flatMap((i) => world.liveTasks(i.arn)).filter((t) => t.lastStatus === 'RUNNING');
        const victim = victims[Math.floor(random() * victims.length)];
        if (victim) {
          runtime.crash(victim.taskArn!, 'main', 1);
          counts.crashed++;
        }
      }
    }
    world.emulator.faults.clear();
    for (const slot of slots) if (!slot.agent || slot.agent.child.exitCode !== null || slot.agent.child.signalCode !== null) await spawnSlot(slot);

    const converged = () =>
      instances.every((i) =>
        ENVIRONMENTS.every((env) => {
          const live = world.liveTasks(i.arn, env);
          return live.length === 1 && live[0]!.lastStatus === 'RUNNING';
        }),
      );
    await waitFor('one running daemon per environment and instance', 45_000, converged, 200);
    duplicates.stop();
    expect(duplicates.violations).toEqual([]);
    expect(counts.killed + counts.terminated).toBeGreaterThan(5);
    expect(counts.crashed).toBeGreaterThan(2);
    // nothing of ours beyond the one daemon per environment and instance
    for (const i of instances)
      expect(world.emulator.tasksOnInstance(i.arn).filter((t) => t.group?.startsWith('blox:') && t.lastStatus !== 'STOPPED')).toHaveLength(ENVIRONMENTS.length);
    for (const slot of slots) {
      // a process killed before its signal handlers exist (still loading) dies of the signal: SIGTERM it once it answers
      await waitFor('the agent answers', 10_000, async () => (await fetch(`${slot.agent!.url}/healthz`).catch(() => undefined)) !== undefined, 100);
      slot.agent!.child.kill('SIGTERM');
      expect((await slot.agent!.exited).code).toBe(0);
    }
  }, 150_000);
});
