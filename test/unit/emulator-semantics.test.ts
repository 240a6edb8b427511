// The ECS emulator's semantics, driven through the unmodified @aws-sdk/client-ecs: resources and
// failures, lifecycle and health, draining, pagination, errors, placement. Every exchange is also
// checked against the official ECS service model (when installed; required under CI).
import {
  CreateClusterCommand,
  DeleteAttributesCommand,
  DeregisterContainerInstanceCommand,
  DeregisterTaskDefinitionCommand,
  DescribeClustersCommand,
  DescribeContainerInstancesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListAttributesCommand,
  ListClustersCommand,
  ListContainerInstancesCommand,
  ListTagsForResourceCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  PutAttributesCommand,
  RegisterContainerInstanceCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StartTaskCommand,
  StopTaskCommand,
  TagResourceCommand,
  UpdateContainerInstancesStateCommand,
  type ContainerDefinition,
  type ContainerInstance,
  type Task,
} from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { settle, startTestWorld, type TestWorld } from '../../local/ecs/testing.js';

let world: TestWorld;
const CLUSTER = 'blox-test';

async function instance(overrides: Partial<Parameters<TestWorld['emulator']['registerInstance']>[0]> = {}): Promise<string> {
  const n = Math.floor(Math.random() * 1e9);
  const { containerInstanceArn } = await world.emulator.registerInstance({
    cluster: CLUSTER,
    ec2InstanceId: `i-${n.toString(16).padStart(17, '0')}`,
    instanceType: 't3.medium',
    availabilityZone: 'us-east-1a',
    amiId: 'ami-0123456789abcdef0',
    cpu: 2048,
    memory: 3900,
    ...overrides,
  });
  return containerInstanceArn;
}

async function taskDefinition(family: string, containers: ContainerDefinition[], extra: Record<string, unknown> = {}): Promise<string> {
  const answer = await world.ecs.send(new RegisterTaskDefinitionCommand({ family, containerDefinitions: containers, ...extra }));
  return answer.taskDefinition?.taskDefinitionArn as string;
}

async function describeTask(taskArn: string): Promise<Task> {
  const answer = await world.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [taskArn] }));
  return answer.tasks?.[0] as Task;
}

async function describeInstance(arn: string): Promise<ContainerInstance> {
  const answer = await world.ecs.send(new DescribeContainerInstancesCommand({ cluster: CLUSTER, containerInstances: [arn] }));
  return answer.containerInstances?.[0] as ContainerInstance;
}

function resource(instance: ContainerInstance, which: 'remainingResources' | 'registeredResources', name: string): number | string[] | undefined {
  const item = instance[which]?.find((entry) => entry.name === name);
  return item?.type === 'STRINGSET' ? item.stringSetValue : item?.integerValue;
}

async function advance(ms: number): Promise<void> {
  world.clock.advance(ms);
  await settle();
}

async function errorOf(promise: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the call to fail');
}

beforeEach(async () => {
  world = await startTestWorld();
  await world.ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
});

afterEach(async () => {
  await world.close();
  expect(world.conformance?.problems ?? []).toEqual([]);
});

describe('clusters and task definitions', () => {
  it('creates, describes and lists clusters; missing ones are failures, not errors', async () => {
    await world.ecs.send(new CreateClusterCommand({ clusterName: 'second', tags: [{ key: 'team', value: 'platform' }] }));
    const again = await world.ecs.send(new CreateClusterCommand({ clusterName: 'second' }));
    expect(again.cluster?.clusterArn).toBe('arn:aws:ecs:us-east-1:000000000000:cluster/second');
    const described = await world.ecs.send(new DescribeClustersCommand({ clusters: ['second', 'nope'], include: ['TAGS'] }));
    expect(described.clusters?.map((cluster) => [cluster.clusterName, cluster.status, cluster.tags])).toEqual([
      ['second', 'ACTIVE', [{ key: 'team', value: 'platform' }]],
    ]);
    expect(described.failures).toEqual([{ arn: 'arn:aws:ecs:us-east-1:000000000000:cluster/nope', reason: 'MISSING' }]);
    const page1 = await world.ecs.send(new ListClustersCommand({ maxResults: 1 }));
    expect(page1.clusterArns).toHaveLength(1);
    const page2 = await world.ecs.send(new ListClustersCommand({ maxResults: 1, nextToken: page1.nextToken }));
    expect(page2.clusterArns).toHaveLength(1);
    expect(page2.nextToken).toBeUndefined();
    expect(new Set([...(page1.clusterArns ?? []), ...(page2.clusterArns ?? [])]).size).toBe(2);
  });

  it('numbers revisions, resolves family to the latest ACTIVE one and deregisters to INACTIVE', async () => {
    const one = await taskDefinition('daemon', [{ name: 'app', image: 'busybox', memory: 64 }]);
    const two = await taskDefinition('daemon', [{ name: 'app', image: 'busybox', memory: 128 }], { tags: [{ key: 'v', value: '2' }] });
    expect(one.endsWith('task-definition/daemon:1')).toBe(true);
    expect(two.endsWith('task-definition/daemon:2')).toBe(true);
    const latest = await world.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'daemon', include: ['TAGS'] }));
    expect(latest.taskDefinition?.revision).toBe(2);
    expect(latest.taskDefinition?.containerDefinitions?.[0]?.essential).toBe(true);
    expect(latest.tags).toEqual([{ key: 'v', value: '2' }]);
    await world.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: 'daemon:2' }));
    expect((await world.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'daemon' }))).taskDefinition?.revision).toBe(1);
    expect((await world.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: two }))).taskDefinition?.status).toBe('INACTIVE');
    const active = await world.ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: 'daemon' }));
    expect(active.taskDefinitionArns).toEqual([one]);
    const inactive = await world.ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: 'daemon', status: 'INACTIVE' }));
    expect(inactive.taskDefinitionArns).toEqual([two]);
    const error = await errorOf(world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'daemon:2', containerInstances: [await instance()] })));
    expect(error.name).toBe('ClientException');
  });

  it('rejects task definitions ECS rejects', async () => {
    const noMemory = await errorOf(world.ecs.send(new RegisterTaskDefinitionCommand({ family: 'x', containerDefinitions: [{ name: 'a', image: 'busybox' }] })));
    expect(noMemory).toMatchObject({ name: 'ClientException', status: 400 });
    expect(noMemory.message).toContain("At least one of 'memory' or 'memoryReservation'");
    const badFamily = await errorOf(
      world.ecs.send(new RegisterTaskDefinitionCommand({ family: 'bad family', containerDefinitions: [{ name: 'a', image: 'b', memory: 8 }] })),
    );
    expect(badFamily.name).toBe('ClientException');
    const noEssential = await errorOf(
      world.ecs.send(new RegisterTaskDefinitionCommand({ family: 'x', containerDefinitions: [{ name: 'a', image: 'b', memory: 8, essential: false }] })),
    );
    expect(noEssential.message).toContain('essential');
    const missing = await errorOf(world.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'nothing:1' })));
    expect(missing.name).toBe('ClientException');
  });
});

