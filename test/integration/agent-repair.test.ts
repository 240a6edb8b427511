// Critical-daemon repair within a fleet budget, in the local world: ten instances of an Auto
// Scaling group (the sandbox's, with a termination hook), each with a real agent in-process, a
// critical daemon whose new revision crash-loops everywhere (`repair: replace`, `repairBudget: 2`).
// Sampled on every emulator task change and every 20 ms: never more than two of the ten draining
// or being replaced at once; none before the environment's own rollout has finished (it fails:
// the rollout's failure handling owns it until then); every one replaced in the end, and the
// replacements get their daemons (the stable revision, as a failed deployment gives new instances).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { startAgentWorld, waitFor, type AgentWorld } from '../support/agent-world.js';
import { startAutoScalingGroup, type AsgWorld, type GroupMember } from '../support/asg-world.js';
import { dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();
const ATTRIBUTE = 'blox-edge.daemons';
const FLEET = 10;
const BUDGET = 2;

describe.skipIf(!endpoint)('critical-daemon repair within the repair budget (integration)', () => {
  let world: AgentWorld;
  let group: AsgWorld;
  beforeAll(async () => {
    // The crash revision's daemon exits 300 ms after it starts, every time (before its health check's 2 s start period: never ready).
    const runtime = new SimulatedRuntime({ startLatencyMs: 100, crashAfterMs: (spec) => (spec.family === 'rp-crash' ? 300 : undefined) });
    world = await startAgentWorld({ dynamodbEndpoint: endpoint, runtime });
    await world.createEnvironment('rp-logs', await world.registerTaskDefinition('rp-logs'), {
      critical: true,
      repair: 'replace',
      repairBudget: String(BUDGET),
      restartPolicy: { crashLoopRestarts: 3, crashLoopWindowSeconds: 60, initialDelayMs: 200, maxDelayMs: 1_000 },
      deploymentConfiguration: { maxUnavailable: '100%', healthyDeadlineSeconds: 5 },
    });
    group = await startAutoScalingGroup(world, { desired: FLEET, attributes: { [ATTRIBUTE]: 'pending' }, agent: { repairRetryMs: 1_000 } });
    await group.putTerminationHook('drain-first', 60);
    await waitFor('ten instances with their daemons', 60_000, () => group.live().length === FLEET && group.live().every(ready));
    await waitFor('the first deployment completed', 30_000, async () => (await world.store.getEnvironment('rp-logs')).activeDeployment?.status === 'completed');
  }, 120_000);
  afterAll(async () => {
    await group?.close();
    await world?.close();
  });

  const ready = (m: GroupMember) => group.ready(m, 'rp-logs');

  it('a crash-looping critical revision on ten instances: at most two repair at once, none during its rollout, all replaced, the replacements get their daemons', async () => {
    const originals = group.live();
    const originalIds = new Set(originals.map((m) => m.instance.ec2InstanceId));
    let maxRepairing = 0;
    let firstRepairAt: number | undefined;
    let degradedSeen = 0;
    const degraded = new Set<string>();
    const sample = () => {
      let repairing = 0;
      for (const m of originals) {
        if (m.terminatedAt !== undefined) continue;
        if (group.attributeOf(m) === 'degraded') degraded.add(m.instance.ec2InstanceId);
        const inGroup = group.asg.group.instances.get(m.instance.ec2InstanceId);
        const draining = world.emulator.instance(m.instance.arn)?.status === 'DRAINING';
        if (draining || inGroup?.healthStatus === 'Unhealthy' || inGroup?.lifecycleState.startsWith('Terminating')) repairing++;
      }
      if (repairing > 0) firstRepairAt ??= Date.now();
      maxRepairing = Math.max(maxRepairing, repairing);
      degradedSeen = degraded.size;
    };
    const off = world.emulator.onTaskStateChange(sample);
    const timer = setInterval(sample, 20);
    // The budget item itself: never more than two holders (read as DynamoDB holds it).
    let maxHolders = 0;
    let reading = true;
    const holders = (async () => {
      while (reading) {
        const item = await world.rawItem('ENV#rp-logs', 'REPAIR');
        maxHolders = Math.max(maxHolders, Object.keys((item?.holders as Record<string, unknown> | undefined) ?? {}).length);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      const env = await world.store.getEnvironment('rp-logs');
      await world.store.updateEnvironment('rp-logs', {
        token: env.token,
        taskDefinition: await world.registerTaskDefinition('rp-crash', { healthCheck: { startPeriodSeconds: 2 } }),
        deploy: true,
      });
      let seen: unknown;
      const failed = await waitFor(
        'the crash revision’s deployment failed',
        60_000,
        async () => {
          const view = await world.store.getEnvironment('rp-logs');
          const d = view.activeDeployment && (await world.store.getDeployment('rp-logs', view.activeDeployment.id));
          seen = d;
          return d && d.targetRevision === 2 && d.status === 'failed' ? d : undefined;
        },
        200,
        () => JSON.stringify(seen),
      );
      // an instance waiting for the budget says so on its health endpoint's /status
      await waitFor('a waiting instance reports its failing daemon', 20_000, () =>
        originals.some((m) => m.terminatedAt === undefined && m.agent.agent.status().repair.failing[0]?.environment === 'rp-logs'),
      );
      await waitFor('every original instance replaced', 240_000, () => originals.every((m) => m.terminatedAt !== undefined));
      const replacements = await waitFor('ten replacements with their daemons', 60_000, () => {
        const fresh = group.live().filter((m) => !originalIds.has(m.instance.ec2InstanceId));
        return fresh.length === FLEET && fresh.every(ready) ? fresh : undefined;
      });
      sample();
      expect(maxRepairing).toBeLessThanOrEqual(BUDGET);
      expect(maxRepairing).toBe(BUDGET); // the budget was used, two at a time
      expect(maxHolders).toBeLessThanOrEqual(BUDGET);
      expect(degradedSeen).toBeGreaterThanOrEqual(FLEET - BUDGET); // marked degraded while they waited
      // no repair before the environment's own rollout had finished
      expect(firstRepairAt!).toBeGreaterThanOrEqual(Date.parse(failed.finishedAt!) - 50);
      for (const m of replacements) {
        const daemon = world.liveTasks(m.instance.arn, 'rp-logs')[0]!;
        expect(daemon.taskDefinitionArn).toMatch(/rp-logs:1$/); // the stable revision
      }
      expect(group.asg.group.desiredCapacity).toBe(FLEET);
    } finally {
      off();
      clearInterval(timer);
      reading = false;
      await holders;
    }
  }, 400_000);
});
