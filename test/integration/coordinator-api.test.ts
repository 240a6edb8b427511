// The coordinator's HTTP API against DynamoDB Local: every route, every error path, the Blox v0.3
// scenarios. TestApi checks every response against coordinator/openapi.json, and the suite ends by
// asserting that every request the coordinator answered was checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../core/keys.js';
import { dynamoDbEndpoint } from '../support/services.js';
import { createTestTable, instanceStatusItem, TestApi, type TestTable } from './coordinator-support.js';

const endpoint = dynamoDbEndpoint();
const ARN = (cluster: string) => `arn:aws:ecs:us-east-1:123456789012:cluster/${cluster}`;
const bloxBody = (name: string, cluster = 'alpha', taskDefinition = 'logs:1') => ({ name, instanceGroup: { cluster }, taskDefinition });

describe.skipIf(!endpoint)('coordinator API (DynamoDB Local)', () => {
  let t: TestTable;
  let api: TestApi;
  beforeAll(async () => {
    t = await createTestTable(endpoint, 'api');
    api = await TestApi.start({ store: t.store });
  });
  afterAll(async () => {
    await api?.close();
    await t?.dispose();
  });

  describe('Blox v0.3 scenarios', () => {
    it('ping answers 200', async () => {
      const res = await api.call('GET', '/v1/ping');
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('ok');
      expect(res.body.auth, 'no tokens: nothing needs one').toEqual({ writes: false, reads: false });
    });

    it('creates an environment and gets it; a duplicate name is 409; a missing one 404', async () => {
      const created = await api.call('POST', '/v1/environments', { body: bloxBody('blox-a') });
      expect(created.status).toBe(200);
      expect(created.body).toMatchObject({
        name: 'blox-a',
        instanceGroup: { cluster: 'alpha' },
        taskDefinition: 'logs:1',
        health: 'unknown',
        status: 'ACTIVE',
      });
      expect(created.body.deploymentToken).toEqual(expect.any(String));
      const duplicate = await api.call('POST', '/v1/environments', { body: bloxBody('blox-a', 'beta') });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body).toMatchObject({ code: 'Conflict', field: 'name' });
      const got = await api.call('GET', '/v1/environments/blox-a');
      expect(got.status).toBe(200);
      expect(got.body.deploymentToken).toBe(created.body.deploymentToken);
      const missing = await api.call('GET', '/v1/environments/no-such-env');
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('NotFound');
    });

    it('deletes: then get is 404, a second delete is harmless, the list hides it', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('blox-del') });
      const deleted = await api.call('DELETE', '/v1/environments/blox-del');
      expect(deleted.status).toBe(200);
      expect(deleted.body.status).toBe('DELETING');
      expect((await api.call('GET', '/v1/environments/blox-del')).status).toBe(404);
      const again = await api.call('DELETE', '/v1/environments/blox-del');
      expect(again.status).toBe(204);
      expect(again.text).toBe('');
      const list = await api.call('GET', '/v1/environments');
      expect(list.body.items.map((e: { name: string }) => e.name)).not.toContain('blox-del');
      // the name can be used again; revision numbers continue
      const reborn = await api.call('POST', '/v1/environments', { body: bloxBody('blox-del') });
      expect(reborn.status).toBe(200);
      expect(reborn.body.currentRevision).toBe(2);
    });

    it('lists with a cluster filter by name and by ARN; invalid or repeated filters are 400', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('in-gamma-1', 'gamma') });
      await api.call('POST', '/v1/environments', { body: bloxBody('in-gamma-2', ARN('gamma')) });
      await api.call('POST', '/v1/environments', { body: bloxBody('in-delta', 'delta') });
      for (const filter of ['gamma', ARN('gamma'), encodeURIComponent(ARN('gamma'))]) {
        const res = await api.call('GET', `/v1/environments?cluster=${filter}`);
        expect(res.status).toBe(200);
        expect(res.body.items.map((e: { name: string }) => e.name).sort()).toEqual(['in-gamma-1', 'in-gamma-2']);
      }
      const all = await api.call('GET', '/v1/environments');
      expect(all.body.items.map((e: { name: string }) => e.name)).toEqual(expect.arrayContaining(['in-gamma-1', 'in-gamma-2', 'in-delta']));
      for (const bad of ['bad%20cluster!', 'arn:aws:ecs:us-east-1:123:cluster/x', '']) {
        const res = await api.call('GET', `/v1/environments?cluster=${bad}`);
        expect(res.status, bad).toBe(400);
        expect(res.body.field).toBe('cluster');
      }
      const repeated = await api.call('GET', '/v1/environments?cluster=gamma&cluster=delta');
      expect(repeated.status).toBe(400);
      expect(repeated.body).toMatchObject({ code: 'InvalidInput', field: 'cluster' });
    });

    it('creates deployments with ?deploymentToken, lists and gets them; a missing deployment is 404', async () => {
      const env = (await api.call('POST', '/v1/environments', { body: bloxBody('blox-dep') })).body;
      const dep = await api.call('POST', `/v1/environments/blox-dep/deployments?deploymentToken=${env.deploymentToken}`);
      expect(dep.status).toBe(200);
      expect(dep.body).toMatchObject({ environmentName: 'blox-dep', status: 'pending', taskDefinition: 'logs:1', failedInstances: [] });
      const list = await api.call('GET', '/v1/environments/blox-dep/deployments');
      expect(list.status).toBe(200);
      expect(list.body.items).toHaveLength(2);
      expect(list.body.items[0].id).toBe(dep.body.id);
      const got = await api.call('GET', `/v1/environments/blox-dep/deployments/${dep.body.id}`);
      expect(got.status).toBe(200);
      expect(got.body.id).toBe(dep.body.id);
      expect((await api.call('GET', '/v1/environments/blox-dep/deployments/0000000000-nothing')).status).toBe(404);
      expect((await api.call('GET', '/v1/environments/nope/deployments')).status).toBe(404);
      const stale = await api.call('POST', `/v1/environments/blox-dep/deployments?deploymentToken=${env.deploymentToken}`);
      expect(stale.status).toBe(409);
      const missingToken = await api.call('POST', '/v1/environments/blox-dep/deployments');
      expect(missingToken.status).toBe(400);
      expect(missingToken.body.field).toBe('token');
    });
  });

  describe('instances, tasks, pagination and malformed records', () => {
    it("lists instances and tasks from the agents' status records, with filters", async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('agents-env', 'fleet') });
      await t.table.put(
        instanceStatusItem('fleet', 'i-1', [
          { environment: 'agents-env', revision: 1, state: 'healthy', taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/fleet/a', lastStatus: 'RUNNING' },
        ]),
      );
      await t.table.put(
        instanceStatusItem('fleet', 'i-2', [
          { environment: 'agents-env', revision: 1, state: 'starting', taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/fleet/b', lastStatus: 'PENDING' },
        ]),
      );
      const instances = await api.call('GET', '/v1/instances?cluster=fleet');
      expect(instances.status).toBe(200);
      expect(instances.body.items).toHaveLength(2);
      expect((await api.call('GET', `/v1/instances?cluster=${ARN('fleet')}&status=ready`)).body.items).toHaveLength(1);
      expect((await api.call('GET', '/v1/instances?environment=agents-env')).body.items).toHaveLength(2);
      expect((await api.call('GET', '/v1/instances?status=sleepy')).status).toBe(400);
      const tasks = await api.call('GET', '/v1/tasks?cluster=fleet&status=RUNNING');
      expect(tasks.body.items).toEqual([
        expect.objectContaining({ taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/fleet/a', environmentName: 'agents-env' }),
      ]);
      expect((await api.call('GET', '/v1/tasks?environment=agents-env')).body.items).toHaveLength(2);
      const env = await api.call('GET', '/v1/environments/agents-env');
      expect(env.body.health).toBe('unknown'); // one daemon is still starting
      expect(env.body.instances).toEqual({ reporting: 2, healthy: 1, unhealthy: 0, onCurrentRevision: 2 });
    });

    it('a status record past its expiresAt (an instance whose agent went silent, e.g. terminated) leaves instances, tasks and health', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('silent-env', 'silent') });
      const at = Math.floor(Date.parse('2026-01-01T00:00:00.000Z') / 1000);
      await t.table.put(
        instanceStatusItem(
          'silent',
          'i-live',
          [{ environment: 'silent-env', revision: 1, state: 'healthy', taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/silent/a', lastStatus: 'RUNNING' }],
          { expiresAt: at + 180 },
        ),
      );
      await t.table.put(
        instanceStatusItem(
          'silent',
          'i-gone',
          [{ environment: 'silent-env', revision: 1, state: 'healthy', taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/silent/b', lastStatus: 'RUNNING' }],
          { expiresAt: at + 60 },
        ),
      );
      expect((await api.call('GET', '/v1/instances?cluster=silent')).body.items).toHaveLength(2);
      t.clock.advance(120_000); // i-gone's record is now past its expiresAt; DynamoDB's TTL may delete it much later
      const instances = await api.call('GET', '/v1/instances?cluster=silent');
      expect(instances.body.items.map((i: { containerInstanceArn: string }) => i.containerInstanceArn.split('/').pop())).toEqual(['i-live']);
      expect((await api.call('GET', '/v1/tasks?cluster=silent')).body.items.map((task: { taskArn: string }) => task.taskArn)).toEqual([
        'arn:aws:ecs:us-east-1:123456789012:task/silent/a',
      ]);
      expect((await api.call('GET', '/v1/environments/silent-env')).body.instances).toMatchObject({ reporting: 1, healthy: 1 });
    });

    it('an instance whose heartbeat lapsed leaves the views although its status record (refreshed slowly) is still valid; a v1 agent without a heartbeat is judged by its record', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('beat-env', 'beat') });
      const at = Math.floor(Date.parse('2026-01-01T00:00:00.000Z') / 1000);
      const daemon = (id: string) => [
        { environment: 'beat-env', revision: 1, state: 'healthy', taskArn: `arn:aws:ecs:us-east-1:123456789012:task/beat/${id}`, lastStatus: 'RUNNING' },
      ];
      for (const id of ['i-beating', 'i-lapsed', 'i-v1']) await t.table.put(instanceStatusItem('beat', id, daemon(id), { expiresAt: at + 5_400 }));
      const heartbeat = (id: string, validUntil: number) => ({
        pk: `INSTANCE#${id}`,
        sk: 'HEARTBEAT',
        kind: 'InstanceHeartbeat',
        schemaVersion: 1,
        cluster: 'beat',
        containerInstanceId: id,
        owner: 'agent-000000000001',
        recordVersion: 'h',
        leaseDurationMs: 180_000,
        released: false,
        agentVersion: '0.2.0',
        updatedAt: '2026-01-01T00:00:00.000Z',
        validUntil,
        expiresAt: at + 604_800,
      });
      await t.table.put(heartbeat('i-beating', at + 600));
      await t.table.put(heartbeat('i-lapsed', at + 180));
      t.clock.advance(300_000);
      const ids = (await api.call('GET', '/v1/instances?cluster=beat')).body.items
        .map((i: { containerInstanceArn: string }) => i.containerInstanceArn.split('/').pop())
        .sort();
      expect(ids).toEqual(['i-beating', 'i-v1']);
      expect((await api.call('GET', '/v1/tasks?environment=beat-env')).body.items).toHaveLength(2);
      expect((await api.call('GET', '/v1/environments/beat-env')).body.instances).toMatchObject({ reporting: 2 });
    });

    it('paginates with nextToken and rejects a bad one naming nextToken', async () => {
      for (const n of [1, 2, 3]) await api.call('POST', '/v1/environments', { body: bloxBody(`pg-${n}`, 'paged') });
      const names: string[] = [];
      let next: string | undefined;
      do {
        const res = await api.call('GET', `/v1/environments?cluster=paged&limit=2${next ? `&nextToken=${next}` : ''}`);
        names.push(...res.body.items.map((e: { name: string }) => e.name));
        next = res.body.nextToken;
      } while (next);
      expect(names).toEqual(['pg-1', 'pg-2', 'pg-3']);
      for (const query of ['nextToken=%%%', 'nextToken=eyJwayI6IkVOVklST05NRU5UUyIsInNrIjoiRU5WI3gifQ', 'limit=0', 'limit=101', 'limit=abc']) {
        const res = await api.call('GET', `/v1/environments?cluster=paged&${query}`);
        expect(res.status, query).toBe(400);
        expect(['nextToken', 'limit']).toContain(res.body.field);
      }
      expect((await api.call('GET', '/v1/environments/pg-1/deployments?nextToken=abc')).status).toBe(400);
      expect((await api.call('GET', '/v1/environments/pg-1/revisions?limit=1')).body.items).toHaveLength(1);
    });

    it('a malformed record written into DynamoDB gives an error naming record and field, and other environments still list', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('healthy-neighbour', 'handmade') });
      await t.table.put({ ...keys.environmentIndex('handwritten'), kind: 'EnvironmentIndex', schemaVersion: 1, name: 'handwritten', cluster: 'handmade' });
      await t.table.put({
        ...keys.environment('handmade', 'handwritten'),
        kind: 'Environment',
        schemaVersion: 1,
        name: 'handwritten',
        cluster: 'handmade',
        status: 'READY',
        health: 'unknown',
        currentRevision: 1,
        latestRevision: 1,
        token: 't',
        createdAt: '2026-01-01T00:00:00Z',
        updatedAt: '2026-01-01T00:00:00Z',
      });
      const got = await api.call('GET', '/v1/environments/handwritten');
      expect(got.status).toBe(422);
      expect(got.body).toMatchObject({ code: 'InvalidRecord', record: 'CLUSTER#handmade/ENV#handwritten', field: 'status' });
      expect(got.body.message).toContain('CLUSTER#handmade/ENV#handwritten');
      for (const path of ['/v1/environments?cluster=handmade', '/v1/environments']) {
        const list = await api.call('GET', path);
        expect(list.status).toBe(200);
        expect(list.body.items.map((e: { name: string }) => e.name)).toContain('healthy-neighbour');
        expect(list.body.invalid).toEqual([expect.objectContaining({ record: 'CLUSTER#handmade/ENV#handwritten', field: 'status', name: 'handwritten' })]);
      }
      // a malformed revision of a good environment breaks only that environment
      await api.call('POST', '/v1/environments', { body: bloxBody('bad-revision', 'handmade') });
      await t.table.put({
        ...keys.revision('bad-revision', 1),
        kind: 'EnvironmentRevision',
        schemaVersion: 1,
        environment: 'bad-revision',
        revision: 1,
        taskDefinition: 'logs:1',
        instanceGroup: { cluster: 'handmade', expression: 'attribute:x ==' },
        createdAt: '2026-01-01T00:00:00Z',
      });
      const broken = await api.call('GET', '/v1/environments/bad-revision');
      expect(broken.status).toBe(422);
      expect(broken.body.field).toBe('instanceGroup.expression');
      const list = await api.call('GET', '/v1/environments?cluster=handmade');
      expect(list.body.items.map((e: { name: string }) => e.name)).toEqual(['healthy-neighbour']);
      expect(list.body.invalid.map((i: { name: string }) => i.name).sort()).toEqual(['bad-revision', 'handwritten']);
    });
  });

  describe('fixes from a review of the store', () => {
    it('a one-item list page skips a malformed revision and reports it, as longer pages do', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('lonely', 'solo') });
      await t.table.put({
        ...keys.revision('lonely', 1),
        kind: 'EnvironmentRevision',
        schemaVersion: 1,
        environment: 'lonely',
        revision: 1,
        taskDefinition: 'logs:1',
        instanceGroup: { cluster: 'solo' },
        order: 'x',
        createdAt: '2026-01-01T00:00:00Z',
      });
      const list = await api.call('GET', '/v1/environments?cluster=solo&limit=1');
      expect(list.status).toBe(200);
      expect(list.body.items).toEqual([]);
      expect(list.body.invalid).toEqual([expect.objectContaining({ name: 'lonely', field: 'order' })]);
      expect((await api.call('GET', '/v1/environments/lonely')).status).toBe(422);
    });

    it('an update next to a malformed active deployment is written and answered 200, never 422 after the write', async () => {
      const created = await api.call('POST', '/v1/environments', { body: bloxBody('md', 'mdc') });
      const env = await api.call('GET', '/v1/environments/md');
      await t.table.put({
        ...keys.deployment('md', env.body.activeDeployment.id),
        kind: 'Deployment',
        schemaVersion: 1,
        id: env.body.activeDeployment.id,
        environment: 'md',
        targetRevision: 1,
        status: 'weird',
        paused: false,
        reasons: [],
        failedInstances: [],
        createdAt: '2026-01-01T00:00:00Z',
        updatedAt: '2026-01-01T00:00:00Z',
      });
      const updated = await api.call('PUT', '/v1/environments/md', {
        body: { token: created.body.token ?? env.body.token, taskDefinition: 'logs:2', deploy: false },
      });
      expect(updated.status).toBe(200);
      expect(updated.body.latestRevision).toBe(2);
    });

    it('a partial update is checked against the latest revision, not the defaults', async () => {
      await api.call('POST', '/v1/environments', {
        body: { ...bloxBody('partial', 'pc'), deploymentConfiguration: { maxSurge: '1' }, restartPolicy: { maxDelayMs: 600_000 } },
      });
      let token = (await api.call('GET', '/v1/environments/partial')).body.token;
      const surge = await api.call('PUT', '/v1/environments/partial', { body: { token, deploymentConfiguration: { maxUnavailable: '0' } } });
      expect(surge.status).toBe(200);
      token = surge.body.token;
      const delay = await api.call('PUT', '/v1/environments/partial', { body: { token, restartPolicy: { initialDelayMs: 120_000 } } });
      expect(delay.status).toBe(200);
      token = delay.body.token;
      const both = await api.call('PUT', '/v1/environments/partial', { body: { token, deploymentConfiguration: { maxSurge: '0' } } });
      expect(both.status).toBe(400);
      expect(both.body.field).toBe('deploymentConfiguration.maxUnavailable');
    });

    it('a revision of an earlier environment of the same name in another cluster cannot be deployed or rolled back to', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('reborn', 'first-life') });
      await api.call('DELETE', '/v1/environments/reborn');
      await api.call('POST', '/v1/environments', { body: bloxBody('reborn', 'second-life') });
      const env = await api.call('GET', '/v1/environments/reborn');
      expect(env.body.currentRevision).toBe(2);
      const start = await api.call('POST', `/v1/environments/reborn/deployments?deploymentToken=${env.body.token}`, { body: { revision: 1 } });
      expect(start.status).toBe(400);
      expect(start.body).toMatchObject({ field: 'revision', message: expect.stringMatching(/cluster first-life/) });
      const rollback = await api.call('POST', `/v1/environments/reborn/deployments/${env.body.activeDeployment.id}/rollback`, {
        body: { token: env.body.token, revision: 1 },
      });
      expect(rollback.status).toBe(400);
      expect(rollback.body.field).toBe('revision');
    });

    it('a head stored with a cluster ARN (tolerated) can still be changed and deleted', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('arned', 'arnc') });
      const item = await t.table.get(keys.environment('arnc', 'arned'));
      await t.table.put({ ...item!, cluster: 'arn:aws:ecs:us-east-1:123456789012:cluster/arnc' });
      const env = await api.call('GET', '/v1/environments/arned');
      expect(env.body.cluster).toBe('arnc');
      const updated = await api.call('PUT', '/v1/environments/arned', { body: { token: env.body.token, taskDefinition: 'logs:3' } });
      expect(updated.status).toBe(200);
      expect((await api.call('DELETE', `/v1/environments/arned?token=${updated.body.token}`)).status).toBe(200);
    });

    it('an empty token in the query is 400 naming token, on DELETE as elsewhere', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('emptytok', 'etc') });
      const res = await api.call('DELETE', '/v1/environments/emptytok?token=');
      expect(res.status).toBe(400);
      expect(res.body.field).toBe('token');
    });

    it('deployment reasons keep the latest 50, however often a deployment is paused and resumed', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('toggled', 'tg') });
      const env = await api.call('GET', '/v1/environments/toggled');
      const id = env.body.activeDeployment.id;
      for (let i = 0; i < 27; i++) {
        expect((await api.call('POST', `/v1/environments/toggled/deployments/${id}/pause`, { body: {} })).status).toBe(200);
        expect((await api.call('POST', `/v1/environments/toggled/deployments/${id}/resume`, { body: {} })).status).toBe(200);
      }
      const deployment = await api.call('GET', `/v1/environments/toggled/deployments/${id}`);
      expect(deployment.body.reasons).toHaveLength(50);
      expect(deployment.body.reasons.at(-1)).toBe('resumed by request');
    });
  });

  it('answered every request through a client that checked the response against the OpenAPI document', async () => {
    await api.expectEveryResponseValidated();
  });
});