describe('container instances', () => {
  it('registers with resources and the built-in attributes the agent reports', async () => {
    const arn = await instance({ attributes: { stack: 'prod' }, cpuArchitecture: 'arm64', instanceType: 'm6g.large', availabilityZone: 'us-east-1b' });
    const described = await describeInstance(arn);
    expect(described.status).toBe('ACTIVE');
    expect(described.agentConnected).toBe(true);
    expect(resource(described, 'registeredResources', 'CPU')).toBe(2048);
    expect(resource(described, 'registeredResources', 'MEMORY')).toBe(3900);
    expect(resource(described, 'registeredResources', 'PORTS')).toEqual(['22', '2375', '2376', '51678', '51679']);
    const attributes = Object.fromEntries((described.attributes ?? []).map((attribute) => [attribute.name, attribute.value]));
    expect(attributes).toMatchObject({
      'ecs.instance-type': 'm6g.large',
      'ecs.availability-zone': 'us-east-1b',
      'ecs.ami-id': 'ami-0123456789abcdef0',
      'ecs.os-type': 'linux',
      'ecs.cpu-architecture': 'arm64',
      stack: 'prod',
    });
    expect(world.emulator.instance(arn)?.remainingMemory).toBe(3900);
  });

  it('registers through the API as the ECS agent does (identity document, totalResources)', async () => {
    const answer = await world.ecs.send(
      new RegisterContainerInstanceCommand({
        cluster: CLUSTER,
        instanceIdentityDocument: JSON.stringify({
          instanceId: 'i-0abc',
          instanceType: 'c5.large',
          availabilityZone: 'us-east-1c',
          imageId: 'ami-1',
          region: 'us-east-1',
        }),
        totalResources: [
          { name: 'CPU', type: 'INTEGER', integerValue: 2048 },
          { name: 'MEMORY', type: 'INTEGER', integerValue: 3700 },
          { name: 'PORTS', type: 'STRINGSET', stringSetValue: ['22', '2375', '2376', '51678', '51679'] },
        ],
        attributes: [{ name: 'team', value: 'obs' }],
        versionInfo: { agentVersion: '1.80.0', agentHash: 'abc', dockerVersion: 'DockerVersion: 25.0.0' },
      }),
    );
    const registered = answer.containerInstance as ContainerInstance;
    expect(registered.ec2InstanceId).toBe('i-0abc');
    expect(registered.versionInfo?.agentVersion).toBe('1.80.0');
    expect(registered.attributes?.find((attribute) => attribute.name === 'ecs.instance-type')?.value).toBe('c5.large');
    expect(registered.attributes?.find((attribute) => attribute.name === 'team')?.value).toBe('obs');
  });

  it('filters ListContainerInstances with the cluster query language and status', async () => {
    const small = await instance({ instanceType: 't2.small', availabilityZone: 'us-east-1a' });
    const large = await instance({ instanceType: 'm5.large', availabilityZone: 'us-east-1b' });
    const list = async (filter?: string, status?: 'ACTIVE' | 'DRAINING'): Promise<string[]> =>
      (
        (await world.ecs.send(new ListContainerInstancesCommand({ cluster: CLUSTER, ...(filter ? { filter } : {}), ...(status ? { status } : {}) })))
          .containerInstanceArns ?? []
      ).sort();
    expect(await list('attribute:ecs.instance-type =~ t2.*')).toEqual([small]);
    expect(await list('attribute:ecs.availability-zone in [us-east-1b, us-east-1c]')).toEqual([large]);
    expect(await list()).toEqual([small, large].sort());
    await world.emulator.drainInstance(large);
    expect(await list(undefined, 'DRAINING')).toEqual([large]);
    expect(await list(undefined, 'ACTIVE')).toEqual([small]);
    const bad = await errorOf(world.ecs.send(new ListContainerInstancesCommand({ cluster: CLUSTER, filter: 'attribute:ecs.instance-type ==' })));
    expect(bad.name).toBe('InvalidParameterException');
    expect(bad.message).toContain('column');
  });

  it('puts, lists and deletes custom attributes, with the 10-per-resource limit', async () => {
    const arn = await instance();
    await world.ecs.send(
      new PutAttributesCommand({ cluster: CLUSTER, attributes: [{ name: 'role', value: 'edge', targetId: arn, targetType: 'container-instance' }] }),
    );
    const listed = await world.ecs.send(new ListAttributesCommand({ cluster: CLUSTER, targetType: 'container-instance', attributeName: 'role' }));
    expect(listed.attributes).toEqual([{ name: 'role', value: 'edge', targetType: 'container-instance', targetId: arn }]);
    const byValue = await world.ecs.send(
      new ListAttributesCommand({ cluster: CLUSTER, targetType: 'container-instance', attributeName: 'role', attributeValue: 'other' }),
    );
    expect(byValue.attributes).toEqual([]);
    const filtered = await world.ecs.send(new ListContainerInstancesCommand({ cluster: CLUSTER, filter: 'attribute:role == edge' }));
    expect(filtered.containerInstanceArns).toEqual([arn]);
    await world.ecs.send(new DeleteAttributesCommand({ cluster: CLUSTER, attributes: [{ name: 'role', targetId: arn }] }));
    expect((await world.ecs.send(new ListAttributesCommand({ cluster: CLUSTER, targetType: 'container-instance', attributeName: 'role' }))).attributes).toEqual(
      [],
    );
    const many = Array.from({ length: 10 }, (_, i) => ({ name: `custom-${i}`, value: 'x', targetId: arn }));
    await world.ecs.send(new PutAttributesCommand({ cluster: CLUSTER, attributes: many }));
    const overLimit = await errorOf(
      world.ecs.send(new PutAttributesCommand({ cluster: CLUSTER, attributes: [{ name: 'eleventh', value: 'x', targetId: arn }] })),
    );
    expect(overLimit.name).toBe('AttributeLimitExceededException');
    const noTarget = await errorOf(world.ecs.send(new PutAttributesCommand({ cluster: CLUSTER, attributes: [{ name: 'a', targetId: 'nope' }] })));
    expect(noTarget.name).toBe('TargetNotFoundException');
  });

  it('deregisters: refused with live tasks unless forced; then INACTIVE and no longer listed', async () => {
    const arn = await instance();
    await taskDefinition('d', [{ name: 'a', image: 'b', memory: 64 }]);
    await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [arn] }));
    const refused = await errorOf(world.ecs.send(new DeregisterContainerInstanceCommand({ cluster: CLUSTER, containerInstance: arn })));
    expect(refused.name).toBe('InvalidParameterException');
    const forced = await world.ecs.send(new DeregisterContainerInstanceCommand({ cluster: CLUSTER, containerInstance: arn, force: true }));
    expect(forced.containerInstance?.status).toBe('INACTIVE');
    expect((await world.ecs.send(new ListContainerInstancesCommand({ cluster: CLUSTER }))).containerInstanceArns).toEqual([]);
    expect((await describeInstance(arn)).status).toBe('INACTIVE');
  });
});

