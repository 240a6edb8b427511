// Upgrading a fleet instance by instance, from the v1 agent (a lease per environment, heartbeated
// by its owner) to this one (an instance heartbeat and claims), with daemons running: no duplicate,
// no stop, no start. Each instance starts in a state a v1 agent leaves behind, written in exactly
// the v1 format (test/fixtures/v1-records.json, captured from a running v1 agent): its daemon
// tasks started as v1 starts them, its leases, its status record. The v2 agent then runs as a
// process (`node dist/agent.js`) with the state directory the v1 agent had, as the upgrade
// (install.sh --upgrade: the unit restarted on the same StateDirectory) leaves it.
import { StartTaskCommand } from '@aws-sdk/client-ecs';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { startAgentWorld, waitFor, type AgentWorld, type ChildAgent, type WorldInstance } from '../support/agent-world.js';
import { dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();
const fixture = JSON.parse(readFileSync('test/fixtures/v1-records.json', 'utf8')) as {
  lease: Record<string, unknown>;
  leaseAfterSigterm: Record<string, unknown>;
  instanceStatus: Record<string, unknown>;
};
const ENVIRONMENTS = ['up-logs', 'up-metrics'];
const LEASE_MS = 3_000;

/** How the v1 agent left an instance: as it stopped cleanly (SIGTERM), crashed (SIGKILL), or still running on another state directory. */
type V1Exit = 'sigterm' | 'sigkill' | 'still-running';

describe.skipIf(!endpoint)('upgrading agents one by one from v1 (integration, real processes)', () => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startAgentWorld({ dynamodbEndpoint: endpoint!, runtime: new SimulatedRuntime({ startLatencyMs: 50 }) });
  });
  afterAll(async () => world?.close());

  /** An instance as a v1 agent leaves it: one daemon per environment, its v1 leases and status record. */
  async function v1Instance(exit: V1Exit, owner: string): Promise<{ instance: WorldInstance; tasks: string[]; id: string }> {
    const instance = await world.addInstance({ attributes: { upgrade: 'yes' } });
    const id = instance.arn.split('/').pop()!;
    const tasks: string[] = [];
    for (const [i, env] of ENVIRONMENTS.entries()) {
      const token = `bx-${owner.slice(6)}${i}abcd-0000000${i}`;
      const out = await world.ecs.send(
        new StartTaskCommand({
          cluster: world.cluster,
          containerInstances: [instance.arn],
          taskDefinition: `${env}:1`,
          startedBy: token,
          group: `blox:${env}`,
          tags: [
            { key: 'blox:environment', value: env },
            { key: 'blox:revision', value: '1' },
            { key: 'blox:managed-by', value: 'blox-edge' },
          ],
        }),
      );
      const taskArn = out.tasks![0]!.taskArn!;
      tasks.push(taskArn);
      const lease = exit === 'sigterm' ? fixture.leaseAfterSigterm : fixture.lease;
      await world.putRaw({
        ...lease,
        pk: `ENV#${env}`,
        sk: `LEASE#${id}`,
        environment: env,
        containerInstanceId: id,
        owner,
        taskArn,
        leaseDurationMs: LEASE_MS,
        recordVersion: `v1-${i}-0`,
        updatedAt: new Date().toISOString(),
        expiresAt: Math.floor(Date.now() / 1000) + 7 * 86_400,
      });
    }
    const daemons = (fixture.instanceStatus.daemons as Record<string, unknown>[]).slice(0, 1);
    await world.putRaw({
      ...fixture.instanceStatus,
      pk: `CLUSTER#${world.cluster}`,
      sk: `INSTANCE#${id}`,
      cluster: world.cluster,
      containerInstanceArn: instance.arn,
      agentVersion: 'v1',
      daemons: ENVIRONMENTS.map((env, i) => ({ ...daemons[0], environment: env, taskDefinition: `${env}:1`, taskArn: tasks[i] })),
      updatedAt: new Date().toISOString(),
      expiresAt: Math.floor(Date.now() / 1000) + 180,
    });
    await waitFor('the v1 daemons RUNNING', 10_000, () =>
      ENVIRONMENTS.every((env) => world.liveTasks(instance.arn, env).some((t) => t.lastStatus === 'RUNNING')),
    );
    return { instance, tasks, id };
  }

  /** The state directory the v1 agent kept its owner name in (what the upgraded unit reuses). */
  function stateDirOf(owner: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'blox-upgrade-'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'owner'), `${owner}\n`);
    return dir;
  }

  it('every instance keeps its daemons: v1 leases are migrated (same owner) or taken over after their v1 owner stops heartbeating; no StartTask, no StopTask, never two tasks', async () => {
    for (const env of ENVIRONMENTS) await world.createEnvironment(env, await world.registerTaskDefinition(env), { expression: 'attribute:upgrade == yes' });
    const cases: { exit: V1Exit; owner: string }[] = [
      { exit: 'sigterm', owner: 'agent-00000000a001' },
      { exit: 'sigkill', owner: 'agent-00000000a002' },
      { exit: 'still-running', owner: 'agent-00000000a003' },
    ];
    const instances: ({ exit: V1Exit; owner: string } & Awaited<ReturnType<typeof v1Instance>>)[] = [];
    for (const c of cases) instances.push({ ...c, ...(await v1Instance(c.exit, c.owner)) });
    const duplicates = world.watchDuplicates();
    const counts = () => ({ start: world.emulator.callCounts().StartTask ?? 0, stop: world.emulator.callCounts().StopTask ?? 0 });
    const before = counts();

    // The v1 agent still running on another state directory keeps heartbeating its leases.
    const still = instances[2]!;
    let beat = 0;
    const heartbeat = setInterval(() => {
      beat++;
      void Promise.all(
        ENVIRONMENTS.map((env, i) =>
          world.putRaw({
            ...fixture.lease,
            pk: `ENV#${env}`,
            sk: `LEASE#${still.id}`,
            environment: env,
            containerInstanceId: still.id,
            owner: still.owner,
            taskArn: still.tasks[i],
            leaseDurationMs: LEASE_MS,
            recordVersion: `v1-${i}-${beat}`,
            updatedAt: new Date().toISOString(),
          }),
        ),
      );
    }, LEASE_MS / 3);

    const agents: ChildAgent[] = [];
    try {
      // one instance at a time, as a rolling AMI or user-data upgrade does
      for (const inst of instances) {
        // the upgraded agent keeps the v1 agent's state directory (and so its owner name), except where a v1 agent still runs on it
        const stateDir = inst.exit === 'still-running' ? mkdtempSync(join(tmpdir(), 'blox-upgrade-fresh-')) : stateDirOf(inst.owner);
        const agent = await world.spawnAgent(inst.instance, { leaseDurationMs: LEASE_MS, stateDir });
        agents.push(agent);
        if (inst.exit === 'still-running') continue;
        await waitFor(
          `claims of ${inst.exit} instance migrated`,
          15_000,
          async () => {
            const items = await Promise.all(ENVIRONMENTS.map((env) => world.rawItem(`ENV#${env}`, `LEASE#${inst.id}`)));
            return items.every(
              (item, i) => item?.kind === 'Claim' && item.owner === inst.owner && (item.current as { taskArn?: string } | undefined)?.taskArn === inst.tasks[i],
            );
          },
          200,
        );
        expect(await world.rawItem(`INSTANCE#${inst.id}`, 'HEARTBEAT')).toMatchObject({ kind: 'InstanceHeartbeat', owner: inst.owner });
      }

      // While the v1 agent heartbeats, the v2 agent on its instance leaves those environments alone (for several lease durations).
      await new Promise((r) => setTimeout(r, LEASE_MS * 3));
      for (const [i, env] of ENVIRONMENTS.entries())
        expect(await world.rawItem(`ENV#${env}`, `LEASE#${still.id}`)).toMatchObject({ kind: 'Lease', owner: still.owner, taskArn: still.tasks[i] });
      const status = (await (await fetch(`${agents[2]!.url}/status`)).json()) as { claims: Record<string, { state: string }> };
      expect(status.claims['up-logs']?.state).toBe('watching');

      // The v1 agent dies: after a lease duration of unchanged leases, the v2 agent takes them over and adopts the daemons.
      clearInterval(heartbeat);
      await waitFor(
        'the last v1 leases taken over',
        20_000,
        async () => {
          const items = await Promise.all(ENVIRONMENTS.map((env) => world.rawItem(`ENV#${env}`, `LEASE#${still.id}`)));
          return items.every(
            (item, i) => item?.kind === 'Claim' && item.owner !== still.owner && (item.current as { taskArn?: string } | undefined)?.taskArn === still.tasks[i],
          );
        },
        200,
      );

      expect(counts()).toEqual(before);
      expect(duplicates.violations).toEqual([]);
      for (const inst of instances)
        for (const [i, env] of ENVIRONMENTS.entries()) expect(world.liveTasks(inst.instance.arn, env).map((t) => t.taskArn)).toEqual([inst.tasks[i]]);
      // the coordinator reads the new status records (v1's are replaced in place)
      await waitFor(
        'v2 status records',
        10_000,
        async () => {
          const page = await world.store.listInstances({ cluster: world.cluster });
          return instances.every((inst) => page.items.some((i) => i.containerInstanceArn === inst.instance.arn && i.agentVersion !== 'v1' && i.ready));
        },
        200,
      );
    } finally {
      clearInterval(heartbeat);
      duplicates.stop();
      for (const a of agents) a.child.kill('SIGTERM');
      for (const a of agents) expect((await a.exited).code).toBe(0);
    }
  }, 90_000);
});
