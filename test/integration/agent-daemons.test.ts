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
    const { agent, health } = await world.startAgent(instance);
    const task = await waitFor('daemon RUNNING', 15_000, () => world.liveTasks(instance.arn, 'logs-a').find((t) => t.lastStatus === 'RUNNING'));
    expect(task.startedBy).toMatch(/^bx-/);
    expect(task.tags).toEqual(expect.arrayContaining([{ key: 'blox:environment', value: 'logs-a' }, { key: 'blox:revision', value: '1' }]));
    await waitFor('readyz 200', 10_000, async () => (await getJson(`${health.url}/readyz`)).status === 200);
    const status = (await getJson(`${health.url}/status`)).body as { identity: { containerInstanceArn: string }; daemons: { environment: string; taskArn?: string; state: string }[]; leases: Record<string, { state: string }> };
    expect(status.identity.containerInstanceArn).toBe(instance.arn);
    expect(status.daemons).toEqual([expect.objectContaining({ environment: 'logs-a', taskArn: task.taskArn, state: 'running' })]);
    expect(status.leases['logs-a']?.state).toBe('mine');
    expect((await getJson(`${health.url}/healthz`)).status).toBe(200);
    const metrics = (await getJson(`${health.url}/metrics`)).text;
    expect(metrics).toMatch(/blox_agent_api_calls_total\{service="ecs",operation="StartTask",outcome="ok"\} 1/);
    expect(metrics).toMatch(/blox_agent_reconcile_duration_seconds_count \d+/);
    expect(metrics).toMatch(/blox_agent_lease_events_total\{environment="logs-a",event="acquired"\} 1/);
    // the instance status record reaches DynamoDB (what the coordinator reads)
    const instances = await waitFor('instance status record', 10_000, async () => {
      const page = await world.store.listInstances({ cluster: world.cluster });
      const found = page.items.find((i) => i.containerInstanceArn === instance.arn && i.ready);
      return found;
    });
    expect(instances.daemons[0]?.taskArn).toBe(task.taskArn);
    // steady state: no ECS call per poll
    const before = world.emulator.callCounts();
    await new Promise((r) => setTimeout(r, 1_500));
    const after = world.emulator.callCounts();
    const ecsCalls = Object.keys(after).reduce((sum, op) => sum + ((after[op] ?? 0) - (before[op] ?? 0)), 0);
    expect(ecsCalls).toBe(0);
    expect(world.liveTasks(instance.arn, 'logs-a')).toHaveLength(1);
    expect(agent.status().ready).toBe(true);
  });
});
