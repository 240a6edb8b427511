// Conformance with the official ECS service model (botocore's ecs/2014-11-13/service-2.json from
// Debian's awscli): the validator itself, the emulator's request validation on the wire, and one
// session through every operation the emulator serves with each request and answer checked.
// Locally a missing model skips the model-backed parts; under CI it fails them.
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
} from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { candidateModelPaths, ModelValidator, type ServiceModel } from '../../local/ecs/model-validator.js';
import { serviceModelValidator, settle, startTestWorld } from '../../local/ecs/testing.js';

const TINY: ServiceModel = {
  metadata: { targetPrefix: 'T', jsonVersion: '1.1', protocol: 'json', apiVersion: '1' },
  operations: { Op: { name: 'Op', input: { shape: 'Req' }, output: { shape: 'Res' }, errors: [{ shape: 'Bad' }] } },
  shapes: {
    Req: {
      type: 'structure',
      required: ['name'],
      members: {
        name: { shape: 'Name' },
        count: { shape: 'Int' },
        mode: { shape: 'Mode' },
        items: { shape: 'Items' },
        labels: { shape: 'Labels' },
        on: { shape: 'Bool' },
        at: { shape: 'Time' },
      },
    },
    Res: { type: 'structure', members: { value: { shape: 'Double' } } },
    Bad: { type: 'structure', members: { message: { shape: 'Name' } }, exception: true },
    Name: { type: 'string', min: 1, max: 5, pattern: '^[\\p{L}]*$' },
    Int: { type: 'integer' },
    Double: { type: 'double' },
    Bool: { type: 'boolean' },
    Time: { type: 'timestamp' },
    Mode: { type: 'string', enum: ['a', 'b'] },
    Items: { type: 'list', member: { shape: 'Item' }, max: 2 },
    Item: { type: 'structure', members: { k: { shape: 'Name' } } },
    Labels: { type: 'map', key: { shape: 'Name' }, value: { shape: 'Int' } },
  },
};

describe('the service-model validator', () => {
  const validator = new ModelValidator(TINY);
  const paths = (value: unknown): string[] => validator.validateInput('Op', value).map((violation) => `${violation.kind} ${violation.path}`);

  it('accepts a valid value and names each violation by path and kind', () => {
    expect(validator.validateInput('Op', { name: 'ab', count: 3, mode: 'a', items: [{ k: 'x' }], labels: { é: 1 }, on: true, at: 1.5 })).toEqual([]);
    expect(paths({})).toEqual(['constraint name']);
    expect(paths({ name: 'toolong' })).toEqual(['constraint name']);
    expect(paths({ name: '' })).toEqual(['constraint name']);
    expect(paths({ name: 'a1' })).toEqual(['constraint name']);
    expect(paths({ name: 'a', count: 1.5 })).toEqual(['type count']);
    expect(paths({ name: 'a', count: 2 ** 31 })).toEqual(['constraint count']);
    expect(paths({ name: 'a', mode: 'c' })).toEqual(['constraint mode']);
    expect(paths({ name: 'a', items: [{ k: 'x' }, { k: 'y' }, { k: 'z' }] })).toEqual(['constraint items']);
    expect(paths({ name: 'a', items: [{ k: 5 }] })).toEqual(['type items[0].k']);
    expect(paths({ name: 'a', labels: { ab: 'x' } })).toEqual(['type labels.ab']);
    expect(paths({ name: 'a', on: 'yes', at: '2020-01-01' })).toEqual(['type on', 'type at']);
    expect(paths({ name: 'a', extra: 1 })).toEqual(['unknown extra']);
    expect(validator.validateInput('Op', { name: 'a', extra: 1 }, { reportUnknown: false })).toEqual([]);
    expect(paths([])).toEqual(['type (root)']);
  });

  it('checks error bodies against the errors an operation declares', () => {
    expect(validator.validateError('Op', { __type: 'Bad', message: 'm' })).toEqual([]);
    expect(validator.validateError('Op', { __type: 'ThrottlingException', message: 'Rate exceeded' })).toEqual([]);
    expect(validator.validateError('Op', { __type: 'Other', message: 'm' })).toHaveLength(1);
    expect(validator.validateError('Op', { message: 'm' })).toHaveLength(1);
  });

  it('looks for the model where Debian, pip and AWS installers put it, the override first', () => {
    const before = process.env.BLOX_ECS_SERVICE_MODEL;
    process.env.BLOX_ECS_SERVICE_MODEL = '/somewhere/service-2.json';
    try {
      const candidates = candidateModelPaths();
      expect(candidates[0]).toBe('/somewhere/service-2.json');
      expect(candidates).toContain('/usr/lib/python3/dist-packages/awscli/botocore/data/ecs/2014-11-13/service-2.json');
      expect(candidates.some((path) => path.endsWith('service-2.json.gz'))).toBe(true);
    } finally {
      if (before === undefined) delete process.env.BLOX_ECS_SERVICE_MODEL;
      else process.env.BLOX_ECS_SERVICE_MODEL = before;
    }
  });
});

