// The local world's Auto Scaling group, through the unmodified @aws-sdk/client-auto-scaling on the
// emulator's endpoint (Query protocol, XML answers): capacity, instances, replacement of an
// Unhealthy or terminated instance by one that registers with ECS, and scale-in held by a
// termination lifecycle hook until CompleteLifecycleAction or the heartbeat timeout. Every
// answer is checked against the official Auto Scaling service model (when installed; required
// under CI).
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLifecycleHooksCommand,
  PutLifecycleHookCommand,
  RecordLifecycleActionHeartbeatCommand,
  SetDesiredCapacityCommand,
  SetInstanceHealthCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateClusterCommand } from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AutoScalingApi } from '../../local/autoscaling/api.js';
import { AutoScalingGroup, type Fleet } from '../../local/autoscaling/group.js';
import { toModelValue } from '../../local/autoscaling/query.js';
import { isCi } from '../../local/ci.js';
import { AUTOSCALING_MODEL_TAIL, findServiceModelPath, loadServiceModel, ModelValidator } from '../../local/ecs/model-validator.js';
import { settle, startTestWorld, type TestWorld } from '../../local/ecs/testing.js';

const modelPath = findServiceModelPath(AUTOSCALING_MODEL_TAIL);
if (!modelPath && isCi()) throw new Error('the Auto Scaling service model (Debian awscli, botocore data autoscaling/2011-01-01) is required under CI');
const model = modelPath ? new ModelValidator(loadServiceModel(modelPath) as NonNullable<ReturnType<typeof loadServiceModel>>) : undefined;

let world: TestWorld;
let group: AutoScalingGroup;
let autoscaling: AutoScalingClient;
let problems: string[];
const targetStates = new Map<string, string>();
const arnOf = new Map<string, string>();
let serial = 0;

const fleet = (): Fleet => ({
  launch: async () => {
    const instanceId = `i-${(++serial).toString(16).padStart(17, '0')}`;
    // As user-data registers it: the daemons-first attribute is pending from the first moment.
    const { containerInstanceArn } = await world.emulator.registerInstance({
      cluster: 'asg',
      ec2InstanceId: instanceId,
      instanceType: 't3.medium',
      availabilityZone: serial % 2 ? 'us-east-1a' : 'us-east-1b',
      amiId: 'ami-1',
      cpu: 2048,
      memory: 3900,
      attributes: { 'blox-edge.daemons': 'pending' },
    });
    arnOf.set(instanceId, containerInstanceArn);
    return { instanceId, availabilityZone: serial % 2 ? 'us-east-1a' : 'us-east-1b', instanceType: 't3.medium' };
  },
  terminate: async (instanceId) => world.emulator.terminateInstance(arnOf.get(instanceId) as string),
  targetStateChanged: (instanceId, state) => void targetStates.set(instanceId, state),
});

async function advance(ms: number): Promise<void> {
  world.clock.advance(ms);
  await settle();
}

async function instances(): Promise<Array<{ InstanceId?: string; LifecycleState?: string; HealthStatus?: string }>> {
  const answer = await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['blox-local'] }));
  return answer.AutoScalingGroups?.[0]?.Instances ?? [];
}

const inService = async (): Promise<string[]> =>
  (await instances())
    .filter((instance) => instance.LifecycleState === 'InService')
    .map((instance) => instance.InstanceId as string)
    .sort();

beforeEach(async () => {
  world = await startTestWorld();
  await world.ecs.send(new CreateClusterCommand({ clusterName: 'asg' }));
  group = new AutoScalingGroup('blox-local', { min: 0, max: 5, desired: 2 }, ['us-east-1a', 'us-east-1b'], fleet(), world.clock);
  const api = new AutoScalingApi('us-east-1', '000000000000');
  api.addGroup(group);
  problems = [];
  api.onExchange((exchange) => {
    if (!model || exchange.status !== 200 || !model.outputShape(exchange.operation)) return;
    const violations = model.validateOutput(exchange.operation, toModelValue(exchange.response));
    if (violations.length > 0) problems.push(`${exchange.operation}: ${JSON.stringify(violations)}`);
  });
  world.emulator.serveQueryApi((body) => api.handle(body));
  autoscaling = new AutoScalingClient({
    endpoint: world.emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 't', secretAccessKey: 't' },
    maxAttempts: 1,
  });
  group.start();
  await settle();
});

afterEach(async () => {
  group.close();
  autoscaling.destroy();
  await world.close();
  expect(problems).toEqual([]);
});

