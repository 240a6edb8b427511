// The edge agent in the local world (real DynamoDB Local, the ECS emulator over the simulated
// runtime, per-instance endpoints), agents in-process through createAgent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { startAgentWorld, waitFor, type AgentWorld } from '../support/agent-world.js';
import { dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();

async function getJson(url: string): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(url);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

describe.skipIf(!endpoint)('edge agent: daemons on matching instances (integration)', () => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startAgentWorld({ dynamodbEndpoint: endpoint, runtime: new SimulatedRuntime({ startLatencyMs: 50 }) });
  });
  afterAll(async () => world?.close());

  it('a new instance gets the daemon; readiness, status and metrics say so', async () => {
    const td = await world.registerTaskDefinition('logs-a');
    await world.createEnvironment('logs-a', td);
    const instance = await world.addInstance();
    // the slow sweep far away, so that the steady-state window below cannot overlap one
    const { agent, health } = await world.startAgent(instance, { ecsReconcileIntervalMs: 600_000 });
    const task = await waitFor('daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'logs-a').find((t) => t.lastStatus === 'RUNNING'));
    expect(task.startedBy).toMatch(/^bx-/);
    expect(task.tags).toEqual(
      expect.arrayContaining([
        { key: 'blox:environment', value: 'logs-a' },
        { key: 'blox:revision', value: '1' },
      ]),
    );
    await waitFor('readyz 200', 10_000, async () => (await getJson(`${health.url}/readyz`)).status === 200);
    const status = (await getJson(`${health.url}/status`)).body as {
      identity: { containerInstanceArn: string };
      daemons: { environment: string; taskArn?: string; state: string }[];
      claims: Record<string, { state: string }>;
    };
    expect(status.identity.containerInstanceArn).toBe(instance.arn);
    expect(status.daemons).toEqual([expect.objectContaining({ environment: 'logs-a', taskArn: task.taskArn, state: 'running' })]);
    expect(status.claims['logs-a']?.state).toBe('mine');
    expect((await getJson(`${health.url}/healthz`)).status).toBe(200);
    // The task is recorded in the claim by the step after StartTask answered, which may come after readiness.
    const taskRecorded = /blox_agent_claim_events_total\{environment="logs-a",event="task-recorded"\} 1/;
    const metrics = await waitFor('the task recorded in the claim', 10_000, async () => {
      const text = (await getJson(`${health.url}/metrics`)).text;
      return taskRecorded.test(text) ? text : undefined;
    });
    expect(metrics).toMatch(/blox_agent_api_calls_total\{service="ecs",operation="StartTask",outcome="ok"\} 1/);
    expect(metrics).toMatch(/blox_agent_reconcile_duration_seconds_count \d+/);
    // one heartbeat item for the instance; the claim is written only when something happens: the attempt, then the task
    expect(metrics).toMatch(/blox_agent_instance_lease_events_total\{event="acquired"\} 1/);
    expect(metrics).toMatch(/blox_agent_claim_events_total\{environment="logs-a",event="attempt-recorded"\} 1/);
    expect(metrics).toMatch(taskRecorded);
    // the instance status record reaches DynamoDB (what the coordinator reads)
    const instances = await waitFor('instance status record', 10_000, async () => {
      const page = await world.store.listInstances({ cluster: world.cluster });
      const found = page.items.find((i) => i.containerInstanceArn === instance.arn && i.ready);
      return found;
    });
    expect(instances.daemons[0]?.taskArn).toBe(task.taskArn);
    // The environment's first deployment completes (its steward's count), after which its rollout is read no more.
    const created = await world.store.getEnvironment('logs-a');
    await waitFor(
      'the first deployment completed',
      10_000,
      async () => (await world.store.getDeployment('logs-a', created.activeDeployment!.id)).status === 'completed',
    );
    await new Promise((r) => setTimeout(r, 300)); // the agents' last read of it has landed
    // steady state: no ECS call per poll, one small DynamoDB read per poll and no Query
    const before = world.emulator.callCounts();
    const reads = () => ({
      get: agent.metrics.total('blox_agent_api_calls_total', { service: 'dynamodb', operation: 'GetItem' }),
      query: agent.metrics.total('blox_agent_api_calls_total', { service: 'dynamodb', operation: 'Query' }),
      batch: agent.metrics.total('blox_agent_api_calls_total', { service: 'dynamodb', operation: 'BatchGetItem' }),
    });
    const readsBefore = reads();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 1_500));
    const readsAfter = reads();
    const polls = (Date.now() - t0) / 300; // pollIntervalMs 300, jittered +-20%
    expect(readsAfter.query - readsBefore.query).toBe(0);
    expect(readsAfter.batch - readsBefore.batch).toBe(0);
    expect(readsAfter.get - readsBefore.get).toBeLessThanOrEqual(Math.ceil(polls / 0.8) + 1);
    expect(readsAfter.get - readsBefore.get).toBeGreaterThan(0);
    const after = world.emulator.callCounts();
    const ecsCalls = Object.keys(after).reduce((sum, op) => sum + ((after[op] ?? 0) - (before[op] ?? 0)), 0);
    expect(ecsCalls).toBe(0);
    expect(world.liveTasks(instance.arn, 'logs-a')).toHaveLength(1);
    expect(agent.status().ready).toBe(true);
  });

  it('the slow ECS sweep lists the tasks but describes none it already knows (status and health come from the instance)', async () => {
    const td = await world.registerTaskDefinition('sweep');
    await world.createEnvironment('sweep', td, { expression: 'attribute:sweep == yes' });
    const instance = await world.addInstance({ attributes: { sweep: 'yes' } });
    await world.startAgent(instance, { ecsReconcileIntervalMs: 500 });
    await waitFor('daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'sweep').some((t) => t.lastStatus === 'RUNNING'));
    await new Promise((r) => setTimeout(r, 1_000)); // past the start's own lookups
    const before = world.emulator.callCounts();
    const delta = (op: string) => (world.emulator.callCounts()[op] ?? 0) - (before[op] ?? 0);
    await waitFor('two sweeps', 15_000, () => delta('ListTasks') >= 2);
    expect(delta('DescribeTasks')).toBe(0);
    expect(delta('StartTask')).toBe(0);
  });

  it('several environments on one instance each get theirs', async () => {
    const a = await world.registerTaskDefinition('multi-a');
    const b = await world.registerTaskDefinition('multi-b');
    const c = await world.registerTaskDefinition('multi-c');
    await world.createEnvironment('multi-a', a, { expression: 'attribute:role == multi' });
    await world.createEnvironment('multi-b', b, { expression: 'attribute:role == multi' });
    await world.createEnvironment('multi-c', c, { expression: 'attribute:role == multi' });
    const instance = await world.addInstance({ attributes: { role: 'multi' } });
    await world.startAgent(instance);
    await waitFor('three daemons RUNNING', 15_000, () =>
      ['multi-a', 'multi-b', 'multi-c'].every((env) => world.liveTasks(instance.arn, env).some((t) => t.lastStatus === 'RUNNING')),
    );
    for (const env of ['multi-a', 'multi-b', 'multi-c']) expect(world.liveTasks(instance.arn, env)).toHaveLength(1);
  });

  it('an attribute expression puts a daemon only on matching instances', async () => {
    const td = await world.registerTaskDefinition('t2-only');
    await world.createEnvironment('t2-only', td, { expression: 'attribute:ecs.instance-type =~ t2.* and attribute:tier == edge' });
    const t2 = await world.addInstance({ instanceType: 't2.small', attributes: { tier: 'edge' } });
    const m5 = await world.addInstance({ instanceType: 'm5.large', attributes: { tier: 'edge' } });
    const t2other = await world.addInstance({ instanceType: 't2.small', attributes: { tier: 'core' } });
    const agents = await Promise.all([t2, m5, t2other].map((i) => world.startAgent(i)));
    await waitFor('daemon on the t2 edge instance', 15_000, () => world.liveTasks(t2.arn, 't2-only').some((t) => t.lastStatus === 'RUNNING'));
    await waitFor('the other agents decided', 10_000, () => agents.slice(1).every((a) => a.agent.status().daemons.some((d) => d.environment === 't2-only')));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(world.liveTasks(t2.arn, 't2-only')).toHaveLength(1);
    expect(world.liveTasks(m5.arn, 't2-only')).toHaveLength(0);
    expect(world.liveTasks(t2other.arn, 't2-only')).toHaveLength(0);
    expect(agents[1]!.agent.status().desired.environments.find((e) => e.name === 't2-only')).toMatchObject({ matches: false });
    // the non-matching instances are ready: no matching daemon is missing
    expect(agents[1]!.agent.readyz().ok).toBe(true);
  });

  it('environment deleted: its tasks stop everywhere, leases go, no orphans remain', async () => {
    const td = await world.registerTaskDefinition('doomed');
    await world.createEnvironment('doomed', td, { expression: 'attribute:doomed == yes' });
    const instances = await Promise.all([1, 2, 3].map(() => world.addInstance({ attributes: { doomed: 'yes' } })));
    for (const i of instances) await world.startAgent(i);
    await waitFor('a daemon on every instance', 15_000, () => instances.every((i) => world.liveTasks(i.arn, 'doomed').some((t) => t.lastStatus === 'RUNNING')));
    await world.deleteEnvironment('doomed');
    await waitFor('every daemon STOPPED', 15_000, () =>
      instances.every((i) =>
        world.emulator
          .tasksOnInstance(i.arn)
          .filter((t) => t.group === 'blox:doomed')
          .every((t) => t.lastStatus === 'STOPPED'),
      ),
    );
    const stopped = instances.flatMap((i) => world.emulator.tasksOnInstance(i.arn).filter((t) => t.group === 'blox:doomed'));
    expect(stopped).toHaveLength(3);
    for (const t of stopped) expect(t.stoppedReason).toMatch(/blox-edge: environment DELETING/);
    const leases = await waitFor('leases deleted', 10_000, async () => {
      const { QueryCommand } = await import('@aws-sdk/client-dynamodb');
      const out = await world.ddb.send(
        new QueryCommand({
          TableName: world.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': { S: 'ENV#doomed' }, ':p': { S: 'LEASE#' } },
          ConsistentRead: true,
        }),
      );
      return (out.Items ?? []).length === 0 ? 'none' : undefined;
    });
    expect(leases).toBe('none');
  });

  it('two agents on one instance: exactly one acts (checked on every task change), and the other takes over when the first stops', async () => {
    const td = await world.registerTaskDefinition('pair');
    await world.createEnvironment('pair', td, { expression: 'attribute:pair == yes' });
    const instance = await world.addInstance({ attributes: { pair: 'yes' } });
    const duplicates = world.watchDuplicates(); // on every task change, not sampled
    const [first, second] = await Promise.all([world.startAgent(instance), world.startAgent(instance)]);
    await waitFor('daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'pair').some((t) => t.lastStatus === 'RUNNING'));
    await new Promise((r) => setTimeout(r, 2_000));
    expect(world.liveTasks(instance.arn, 'pair')).toHaveLength(1);
    const holders = [first!, second!].filter((a) => a.agent.status().claims.pair?.state === 'mine');
    expect(holders).toHaveLength(1);
    const [taskBefore] = world.liveTasks(instance.arn, 'pair');
    // the holder goes away cleanly: the other one takes the lease and adopts the same task
    const holder = holders[0]!;
    const other = holder === first ? second! : first!;
    await holder.stop();
    await waitFor('the other agent holds the claim', 10_000, () => other.agent.status().claims.pair?.state === 'mine');
    expect(world.liveTasks(instance.arn, 'pair').map((t) => t.taskArn)).toEqual([taskBefore!.taskArn]);
    duplicates.stop();
    expect(duplicates.violations).toEqual([]);
  });

  it('a malformed environment record: that environment is reported invalid, others converge', async () => {
    const td = await world.registerTaskDefinition('good');
    await world.createEnvironment('good', td, { expression: 'attribute:mixed == yes' });
    await world.putRaw({
      pk: `CLUSTER#${world.cluster}`,
      sk: 'ENV#broken',
      kind: 'Environment',
      schemaVersion: 1,
      name: 'broken',
      cluster: world.cluster,
      status: 'ACTIVE',
      health: 'unknown',
      currentRevision: 'one',
      latestRevision: 1,
      token: 't',
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
    });
    // bump the marker so agents that already run reload (as the store does on every change)
    await world.createEnvironment('good-too', td, { expression: 'attribute:mixed == yes' });
    const instance = await world.addInstance({ attributes: { mixed: 'yes' } });
    const { agent, health } = await world.startAgent(instance);
    await waitFor('good daemons RUNNING', 15_000, () =>
      ['good', 'good-too'].every((e) => world.liveTasks(instance.arn, e).some((t) => t.lastStatus === 'RUNNING')),
    );
    const status = agent.status();
    expect(status.desired.environments.find((e) => e.name === 'broken')).toMatchObject({ valid: false, reason: expect.stringMatching(/currentRevision/) });
    expect(status.daemons.find((d) => d.environment === 'broken')).toMatchObject({ state: 'invalid' });
    expect(status.lastErrors.some((e) => /broken/.test(e.message))).toBe(true);
    expect(world.liveTasks(instance.arn, 'broken')).toHaveLength(0);
    const record = await waitFor('status record with the invalid environment', 10_000, async () =>
      (await world.store.listInstances({ cluster: world.cluster })).items.find(
        (i) =>
          i.containerInstanceArn === instance.arn &&
          i.daemons.some((d) => d.environment === 'broken' && d.state === 'invalid') &&
          i.daemons.some((d) => d.environment === 'good' && d.state === 'running'),
      ),
    );
    expect(record.daemons.find((d) => d.environment === 'good')?.state).toBe('running');
    expect((await fetch(`${health.url}/status`)).status).toBe(200);
  });

  it('a malformed claim record blocks only its own environment: reported, nothing started there, the others converge, no DynamoDB backoff', async () => {
    const td = await world.registerTaskDefinition('leasebad');
    await world.createEnvironment('leasebad', td, { expression: 'attribute:leases == mixed' });
    await world.createEnvironment('leasegood', td, { expression: 'attribute:leases == mixed' });
    const instance = await world.addInstance({ attributes: { leases: 'mixed' } });
    const containerInstanceId = instance.arn.split('/').pop()!;
    const v1Lease = (over: Record<string, unknown>) =>
      world.putRaw({
        pk: 'ENV#leasebad',
        sk: `LEASE#${containerInstanceId}`,
        kind: 'Lease',
        schemaVersion: 1,
        environment: 'leasebad',
        containerInstanceId,
        leaseDurationMs: 3_000,
        updatedAt: 'x',
        ...over,
      });
    await v1Lease({ owner: 42, recordVersion: 'v1', released: false });
    const { agent } = await world.startAgent(instance);
    await waitFor('the good daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'leasegood').some((t) => t.lastStatus === 'RUNNING'));
    await new Promise((r) => setTimeout(r, 1_000));
    const status = agent.status();
    expect(world.liveTasks(instance.arn, 'leasebad')).toHaveLength(0);
    expect(status.claims.leasebad).toMatchObject({ state: 'invalid', reason: expect.stringMatching(/record invalid.*owner/) });
    expect(status.degradedReasons.some((r) => /claim of leasebad/.test(r))).toBe(true);
    expect(status.degradedReasons.some((r) => /^DynamoDB/.test(r))).toBe(false);
    // fixed by hand: the agent reads it again and takes over
    await v1Lease({ owner: 'someone', recordVersion: 'v2', released: true });
    await waitFor('the fixed environment gets its daemon', 20_000, () => world.liveTasks(instance.arn, 'leasebad').some((t) => t.lastStatus === 'RUNNING'));
  });

  it('draining with no other task on the instance: the daemon stops at once (daemons last), and the status record says DRAINING and drained', async () => {
    // With replica tasks on the instance the daemons outlive them: agent-lifecycle.test.ts.
    const { UpdateContainerInstancesStateCommand } = await import('@aws-sdk/client-ecs');
    const td = await world.registerTaskDefinition('drainer');
    await world.createEnvironment('drainer', td, { expression: 'attribute:drainer == yes' });
    const instance = await world.addInstance({ attributes: { drainer: 'yes' } });
    await world.startAgent(instance, { ecsReconcileIntervalMs: 1_000, statusHeartbeatMs: 1_000 });
    const task = await waitFor('daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'drainer').find((t) => t.lastStatus === 'RUNNING'));
    const statusOf = async () => (await world.store.listInstances({ cluster: world.cluster })).items.find((i) => i.containerInstanceArn === instance.arn);
    await waitFor('status ACTIVE', 10_000, async () => (await statusOf())?.ecsStatus === 'ACTIVE');
    expect((await statusOf())?.drain).toEqual({ phase: 'none', reason: '' });
    await world.ecs.send(new UpdateContainerInstancesStateCommand({ cluster: world.cluster, containerInstances: [instance.arn], status: 'DRAINING' }));
    const drained = await waitFor('status DRAINING and drained', 10_000, async () => {
      const status = await statusOf();
      return status?.ecsStatus === 'DRAINING' && status.drain?.phase === 'drained' ? status : undefined;
    });
    // (an invalid environment of an earlier test is still reported, without a task)
    expect(drained.daemons.filter((d) => d.taskArn !== undefined)).toEqual([]);
    expect(world.emulator.task(task.taskArn)?.lastStatus).toBe('STOPPED');
    expect(world.liveTasks(instance.arn, 'drainer')).toEqual([]);
  });

  it('a hand-written environment whose writer forgot the marker still lands at the periodic full reload', async () => {
    const td = await world.registerTaskDefinition('handmade');
    const instance = await world.addInstance({ attributes: { handmade: 'yes' } });
    const { agent } = await world.startAgent(instance, { fullReloadIntervalMs: 1_500 });
    await waitFor('first load done', 10_000, () => agent.status().desired.loaded);
    const at = new Date().toISOString();
    await world.putRaw({
      pk: 'ENV#handmade',
      sk: 'REV#0000000001',
      kind: 'EnvironmentRevision',
      schemaVersion: 1,
      environment: 'handmade',
      revision: 1,
      taskDefinition: td,
      instanceGroup: { cluster: world.cluster, expression: 'attribute:handmade == yes' },
      createdAt: at,
    });
    await world.putRaw({
      pk: `CLUSTER#${world.cluster}`,
      sk: 'ENV#handmade',
      kind: 'Environment',
      schemaVersion: 1,
      name: 'handmade',
      cluster: world.cluster,
      status: 'ACTIVE',
      health: 'unknown',
      currentRevision: 1,
      latestRevision: 1,
      token: 't',
      createdAt: at,
      updatedAt: at,
    });
    await waitFor('daemon RUNNING without a marker bump', 15_000, () => world.liveTasks(instance.arn, 'handmade').some((t) => t.lastStatus === 'RUNNING'));
    expect(world.liveTasks(instance.arn, 'handmade')).toHaveLength(1);
  });

  it('a crashed daemon is restarted under the restart policy, the restart counted', async () => {
    const td = await world.registerTaskDefinition('crashy');
    await world.createEnvironment('crashy', td, { expression: 'attribute:crashy == yes', restartPolicy: { initialDelayMs: 300, maxDelayMs: 1_000 } });
    const instance = await world.addInstance({ attributes: { crashy: 'yes' } });
    const { agent } = await world.startAgent(instance);
    const first = await waitFor('daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'crashy').find((t) => t.lastStatus === 'RUNNING'));
    (world.runtime as SimulatedRuntime).crash(first.taskArn, 'main', 1);
    const second = await waitFor('a new daemon RUNNING', 15_000, () =>
      world.liveTasks(instance.arn, 'crashy').find((t) => t.lastStatus === 'RUNNING' && t.taskArn !== first.taskArn),
    );
    expect(second.taskArn).not.toBe(first.taskArn);
    expect(world.liveTasks(instance.arn, 'crashy')).toHaveLength(1);
    await waitFor('restart counted', 5_000, () => agent.status().daemons.find((d) => d.environment === 'crashy')?.restarts === 1);
    expect(agent.metrics.value('blox_agent_restarts_total', { environment: 'crashy' })).toBe(1);
  });

  it('readiness waits for HEALTHY where the daemon has a health check, and drops when it turns UNHEALTHY', async () => {
    const td = await world.registerTaskDefinition('checked', { healthCheck: true });
    await world.createEnvironment('checked', td, { expression: 'attribute:checked == yes' });
    const instance = await world.addInstance({ attributes: { checked: 'yes' } });
    const { agent, health } = await world.startAgent(instance);
    const task = await waitFor('daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'checked').find((t) => t.lastStatus === 'RUNNING'));
    // RUNNING but not yet HEALTHY: not ready. Checked on every answer: a 200 while the task is not
    // HEALTHY (read after the answer; health only moves forward here) is a failure.
    const answers: number[] = [];
    await waitFor(
      'readyz 200 once HEALTHY',
      15_000,
      async () => {
        const status = (await fetch(`${health.url}/readyz`)).status;
        answers.push(status);
        if (status === 200) expect(world.emulator.task(task.taskArn)?.healthStatus).toBe('HEALTHY');
        return status === 200;
      },
      50,
    );
    expect(answers[0]).toBe(503); // the first health check answers seconds after RUNNING
    expect(agent.status().daemons.find((d) => d.environment === 'checked')).toMatchObject({ state: 'healthy', health: 'HEALTHY' });
    (world.runtime as SimulatedRuntime).setHealth(task.taskArn, 'main', 'UNHEALTHY');
    const res = await waitFor('readyz 503 when UNHEALTHY', 10_000, async () => {
      const r = await fetch(`${health.url}/readyz`);
      return r.status === 503 ? r.text() : undefined;
    });
    expect(res).toMatch(/checked: unhealthy/);
    expect(agent.status().daemons.find((d) => d.environment === 'checked')?.state).toBe('unhealthy');
  });

  it('daemons first: the instance attribute turns ready only when its critical daemon is HEALTHY, and back to pending when it is not', async () => {
    const td = await world.registerTaskDefinition('gate', { healthCheck: true });
    await world.createEnvironment('gate', td, { expression: 'attribute:gate == yes', critical: true });
    await world.createEnvironment('gate-extra', await world.registerTaskDefinition('gate-extra'), { expression: 'attribute:gate == yes' });
    const instance = await world.addInstance({ attributes: { gate: 'yes' } });
    const attribute = () => world.emulator.instance(instance.arn)?.attributes['blox-edge.daemons'];
    const { agent } = await world.startAgent(instance);
    const task = await waitFor('critical daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'gate').find((t) => t.lastStatus === 'RUNNING'));
    // Checked on every read: the attribute is never ready while the critical daemon is not HEALTHY.
    const values: (string | undefined)[] = [];
    await waitFor(
      'attribute ready once HEALTHY',
      15_000,
      () => {
        const value = attribute();
        values.push(value);
        if (value === 'ready') expect(world.emulator.task(task.taskArn)?.healthStatus).toBe('HEALTHY');
        return value === 'ready';
      },
      50,
    );
    expect(values[0]).not.toBe('ready');
    (world.runtime as SimulatedRuntime).setHealth(task.taskArn, 'main', 'UNHEALTHY');
    await waitFor('attribute pending when UNHEALTHY', 10_000, () => attribute() === 'pending');
    expect(agent.metrics.value('blox_agent_readiness_changes_total', { value: 'ready' })).toBe(1);
    // a non-critical daemon never gates: only the critical one's health moved the attribute
    expect(world.liveTasks(instance.arn, 'gate-extra')).toHaveLength(1);
  });

  it('an instance that stops matching stops its daemon (attributes re-read), then releases its claim', async () => {
    const { PutAttributesCommand } = await import('@aws-sdk/client-ecs');
    const td = await world.registerTaskDefinition('fickle');
    await world.createEnvironment('fickle', td, { expression: 'attribute:fickle == yes' });
    const instance = await world.addInstance({ attributes: { fickle: 'yes' } });
    const { agent } = await world.startAgent(instance, { ecsReconcileIntervalMs: 1_000 });
    const task = await waitFor('daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'fickle').find((t) => t.lastStatus === 'RUNNING'));
    await world.ecs.send(
      new PutAttributesCommand({
        cluster: world.cluster,
        attributes: [{ name: 'fickle', value: 'no', targetType: 'container-instance', targetId: instance.arn }],
      }),
    );
    await waitFor('daemon stopped', 15_000, () => world.emulator.task(task.taskArn)?.lastStatus === 'STOPPED');
    expect(world.emulator.task(task.taskArn)?.stoppedReason).toMatch(/does not match attribute:fickle == yes/);
    await waitFor('claim released', 10_000, () => agent.status().claims.fickle?.state === 'absent');
    expect(await world.rawItem('ENV#fickle', `LEASE#${instance.arn.split('/').pop()}`)).toBeUndefined();
    expect(world.liveTasks(instance.arn, 'fickle')).toHaveLength(0);
    expect(agent.status().daemons.find((d) => d.environment === 'fickle')).toMatchObject({ matching: false });
  });

  it('a new revision replaces the daemon: the old task stops before the new one starts, never two', async () => {
    const v1 = await world.registerTaskDefinition('rolling');
    const v2 = await world.registerTaskDefinition('rolling');
    await world.createEnvironment('rolling', v1, { expression: 'attribute:rolling == yes' });
    const instance = await world.addInstance({ attributes: { rolling: 'yes' } });
    await world.startAgent(instance);
    const old = await waitFor('revision 1 RUNNING', 15_000, () => world.liveTasks(instance.arn, 'rolling').find((t) => t.lastStatus === 'RUNNING'));
    const env = await world.store.getEnvironment('rolling');
    let maxLive = 0;
    const off = world.emulator.onTaskStateChange(() => {
      maxLive = Math.max(maxLive, world.emulator.tasksOnInstance(instance.arn).filter((t) => t.group === 'blox:rolling' && t.lastStatus !== 'STOPPED').length);
    });
    await world.store.updateEnvironment('rolling', { token: env.token, taskDefinition: v2, deploy: true });
    const fresh = await waitFor('revision 2 RUNNING', 20_000, () =>
      world.liveTasks(instance.arn, 'rolling').find((t) => t.lastStatus === 'RUNNING' && t.taskArn !== old.taskArn),
    );
    off();
    expect(fresh.tags).toEqual(expect.arrayContaining([{ key: 'blox:revision', value: '2' }]));
    expect(fresh.taskDefinitionArn).toMatch(/rolling:2$/);
    expect(world.emulator.task(old.taskArn)?.stoppedReason).toMatch(/revision 1 superseded by 2/);
    expect(maxLive).toBe(1);
  });

  it('one process hosts many agents (no module-level state): 20 instances, 20 agents, one daemon each', async () => {
    const td = await world.registerTaskDefinition('fleet');
    await world.createEnvironment('fleet', td, { expression: 'attribute:fleet == yes' });
    const instances = await Promise.all(Array.from({ length: 20 }, () => world.addInstance({ attributes: { fleet: 'yes' } })));
    const agents = await Promise.all(instances.map((i) => world.startAgent(i, { pollIntervalMs: 1_000 }, { tickMs: 1_000 })));
    await waitFor(
      'a daemon on every instance',
      30_000,
      () => instances.every((i) => world.liveTasks(i.arn, 'fleet').some((t) => t.lastStatus === 'RUNNING')),
      100,
    );
    for (const i of instances) expect(world.liveTasks(i.arn, 'fleet')).toHaveLength(1);
    expect(new Set(agents.map((a) => a.agent.owner)).size).toBe(20);
    expect(new Set(agents.map((a) => a.agent.status().identity?.containerInstanceArn)).size).toBe(20);
    await Promise.all(agents.map((a) => a.stop()));
  });

  it('boot order: the agent waits with backoff until the ECS agent has registered, then gets its daemon', async () => {
    const td = await world.registerTaskDefinition('early');
    await world.createEnvironment('early', td, { expression: 'attribute:early == yes' });
    const instance = await world.addInstance({ attributes: { early: 'yes' }, introspectionLater: true });
    const startedAt = Date.now();
    const { agent, health } = await world.startAgent(instance);
    const waits = () => agent.metrics.total('blox_agent_api_calls_total', { service: 'ecs-agent', operation: 'metadata' });
    await waitFor('a few tries', 10_000, () => waits() >= 3);
    expect(agent.status().agent.phase).toBe('waiting-for-ecs-agent');
    expect(agent.status().identity).toBeUndefined();
    expect((await fetch(`${health.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${health.url}/readyz`)).status).toBe(503);
    // backoff, not a tight loop: each try waits at least half of 250 ms doubling (equal jitter)
    const elapsed = Date.now() - startedAt;
    let allowed = 0;
    for (let spent = 0; spent <= elapsed; allowed++) spent += Math.min(5_000, 250 * 2 ** allowed) / 2;
    expect(waits()).toBeLessThanOrEqual(allowed + 1);
    await instance.endpoints.markRegistered(instance.arn);
    await waitFor('daemon RUNNING', 20_000, () => world.liveTasks(instance.arn, 'early').some((t) => t.lastStatus === 'RUNNING'));
    expect(agent.status().identity?.containerInstanceArn).toBe(instance.arn);
    expect(agent.status().identity?.ec2InstanceId).toBe(instance.ec2InstanceId);
  });

  it('a task this system started that no environment claims is stopped after the grace period; other tasks are left alone', async () => {
    const { StartTaskCommand } = await import('@aws-sdk/client-ecs');
    const td = await world.registerTaskDefinition('ghost');
    const instance = await world.addInstance({ attributes: { ghost: 'yes' } });
    const { agent } = await world.startAgent(instance, { orphanGraceMs: 1_500 });
    await waitFor('agent running', 10_000, () => agent.status().desired.loaded);
    const start = async (extra: { group?: string; tags?: { key: string; value: string }[] }) =>
      (await world.ecs.send(new StartTaskCommand({ cluster: world.cluster, taskDefinition: td, containerInstances: [instance.arn], ...extra }))).tasks![0]!
        .taskArn!;
    const seenAt = Date.now();
    const orphan = await start({
      group: 'blox:ghost',
      tags: [
        { key: 'blox:environment', value: 'ghost' },
        { key: 'blox:managed-by', value: 'blox-edge' },
      ],
    });
    const foreign = await start({ group: 'family:ghost' });
    await waitFor('orphan stopped', 15_000, () => world.emulator.task(orphan)?.lastStatus === 'STOPPED');
    expect(Date.now() - seenAt).toBeGreaterThanOrEqual(1_500);
    expect(world.emulator.task(orphan)?.stoppedReason).toMatch(/orphan: no environment claims it/);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(world.emulator.task(foreign)?.lastStatus).toBe('RUNNING');
  });
});