describe('StartTask: resources and failures', () => {
  it('reserves CPU, memory and static host ports, and answers RESOURCE:* failures per instance', async () => {
    const a = await instance({ cpu: 1024, memory: 1000 });
    const b = await instance({ cpu: 1024, memory: 300 });
    await taskDefinition('web', [{ name: 'web', image: 'nginx', cpu: 512, memory: 400, portMappings: [{ containerPort: 80, hostPort: 8080 }] }]);
    const first = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'web', containerInstances: [a, b] }));
    expect(first.tasks).toHaveLength(1);
    expect(first.tasks?.[0]?.containerInstanceArn).toBe(a);
    expect(first.tasks?.[0]?.lastStatus).toBe('PROVISIONING');
    expect(first.tasks?.[0]?.desiredStatus).toBe('RUNNING');
    expect(first.tasks?.[0]?.containers?.[0]?.networkBindings).toEqual([{ bindIP: '0.0.0.0', containerPort: 80, hostPort: 8080, protocol: 'tcp' }]);
    expect(first.failures).toEqual([{ arn: b, reason: 'RESOURCE:MEMORY' }]);
    const described = await describeInstance(a);
    expect(resource(described, 'remainingResources', 'CPU')).toBe(512);
    expect(resource(described, 'remainingResources', 'MEMORY')).toBe(600);
    expect(resource(described, 'remainingResources', 'PORTS')).toContain('8080');
    expect(described.pendingTasksCount).toBe(1);
    // The same static port again on the same host: no room.
    const second = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'web', containerInstances: [a] }));
    expect(second.tasks).toEqual([]);
    expect(second.failures).toEqual([{ arn: a, reason: 'RESOURCE:PORTS' }]);
    await taskDefinition('cpu-hog', [{ name: 'x', image: 'x', cpu: 1000, memory: 10 }]);
    const third = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'cpu-hog', containerInstances: [a, 'missing-id'] }));
    expect(third.failures).toEqual([
      { arn: a, reason: 'RESOURCE:CPU' },
      { arn: `arn:aws:ecs:us-east-1:000000000000:container-instance/${CLUSTER}/missing-id`, reason: 'MISSING' },
    ]);
  });

  it('gives dynamic host ports to hostPort 0 and uses task-level cpu/memory when set', async () => {
    const a = await instance();
    await taskDefinition('dyn', [{ name: 'web', image: 'nginx', portMappings: [{ containerPort: 80 }] }], { cpu: '0.5 vCPU', memory: '1 GB' });
    const started = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'dyn', containerInstances: [a, a].slice(0, 1) }));
    const binding = started.tasks?.[0]?.containers?.[0]?.networkBindings?.[0];
    expect(binding?.hostPort).toBeGreaterThanOrEqual(32768);
    expect(started.tasks?.[0]?.cpu).toBe('512');
    expect(started.tasks?.[0]?.memory).toBe('1024');
    expect(world.emulator.instance(a)?.remainingMemory).toBe(3900 - 1024);
  });

  it('answers AGENT for an instance whose agent is disconnected', async () => {
    const a = await instance();
    await taskDefinition('d', [{ name: 'a', image: 'b', memory: 64 }]);
    world.emulator.setAgentConnected(a, false);
    expect((await describeInstance(a)).agentConnected).toBe(false);
    const answer = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }));
    expect(answer.failures).toEqual([{ arn: a, reason: 'AGENT' }]);
  });

  it('validates startedBy, the instance count and the cluster', async () => {
    const a = await instance();
    await taskDefinition('d', [{ name: 'a', image: 'b', memory: 8 }]);
    const long = await errorOf(
      world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a], startedBy: 'x'.repeat(37) })),
    );
    expect(long.name).toBe('InvalidParameterException');
    const chars = await errorOf(world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a], startedBy: 'bad by' })));
    expect(chars.name).toBe('InvalidParameterException');
    const ok = await world.ecs.send(
      new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a], startedBy: 'x'.repeat(36), group: 'daemons' }),
    );
    expect(ok.tasks?.[0]?.startedBy).toBe('x'.repeat(36));
    expect(ok.tasks?.[0]?.group).toBe('daemons');
    const eleven = await errorOf(
      world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: Array.from({ length: 11 }, () => a) })),
    );
    expect(eleven.name).toBe('InvalidParameterException');
    const noCluster = await errorOf(world.ecs.send(new StartTaskCommand({ cluster: 'nope', taskDefinition: 'd', containerInstances: [a] })));
    expect(noCluster).toMatchObject({ name: 'ClusterNotFoundException', status: 400, message: 'Cluster not found.' });
    const defaultGroup = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }));
    expect(defaultGroup.tasks?.[0]?.group).toBe('family:d');
  });
});