describe('the Auto Scaling group', () => {
  it('launches DesiredCapacity instances that register with ECS, pending their daemons, InService in IMDS', async () => {
    const described = await autoscaling.send(new DescribeAutoScalingGroupsCommand({}));
    expect(described.AutoScalingGroups?.[0]).toMatchObject({ AutoScalingGroupName: 'blox-local', MinSize: 0, MaxSize: 5, DesiredCapacity: 2 });
    const ids = await inService();
    expect(ids).toHaveLength(2);
    for (const id of ids) {
      expect(world.emulator.instance(arnOf.get(id) as string)?.attributes['blox-edge.daemons']).toBe('pending');
      expect(targetStates.get(id)).toBe('InService');
    }
    const details = await autoscaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [ids[0] as string] }));
    expect(details.AutoScalingInstances).toEqual([
      expect.objectContaining({ InstanceId: ids[0], AutoScalingGroupName: 'blox-local', HealthStatus: 'HEALTHY' }),
    ]);
  });

  it('replaces an instance set Unhealthy, and one terminated without decrementing', async () => {
    const [sick, other] = await inService();
    await autoscaling.send(new SetInstanceHealthCommand({ InstanceId: sick, HealthStatus: 'Unhealthy' }));
    await settle();
    expect(targetStates.get(sick as string)).toBe('Terminated');
    expect(world.emulator.instance(arnOf.get(sick as string) as string)?.status).toBe('INACTIVE');
    const after = await inService();
    expect(after).toHaveLength(2);
    expect(after).not.toContain(sick);
    const activity = await autoscaling.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: other, ShouldDecrementDesiredCapacity: false }));
    expect(activity.Activity).toMatchObject({ AutoScalingGroupName: 'blox-local', StatusCode: 'InProgress' });
    await settle();
    expect(await inService()).toHaveLength(2);
    expect(await inService()).not.toContain(other);
  });

  it('holds a scale-in in Terminating:Wait until CompleteLifecycleAction', async () => {
    await autoscaling.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: 'blox-local',
        LifecycleHookName: 'drain-daemons',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 300,
        DefaultResult: 'CONTINUE',
      }),
    );
    expect((await autoscaling.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: 'blox-local' }))).LifecycleHooks?.[0]).toMatchObject({
      LifecycleHookName: 'drain-daemons',
      HeartbeatTimeout: 300,
    });
    await autoscaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'blox-local', DesiredCapacity: 1 }));
    await settle();
    const waiting = (await instances()).find((instance) => instance.LifecycleState === 'Terminating:Wait');
    expect(waiting).toBeDefined();
    const id = waiting?.InstanceId as string;
    expect(targetStates.get(id)).toBe('Terminated');
    await advance(200_000);
    await autoscaling.send(
      new RecordLifecycleActionHeartbeatCommand({ AutoScalingGroupName: 'blox-local', LifecycleHookName: 'drain-daemons', InstanceId: id }),
    );
    await advance(200_000); // past the first deadline, within the renewed one
    expect(world.emulator.instance(arnOf.get(id) as string)?.status).toBe('ACTIVE');
    await autoscaling.send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: 'blox-local',
        LifecycleHookName: 'drain-daemons',
        InstanceId: id,
        LifecycleActionResult: 'CONTINUE',
      }),
    );
    await settle();
    expect(world.emulator.instance(arnOf.get(id) as string)?.status).toBe('INACTIVE');
    expect((await instances()).map((instance) => instance.InstanceId)).not.toContain(id);
    expect(await inService()).toHaveLength(1);
  });

  it('ends the wait at the hook timeout, and refuses capacities outside min and max', async () => {
    await autoscaling.send(new PutLifecycleHookCommand({ AutoScalingGroupName: 'blox-local', LifecycleHookName: 'h', HeartbeatTimeout: 60 }));
    await autoscaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'blox-local', DesiredCapacity: 1 }));
    await settle();
    expect((await instances()).some((instance) => instance.LifecycleState === 'Terminating:Wait')).toBe(true);
    await advance(60_000);
    expect((await instances()).map((instance) => instance.LifecycleState)).toEqual(['InService']);
    await expect(autoscaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'blox-local', DesiredCapacity: 9 }))).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('above max value 5'),
    });
    await expect(autoscaling.send(new SetInstanceHealthCommand({ InstanceId: 'i-nope', HealthStatus: 'Unhealthy' }))).rejects.toMatchObject({
      name: 'ValidationError',
    });
  });
});
