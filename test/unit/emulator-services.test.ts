// ECS services in the emulator (REPLICA strategy), through the unmodified @aws-sdk/client-ecs:
// placement by memberOf on attributes (an instance turning `ready` becomes eligible), scaling,
// replacement of stopped tasks, moving off a DRAINING instance (standalone tasks stay), new
// deployments, deletion, and the counts and events DescribeServices shows. Every exchange is
// checked against the official ECS service model (when installed; required under CI).
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  DescribeTasksCommand,
  ListServicesCommand,
  ListTasksCommand,
  PutAttributesCommand,
  RegisterTaskDefinitionCommand,
  StartTaskCommand,
  StopTaskCommand,
  UpdateContainerInstancesStateCommand,
  UpdateServiceCommand,
  type Service,
  type Task,
} from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { settle, startTestWorld, type TestWorld } from '../../local/ecs/testing.js';

let world: TestWorld;
const CLUSTER = 'svc';
let serial = 0;

async function instance(attributes: Record<string, string> = {}, availabilityZone = 'us-east-1a', memory = 3900): Promise<string> {
  const { containerInstanceArn } = await world.emulator.registerInstance({
    cluster: CLUSTER,
    ec2InstanceId: `i-${(++serial).toString(16).padStart(17, '0')}`,
    instanceType: 't3.medium',
    availabilityZone,
    amiId: 'ami-1',
    cpu: 2048,
    memory,
    attributes,
  });
  return containerInstanceArn;
}

async function advance(ms: number): Promise<void> {
  for (let i = 0; i < 4; i++) {
    world.clock.advance(ms / 4);
    await settle();
  }
}

async function service(name = 'web'): Promise<Service> {
  const answer = await world.ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: [name] }));
  return answer.services?.[0] as Service;
}

async function serviceTasks(name = 'web'): Promise<Task[]> {
  const arns = (await world.ecs.send(new ListTasksCommand({ cluster: CLUSTER, serviceName: name }))).taskArns ?? [];
  if (arns.length === 0) return [];
  return (await world.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: arns }))).tasks ?? [];
}

const hosts = (tasks: Task[]): string[] => tasks.map((task) => task.containerInstanceArn as string).sort();

beforeEach(async () => {
  world = await startTestWorld();
  await world.ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
  for (const family of ['app', 'app-v2']) {
    await world.ecs.send(new RegisterTaskDefinitionCommand({ family, containerDefinitions: [{ name: 'app', image: 'busybox', memory: 256 }] }));
  }
});

afterEach(async () => {
  await world.close();
  expect(world.conformance?.problems ?? []).toEqual([]);
});

describe('services: placement and scaling', () => {
  it('places only on instances matching memberOf, and on one whose attribute turns ready later', async () => {
    const ready = await instance({ 'blox-edge.daemons': 'ready' });
    const pending = await instance({ 'blox-edge.daemons': 'pending' });
    const created = await world.ecs.send(
      new CreateServiceCommand({
        cluster: CLUSTER,
        serviceName: 'web',
        taskDefinition: 'app',
        desiredCount: 2,
        placementConstraints: [{ type: 'memberOf', expression: 'attribute:blox-edge.daemons == ready' }, { type: 'distinctInstance' }],
      }),
    );
    expect(created.service).toMatchObject({ serviceName: 'web', status: 'ACTIVE', desiredCount: 2, schedulingStrategy: 'REPLICA', launchType: 'EC2' });
    await advance(1000);
    let tasks = await serviceTasks();
    expect(hosts(tasks)).toEqual([ready]);
    expect(tasks[0]).toMatchObject({ group: 'service:web', lastStatus: 'RUNNING' });
    const deploymentId = (await service()).deployments?.[0]?.id as string;
    expect(deploymentId).toMatch(/^ecs-svc\/\d{19}$/);
    expect(tasks[0]?.startedBy).toBe(deploymentId);
    const waiting = await service();
    expect(waiting).toMatchObject({ runningCount: 1, pendingCount: 0 });
    expect(waiting.events?.[0]?.message).toMatch(/^\(service web\) was unable to place a task because no container instance met all of its requirements\./);

    // The daemons of the second instance become ready: the service places there without being asked.
    await world.ecs.send(
      new PutAttributesCommand({
        cluster: CLUSTER,
        attributes: [{ name: 'blox-edge.daemons', value: 'ready', targetId: pending, targetType: 'container-instance' }],
      }),
    );
    await advance(1000);
    tasks = await serviceTasks();
    expect(hosts(tasks)).toEqual([ready, pending].sort());
    const steady = await service();
    expect(steady).toMatchObject({ runningCount: 2, pendingCount: 0 });
    expect(steady.deployments).toHaveLength(1);
    expect(steady.deployments?.[0]).toMatchObject({ status: 'PRIMARY', rolloutState: 'COMPLETED', runningCount: 2 });
    expect(steady.events?.[0]?.message).toBe('(service web) has reached a steady state.');
  });

  it('scales out and in with UpdateService, spreading over availability zones', async () => {
    const a = await instance({}, 'us-east-1a');
    const b = await instance({}, 'us-east-1b');
    await world.ecs.send(
      new CreateServiceCommand({
        cluster: CLUSTER,
        serviceName: 'web',
        taskDefinition: 'app',
        desiredCount: 4,
        placementStrategy: [{ type: 'spread', field: 'attribute:ecs.availability-zone' }],
      }),
    );
    await advance(1000);
    const placed = hosts(await serviceTasks());
    expect(placed.filter((arn) => arn === a)).toHaveLength(2);
    expect(placed.filter((arn) => arn === b)).toHaveLength(2);
    await world.ecs.send(new UpdateServiceCommand({ cluster: CLUSTER, service: 'web', desiredCount: 1 }));
    await advance(1000);
    expect(await serviceTasks()).toHaveLength(1);
    expect((await service()).runningCount).toBe(1);
    const updated = await world.ecs.send(new UpdateServiceCommand({ cluster: CLUSTER, service: 'web', desiredCount: 3 }));
    expect(updated.service?.desiredCount).toBe(3);
    await advance(1000);
    expect(await serviceTasks()).toHaveLength(3);
  });

  it('replaces a task that stops', async () => {
    await instance();
    await world.ecs.send(new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'web', taskDefinition: 'app', desiredCount: 2 }));
    await advance(1000);
    const [first] = await serviceTasks();
    await world.ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: first?.taskArn as string }));
    await advance(1000);
    const now = await serviceTasks();
    expect(now).toHaveLength(2);
    expect(now.map((task) => task.taskArn)).not.toContain(first?.taskArn);
    expect(now.every((task) => task.lastStatus === 'RUNNING')).toBe(true);
  });
});