describe('task lifecycle and health', () => {
  it('goes PROVISIONING -> PENDING -> RUNNING -> STOPPED (UserInitiated) and frees its resources', async () => {
    const a = await instance();
    await taskDefinition('d', [{ name: 'app', image: 'busybox', memory: 256 }]);
    const started = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }));
    const taskArn = started.tasks?.[0]?.taskArn as string;
    await settle();
    expect((await describeTask(taskArn)).lastStatus).toBe('PENDING');
    await advance(100);
    const running = await describeTask(taskArn);
    expect(running.lastStatus).toBe('RUNNING');
    expect(running.startedAt).toBeInstanceOf(Date);
    expect(running.containers?.[0]?.runtimeId).toMatch(/^[0-9a-f]{64}$/);
    expect(running.healthStatus).toBe('UNKNOWN');
    expect((await describeInstance(a)).runningTasksCount).toBe(1);
    const stopped = await world.ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: taskArn, reason: 'rolling out' }));
    expect(stopped.task?.desiredStatus).toBe('STOPPED');
    expect(stopped.task?.lastStatus).toBe('RUNNING');
    await advance(10);
    const final = await describeTask(taskArn);
    expect(final).toMatchObject({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'UserInitiated', stoppedReason: 'rolling out' });
    expect(final.containers?.[0]).toMatchObject({ lastStatus: 'STOPPED', exitCode: 143 });
    expect(final.stoppedAt).toBeInstanceOf(Date);
    expect(world.emulator.instance(a)?.remainingMemory).toBe(3900);
  });

  it('stops the task with EssentialContainerExited and the exit code when an essential container dies', async () => {
    const a = await instance();
    await taskDefinition('two', [
      { name: 'main', image: 'busybox', memory: 64 },
      { name: 'sidecar', image: 'busybox', memory: 64, essential: false },
    ]);
    const started = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'two', containerInstances: [a] }));
    const taskArn = started.tasks?.[0]?.taskArn as string;
    await advance(100);
    world.runtime.crash(taskArn, 'sidecar', 2);
    await settle();
    const afterSidecar = await describeTask(taskArn);
    expect(afterSidecar.lastStatus).toBe('RUNNING');
    expect(afterSidecar.containers?.find((container) => container.name === 'sidecar')).toMatchObject({ lastStatus: 'STOPPED', exitCode: 2 });
    world.runtime.crash(taskArn, 'main', 137, { oom: true });
    await settle();
    const stopping = await describeTask(taskArn);
    expect(stopping.desiredStatus).toBe('STOPPED');
    expect(stopping.stopCode).toBe('EssentialContainerExited');
    expect(stopping.stoppedReason).toBe('Essential container in task exited');
    const main = stopping.containers?.find((container) => container.name === 'main');
    expect(main).toMatchObject({ lastStatus: 'STOPPED', exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' });
    expect(stopping.lastStatus).toBe('STOPPED');
  });

  it('reports TaskFailedToStart when the runtime cannot start a container', async () => {
    await world.close();
    world = await startTestWorld({ runtime: { failureRate: 1 } });
    await world.ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
    const a = await instance();
    await taskDefinition('d', [{ name: 'app', image: 'busybox', memory: 64 }]);
    const started = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }));
    const taskArn = started.tasks?.[0]?.taskArn as string;
    await advance(100);
    const failed = await describeTask(taskArn);
    expect(failed.lastStatus).toBe('STOPPED');
    expect(failed.stopCode).toBe('TaskFailedToStart');
    expect(failed.stoppedReason).toContain('CannotStartContainerError');
    expect(failed.startedAt).toBeUndefined();
    expect(failed.containers?.[0]?.exitCode).toBeUndefined();
  });

  it('crashes on the configured schedule', async () => {
    await world.close();
    world = await startTestWorld({ runtime: { crashAfterMs: (spec) => (spec.family === 'flaky' ? 5_000 : undefined) } });
    await world.ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
    const a = await instance();
    await taskDefinition('flaky', [{ name: 'app', image: 'busybox', memory: 64 }]);
    const taskArn = (await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'flaky', containerInstances: [a] }))).tasks?.[0]
      ?.taskArn as string;
    await advance(4_000);
    expect((await describeTask(taskArn)).lastStatus).toBe('RUNNING');
    await advance(2_000);
    const crashed = await describeTask(taskArn);
    expect(crashed).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'EssentialContainerExited' });
    expect(crashed.containers?.[0]?.exitCode).toBe(1);
  });

  it('derives task health from the essential containers health checks', async () => {
    const a = await instance();
    const check = { command: ['CMD-SHELL', 'true'], interval: 5, timeout: 2, retries: 2, startPeriod: 30 };
    await taskDefinition('hc', [
      { name: 'main', image: 'busybox', memory: 64, healthCheck: check },
      { name: 'helper', image: 'busybox', memory: 64, healthCheck: check },
      { name: 'plain', image: 'busybox', memory: 64 },
    ]);
    const taskArn = (await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'hc', containerInstances: [a] }))).tasks?.[0]
      ?.taskArn as string;
    await advance(100);
    expect((await describeTask(taskArn)).healthStatus).toBe('UNKNOWN');
    await advance(30_000);
    const healthy = await describeTask(taskArn);
    expect(healthy.healthStatus).toBe('HEALTHY');
    expect(healthy.containers?.map((container) => [container.name, container.healthStatus])).toEqual([
      ['main', 'HEALTHY'],
      ['helper', 'HEALTHY'],
      ['plain', 'UNKNOWN'],
    ]);
    world.runtime.setHealth(taskArn, 'helper', 'UNHEALTHY');
    await settle();
    const unhealthy = await describeTask(taskArn);
    expect(unhealthy.healthStatus).toBe('UNHEALTHY');
    // Standalone tasks are not replaced for being unhealthy: it keeps running.
    expect(unhealthy.lastStatus).toBe('RUNNING');
  });

  it('keeps STOPPED tasks describable for an hour of emulated time, then forgets them', async () => {
    const a = await instance();
    await taskDefinition('d', [{ name: 'app', image: 'busybox', memory: 64 }]);
    const taskArn = (await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }))).tasks?.[0]
      ?.taskArn as string;
    await advance(100);
    await world.ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: taskArn }));
    await advance(10);
    expect((await describeTask(taskArn)).stoppedReason).toBe('Task stopped by user');
    await advance(59 * 60 * 1000);
    expect((await world.ecs.send(new ListTasksCommand({ cluster: CLUSTER, desiredStatus: 'STOPPED' }))).taskArns).toEqual([taskArn]);
    expect(world.emulator.tasksOnInstance(a).map((task) => task.lastStatus)).toEqual(['STOPPED']);
    await advance(2 * 60 * 1000);
    const gone = await world.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [taskArn] }));
    expect(gone.tasks).toEqual([]);
    expect(gone.failures).toEqual([{ arn: taskArn, reason: 'MISSING' }]);
    expect(world.emulator.tasksOnInstance(a)).toEqual([]);
  });

  it('StopTask on an unknown task is an InvalidParameterException', async () => {
    const error = await errorOf(world.ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: 'arn:aws:ecs:us-east-1:000000000000:task/blox-test/0123' })));
    expect(error).toMatchObject({ name: 'InvalidParameterException', message: 'The referenced task was not found.' });
  });

  it('tells listeners about every state change, with an increasing version', async () => {
    const a = await instance();
    await taskDefinition('d', [{ name: 'app', image: 'busybox', memory: 64 }]);
    const seen: Array<[string, string, number]> = [];
    world.emulator.onTaskStateChange(({ task, change }) => seen.push([change, task.lastStatus, task.version]));
    const taskArn = (await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }))).tasks?.[0]
      ?.taskArn as string;
    await advance(100);
    await world.ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: taskArn }));
    await advance(10);
    expect(seen.map(([change, status]) => `${change}:${status}`)).toEqual([
      'created:PROVISIONING',
      'PENDING:PENDING',
      'RUNNING:RUNNING',
      'stopping:RUNNING',
      'STOPPED:STOPPED',
    ]);
    const versions = seen.map(([, , version]) => version);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect((await describeTask(taskArn)).version).toBe(versions[versions.length - 1]);
  });
});

