// `--check-ecs`: the coordinator asks ECS (here the local ECS emulator) about the cluster and the
// task definition before storing an environment; unknown or INACTIVE ones are 404 with a reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateClusterCommand, DeleteClusterCommand, DeregisterTaskDefinitionCommand, ECSClient, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { AwsEcsChecker } from '../../coordinator/ecs-check.js';
import { startEcsEmulator, type EcsEmulator } from '../../local/ecs/emulator.js';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { dynamoDbEndpoint, localCredentials } from '../support/services.js';
import { createTestTable, TestApi, type TestTable } from './coordinator-support.js';

const endpoint = dynamoDbEndpoint();

describe.skipIf(!endpoint)('coordinator --check-ecs (ECS emulator, DynamoDB Local)', () => {
  let t: TestTable;
  let emulator: EcsEmulator;
  let ecs: ECSClient;
  let checker: AwsEcsChecker;
  let api: TestApi;

  beforeAll(async () => {
    t = await createTestTable(endpoint, 'ecscheck');
    emulator = await startEcsEmulator({ port: 0, runtime: new SimulatedRuntime() });
    ecs = new ECSClient({ endpoint: emulator.url, region: emulator.region, credentials: localCredentials });
    checker = new AwsEcsChecker({ endpoint: emulator.url, region: emulator.region, credentials: localCredentials });
    api = await TestApi.start({ store: t.store, ecsCheck: checker });
    await ecs.send(new CreateClusterCommand({ clusterName: 'real' }));
    await ecs.send(new CreateClusterCommand({ clusterName: 'retired' }));
    await ecs.send(new DeleteClusterCommand({ cluster: 'retired' }));
    const container = { name: 'main', image: 'busybox', memory: 32, essential: true };
    await ecs.send(new RegisterTaskDefinitionCommand({ family: 'shipper', containerDefinitions: [container] }));
    await ecs.send(new RegisterTaskDefinitionCommand({ family: 'shipper', containerDefinitions: [container] }));
    await ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: 'shipper:1' }));
  });
  afterAll(async () => {
    await api?.close();
    checker?.destroy();
    ecs?.destroy();
    await emulator?.close();
    await t?.dispose();
  });

  const create = (name: string, cluster: string, taskDefinition: string) => api.call('POST', '/v1/environments', { body: { name, instanceGroup: { cluster }, taskDefinition } });

  it('accepts an ACTIVE cluster and task definition', async () => {
    const res = await create('checked', 'real', 'shipper:2');
    expect(res.status).toBe(200);
  });

  it('answers 404 for an unknown or INACTIVE cluster', async () => {
    const unknown = await create('c1', 'imaginary', 'shipper:2');
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/cluster imaginary not found in ECS/);
    const inactive = await create('c2', 'retired', 'shipper:2');
    expect(inactive.status).toBe(404);
    expect(inactive.body.message).toMatch(/cluster retired .*(INACTIVE|not found)/);
  });

  it('answers 404 for an unknown or INACTIVE task definition, also on update', async () => {
    const unknown = await create('t1', 'real', 'nothing:1');
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/task definition nothing:1 not found in ECS/);
    const inactive = await create('t2', 'real', 'shipper:1');
    expect(inactive.status).toBe(404);
    expect(inactive.body.message).toMatch(/task definition shipper:1 is INACTIVE/);
    const env = (await api.call('GET', '/v1/environments/checked')).body;
    const update = await api.call('PUT', '/v1/environments/checked', { body: { token: env.token, taskDefinition: 'shipper:1' } });
    expect(update.status).toBe(404);
    expect((await api.call('GET', '/v1/environments/t1')).status).toBe(404);
  });
});
