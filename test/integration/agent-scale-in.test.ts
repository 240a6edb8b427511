// Scale-in and Spot, node-local, in the local world: an Auto Scaling group (the sandbox's, with a
// termination lifecycle hook) of instances each with a real agent in-process, a REPLICA service
// that waits for the daemons, DynamoDB Local. On SetDesiredCapacity down (through the real Auto
// Scaling SDK client) and on a Spot interruption notice, the instance's own agent drains it, the
// replicas leave, its daemons stop last, the lifecycle action is kept open by heartbeats past the
// hook's timeout while a task stays (by an agent restarted mid-way), then completed; the
// replacement gets its daemons.
import { SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { CreateServiceCommand, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { startAgentWorld, waitFor, type AgentWorld } from '../support/agent-world.js';
import { startAutoScalingGroup, type AsgWorld, type GroupMember } from '../support/asg-world.js';
import { dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();
const ATTRIBUTE = 'blox-edge.daemons';
const HOOK = 'drain-first';
const HOOK_TIMEOUT_S = 30; // the least Auto Scaling allows

describe.skipIf(!endpoint)('scale-in and Spot in the agent (integration)', () => {
  let world: AgentWorld;
  let group: AsgWorld;
  beforeAll(async () => {
    world = await startAgentWorld({ dynamodbEndpoint: endpoint, runtime: new SimulatedRuntime({ startLatencyMs: 100 }) });
    await world.createEnvironment('si-logs', await world.registerTaskDefinition('si-logs'), { critical: true });
    group = await startAutoScalingGroup(world, { desired: 2, attributes: { [ATTRIBUTE]: 'pending' } });
    await group.putTerminationHook(HOOK, HOOK_TIMEOUT_S);
    await waitFor('two instances with their daemons', 30_000, () => group.live().length === 2 && group.live().every(ready));
    await world.ecs.send(
      new CreateServiceCommand({
        cluster: world.cluster,
        serviceName: 'si-web',
        taskDefinition: await world.registerTaskDefinition('si-web'),
        desiredCount: 4,
        placementConstraints: [{ type: 'memberOf', expression: `attribute:${ATTRIBUTE} == ready` }],
        placementStrategy: [{ type: 'spread', field: 'instanceId' }],
      }),
    );
    await waitFor('replicas on both instances', 15_000, () => group.live().every((m) => replicasOn(m).some((t) => t.lastStatus === 'RUNNING')));
  }, 60_000);
  afterAll(async () => {
    await group?.close();
    await world?.close();
  });

  const ready = (m: GroupMember) => group.ready(m, 'si-logs');
  const replicasOn = (m: GroupMember) => world.emulator.tasksOnInstance(m.instance.arn).filter((t) => t.group === 'service:si-web');
  const daemonOf = (m: GroupMember) => world.emulator.tasksOnInstance(m.instance.arn).find((t) => t.group === 'blox:si-logs')!;
  const lifecycleCalls = (m: GroupMember, call: string) =>
    m.agent.agent.metrics
      .render()
      .split('\n')
      .filter((l) => l.startsWith('blox_agent_lifecycle_calls_total') && l.includes(`call="${call}"`) && l.includes('open="true"'))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);

  it('scale-in with a termination hook: drains itself, restarted mid-way carries on, heartbeats past the hook timeout while a task stays, daemons stop last, completes', async () => {
    const [first] = [...group.live()].sort((a, b) => a.launchedAt - b.launchedAt);
    const victim = first!;
    // a standalone task of another scheduler: ECS leaves it on a DRAINING instance, so the drain waits for it
    const batch = await world.ecs.send(
      new RunTaskCommand({
        cluster: world.cluster,
        taskDefinition: await world.registerTaskDefinition('si-batch'),
        placementConstraints: [{ type: 'memberOf', expression: `ec2InstanceId == ${victim.instance.ec2InstanceId}` }],
      }),
    );
    const batchArn = batch.tasks?.[0]?.taskArn as string;
    await waitFor('the batch task running', 10_000, () => world.emulator.task(batchArn)?.lastStatus === 'RUNNING');
    expect(world.emulator.task(batchArn)?.containerInstanceArn).toBe(victim.instance.arn);
    const scaledAt = Date.now();
    await group.client.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'blox-local', DesiredCapacity: 1 }));
    await waitFor('the victim DRAINING by its own agent', 5_000, () => world.emulator.instance(victim.instance.arn)?.status === 'DRAINING');
    await waitFor('the replicas gone from the victim', 15_000, () => replicasOn(victim).every((t) => t.lastStatus === 'STOPPED'));
    // The agent restarts mid-way: the new one finds the instance DRAINING and the target state
    // Terminated, looks the hook up again and keeps the action open (the counts below are its own).
    expect(victim.agent.agent.status().lifecycle).toMatchObject({ leaving: 'scale-in' });
    await group.restartAgent(victim);
    // Past the hook's timeout the instance is still held: the agent's heartbeats kept the action open.
    await new Promise((r) => setTimeout(r, HOOK_TIMEOUT_S * 1000 + 3_000 - (Date.now() - scaledAt)));
    expect(group.asg.group.instances.get(victim.instance.ec2InstanceId)?.lifecycleState).toBe('Terminating:Wait');
    expect(lifecycleCalls(victim, 'heartbeat')).toBeGreaterThanOrEqual(2);
    expect(daemonOf(victim).lastStatus).toBe('RUNNING'); // the log shipper outlives the batch task
    await world.ecs.send(new StopTaskCommand({ cluster: world.cluster, task: batchArn, reason: 'batch done' }));
    await waitFor('the lifecycle action completed and the instance gone', 20_000, () => victim.terminatedAt !== undefined);
    expect(lifecycleCalls(victim, 'complete')).toBe(1);
    const daemon = daemonOf(victim);
    const lastOther = Math.max(world.emulator.task(batchArn)!.stoppedAt!, ...replicasOn(victim).map((t) => t.stoppedAt!));
    expect(daemon.stoppingAt!).toBeGreaterThanOrEqual(lastOther);
    expect(daemon.stoppedReason).toMatch(/draining/);
    expect(victim.terminatedAt! - scaledAt).toBeLessThan((HOOK_TIMEOUT_S * 2 + 10) * 1000);
    expect(group.asg.group.desiredCapacity).toBe(1);
    await waitFor(
      'the 4 replicas on the remaining instance',
      15_000,
      () => replicasOn(group.live()[0]!).filter((t) => t.lastStatus === 'RUNNING').length === 4,
    );
  }, 90_000);

  it('a Spot interruption notice: drains at once, daemons stop after the replicas left, the replacement gets its daemons', async () => {
    await group.client.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'blox-local', DesiredCapacity: 2 }));
    await waitFor('two instances with their daemons', 30_000, () => group.live().length === 2 && group.live().every(ready));
    const victim = group.live().find((m) => replicasOn(m).some((t) => t.lastStatus === 'RUNNING'))!;
    const before = new Set(group.members.keys());
    const noticeAt = Date.now();
    group.asg.spotInterrupt(victim.instance.ec2InstanceId, 15_000);
    await waitFor('the victim DRAINING by its own agent', 5_000, () => world.emulator.instance(victim.instance.arn)?.status === 'DRAINING');
    expect(Date.now() - noticeAt).toBeLessThan(5_000);
    await waitFor('the daemon stopped last', 15_000, () => daemonOf(victim).lastStatus === 'STOPPED');
    const replicas = replicasOn(victim);
    expect(replicas.length).toBeGreaterThan(0);
    expect(daemonOf(victim).stoppingAt!).toBeGreaterThanOrEqual(Math.max(...replicas.map((t) => t.stoppedAt!)));
    expect(lifecycleCalls(victim, 'heartbeat') + lifecycleCalls(victim, 'complete')).toBe(0); // Spot has no lifecycle action
    const replacement = await waitFor('a replacement with its daemon', 40_000, () =>
      group.live().find((m) => !before.has(m.instance.ec2InstanceId) && ready(m)),
    );
    expect(victim.terminatedAt).toBeDefined();
    expect(world.liveTasks(replacement.instance.arn, 'si-logs')).toHaveLength(1);
  }, 90_000);
});