describe('instances going away', () => {
  it('terminateInstance stops its tasks with the host-terminated reason and removes its containers', async () => {
    const a = await instance({ ec2InstanceId: 'i-0000000000000dead' });
    await taskDefinition('d', [{ name: 'app', image: 'busybox', memory: 64 }]);
    const taskArn = (await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }))).tasks?.[0]
      ?.taskArn as string;
    await advance(100);
    expect(world.runtime.containersOf(a)).toHaveLength(1);
    await world.emulator.terminateInstance(a);
    const task = await describeTask(taskArn);
    expect(task).toMatchObject({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stoppedReason: 'Host EC2 (instance i-0000000000000dead) terminated.' });
    expect(world.runtime.containersOf(a)).toEqual([]);
    const described = await describeInstance(a);
    expect(described).toMatchObject({ status: 'INACTIVE', agentConnected: false });
    expect((await world.ecs.send(new ListContainerInstancesCommand({ cluster: CLUSTER }))).containerInstanceArns).toEqual([]);
    const start = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }));
    expect(start.failures).toEqual([{ arn: a, reason: 'MISSING' }]);
  });

  it('draining keeps standalone tasks running; RunTask avoids DRAINING instances, StartTask does not', async () => {
    const a = await instance();
    const b = await instance();
    await taskDefinition('d', [{ name: 'app', image: 'busybox', memory: 64 }]);
    const taskArn = (await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }))).tasks?.[0]
      ?.taskArn as string;
    await advance(100);
    const updated = await world.ecs.send(new UpdateContainerInstancesStateCommand({ cluster: CLUSTER, containerInstances: [a, 'ghost'], status: 'DRAINING' }));
    expect(updated.containerInstances?.[0]?.status).toBe('DRAINING');
    expect(updated.failures?.[0]?.reason).toBe('MISSING');
    expect((await describeTask(taskArn)).lastStatus).toBe('RUNNING');
    const run = await world.ecs.send(new RunTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', count: 5 }));
    expect(run.tasks?.map((task) => task.containerInstanceArn)).toEqual(Array(5).fill(b));
    const start = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }));
    expect(start.tasks).toHaveLength(1);
    const invalid = await errorOf(
      world.ecs.send(new UpdateContainerInstancesStateCommand({ cluster: CLUSTER, containerInstances: [a], status: 'REGISTERING' })),
    );
    expect(invalid.name).toBe('InvalidParameterException');
    await world.ecs.send(new UpdateContainerInstancesStateCommand({ cluster: CLUSTER, containerInstances: [a], status: 'ACTIVE' }));
    expect((await describeInstance(a)).status).toBe('ACTIVE');
  });
});