describe('services: draining, deployments and deletion', () => {
  it('moves service tasks off a DRAINING instance and leaves standalone tasks there', async () => {
    const first = await instance();
    await world.ecs.send(new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'web', taskDefinition: 'app', desiredCount: 2 }));
    await advance(1000);
    expect(hosts(await serviceTasks())).toEqual([first, first]);
    const standalone = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'app', containerInstances: [first] }));
    const second = await instance();
    await world.ecs.send(new UpdateContainerInstancesStateCommand({ cluster: CLUSTER, containerInstances: [first], status: 'DRAINING' }));
    // minimumHealthyPercent 100: the replacements run before the drained tasks stop.
    await advance(50);
    expect((await service()).runningCount).toBeGreaterThanOrEqual(2);
    await advance(2000);
    expect(hosts(await serviceTasks())).toEqual([second, second]);
    const kept = await world.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [standalone.tasks?.[0]?.taskArn as string] }));
    expect(kept.tasks?.[0]).toMatchObject({ lastStatus: 'RUNNING', desiredStatus: 'RUNNING' });
    const messages = ((await service()).events ?? []).map((event) => event.message);
    expect(messages.some((message) => /has stopped 2 running tasks/.test(message ?? ''))).toBe(true);
  });

  it('rolls out a new task definition as a new PRIMARY deployment and drops the old one', async () => {
    await instance();
    await world.ecs.send(new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'web', taskDefinition: 'app', desiredCount: 2 }));
    await advance(1000);
    const rolling = await world.ecs.send(new UpdateServiceCommand({ cluster: CLUSTER, service: 'web', taskDefinition: 'app-v2' }));
    expect(rolling.service?.deployments?.map((deployment) => deployment.status)).toEqual(['PRIMARY', 'ACTIVE']);
    await advance(2000);
    const done = await service();
    expect(done.deployments).toHaveLength(1);
    expect(done.taskDefinition).toMatch(/task-definition\/app-v2:1$/);
    const tasks = await serviceTasks();
    expect(tasks.map((task) => task.taskDefinitionArn)).toEqual([done.taskDefinition, done.taskDefinition]);
    expect(tasks.every((task) => task.startedBy === done.deployments?.[0]?.id)).toBe(true);
  });

  it('deletes a service: scaled to 0 or with force; then it is INACTIVE and no longer listed', async () => {
    await instance();
    await world.ecs.send(new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'web', taskDefinition: 'app', desiredCount: 1 }));
    await advance(1000);
    await expect(world.ecs.send(new DeleteServiceCommand({ cluster: CLUSTER, service: 'web' }))).rejects.toThrow('scaled above 0');
    const deleting = await world.ecs.send(new DeleteServiceCommand({ cluster: CLUSTER, service: 'web', force: true }));
    expect(deleting.service?.status).toBe('DRAINING');
    await advance(1000);
    expect((await service()).status).toBe('INACTIVE');
    expect(await serviceTasks()).toEqual([]);
    expect((await world.ecs.send(new ListServicesCommand({ cluster: CLUSTER }))).serviceArns).toEqual([]);
    await expect(world.ecs.send(new UpdateServiceCommand({ cluster: CLUSTER, service: 'web', desiredCount: 1 }))).rejects.toThrow('Service was not ACTIVE.');
    await expect(world.ecs.send(new UpdateServiceCommand({ cluster: CLUSTER, service: 'ghost', desiredCount: 1 }))).rejects.toThrow('Service not found.');
  });

  it('answers describe failures, lists, and refuses what it does not model', async () => {
    await world.ecs.send(new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'web', taskDefinition: 'app', desiredCount: 0 }));
    const described = await world.ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: ['web', 'ghost'] }));
    expect(described.failures).toEqual([{ arn: 'arn:aws:ecs:us-east-1:000000000000:service/svc/ghost', reason: 'MISSING' }]);
    expect((await world.ecs.send(new ListServicesCommand({ cluster: CLUSTER }))).serviceArns).toEqual(['arn:aws:ecs:us-east-1:000000000000:service/svc/web']);
    await expect(world.ecs.send(new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'web', taskDefinition: 'app', desiredCount: 0 }))).rejects.toThrow(
      'not idempotent',
    );
    await expect(
      world.ecs.send(new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'd', taskDefinition: 'app', schedulingStrategy: 'DAEMON' })),
    ).rejects.toMatchObject({ name: 'UnsupportedFeatureException' });
  });
});
