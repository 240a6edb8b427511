// The edge agent under faults, in the local world: DynamoDB unreachable, an ECS throttling storm,
// the agent SIGKILLed between StartTask and recording its result, SIGTERM, and `docker kill`.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../agent/config.js';
import { DYNAMO_RETRY } from '../../agent/memory/dynamo-gate.js';
import { STATUS_RETRY } from '../../agent/report/status-writer.js';
import { backoffDelay, type BackoffShape } from '../../agent/restart-policy.js';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { startAgentWorld, startTcpProxy, waitFor, type AgentWorld } from '../support/agent-world.js';
import { dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();

/** The most failures a backoff curve allows in `windowMs`: each retry waits at least half its delay (equal jitter). */
function maxFailures(shape: BackoffShape, windowMs: number): number {
  let elapsed = 0;
  let n = 0;
  while (elapsed <= windowMs) elapsed += backoffDelay(++n, shape, 0);
  return n;
}
const OUTAGE_MS = Number(process.env.BLOX_TEST_OUTAGE_MS ?? 30_000);

async function claimItems(world: AgentWorld, env: string): Promise<Record<string, unknown>[]> {
  const out = await world.ddb.send(
    new QueryCommand({
      TableName: world.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': { S: `ENV#${env}` }, ':p': { S: 'LEASE#' } },
      ConsistentRead: true,
    }),
  );
  return (out.Items ?? []).map((i) => unmarshall(i));
}

describe.skipIf(!endpoint)('edge agent under faults (integration)', () => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startAgentWorld({ dynamodbEndpoint: endpoint, runtime: new SimulatedRuntime({ startLatencyMs: 50 }) });
  });
  afterAll(async () => world?.close());

  it(
    `DynamoDB unreachable for ${OUTAGE_MS / 1000} s: the daemon keeps running, the agent reports degraded, then recovers without restarting it`,
    async () => {
      const proxy = await startTcpProxy(endpoint);
      try {
        const td = await world.registerTaskDefinition('outage');
        await world.createEnvironment('outage', td, { expression: 'attribute:outage == yes' });
        const instance = await world.addInstance({ attributes: { outage: 'yes' } });
        const { agent, health } = await world.startAgent(instance, { dynamodbEndpoint: proxy.url });
        const task = await waitFor('daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'outage').find((t) => t.lastStatus === 'RUNNING'));
        await waitFor('lease recorded', 5_000, () => agent.status().claims.outage?.taskArn === task.taskArn);
        const callsBefore = world.emulator.callCounts();
        await proxy.cut();
        const cutAt = Date.now();
        await waitFor('agent reports degraded', 15_000, () => agent.status().degraded);
        expect(agent.status().degradedReasons.join(' ')).toMatch(/DynamoDB/);
        while (Date.now() - cutAt < OUTAGE_MS) {
          expect(world.liveTasks(instance.arn, 'outage').map((t) => t.taskArn)).toEqual([task.taskArn]);
          expect((await fetch(`${health.url}/healthz`)).status).toBe(200);
          await new Promise((r) => setTimeout(r, 1_000));
        }
        const errorsDuringOutage =
          agent.metrics.total('blox_agent_api_calls_total', { service: 'dynamodb', outcome: 'error' }) +
          agent.metrics.total('blox_agent_api_calls_total', { service: 'dynamodb', outcome: 'timeout' });
        expect(errorsDuringOutage).toBeGreaterThan(0); // it kept retrying...
        // ...with backoff, not in a tight loop: no more failures than the two curves allow (polls,
        // claim reads and heartbeats share the DynamoDB backoff; the status record has its own)
        expect(errorsDuringOutage).toBeLessThanOrEqual(maxFailures(DYNAMO_RETRY, OUTAGE_MS + 5_000) + maxFailures(STATUS_RETRY, OUTAGE_MS + 5_000) + 2);
        expect(agent.metrics.total('blox_agent_backoff_seconds_total', { kind: 'dynamodb' })).toBeGreaterThan(OUTAGE_MS / 1000 / 3);
        await proxy.restore();
        await waitFor('agent recovers', 30_000, () => !agent.status().degraded && agent.status().desired.fresh);
        await waitFor('lease held again', 10_000, () => agent.status().claims.outage?.state === 'mine');
        const callsAfter = world.emulator.callCounts();
        expect(callsAfter.StartTask ?? 0).toBe(callsBefore.StartTask ?? 0);
        expect(callsAfter.StopTask ?? 0).toBe(callsBefore.StopTask ?? 0);
        expect(world.liveTasks(instance.arn, 'outage').map((t) => t.taskArn)).toEqual([task.taskArn]);
        const record = await waitFor('status record not degraded', 15_000, async () =>
          (await world.store.listInstances({ cluster: world.cluster })).items.find((i) => i.containerInstanceArn === instance.arn && !i.degraded && i.ready),
        );
        expect(record.daemons[0]?.taskArn).toBe(task.taskArn);
      } finally {
        await proxy.close();
      }
    },
    OUTAGE_MS + 90_000,
  );

  it('ECS unreachable (frozen endpoint): the daemon keeps running, the agent reports degraded, then recovers', async () => {
    const td = await world.registerTaskDefinition('frozen');
    await world.createEnvironment('frozen', td, { expression: 'attribute:frozen == yes' });
    const instance = await world.addInstance({ attributes: { frozen: 'yes' } });
    const { agent, health } = await world.startAgent(instance, { ecsReconcileIntervalMs: 1_000 });
    const task = await waitFor('daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'frozen').find((t) => t.lastStatus === 'RUNNING'));
    await waitFor('lease recorded', 5_000, () => agent.status().claims.frozen?.taskArn === task.taskArn);
    world.emulator.faults.freeze();
    try {
      await waitFor('agent reports degraded', 20_000, () => agent.status().degraded, 200);
      expect(agent.status().degradedReasons.join(' ')).toMatch(/ECS/);
      expect((await fetch(`${health.url}/healthz`)).status).toBe(200);
      expect(agent.status().daemons.find((d) => d.environment === 'frozen')?.taskArn).toBe(task.taskArn);
    } finally {
      world.emulator.faults.unfreeze();
    }
    await waitFor('agent recovers', 20_000, () => !agent.status().degraded, 200);
    expect(world.liveTasks(instance.arn, 'frozen').map((t) => t.taskArn)).toEqual([task.taskArn]);
    expect(world.emulator.task(task.taskArn)?.desiredStatus).toBe('RUNNING');
  }, 60_000);

  it('throttling storm from the emulator: agents converge, backoff shows in metrics, no tight retry loop', async () => {
    const td = await world.registerTaskDefinition('storm');
    await world.createEnvironment('storm', td, { expression: 'attribute:storm == yes' });
    const instances = await Promise.all([1, 2, 3, 4, 5].map(() => world.addInstance({ attributes: { storm: 'yes' } })));
    world.emulator.faults.setThrottle('StartTask', { ratePerSecond: 0.5, burst: 1 });
    const before = world.emulator.callCounts();
    const started = Date.now();
    try {
      const agents = await Promise.all(instances.map((i) => world.startAgent(i)));
      await waitFor('a daemon on every instance', 60_000, () => instances.every((i) => world.liveTasks(i.arn, 'storm').length === 1), 200);
      const seconds = (Date.now() - started) / 1000;
      for (const i of instances) expect(world.liveTasks(i.arn, 'storm')).toHaveLength(1);
      const throttled = agents.reduce((sum, a) => sum + a.agent.metrics.total('blox_agent_start_failures_total', { reason: 'ThrottlingException' }), 0);
      expect(throttled).toBeGreaterThan(0);
      const backoff = agents.reduce((sum, a) => sum + a.agent.metrics.total('blox_agent_backoff_seconds_total', { kind: 'start' }), 0);
      expect(backoff).toBeGreaterThan(0);
      const throttledAgent = agents.find((a) => a.agent.metrics.total('blox_agent_start_failures_total', { reason: 'ThrottlingException' }) > 0)!;
      const text = await (await fetch(`${throttledAgent.health.url}/metrics`)).text();
      expect(text).toMatch(/blox_agent_start_failures_total\{environment="storm",reason="ThrottlingException"\} \d+/);
      expect(text).toMatch(/blox_agent_api_calls_total\{service="ecs",operation="StartTask",outcome="throttled"\} \d+/);
      expect(text).toMatch(/blox_agent_backoff_seconds_total\{kind="start"\}/);
      const startCalls = (world.emulator.callCounts().StartTask ?? 0) - (before.StartTask ?? 0);
      // Exponential backoff: each agent tries about log2(elapsed) + 2 times, never once per tick.
      const perAgentBound = Math.ceil(Math.log2(Math.max(2, seconds)) + 3);
      expect(startCalls).toBeLessThanOrEqual(instances.length * perAgentBound);
      expect(startCalls).toBeGreaterThanOrEqual(instances.length);
    } finally {
      world.emulator.faults.clear();
    }
  }, 90_000);

  it('a StartTask answer slower than the timeout (the task starts anyway): the expectation holds, no second start, the task is adopted', async () => {
    const td = await world.registerTaskDefinition('slow');
    await world.createEnvironment('slow', td, { expression: 'attribute:slow == yes' });
    const instance = await world.addInstance({ attributes: { slow: 'yes' } });
    world.emulator.faults.setLatency('StartTask', 7_000); // beyond the agent's 5 s ECS request timeout
    const before = world.emulator.callCounts().StartTask ?? 0;
    try {
      const { agent } = await world.startAgent(instance);
      await waitFor(
        'StartTask timed out at the agent',
        15_000,
        () =>
          agent.metrics.total('blox_agent_api_calls_total', { operation: 'StartTask', outcome: 'timeout' }) +
            agent.metrics.total('blox_agent_api_calls_total', { operation: 'StartTask', outcome: 'error' }) >
          0,
        100,
      );
      expect(Object.keys(agent.status().expectations)).toEqual(['slow']);
      const task = await waitFor('the slow task RUNNING', 15_000, () => world.liveTasks(instance.arn, 'slow').find((t) => t.lastStatus === 'RUNNING'), 100);
      await waitFor('adopted', 15_000, () => agent.status().claims.slow?.taskArn === task.taskArn, 100);
      expect(world.liveTasks(instance.arn, 'slow')).toHaveLength(1);
      expect((world.emulator.callCounts().StartTask ?? 0) - before).toBe(1);
    } finally {
      world.emulator.faults.clear();
    }
  }, 60_000);

  describe('as a process: node dist/agent.js', () => {
    /** An environment, an instance, and an agent SIGKILLed right after StartTask (fault hook): one task, its attempt in the claim, no task recorded. */
    async function killedMidStart(name: string, overrides: Partial<AgentConfig> = {}) {
      const td = await world.registerTaskDefinition(name);
      await world.createEnvironment(name, td, { expression: `attribute:${name} == yes` });
      const instance = await world.addInstance({ attributes: { [name]: 'yes' } });
      const first = await world.spawnAgent(instance, overrides, { BLOX_AGENT_FAULT: 'exit-after-start-task' });
      const exit = await first.exited;
      expect(exit.signal).toBe('SIGKILL');
      expect(first.output()).toMatch(/BLOX_AGENT_FAULT=exit-after-start-task/);
      const live = world.liveTasks(instance.arn, name);
      expect(live).toHaveLength(1);
      const [claim] = await claimItems(world, name);
      expect(claim).toMatchObject({ kind: 'Claim', attempts: [{ token: live[0]!.startedBy, role: 'current' }] });
      expect(claim?.current).toBeUndefined();
      return { instance, task: live[0]!, claim: claim!, startsBefore: world.emulator.callCounts().StartTask ?? 0 };
    }

    /** Waits for the claim to record the task with no attempt left; every task change meanwhile is checked for a duplicate. */
    async function adoptedBy(name: string, taskArn: string, timeoutMs: number) {
      const duplicates = world.watchDuplicates();
      try {
        const adopted = await waitFor(
          'the restarted agent adopts the task',
          timeoutMs,
          async () => {
            const [item] = await claimItems(world, name);
            return (item?.current as { taskArn?: string } | undefined)?.taskArn === taskArn && item?.attempts === undefined ? item : undefined;
          },
          200,
        );
        expect(duplicates.violations).toEqual([]);
        return adopted;
      } finally {
        duplicates.stop();
      }
    }

    it('SIGKILLed between StartTask and recording the result (fault hook), restarted on its state directory: the same owner adopts the one task at once', async () => {
      // A 20 s lease: adoption within 15 s proves the restarted agent did not wait for expiry.
      const { instance, task, claim, startsBefore } = await killedMidStart('killed', { leaseDurationMs: 20_000 });
      const t0 = Date.now();
      const second = await world.spawnAgent(instance, { leaseDurationMs: 20_000 });
      const adopted = await adoptedBy('killed', task.taskArn!, 15_000);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(adopted.owner).toBe(claim.owner);
      expect(world.liveTasks(instance.arn, 'killed').map((t) => t.taskArn)).toEqual([task.taskArn]);
      expect(world.emulator.callCounts().StartTask ?? 0).toBe(startsBefore);
      expect(second.output()).toMatch(/claim task-recorded/);
      expect(second.output()).toMatch(/"ownerResumed":true/);
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    }, 60_000);

    it('SIGKILLed between StartTask and recording the result, replaced by an agent with a fresh state directory: the new owner waits for expiry, then adopts the one task', async () => {
      const { instance, task, claim, startsBefore } = await killedMidStart('killed-fresh');
      const second = await world.spawnAgent(instance, { stateDir: mkdtempSync(join(tmpdir(), 'blox-state-')) });
      const adopted = await adoptedBy('killed-fresh', task.taskArn!, 30_000);
      expect(adopted.owner).not.toBe(claim.owner);
      expect(world.liveTasks(instance.arn, 'killed-fresh').map((t) => t.taskArn)).toEqual([task.taskArn]);
      expect(world.emulator.callCounts().StartTask ?? 0).toBe(startsBefore);
      expect(second.output()).toMatch(/expired/);
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    }, 60_000);

    it('a second agent process on the same state directory exits 75 and touches nothing; the first keeps its lease and daemon', async () => {
      const td = await world.registerTaskDefinition('twice');
      await world.createEnvironment('twice', td, { expression: 'attribute:twice == yes' });
      const instance = await world.addInstance({ attributes: { twice: 'yes' } });
      const first = await world.spawnAgent(instance);
      const task = await waitFor('daemon RUNNING', 20_000, () => world.liveTasks(instance.arn, 'twice').find((t) => t.lastStatus === 'RUNNING'));
      const [before] = await waitFor('claim recorded', 10_000, async () =>
        (await claimItems(world, 'twice'))[0]?.current ? claimItems(world, 'twice') : undefined,
      );
      const second = await world.spawnAgent(instance);
      const exit = await second.exited;
      expect(exit.code).toBe(75);
      expect(second.output()).toMatch(/another blox-edge agent is running with state directory/);
      expect(first.child.exitCode).toBeNull();
      const [after] = await claimItems(world, 'twice');
      expect(after?.owner).toBe(before?.owner);
      expect(world.liveTasks(instance.arn, 'twice').map((t) => t.taskArn)).toEqual([task.taskArn]);
      first.child.kill('SIGTERM');
      expect((await first.exited).code).toBe(0);
    }, 60_000);

    it('SIGTERM: exit 0, the daemon keeps running, and the next agent adopts it at once', async () => {
      const td = await world.registerTaskDefinition('termed');
      await world.createEnvironment('termed', td, { expression: 'attribute:termed == yes' });
      const instance = await world.addInstance({ attributes: { termed: 'yes' } });
      const first = await world.spawnAgent(instance, { leaseDurationMs: 20_000 });
      const task = await waitFor('daemon RUNNING', 20_000, () => world.liveTasks(instance.arn, 'termed').find((t) => t.lastStatus === 'RUNNING'));
      await waitFor('readyz 200', 10_000, async () => (await fetch(`${first.url}/readyz`).catch(() => undefined))?.status === 200);
      first.child.kill('SIGTERM');
      expect((await first.exited).code).toBe(0);
      expect(world.liveTasks(instance.arn, 'termed').map((t) => t.taskArn)).toEqual([task.taskArn]);
      const startsBefore = world.emulator.callCounts().StartTask ?? 0;
      const t0 = Date.now();
      // another state directory: another owner, which only the release lets in before expiry
      const second = await world.spawnAgent(instance, { leaseDurationMs: 20_000, stateDir: mkdtempSync(join(tmpdir(), 'blox-state-')) });
      await waitFor(
        'the next agent holds the lease',
        15_000,
        async () => {
          const status = (await (await fetch(`${second.url}/status`)).json()) as { claims: Record<string, { state: string; taskArn?: string }> };
          return status.claims.termed?.state === 'mine' && status.claims.termed.taskArn === task.taskArn;
        },
        200,
      );
      // released on shutdown: no waiting for a 20 s lease to expire
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(world.emulator.callCounts().StartTask ?? 0).toBe(startsBefore);
      second.child.kill('SIGINT');
      expect((await second.exited).code).toBe(0);
    }, 60_000);
  });
});