describe('ListTasks and DescribeTasks', () => {
  it('filters by startedBy alone, by container instance, family and desired status', async () => {
    const a = await instance();
    const b = await instance();
    await taskDefinition('x', [{ name: 'app', image: 'busybox', memory: 8 }]);
    await taskDefinition('y', [{ name: 'app', image: 'busybox', memory: 8 }]);
    const start = async (family: string, on: string, startedBy?: string): Promise<string> =>
      (await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: family, containerInstances: [on], ...(startedBy ? { startedBy } : {}) })))
        .tasks?.[0]?.taskArn as string;
    const t1 = await start('x', a, 'blox-edge');
    const t2 = await start('y', a);
    const t3 = await start('x', b, 'blox-edge');
    const list = async (input: Record<string, unknown>): Promise<string[]> =>
      ((await world.ecs.send(new ListTasksCommand({ cluster: CLUSTER, ...input }))).taskArns ?? []).sort();
    expect(await list({ startedBy: 'blox-edge' })).toEqual([t1, t3].sort());
    expect(await list({ containerInstance: a })).toEqual([t1, t2].sort());
    expect(await list({ family: 'x' })).toEqual([t1, t3].sort());
    expect(await list({ containerInstance: a, family: 'y' })).toEqual([t2]);
    expect(await list({})).toEqual([t1, t2, t3].sort());
    await advance(100);
    await world.ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: t1 }));
    await advance(10);
    expect(await list({ desiredStatus: 'STOPPED' })).toEqual([t1]);
    expect(await list({ startedBy: 'blox-edge' })).toEqual([t3]);
    expect(await list({ desiredStatus: 'PENDING' })).toEqual([]);
    const mixed = await errorOf(world.ecs.send(new ListTasksCommand({ cluster: CLUSTER, startedBy: 'blox-edge', containerInstance: a })));
    expect(mixed.name).toBe('InvalidParameterException');
    const mixedStatus = await errorOf(world.ecs.send(new ListTasksCommand({ cluster: CLUSTER, startedBy: 'blox-edge', desiredStatus: 'RUNNING' })));
    expect(mixedStatus.name).toBe('InvalidParameterException');
  });

  it('paginates ListTasks with nextToken and maxResults, stable across removals', async () => {
    const a = await instance({ cpu: 10_000, memory: 100_000 });
    await taskDefinition('tiny', [{ name: 'app', image: 'busybox', memory: 8 }]);
    const started: string[] = [];
    for (let i = 0; i < 25; i++) {
      started.push(
        (await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'tiny', containerInstances: [a] }))).tasks?.[0]?.taskArn as string,
      );
    }
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await world.ecs.send(new ListTasksCommand({ cluster: CLUSTER, maxResults: 10, ...(nextToken ? { nextToken } : {}) }));
      seen.push(...(page.taskArns ?? []));
      nextToken = page.nextToken;
      pages++;
    } while (nextToken);
    expect(pages).toBe(3);
    expect(seen).toEqual(started);
    const all = await world.ecs.send(new ListTasksCommand({ cluster: CLUSTER }));
    expect(all.taskArns).toHaveLength(25);
    expect(all.nextToken).toBeUndefined();
    const bad = await errorOf(world.ecs.send(new ListTasksCommand({ cluster: CLUSTER, nextToken: 'garbage' })));
    expect(bad.name).toBe('InvalidParameterException');
    const tooMany = await errorOf(world.ecs.send(new ListTasksCommand({ cluster: CLUSTER, maxResults: 101 })));
    expect(tooMany.name).toBe('InvalidParameterException');
  });

  it('DescribeTasks: up to 100, MISSING failures, tags only when asked', async () => {
    const a = await instance();
    await taskDefinition('d', [{ name: 'app', image: 'busybox', memory: 8 }]);
    const taskArn = (
      await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a], tags: [{ key: 'owner', value: 'blox' }] }))
    ).tasks?.[0]?.taskArn as string;
    const plain = await world.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [taskArn.slice(taskArn.lastIndexOf('/') + 1), 'nope'] }));
    expect(plain.tasks?.[0]?.taskArn).toBe(taskArn);
    expect(plain.tasks?.[0]?.tags).toBeUndefined();
    expect(plain.failures?.[0]?.reason).toBe('MISSING');
    const tagged = await world.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [taskArn], include: ['TAGS'] }));
    expect(tagged.tasks?.[0]?.tags).toEqual([{ key: 'owner', value: 'blox' }]);
    const tooMany = await errorOf(world.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: Array.from({ length: 101 }, (_, i) => `t${i}`) })));
    expect(tooMany.name).toBe('InvalidParameterException');
    const empty = await errorOf(world.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [] })));
    expect(empty).toMatchObject({ name: 'InvalidParameterException', message: 'Tasks cannot be empty.' });
  });

  it('paginates ListContainerInstances and ListTaskDefinitions', async () => {
    for (let i = 0; i < 7; i++) await instance();
    const first = await world.ecs.send(new ListContainerInstancesCommand({ cluster: CLUSTER, maxResults: 5 }));
    const second = await world.ecs.send(new ListContainerInstancesCommand({ cluster: CLUSTER, maxResults: 5, nextToken: first.nextToken }));
    expect(first.containerInstanceArns).toHaveLength(5);
    expect(second.containerInstanceArns).toHaveLength(2);
    expect(second.nextToken).toBeUndefined();
    for (let i = 0; i < 3; i++) await taskDefinition('fam', [{ name: 'a', image: 'b', memory: 8 }]);
    const desc = await world.ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: 'fam', sort: 'DESC', maxResults: 2 }));
    expect(desc.taskDefinitionArns?.map((arn) => arn.slice(arn.lastIndexOf(':') + 1))).toEqual(['3', '2']);
    const rest = await world.ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: 'fam', sort: 'DESC', maxResults: 2, nextToken: desc.nextToken }));
    expect(rest.taskDefinitionArns?.map((arn) => arn.slice(arn.lastIndexOf(':') + 1))).toEqual(['1']);
  });
});

