// `--check-ecs`: the coordinator asks ECS (here the local ECS emulator) about the cluster and the
// task definition before storing an environment; unknown or INACTIVE ones are 404 with a reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateClusterCommand, DeleteClusterCommand, DeregisterTaskDefinitionCommand, ECSClient, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { AwsEcsChecker } from '../../coordinator/ecs-check.js';
import { startEcsEmulator, type EcsEmulator } from '../../local/ecs/emulator.js';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { dynamoDbEndpoint, localCredentials } from '../support/services.js';
import { EXIT, runCli } from '../../coordinator/cli/cli.js';
import { createTestTable, instanceStatusItem, TestApi, type TestTable } from './coordinator-support.js';

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

  const create = (name: string, cluster: string, taskDefinition: string) =>
    api.call('POST', '/v1/environments', { body: { name, instanceGroup: { cluster }, taskDefinition } });

  it('accepts an ACTIVE cluster and task definition', async () => {
    const res = await create('checked', 'real', 'shipper:2');
    expect(res.status).toBe(200);
  });

  it("answers 503 when ECS fails, naming the error but not passing on AWS's message (it can carry the role and account)", async () => {
    emulator.faults.setErrorRate('DescribeClusters', 1, 'AccessDeniedException');
    try {
      const res = await create('denied', 'real', 'shipper:2');
      expect(res.status).toBe(503);
      expect(res.body.message).toBe("could not check cluster real with ECS (AccessDeniedException); the coordinator's log has the details");
    } finally {
      emulator.faults.clear();
    }
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

  describe('instance previews', () => {
    const arns: Record<string, string> = {};
    beforeAll(async () => {
      const base = { cluster: 'real', amiId: 'ami-1', cpu: 2048, memory: 4096 };
      arns.small = (
        await emulator.registerInstance({ ...base, ec2InstanceId: 'i-small', instanceType: 't3.small', availabilityZone: 'us-east-1a' })
      ).containerInstanceArn;
      arns.large = (
        await emulator.registerInstance({
          ...base,
          ec2InstanceId: 'i-large',
          instanceType: 'm5.large',
          availabilityZone: 'us-east-1b',
          attributes: { team: 'data' },
        })
      ).containerInstanceArn;
      arns.other = (
        await emulator.registerInstance({ ...base, ec2InstanceId: 'i-other', instanceType: 't3.medium', availabilityZone: 'us-east-1c' })
      ).containerInstanceArn;
      const id = (arn: string) => arn.split('/').pop() as string;
      await t.table.put({
        ...instanceStatusItem('real', id(arns.small as string), [{ environment: 'previewed', revision: 1, state: 'healthy' }]),
        containerInstanceArn: arns.small,
      });
    });

    it('shows which instances an environment selects and the daemon each agent reports', async () => {
      const created = await create('previewed', 'real', 'shipper:2');
      expect(created.status).toBe(200);
      const env = created.body;
      const updated = await api.call('PUT', '/v1/environments/previewed', {
        body: { token: env.token, instanceGroup: { cluster: 'real', expression: 'attribute:ecs.instance-type =~ t3.*' } },
      });
      expect(updated.status).toBe(200);
      const preview = await api.call('GET', '/v1/environments/previewed/instances');
      expect(preview.status).toBe(200);
      expect(preview.body).toMatchObject({
        cluster: 'real',
        environmentName: 'previewed',
        revision: 2,
        expression: 'attribute:ecs.instance-type =~ t3.*',
        total: 3,
        matching: 2,
      });
      const byId = Object.fromEntries(preview.body.items.map((i: { ec2InstanceId: string }) => [i.ec2InstanceId, i]));
      expect(byId['i-small']).toMatchObject({
        matches: true,
        instanceType: 't3.small',
        availabilityZone: 'us-east-1a',
        status: 'ACTIVE',
        daemon: { revision: 1, state: 'healthy' },
      });
      expect(byId['i-large']).toMatchObject({ matches: false });
      expect(byId['i-other'].daemon).toBeUndefined();
      const first = await api.call('GET', '/v1/environments/previewed/instances?revision=1');
      expect(first.body).toMatchObject({ revision: 1, matching: 3 });
      expect((await api.call('GET', '/v1/environments/previewed/instances?revision=7')).status).toBe(404);
      expect((await api.call('GET', '/v1/environments/previewed/instances?revision=x')).status).toBe(400);
    });

    it('previews an instance group before it is used; bad input is 400, unknown clusters 404', async () => {
      const expression = 'attribute:team == data or attribute:ecs.availability-zone in [us-east-1c]';
      const res = await api.call('GET', `/v1/preview?cluster=real&expression=${encodeURIComponent(expression)}`);
      expect(res.status).toBe(200);
      expect(
        res.body.items
          .filter((i: { matches: boolean }) => i.matches)
          .map((i: { ec2InstanceId: string }) => i.ec2InstanceId)
          .sort(),
      ).toEqual(['i-large', 'i-other']);
      expect((await api.call('GET', '/v1/preview?cluster=real')).body.matching).toBe(3);
      const bad = await api.call('GET', `/v1/preview?cluster=real&expression=${encodeURIComponent('attribute:team in [a')}`);
      expect(bad.status).toBe(400);
      expect(bad.body.field).toBe('expression');
      expect(bad.body.message).toMatch(/column/);
      expect((await api.call('GET', '/v1/preview')).body.field).toBe('cluster');
      expect((await api.call('GET', '/v1/preview?cluster=imaginary')).status).toBe(404);
    });

    it('blox env instances and blox env preview print the previews', async () => {
      let stdout = '';
      let stderr = '';
      const io = { stdout: (x: string) => (stdout += x), stderr: (x: string) => (stderr += x), env: {} };
      expect(await runCli(['env', 'instances', 'previewed', '--endpoint', api.url], io), stderr).toBe(EXIT.ok);
      expect(stdout).toMatch(/^2 of 3 container instances of real match attribute:ecs.instance-type =~ t3.\* \(revision 2\)/);
      expect(stdout).toMatch(/i-small\s+t3.small\s+us-east-1a\s+ACTIVE\s+yes\s+1:healthy/);
      stdout = '';
      expect(await runCli(['env', 'preview', '--cluster', 'real', '--expression', 'attribute:team exists', '-o', 'json', '--endpoint', api.url], io)).toBe(
        EXIT.ok,
      );
      expect(JSON.parse(stdout)).toMatchObject({ matching: 1, total: 3 });
    });
  });

  it('answered every request through a client that checked the response against the OpenAPI document', async () => {
    await api.expectEveryResponseValidated();
  });
});
