// Rollouts carried out by the agents alone (no coordinator process runs here: the store is only
// used, as `blox --direct` uses it, to store the new revision): paced by maxUnavailable through the
// rollout control's admission counter, surging, failing on a broken revision and rolling back by
// itself, stopped mid-way. A sampler on every ECS task change counts the instances without a
// ready daemon of the environment.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentConfiguration } from '../../core/records.js';
import { DynamoTable } from '../../core/store/dynamo.js';
import { Rollouts } from '../../core/store/rollouts.js';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { startAgentWorld, waitFor, type AgentWorld, type RunningAgent, type WorldInstance } from '../support/agent-world.js';
import { dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();

describe.skipIf(!endpoint)('rollouts carried out by the agents (integration)', () => {
  let world: AgentWorld;
  beforeAll(async () => {
    // Tasks of a family named broken-* exit 300 ms after they start, every time.
    const runtime = new SimulatedRuntime({ startLatencyMs: 150, crashAfterMs: (spec) => (spec.family.startsWith('broken') ? 300 : undefined) });
    world = await startAgentWorld({ dynamodbEndpoint: endpoint, runtime });
  });
  afterAll(async () => world?.close());

  /** Instances of `env` with no RUNNING daemon task, sampled on every task change; and the most live tasks on one instance. */
  const sample = (env: string, instances: WorldInstance[]) => world.sampleFleet(env, instances);

  async function fleet(env: string, size: number, config: Partial<DeploymentConfiguration>, family = env) {
    const v1 = await world.registerTaskDefinition(family);
    await world.createEnvironment(env, v1, { expression: `attribute:${env} == yes`, deploymentConfiguration: config });
    const instances = await Promise.all(Array.from({ length: size }, () => world.addInstance({ attributes: { [env]: 'yes' } })));
    const agents: RunningAgent[] = await Promise.all(instances.map((i) => world.startAgent(i, { pollIntervalMs: 300 }, { tickMs: 300 })));
    await waitFor(
      `${env}: a daemon on every instance`,
      60_000,
      () => instances.every((i) => world.liveTasks(i.arn, env).some((t) => t.lastStatus === 'RUNNING')),
      100,
    );
    const created = await world.store.getEnvironment(env);
    // The first deployment completes too (every instance got the daemon): the steward says so.
    await waitFor(
      `${env}: first deployment completed`,
      30_000,
      async () => (await world.store.getDeployment(env, created.activeDeployment!.id)).status === 'completed',
    );
    return { instances, agents, v1 };
  }

  const onFamily = (instances: WorldInstance[], env: string, taskDefinition: string) =>
    instances.every((i) => world.liveTasks(i.arn, env).some((t) => t.lastStatus === 'RUNNING' && t.taskDefinitionArn.endsWith(`/${taskDefinition}`)));

  it('20 instances, maxUnavailable 3: never more than 3 without a ready daemon, and the deployment completes', async () => {
    const { instances, agents } = await fleet('paced', 20, { maxUnavailable: '3' });
    const v2 = await world.registerTaskDefinition('paced');
    const sampler = sample('paced', instances);
    const env = await world.store.getEnvironment('paced');
    const update = await world.store.updateEnvironment('paced', { token: env.token, taskDefinition: v2, deploy: true });
    const id = update.deployment!.id;
    await waitFor('every instance on revision 2', 120_000, () => onFamily(instances, 'paced', v2), 100);
    const done = await waitFor('deployment completed', 30_000, async () => {
      const d = await world.store.getDeployment('paced', id);
      return d.status === 'completed' ? d : undefined;
    });
    sampler.stop();
    expect(sampler.maxUnavailable).toBeGreaterThan(0); // the rollout did take daemons down, paced
    expect(sampler.maxUnavailable).toBeLessThanOrEqual(3);
    expect(sampler.maxPerInstance).toBe(1);
    expect(done.finishedAt).toBeDefined();
    const control = await world.rawItem('ENV#paced', 'ROLLOUT');
    expect(control).toMatchObject({ deploymentId: id, phase: 'done', outcome: 'completed', inFlight: 0 });
    await Promise.all(agents.map((a) => a.stop()));
  }, 180_000);

  it('surge: the new task is ready before the old one stops, never two of one revision, never more than two', async () => {
    const { instances, agents } = await fleet('surging', 4, { maxUnavailable: '0', maxSurge: '2' });
    const v2 = await world.registerTaskDefinition('surging');
    const sampler = sample('surging', instances);
    const env = await world.store.getEnvironment('surging');
    const update = await world.store.updateEnvironment('surging', { token: env.token, taskDefinition: v2, deploy: true });
    await waitFor(
      'every instance on revision 2',
      60_000,
      () => onFamily(instances, 'surging', v2) && instances.every((i) => world.liveTasks(i.arn, 'surging').length === 1),
      100,
    );
    await waitFor('deployment completed', 30_000, async () => (await world.store.getDeployment('surging', update.deployment!.id)).status === 'completed');
    sampler.stop();
    expect(sampler.maxUnavailable).toBe(0);
    expect(sampler.maxPerInstance).toBe(2);
    expect(sampler.sameRevisionTwice).toBe(false);
    await Promise.all(agents.map((a) => a.stop()));
  });

  it('a broken revision fails at the threshold and rolls back by itself; never more than maxUnavailable without a daemon', async () => {
    const { instances, agents, v1 } = await fleet('fragile', 6, {
      maxUnavailable: '2',
      minHealthySeconds: 1,
      healthyDeadlineSeconds: 3,
      failureThreshold: '1',
      autoRollback: true,
    });
    const broken = await world.registerTaskDefinition('broken-fragile');
    const before = new Map(instances.map((i) => [i.arn, world.liveTasks(i.arn, 'fragile')[0]!.taskArn]));
    const sampler = sample('fragile', instances);
    const env = await world.store.getEnvironment('fragile');
    const update = await world.store.updateEnvironment('fragile', { token: env.token, taskDefinition: broken, deploy: true });
    const id = update.deployment!.id;
    const failed = await waitFor('the broken deployment rolled back', 60_000, async () => {
      const d = await world.store.getDeployment('fragile', id);
      return d.status === 'rolled_back' ? d : undefined;
    });
    expect(failed.failures.length).toBeGreaterThanOrEqual(1);
    expect(failed.failures[0]!.reason).toMatch(/not ready within 3 s/);
    const head = await world.store.getEnvironment('fragile');
    expect(head.activeDeployment!.id).not.toBe(id);
    await waitFor('every instance back on revision 1 (its copy)', 60_000, () => onFamily(instances, 'fragile', v1), 100);
    const rollback = await waitFor('the rollback completed', 30_000, async () => {
      const d = await world.store.getDeployment('fragile', head.activeDeployment!.id);
      return d.status === 'completed' ? d : undefined;
    });
    sampler.stop();
    expect(rollback.reasons.join(' ')).toMatch(new RegExp(`rollback of deployment ${id}`));
    expect(sampler.maxUnavailable).toBeLessThanOrEqual(2);
    // The instances that never left revision 1 kept their daemon: the rollback's copy of revision 1 is the same daemon.
    const untouched = instances.filter((i) => world.liveTasks(i.arn, 'fragile').some((t) => before.get(i.arn) === t.taskArn));
    expect(untouched.length).toBeGreaterThanOrEqual(instances.length - 2);
    // Exactly one rollback deployment, however many agents saw the failure.
    const deployments = await world.store.listDeployments('fragile');
    expect(deployments.items.filter((d) => d.reasons.some((r) => r.startsWith('rollback of deployment')))).toHaveLength(1);
    await Promise.all(agents.map((a) => a.stop()));
  }, 150_000);

  it('stop: nothing new begins, the fleet stays mixed and the deployment says stopped', async () => {
    const { instances, agents, v1 } = await fleet('halted', 6, { maxUnavailable: '1', minHealthySeconds: 2 });
    const v2 = await world.registerTaskDefinition('halted');
    const env = await world.store.getEnvironment('halted');
    const update = await world.store.updateEnvironment('halted', { token: env.token, taskDefinition: v2, deploy: true });
    const id = update.deployment!.id;
    await waitFor(
      'one instance on revision 2',
      30_000,
      () => instances.some((i) => world.liveTasks(i.arn, 'halted').some((t) => t.taskDefinitionArn.endsWith(`/${v2}`))),
      50,
    );
    await world.store.stopDeployment('halted', id);
    await new Promise((r) => setTimeout(r, 4_000));
    const onNew = instances.filter((i) => world.liveTasks(i.arn, 'halted').some((t) => t.taskDefinitionArn.endsWith(`/${v2}`))).length;
    const onOld = instances.filter((i) => world.liveTasks(i.arn, 'halted').some((t) => t.taskDefinitionArn.endsWith(`/${v1}`))).length;
    expect(onNew).toBeGreaterThanOrEqual(1);
    expect(onNew).toBeLessThanOrEqual(2); // the one admitted (and at most one more admitted before the stop landed)
    expect(onOld).toBe(instances.length - onNew);
    expect((await world.store.getDeployment('halted', id)).status).toBe('stopped');
    await Promise.all(agents.map((a) => a.stop()));
  });

  it('an agent SIGKILLed while admitted (holding a rollout slot): restarted on its state directory it carries on, and the rollout completes', async () => {
    const v1 = await world.registerTaskDefinition('killed-slot');
    await world.createEnvironment('killed-slot', v1, {
      expression: 'attribute:killed-slot == yes',
      deploymentConfiguration: { maxUnavailable: '1', minHealthySeconds: 2 },
    });
    const instances = await Promise.all(Array.from({ length: 3 }, () => world.addInstance({ attributes: { 'killed-slot': 'yes' } })));
    const overrides = { leaseDurationMs: 20_000 };
    const children = new Map(await Promise.all(instances.map(async (i) => [i.arn, await world.spawnAgent(i, overrides)] as const)));
    await waitFor(
      'a daemon on every instance',
      60_000,
      () => instances.every((i) => world.liveTasks(i.arn, 'killed-slot').some((t) => t.lastStatus === 'RUNNING')),
      100,
    );
    const v2 = await world.registerTaskDefinition('killed-slot');
    const sampler = sample('killed-slot', instances);
    const env = await world.store.getEnvironment('killed-slot');
    const update = await world.store.updateEnvironment('killed-slot', { token: env.token, taskDefinition: v2, deploy: true });
    const id = update.deployment!.id;
    const claimOf = (i: WorldInstance) => world.rawItem('ENV#killed-slot', `LEASE#${i.arn.split('/').pop()}`);
    const holder = await waitFor('an admitted instance', 30_000, async () => {
      for (const i of instances) if (((await claimOf(i))?.rollout as { state?: string } | undefined)?.state === 'admitted') return i;
      return undefined;
    });
    const killedAt = Date.now();
    children.get(holder.arn)!.child.kill('SIGKILL');
    await children.get(holder.arn)!.exited;
    // The admission outlives the process: it is the instance's, recorded in its claim and counted.
    expect(await world.rawItem('ENV#killed-slot', 'ROLLOUT')).toMatchObject({ deploymentId: id, inFlight: 1 });
    children.set(holder.arn, await world.spawnAgent(holder, overrides));
    await waitFor('every instance on revision 2', 60_000, () => onFamily(instances, 'killed-slot', v2), 100);
    await waitFor('deployment completed', 30_000, async () => (await world.store.getDeployment('killed-slot', id)).status === 'completed');
    sampler.stop();
    expect(Date.now() - killedAt).toBeLessThan(overrides.leaseDurationMs + 20_000);
    expect(sampler.maxUnavailable).toBeLessThanOrEqual(1);
    expect(children.get(holder.arn)!.output()).not.toMatch(/expired/); // the same owner carried on at once
    for (const c of children.values()) c.child.kill('SIGTERM');
    await Promise.all([...children.values()].map((c) => c.exited));
  }, 150_000);

  it('the steward frees the admission of an instance whose agent is gone for good (its claim abandoned, inFlight counted down), and only that', async () => {
    const rollouts = new Rollouts({ table: new DynamoTable({ client: world.ddb, tableName: world.table }) });
    const now = Date.now();
    const iso = new Date(now).toISOString();
    await world.putRaw({
      pk: 'ENV#orphaned',
      sk: 'ROLLOUT',
      kind: 'RolloutControl',
      schemaVersion: 1,
      environment: 'orphaned',
      deploymentId: 'dep-x',
      targetRevision: 2,
      phase: 'rolling',
      paused: false,
      cap: 2,
      inFlight: 2,
      admitted: 2,
      canary: 0,
      desired: 3,
      spreadMs: 0,
      unlimited: false,
      updatedAt: iso,
    });
    for (const [id, alive] of [
      ['gone-1', false],
      ['live-1', true],
    ] as const) {
      const rollout = { deploymentId: 'dep-x', state: 'admitted', at: iso, counted: true };
      await world.putRaw({
        pk: 'ENV#orphaned',
        sk: `LEASE#${id}`,
        kind: 'Claim',
        schemaVersion: 1,
        environment: 'orphaned',
        containerInstanceId: id,
        owner: 'o',
        recordVersion: `v-${id}`,
        updatedAt: iso,
        rollout,
      });
      await world.putRaw({
        pk: 'CLUSTER#orphan-cluster',
        sk: `INSTANCE#${id}`,
        kind: 'InstanceStatus',
        schemaVersion: 1,
        cluster: 'orphan-cluster',
        containerInstanceArn: `arn:aws:ecs:us-east-1:000000000000:container-instance/orphan-cluster/${id}`,
        agentVersion: 'test',
        ready: false,
        degraded: false,
        daemons: [
          {
            environment: 'orphaned',
            revision: 1,
            taskDefinition: 'x:1',
            state: 'stopping',
            restarts: 0,
            since: iso,
            rollout: { deploymentId: 'dep-x', state: 'admitted' },
          },
        ],
        updatedAt: iso,
        // The gone agent's record has run past its validity; the live one's has not.
        expiresAt: Math.floor(now / 1000) + (alive ? 600 : -1),
      });
    }
    const live = await rollouts.statuses('orphan-cluster');
    expect(live.map((s) => s.containerInstanceArn.split('/').pop())).toEqual(['live-1']);
    expect(await rollouts.freeAbandoned('orphaned', 'dep-x', 'orphan-cluster', iso)).toBe(1);
    expect(await world.rawItem('ENV#orphaned', 'ROLLOUT')).toMatchObject({ inFlight: 1 });
    const gone = await world.rawItem('ENV#orphaned', 'LEASE#gone-1');
    expect(gone).toMatchObject({ rollout: { state: 'abandoned', counted: true } });
    expect(gone?.recordVersion).not.toBe('v-gone-1'); // a late write of the old content loses
    expect(await world.rawItem('ENV#orphaned', 'LEASE#live-1')).toMatchObject({ rollout: { state: 'admitted' }, recordVersion: 'v-live-1' });
    // Freed once: a second pass finds nothing more to free.
    await rollouts.statuses('orphan-cluster');
    expect(await rollouts.freeAbandoned('orphaned', 'dep-x', 'orphan-cluster', iso)).toBe(0);
    expect(await world.rawItem('ENV#orphaned', 'ROLLOUT')).toMatchObject({ inFlight: 1 });
  });

  it("the steward's lease is taken only of an unfinished rollout, and only on the renewal count last read", async () => {
    const rollouts = new Rollouts({ table: new DynamoTable({ client: world.ddb, tableName: world.table }) });
    const iso = new Date().toISOString();
    const base = { pk: 'ENV#stewarded', sk: 'ROLLOUT', kind: 'RolloutControl', schemaVersion: 1, environment: 'stewarded', deploymentId: 'dep-s' };
    const rest = { targetRevision: 2, paused: false, cap: 1, inFlight: 0, admitted: 0, canary: 0, desired: 3, spreadMs: 0, unlimited: false, updatedAt: iso };
    const lease = (owner: string, renewals: number) => ({ owner, containerInstanceId: owner, renewals, leaseMs: 30_000 });
    await world.putRaw({ ...base, ...rest, phase: 'rolling', steward: lease('a', 4) });
    expect(await rollouts.acquire('stewarded', 'dep-s', lease('b', 4), 3)).toBe(false); // a count no longer there
    expect(await rollouts.acquire('stewarded', 'dep-s', lease('b', 5), 4)).toBe(true);
    await world.putRaw({ ...base, ...rest, phase: 'done', outcome: 'completed' });
    expect(await rollouts.acquire('stewarded', 'dep-s', lease('c', 1), undefined)).toBe(false);
    expect(await world.rawItem('ENV#stewarded', 'ROLLOUT')).not.toHaveProperty('steward');
  });

  it('canary: one instance updates and bakes, the deployment awaits promotion, a new instance gets the stable revision; promoted, the rest follows', async () => {
    const { instances, agents, v1 } = await fleet('canaried', 4, { maxUnavailable: '1', canary: '1', minHealthySeconds: 1 });
    const v2 = await world.registerTaskDefinition('canaried');
    const env = await world.store.getEnvironment('canaried');
    const update = await world.store.updateEnvironment('canaried', { token: env.token, taskDefinition: v2, deploy: true });
    const id = update.deployment!.id;
    await waitFor('awaiting promotion', 30_000, async () => (await world.store.getDeployment('canaried', id)).status === 'awaiting_promotion');
    const onV2 = () => instances.filter((i) => world.liveTasks(i.arn, 'canaried').some((t) => t.taskDefinitionArn.endsWith(`/${v2}`))).length;
    expect(onV2()).toBe(1);
    const late = await world.addInstance({ attributes: { canaried: 'yes' } });
    agents.push(await world.startAgent(late, { pollIntervalMs: 300 }, { tickMs: 300 }));
    const first = await waitFor('the new instance gets a daemon', 30_000, () => world.liveTasks(late.arn, 'canaried').find((t) => t.lastStatus === 'RUNNING'));
    expect(first.taskDefinitionArn).toMatch(new RegExp(`/${v1}$`)); // the stable revision, not the canary's
    await new Promise((r) => setTimeout(r, 1_500));
    expect(onV2()).toBe(1); // nothing more begins before promotion
    await world.store.promoteDeployment('canaried', id);
    await waitFor('every instance on revision 2', 60_000, () => onFamily([...instances, late], 'canaried', v2), 100);
    await waitFor('deployment completed', 30_000, async () => (await world.store.getDeployment('canaried', id)).status === 'completed');
    await Promise.all(agents.map((a) => a.stop()));
  }, 150_000);

  it('canary with autoPromote: the canary bakes, then the deployment promotes itself (never awaiting promotion) and the rest follows', async () => {
    const { instances, agents } = await fleet('autocanary', 4, { maxUnavailable: '1', canary: '1', autoPromote: true, minHealthySeconds: 2 });
    const v2 = await world.registerTaskDefinition('autocanary');
    // When each instance's v2 task first ran, and every status the deployment showed.
    const runningAt = new Map<string, number>();
    const off = world.emulator.onTaskStateChange(({ task }) => {
      if (task.group !== 'blox:autocanary' || !task.taskDefinitionArn.endsWith(`/${v2}`) || task.lastStatus !== 'RUNNING') return;
      if (!runningAt.has(task.containerInstanceArn!)) runningAt.set(task.containerInstanceArn!, Date.now());
    });
    const env = await world.store.getEnvironment('autocanary');
    const update = await world.store.updateEnvironment('autocanary', { token: env.token, taskDefinition: v2, deploy: true });
    const id = update.deployment!.id;
    const statuses = new Set<string>();
    const done = await waitFor('deployment completed', 90_000, async () => {
      const d = await world.store.getDeployment('autocanary', id);
      statuses.add(d.status);
      return d.status === 'completed' ? d : undefined;
    });
    off();
    expect(onFamily(instances, 'autocanary', v2)).toBe(true);
    expect(statuses.has('awaiting_promotion')).toBe(false);
    expect(done.reasons.join('\n')).toMatch(/1 canary instance\(s\) baked: promoted by itself/);
    // The canary ran its bake (2 s) before any other instance began: the first start after it is at least that later.
    const starts = [...runningAt.values()].sort((a, b) => a - b);
    expect(starts).toHaveLength(instances.length);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(2_000);
    await Promise.all(agents.map((a) => a.stop()));
  }, 150_000);

  it('pause halts admissions (the admitted finish), resume finishes; a newer deployment supersedes an unfinished one and the fleet goes to the newer target', async () => {
    const { instances, agents } = await fleet('steered', 6, { maxUnavailable: '1', minHealthySeconds: 1 });
    const v2 = await world.registerTaskDefinition('steered');
    const v3 = await world.registerTaskDefinition('steered');
    const env = await world.store.getEnvironment('steered');
    const update = await world.store.updateEnvironment('steered', { token: env.token, taskDefinition: v2, deploy: true });
    const id = update.deployment!.id;
    const on = (td: string) => instances.filter((i) => world.liveTasks(i.arn, 'steered').some((t) => t.taskDefinitionArn.endsWith(`/${td}`))).length;
    await waitFor('one instance on revision 2', 30_000, () => on(v2) >= 1, 50);
    await world.store.pauseDeployment('steered', id);
    await new Promise((r) => setTimeout(r, 1_500)); // the admitted one finishes
    const paused = on(v2);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(on(v2)).toBe(paused); // nothing new began while paused
    expect(paused).toBeLessThan(instances.length);
    expect((await world.store.getDeployment('steered', id)).status).toBe('paused');
    await world.store.resumeDeployment('steered', id);
    await waitFor('one more instance on revision 2 after resume', 30_000, () => on(v2) > paused, 50);
    // A newer deployment before the first finished: the first ends stopped, the fleet goes to revision 3.
    const head = await world.store.getEnvironment('steered');
    const newer = await world.store.updateEnvironment('steered', { token: head.token, taskDefinition: v3, deploy: true });
    expect((await world.store.getDeployment('steered', id)).status).toBe('stopped');
    await waitFor('every instance on revision 3', 90_000, () => onFamily(instances, 'steered', v3), 100);
    await waitFor(
      'the newer deployment completed',
      30_000,
      async () => (await world.store.getDeployment('steered', newer.deployment!.id)).status === 'completed',
    );
    await Promise.all(agents.map((a) => a.stop()));
  }, 180_000);
});