describe('RunTask placement', () => {
  async function fleet(): Promise<{ a1: string; a2: string; b1: string }> {
    const a1 = await instance({ availabilityZone: 'us-east-1a', instanceType: 't2.small', memory: 1000 });
    const a2 = await instance({ availabilityZone: 'us-east-1a', instanceType: 'm5.large', memory: 2000 });
    const b1 = await instance({ availabilityZone: 'us-east-1b', instanceType: 'm5.large', memory: 2000 });
    await taskDefinition('replica', [{ name: 'app', image: 'busybox', memory: 300 }]);
    return { a1, a2, b1 };
  }
  const placements = (tasks: Task[] | undefined): string[] => (tasks ?? []).map((task) => task.containerInstanceArn as string);

  it('binpack on memory fills the fullest instance first', async () => {
    const { a1 } = await fleet();
    const run = await world.ecs.send(
      new RunTaskCommand({ cluster: CLUSTER, taskDefinition: 'replica', count: 3, placementStrategy: [{ type: 'binpack', field: 'memory' }] }),
    );
    expect(placements(run.tasks)).toEqual([a1, a1, a1]);
  });

  it('spread over availability zones, then instances', async () => {
    const { a1, a2, b1 } = await fleet();
    const run = await world.ecs.send(
      new RunTaskCommand({
        cluster: CLUSTER,
        taskDefinition: 'replica',
        count: 4,
        placementStrategy: [
          { type: 'spread', field: 'attribute:ecs.availability-zone' },
          { type: 'spread', field: 'instanceId' },
        ],
      }),
    );
    const where = placements(run.tasks);
    expect(where.filter((arn) => arn === b1)).toHaveLength(2);
    expect(where.filter((arn) => arn === a1)).toHaveLength(1);
    expect(where.filter((arn) => arn === a2)).toHaveLength(1);
  });

  it('memberOf and distinctInstance constrain placement; what cannot be placed is a failure', async () => {
    const { a2, b1 } = await fleet();
    const run = await world.ecs.send(
      new RunTaskCommand({
        cluster: CLUSTER,
        taskDefinition: 'replica',
        count: 3,
        group: 'web',
        placementConstraints: [{ type: 'memberOf', expression: 'attribute:ecs.instance-type == m5.large' }, { type: 'distinctInstance' }],
        placementStrategy: [{ type: 'random' }],
      }),
    );
    expect(placements(run.tasks).sort()).toEqual([a2, b1].sort());
    expect(run.tasks?.every((task) => task.group === 'web')).toBe(true);
    expect(run.failures?.map((failure) => failure.reason).sort()).toEqual([
      'DistinctInstance placement constraint unsatisfied.',
      'DistinctInstance placement constraint unsatisfied.',
      'MemberOf placement constraint unsatisfied.',
    ]);
    // distinctInstance also counts tasks of the group already running.
    const again = await world.ecs.send(
      new RunTaskCommand({ cluster: CLUSTER, taskDefinition: 'replica', group: 'web', placementConstraints: [{ type: 'distinctInstance' }] }),
    );
    expect(placements(again.tasks)).toHaveLength(1);
    expect([a2, b1]).not.toContain(placements(again.tasks)[0]);
  });

  it('answers RESOURCE failures when the cluster is full and an error when it has no instances', async () => {
    const empty = await errorOf(
      world.ecs.send(new RunTaskCommand({ cluster: CLUSTER, taskDefinition: await taskDefinition('d', [{ name: 'a', image: 'b', memory: 8 }]) })),
    );
    expect(empty).toMatchObject({ name: 'InvalidParameterException', message: 'No Container Instances were found in your cluster.' });
    const small = await instance({ memory: 500 });
    await taskDefinition('big', [{ name: 'app', image: 'busybox', memory: 400 }]);
    const run = await world.ecs.send(new RunTaskCommand({ cluster: CLUSTER, taskDefinition: 'big', count: 2 }));
    expect(run.tasks).toHaveLength(1);
    expect(run.failures).toEqual([{ arn: small, reason: 'RESOURCE:MEMORY' }]);
    const badStrategy = await errorOf(
      world.ecs.send(new RunTaskCommand({ cluster: CLUSTER, taskDefinition: 'big', placementStrategy: [{ type: 'binpack', field: 'disk' }] })),
    );
    expect(badStrategy.name).toBe('InvalidParameterException');
  });
});