const model = serviceModelValidator();

describe.skipIf(!model)('conformance with the official ECS service model', () => {
  it('the model is the ECS JSON 1.1 API the emulator speaks', () => {
    expect(model?.model.metadata).toMatchObject({ targetPrefix: 'AmazonEC2ContainerServiceV20141113', jsonVersion: '1.1', protocol: 'json' });
  });

  it('every request accepted and every answer given, across every operation, fits the model', async () => {
    const world = await startTestWorld({ validator: model as ModelValidator });
    try {
      const { ecs, emulator } = world;
      await ecs.send(new CreateClusterCommand({ clusterName: 'conf', tags: [{ key: 'a', value: 'b' }] }));
      await ecs.send(new DescribeClustersCommand({ clusters: ['conf', 'missing'], include: ['TAGS', 'SETTINGS', 'STATISTICS'] }));
      await ecs.send(new ListClustersCommand({ maxResults: 1 }));
      const definition = await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: 'conf',
          networkMode: 'bridge',
          containerDefinitions: [
            {
              name: 'app',
              image: 'busybox',
              memory: 64,
              cpu: 128,
              portMappings: [
                { containerPort: 80, hostPort: 8080 },
                { containerPort: 53, protocol: 'udp' },
              ],
              environment: [{ name: 'A', value: '1' }],
              healthCheck: { command: ['CMD', 'true'], interval: 5, startPeriod: 0 },
            },
          ],
          tags: [{ key: 't', value: 'v' }],
        }),
      );
      await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'conf', include: ['TAGS'] }));
      await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: 'conf', sort: 'DESC' }));
      const registered = await ecs.send(
        new RegisterContainerInstanceCommand({
          cluster: 'conf',
          instanceIdentityDocument: JSON.stringify({ instanceId: 'i-0conf', instanceType: 't3.micro', availabilityZone: 'us-east-1a', imageId: 'ami-1' }),
          totalResources: [
            { name: 'CPU', type: 'INTEGER', integerValue: 2048 },
            { name: 'MEMORY', type: 'INTEGER', integerValue: 1900 },
          ],
          tags: [{ key: 'x', value: 'y' }],
        }),
      );
      const instanceArn = registered.containerInstance?.containerInstanceArn as string;
      const second = (
        await emulator.registerInstance({
          cluster: 'conf',
          ec2InstanceId: 'i-0two',
          instanceType: 't3.micro',
          availabilityZone: 'us-east-1b',
          amiId: 'ami-1',
          cpu: 2048,
          memory: 1900,
        })
      ).containerInstanceArn;
      await ecs.send(new DescribeContainerInstancesCommand({ cluster: 'conf', containerInstances: [instanceArn, 'missing'], include: ['TAGS'] }));
      await ecs.send(new ListContainerInstancesCommand({ cluster: 'conf', filter: 'attribute:ecs.availability-zone == us-east-1a', status: 'ACTIVE' }));
      await ecs.send(
        new PutAttributesCommand({ cluster: 'conf', attributes: [{ name: 'role', value: 'edge', targetType: 'container-instance', targetId: instanceArn }] }),
      );
      await ecs.send(new ListAttributesCommand({ cluster: 'conf', targetType: 'container-instance', attributeName: 'role', maxResults: 5 }));
      await ecs.send(new DeleteAttributesCommand({ cluster: 'conf', attributes: [{ name: 'role', targetId: instanceArn }] }));
      const started = await ecs.send(
        new StartTaskCommand({
          cluster: 'conf',
          taskDefinition: definition.taskDefinition?.taskDefinitionArn,
          containerInstances: [instanceArn, 'missing'],
          startedBy: 'blox-edge',
          group: 'daemon:conf',
          tags: [{ key: 'k', value: 'v' }],
          overrides: { containerOverrides: [{ name: 'app', environment: [{ name: 'B', value: '2' }] }] },
        }),
      );
      const taskArn = started.tasks?.[0]?.taskArn as string;
      world.clock.advance(2_000);
      await settle();
      await ecs.send(
        new RunTaskCommand({
          cluster: 'conf',
          taskDefinition: 'conf',
          count: 2,
          placementStrategy: [{ type: 'spread', field: 'attribute:ecs.availability-zone' }],
          placementConstraints: [{ type: 'distinctInstance' }],
        }),
      );
      await ecs.send(new DescribeTasksCommand({ cluster: 'conf', tasks: [taskArn, 'missing'], include: ['TAGS'] }));
      await ecs.send(new ListTasksCommand({ cluster: 'conf', startedBy: 'blox-edge' }));
      await ecs.send(new ListTasksCommand({ cluster: 'conf', containerInstance: instanceArn, desiredStatus: 'RUNNING', maxResults: 1 }));
      await ecs.send(new StopTaskCommand({ cluster: 'conf', task: taskArn, reason: 'conformance' }));
      world.clock.advance(100);
      await settle();
      await ecs.send(new DescribeTasksCommand({ cluster: 'conf', tasks: [taskArn] }));
      await ecs.send(new TagResourceCommand({ resourceArn: taskArn, tags: [{ key: 'more', value: 'tags' }] }));
      await ecs.send(new ListTagsForResourceCommand({ resourceArn: taskArn }));
      await ecs.send(new UpdateContainerInstancesStateCommand({ cluster: 'conf', containerInstances: [second], status: 'DRAINING' }));
      await ecs.send(new DeregisterContainerInstanceCommand({ cluster: 'conf', containerInstance: second, force: true }));
      await ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: 'conf:1' }));
      // Errors are checked too: each must be one the operation declares.
      await expect(ecs.send(new ListTasksCommand({ cluster: 'nope' }))).rejects.toThrow('Cluster not found.');
      await expect(ecs.send(new StopTaskCommand({ cluster: 'conf', task: 'nope' }))).rejects.toThrow('The referenced task was not found.');
      await expect(ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'nope:3' }))).rejects.toThrow();

      expect(world.conformance?.problems).toEqual([]);
      const served = Object.keys(world.conformance?.checked ?? {}).sort();
      expect(served).toEqual(
        [
          'CreateCluster',
          'DeleteAttributes',
          'DeregisterContainerInstance',
          'DeregisterTaskDefinition',
          'DescribeClusters',
          'DescribeContainerInstances',
          'DescribeTaskDefinition',
          'DescribeTasks',
          'ListAttributes',
          'ListClusters',
          'ListContainerInstances',
          'ListTagsForResource',
          'ListTaskDefinitions',
          'ListTasks',
          'PutAttributes',
          'RegisterContainerInstance',
          'RegisterTaskDefinition',
          'RunTask',
          'StartTask',
          'StopTask',
          'TagResource',
          'UpdateContainerInstancesState',
        ].sort(),
      );
    } finally {
      await world.close();
    }
  });

  it('rejects malformed requests on the wire as ECS does', async () => {
    const world = await startTestWorld({ validator: model as ModelValidator });
    try {
      const call = async (
        target: string,
        body: string,
        method = 'POST',
      ): Promise<{ status: number; type: string | null; body: Record<string, unknown> | string }> => {
        const response = await fetch(world.emulator.url, {
          method,
          headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
          ...(method === 'POST' ? { body } : {}),
        });
        const text = await response.text();
        let parsed: Record<string, unknown> | string = text;
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // not JSON
        }
        return { status: response.status, type: response.headers.get('x-amzn-errortype'), body: parsed };
      };
      const op = (name: string): string => `AmazonEC2ContainerServiceV20141113.${name}`;
      const missing = await call(op('DescribeTasks'), '{}');
      expect(missing).toMatchObject({ status: 400, type: 'InvalidParameterException', body: { __type: 'InvalidParameterException' } });
      expect((missing.body as { message: string }).message).toContain('tasks');
      const wrongType = await call(op('ListTasks'), '{"maxResults":"ten"}');
      expect(wrongType).toMatchObject({ status: 400, body: { __type: 'SerializationException' } });
      const badEnum = await call(op('ListTasks'), '{"desiredStatus":"SLEEPING"}');
      expect(badEnum).toMatchObject({ status: 400, body: { __type: 'InvalidParameterException' } });
      const badJson = await call(op('ListClusters'), '{"maxResults":');
      expect(badJson).toMatchObject({ status: 400, body: { __type: 'SerializationException' } });
      const unknown = await call(op('DescribeUnicorns'), '{}');
      expect(unknown).toMatchObject({ status: 400, body: { __type: 'UnknownOperationException' } });
      const otherService = await call('DynamoDB_20120810.ListTables', '{}');
      expect(otherService).toMatchObject({ status: 400, body: { __type: 'UnknownOperationException' } });
      expect((await call(op('ListClusters'), '', 'GET')).status).toBe(405);
      const fine = await call(op('ListClusters'), '');
      expect(fine).toMatchObject({ status: 200, body: { clusterArns: [] } });
    } finally {
      await world.close();
    }
  });
});