describe('RunTask idempotency', () => {
  it('answers a retry with the same clientToken with the tasks of the first call', async () => {
    await instance();
    await taskDefinition('d', [{ name: 'a', image: 'b', memory: 8 }]);
    const first = await world.ecs.send(new RunTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', count: 2, clientToken: 'deploy-42' }));
    const retry = await world.ecs.send(new RunTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', count: 2, clientToken: 'deploy-42' }));
    expect(retry.tasks?.map((task) => task.taskArn)).toEqual(first.tasks?.map((task) => task.taskArn));
    expect((await world.ecs.send(new ListTasksCommand({ cluster: CLUSTER }))).taskArns).toHaveLength(2);
    const other = await world.ecs.send(new RunTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', clientToken: 'deploy-43' }));
    expect(other.tasks).toHaveLength(1);
    expect((await world.ecs.send(new ListTasksCommand({ cluster: CLUSTER }))).taskArns).toHaveLength(3);
  });
});

describe('tags', () => {
  it('tags clusters, instances, tasks and task definitions', async () => {
    const a = await instance();
    const definitionArn = await taskDefinition('d', [{ name: 'a', image: 'b', memory: 8 }]);
    const taskArn = (await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }))).tasks?.[0]
      ?.taskArn as string;
    const clusterArn = `arn:aws:ecs:us-east-1:000000000000:cluster/${CLUSTER}`;
    for (const arn of [clusterArn, a, taskArn, definitionArn]) {
      await world.ecs.send(new TagResourceCommand({ resourceArn: arn, tags: [{ key: 'k', value: 'v1' }] }));
      await world.ecs.send(
        new TagResourceCommand({
          resourceArn: arn,
          tags: [
            { key: 'k', value: 'v2' },
            { key: 'other', value: '' },
          ],
        }),
      );
      expect((await world.ecs.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags).toEqual([
        { key: 'k', value: 'v2' },
        { key: 'other', value: '' },
      ]);
    }
    const reserved = await errorOf(world.ecs.send(new TagResourceCommand({ resourceArn: clusterArn, tags: [{ key: 'aws:x', value: 'y' }] })));
    expect(reserved.name).toBe('InvalidParameterException');
    const tooLong = await errorOf(world.ecs.send(new TagResourceCommand({ resourceArn: clusterArn, tags: [{ key: 'k'.repeat(129), value: 'y' }] })));
    expect(tooLong.name).toBe('InvalidParameterException');
  });

  it('propagates task definition tags to tasks when asked', async () => {
    const a = await instance();
    await taskDefinition('tagged', [{ name: 'a', image: 'b', memory: 8 }], {
      tags: [
        { key: 'team', value: 'obs' },
        { key: 'env', value: 'dev' },
      ],
    });
    const started = await world.ecs.send(
      new StartTaskCommand({
        cluster: CLUSTER,
        taskDefinition: 'tagged',
        containerInstances: [a],
        propagateTags: 'TASK_DEFINITION',
        tags: [{ key: 'env', value: 'prod' }],
      }),
    );
    const taskArn = started.tasks?.[0]?.taskArn as string;
    expect((await world.ecs.send(new ListTagsForResourceCommand({ resourceArn: taskArn }))).tags).toEqual([
      { key: 'team', value: 'obs' },
      { key: 'env', value: 'prod' },
    ]);
    const plain = await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'tagged', containerInstances: [a] }));
    expect((await world.ecs.send(new ListTagsForResourceCommand({ resourceArn: plain.tasks?.[0]?.taskArn as string }))).tags).toEqual([]);
  });
});

describe('tags and StopTask', () => {
  it('StopTask deletes the task\'s tags, as ECS documents ("Any tags associated with the task will be deleted")', async () => {
    const a = await instance();
    await taskDefinition('untag', [{ name: 'a', image: 'b', memory: 8 }]);
    const started = await world.ecs.send(
      new StartTaskCommand({
        cluster: CLUSTER,
        taskDefinition: 'untag',
        containerInstances: [a],
        startedBy: 'team/ops',
        tags: [{ key: 'blox:revision', value: '3' }],
      }),
    );
    const taskArn = started.tasks?.[0]?.taskArn as string;
    expect(started.tasks?.[0]?.startedBy).toBe('team/ops'); // forward slashes are allowed in startedBy
    const stopped = await world.ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: taskArn }));
    expect(stopped.task?.tags ?? []).toEqual([]);
    expect((await world.ecs.send(new ListTagsForResourceCommand({ resourceArn: taskArn }))).tags).toEqual([]);
    expect((await world.ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [taskArn], include: ['TAGS'] }))).tasks?.[0]?.tags ?? []).toEqual([]);
  });
});

describe('the ECS view the instance endpoints use', () => {
  it('exposes tasks per instance and a Docker view with ECS labels', async () => {
    const a = await instance();
    const events: string[] = [];
    world.runtime.watch(a, (event) => events.push(event.action));
    await taskDefinition('d', [{ name: 'app', image: 'busybox', memory: 8 }]);
    const taskArn = (await world.ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'd', containerInstances: [a] }))).tasks?.[0]
      ?.taskArn as string;
    await advance(100);
    const [task] = world.emulator.tasksOnInstance(a);
    expect(task).toMatchObject({ taskArn, family: 'd', revision: 1, lastStatus: 'RUNNING', desiredStatus: 'RUNNING', group: 'family:d' });
    const [container] = world.runtime.containersOf(a);
    expect(container?.id).toBe(task?.containers[0]?.runtimeId);
    expect(container?.labels).toMatchObject({
      'com.amazonaws.ecs.task-arn': taskArn,
      'com.amazonaws.ecs.container-name': 'app',
      'com.amazonaws.ecs.task-definition-family': 'd',
      'com.amazonaws.ecs.task-definition-version': '1',
      'com.amazonaws.ecs.cluster': CLUSTER,
      'blox-local.container-instance-arn': a,
    });
    world.runtime.crash(taskArn, 'app', 3);
    await settle();
    expect(events).toEqual(['create', 'start', 'die']);
    expect(world.runtime.containersOf(a)[0]).toMatchObject({ state: 'exited', exitCode: 3 });
  });
});
