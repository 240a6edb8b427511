// The coordinator's HTTP API against DynamoDB Local: every route, every error path, the Blox v0.3
// scenarios. TestApi checks every response against coordinator/openapi.json, and the suite ends by
// asserting that every request the coordinator answered was checked.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../core/keys.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import type { TableAccess } from '../../core/store/dynamo.js';
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

  describe('updates, revisions and deployment control', () => {
    it('PUT makes a new revision and deployment; a stale token is 409 carrying the current token', async () => {
      const env = (await api.call('POST', '/v1/environments', { body: bloxBody('upd') })).body;
      const updated = await api.call('PUT', '/v1/environments/upd', {
        body: { token: env.token, taskDefinition: 'logs:2', instanceGroup: { cluster: 'alpha', expression: 'attribute:ecs.instance-type =~ t3.*' } },
      });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({
        currentRevision: 2,
        latestRevision: 2,
        taskDefinition: 'logs:2',
        instanceGroup: { expression: 'attribute:ecs.instance-type =~ t3.*' },
      });
      expect(updated.body.activeDeployment).toMatchObject({ targetRevision: 2, status: 'pending' });
      const stale = await api.call('PUT', `/v1/environments/upd?deploymentToken=${env.token}`, { body: { taskDefinition: 'logs:3' } });
      expect(stale.status).toBe(409);
      expect(stale.body).toMatchObject({ code: 'Conflict', field: 'token', token: updated.body.token, deploymentToken: updated.body.token });
      const moved = await api.call('PUT', '/v1/environments/upd', { body: { token: updated.body.token, instanceGroup: { cluster: 'elsewhere' } } });
      expect(moved.status).toBe(400);
      expect(moved.body.field).toBe('instanceGroup.cluster');
      const renamed = await api.call('PUT', '/v1/environments/upd', { body: { token: updated.body.token, name: 'other' } });
      expect(renamed.status).toBe(400);
      expect(renamed.body.field).toBe('name');
      expect((await api.call('PUT', '/v1/environments/nope', { body: { token: 'x' } })).status).toBe(404);

      const revisions = await api.call('GET', '/v1/environments/upd/revisions');
      expect(revisions.body.items.map((r: { revision: number }) => r.revision)).toEqual([2, 1]);
      const one = await api.call('GET', '/v1/environments/upd/revisions/1');
      expect(one.body).toMatchObject({ revision: 1, taskDefinition: 'logs:1' });
      expect((await api.call('GET', '/v1/environments/upd/revisions/9')).status).toBe(404);
      for (const bad of ['0', 'abc', '-1', '1.5']) {
        const res = await api.call('GET', `/v1/environments/upd/revisions/${bad}`);
        expect(res.status).toBe(400);
        expect(res.body.field).toBe('revision');
      }
    });

    it('two clients racing to update one environment: exactly one wins, the other gets 409', async () => {
      const env = (await api.call('POST', '/v1/environments', { body: bloxBody('race') })).body;
      const other = await TestApi.start({ store: new EnvironmentStore({ table: t.table }) });
      try {
        const [a, b] = await Promise.all([
          api.call('PUT', '/v1/environments/race', { body: { token: env.token, taskDefinition: 'logs:5' } }),
          other.call('PUT', '/v1/environments/race', { body: { deploymentToken: env.token, taskDefinition: 'logs:6' } }),
        ]);
        expect([a.status, b.status].sort()).toEqual([200, 409]);
        const loser = a.status === 409 ? a : b;
        const winner = a.status === 200 ? a : b;
        expect(loser.body.token).toBe(winner.body.token);
        const final = await api.call('GET', '/v1/environments/race');
        expect(final.body.latestRevision).toBe(2);
        expect(final.body.taskDefinition).toBe(winner.body.taskDefinition);
        await other.expectEveryResponseValidated();
      } finally {
        await other.close();
      }
    });

    it('stops, pauses, resumes and rolls back deployments', async () => {
      const env = (await api.call('POST', '/v1/environments', { body: bloxBody('ctl') })).body;
      const up = (await api.call('PUT', '/v1/environments/ctl', { body: { token: env.token, taskDefinition: 'logs:2' } })).body;
      const id = up.activeDeployment.id;
      const paused = await api.call('POST', `/v1/environments/ctl/deployments/${id}/pause`);
      expect(paused.status).toBe(200);
      expect(paused.body.paused).toBe(true);
      const resumed = await api.call('POST', `/v1/environments/ctl/deployments/${id}/resume`, { body: {} });
      expect(resumed.body.paused).toBe(false);
      const staleToken = await api.call('POST', `/v1/environments/ctl/deployments/${id}/pause?token=${env.token}`);
      expect(staleToken.status).toBe(409);
      const rolled = await api.call('POST', `/v1/environments/ctl/deployments/${id}/rollback`);
      expect(rolled.status).toBe(200);
      expect(rolled.body).toMatchObject({ targetRevision: 3, previousRevision: 2, taskDefinition: 'logs:1' });
      expect((await api.call('GET', `/v1/environments/ctl/deployments/${id}`)).body.status).toBe('rolled_back');
      expect((await api.call('GET', '/v1/environments/ctl/revisions/3')).body.copiedFrom).toBe(1);
      const again = await api.call('POST', `/v1/environments/ctl/deployments/${id}/rollback`);
      expect(again.status).toBe(409);
      const stopped = await api.call('POST', `/v1/environments/ctl/deployments/${rolled.body.id}/stop`);
      expect(stopped.body.status).toBe('stopped');
      expect((await api.call('POST', `/v1/environments/ctl/deployments/${rolled.body.id}/stop`)).status).toBe(409);
      expect((await api.call('POST', `/v1/environments/ctl/deployments/${rolled.body.id}/resume`)).status).toBe(409);
      const first = (await api.call('GET', '/v1/environments/ctl/deployments')).body.items.at(-1).id;
      const noPrevious = await api.call('POST', `/v1/environments/ctl/deployments/${first}/rollback`);
      expect(noPrevious.status).toBe(400);
      expect(noPrevious.body.field).toBe('revision');
      expect((await api.call('POST', '/v1/environments/ctl/deployments/missing-id/stop')).status).toBe(404);
      expect((await api.call('POST', `/v1/environments/ctl/deployments/${id}/explode`)).status).toBe(404);
      const current = (await api.call('GET', '/v1/environments/ctl')).body;
      const redeploy = await api.call('POST', '/v1/environments/ctl/deployments', { body: { token: current.token, revision: 2 } });
      expect(redeploy.body).toMatchObject({ targetRevision: 2, taskDefinition: 'logs:2' });
      expect((await api.call('POST', '/v1/environments/ctl/deployments', { body: { token: redeploy.body.id, revision: 2 } })).status).toBe(409);
    });

    it('shows a paused unfinished deployment as paused, in the deployment and in the environment', async () => {
      const env = (await api.call('POST', '/v1/environments', { body: bloxBody('held') })).body;
      const id = env.activeDeployment.id;
      const paused = await api.call('POST', `/v1/environments/held/deployments/${id}/pause`);
      expect(paused.body).toMatchObject({ status: 'paused', paused: true });
      expect((await api.call('GET', '/v1/environments/held')).body.activeDeployment).toMatchObject({ id, status: 'paused', paused: true });
      expect((await api.call('GET', '/v1/environments/held/deployments')).body.items[0]).toMatchObject({ id, status: 'paused' });
      // a finished deployment shows how it ended, even though it was paused when it ended
      const stopped = await api.call('POST', `/v1/environments/held/deployments/${id}/stop`);
      expect(stopped.body).toMatchObject({ status: 'stopped', paused: true });
    });

    it('promotes a deployment awaiting promotion (409 otherwise), and serves the counts and times the agents write', async () => {
      const created = await api.call('POST', '/v1/environments', {
        body: { ...bloxBody('canaried'), deploymentConfiguration: { canary: '10%', autoPromote: false, failureThreshold: 2, progressDeadlineSeconds: 900 } },
      });
      expect(created.body.deploymentConfiguration).toMatchObject({
        canary: '10%',
        autoPromote: false,
        failureThreshold: '2',
        progressDeadlineSeconds: 900,
        strategy: 'rolling',
      });
      const id = created.body.activeDeployment.id;
      const early = await api.call('POST', `/v1/environments/canaried/deployments/${id}/promote`);
      expect(early.status).toBe(409);
      expect(early.body.message).toContain('only a deployment awaiting promotion');
      // what the agents' steward writes while the canaries bake
      const counts = { desired: 10, current: 10, updated: 1, ready: 10, available: 1, unavailable: 0, misscheduled: 0, revisions: { '1': 1 } };
      const written = {
        status: 'awaiting_promotion',
        phase: 'awaiting_promotion',
        counts,
        stableRevision: 1,
        startedAt: '2026-01-01T00:01:00.000Z',
        progressAt: '2026-01-01T00:02:00.000Z',
      };
      await t.table.transact([{ kind: 'update', key: keys.deployment('canaried', id), set: written }]);
      expect((await api.call('GET', `/v1/environments/canaried/deployments/${id}`)).body).toMatchObject(written);
      const promoted = await api.call('POST', `/v1/environments/canaried/deployments/${id}/promote`, { body: {} });
      expect(promoted.status).toBe(200);
      expect(promoted.body).toMatchObject({ status: 'in_progress', counts });
      expect(promoted.body.reasons.at(-1)).toBe('promoted by request');
      expect((await api.call('POST', `/v1/environments/canaried/deployments/${id}/promote`)).status).toBe(409);
      expect((await api.call('POST', '/v1/environments/canaried/deployments/missing-id/promote')).status).toBe(404);
      expect((await api.call('GET', `/v1/environments/canaried/deployments/${id}/promote`)).status).toBe(405);
      // a failed deployment the agents rolled back by themselves names its rollback
      await t.table.transact([
        {
          kind: 'update',
          key: keys.deployment('canaried', id),
          set: { status: 'rolled_back', phase: 'done', rolledBackBy: 'later-id', finishedAt: '2026-01-01T00:05:00.000Z' },
        },
      ]);
      expect((await api.call('GET', '/v1/environments/canaried/deployments')).body.items[0]).toMatchObject({
        id,
        status: 'rolled_back',
        rolledBackBy: 'later-id',
        finishedAt: '2026-01-01T00:05:00.000Z',
      });
    });

    it('rejects bad rollout settings with 400 naming the field', async () => {
      for (const [config, field] of [
        [{ strategy: 'all-at-once' }, 'deploymentConfiguration.strategy'],
        [{ canary: 'ten' }, 'deploymentConfiguration.canary'],
        [{ failureThreshold: 0 }, 'deploymentConfiguration.failureThreshold'],
        [{ progressDeadlineSeconds: 0 }, 'deploymentConfiguration.progressDeadlineSeconds'],
        [{ autoPromote: 'yes' }, 'deploymentConfiguration.autoPromote'],
      ] as const) {
        const response = await api.call('POST', '/v1/environments', { body: { ...bloxBody('badly-set'), deploymentConfiguration: config } });
        expect(response.status, JSON.stringify(config)).toBe(400);
        expect(response.body.field).toBe(field);
      }
    });

    it('bumps the cluster marker on every change', async () => {
      const version = async () => (await t.store.getChangeMarker('marked'))?.version ?? 0;
      expect(await version()).toBe(0);
      const env = (await api.call('POST', '/v1/environments', { body: bloxBody('mk', 'marked') })).body;
      expect(await version()).toBe(1);
      const up = (await api.call('PUT', '/v1/environments/mk', { body: { token: env.token, taskDefinition: 'logs:2' } })).body;
      expect(await version()).toBe(2);
      await api.call('POST', `/v1/environments/mk/deployments/${up.activeDeployment.id}/pause`);
      expect(await version()).toBe(3);
      await api.call('GET', '/v1/environments/mk');
      expect(await version()).toBe(3);
      await api.call('DELETE', '/v1/environments/mk');
      expect(await version()).toBe(4);
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

  describe('bad input never yields a 500', () => {
    it('rejects malformed JSON, unknown fields, bad names and bad expressions with 400 naming the field', async () => {
      const cases: Array<[unknown, string | undefined, string]> = [
        [undefined, '(body)', '{"name": '],
        [undefined, '(body)', ''],
        [[1, 2], '(body)', ''],
        [null, '(body)', ''],
        ['text', '(body)', ''],
        [{ ...bloxBody('x'), colour: 'red' }, 'colour', ''],
        [{ ...bloxBody('x'), instanceGroup: { cluster: 'a', region: 'b' } }, 'instanceGroup.region', ''],
        [bloxBody('bad name'), 'name', ''],
        [bloxBody('x'.repeat(65)), 'name', ''],
        [bloxBody(''), 'name', ''],
        [{ name: 'x', taskDefinition: 'logs:1' }, 'instanceGroup', ''],
        [{ name: 'x', instanceGroup: { cluster: 'a' } }, 'taskDefinition', ''],
        [bloxBody('x', 'a', 'logs:0'), 'taskDefinition', ''],
        [bloxBody('x', 'bad cluster'), 'instanceGroup.cluster', ''],
        [{ ...bloxBody('x'), instanceGroup: { cluster: 'a', expression: 'attribute:ecs.instance-type in [t2.micro' } }, 'instanceGroup.expression', ''],
        [{ ...bloxBody('x'), deploymentConfiguration: { maxUnavailable: '150%' } }, 'deploymentConfiguration.maxUnavailable', ''],
        [{ ...bloxBody('x'), restartPolicy: { multiplier: 'fast' } }, 'restartPolicy.multiplier', ''],
        [{ ...bloxBody('x'), critical: 'yes' }, 'critical', ''],
        [{ ...bloxBody('x'), order: 1e9 }, 'order', ''],
      ];
      for (const [body, field, raw] of cases) {
        const res = await api.call('POST', '/v1/environments', body === undefined ? { raw, headers: { 'content-type': 'application/json' } } : { body });
        expect(res.status, JSON.stringify(body ?? raw)).toBe(400);
        expect(res.body.code).toBe('InvalidInput');
        expect(res.body.field, JSON.stringify(body ?? raw)).toBe(field);
      }
      const expression = await api.call('POST', '/v1/environments', {
        body: { ...bloxBody('x'), instanceGroup: { cluster: 'a', expression: 'attribute:ecs.instance-type in [t2.micro' } },
      });
      expect(expression.body.message).toMatch(/column \d+/);
    });

    it('answers nasty requests with 4xx JSON errors', async () => {
      const nasty: Array<[string, string, Parameters<TestApi['call']>[2], number]> = [
        ['GET', '/v1/environments/%E0%A4%A', {}, 400],
        ['GET', `/v1/environments/${'a'.repeat(5000)}`, {}, 400],
        ['GET', '/v1/environments/..%2F..%2Fetc', {}, 400],
        ['GET', '/v1/environments/%00', {}, 400],
        ['GET', '/v1/environments/%F0%9F%92%A9', {}, 400],
        ['GET', '/v1/environments?colour=red', {}, 400],
        ['GET', '/v1/nothing-here', {}, 404],
        ['GET', '/index.html', {}, 404],
        ['PATCH', '/v1/environments', {}, 405],
        ['DELETE', '/v1/ping', {}, 405],
        [
          'POST',
          '/v1/environments',
          {
            raw: JSON.stringify({ __proto__: { polluted: true }, ...bloxBody('proto') }).replace('{', '{"__proto__":{"x":1},'),
            headers: { 'content-type': 'application/json' },
          },
          400,
        ],
        ['POST', '/v1/environments', { raw: '['.repeat(10_000) + ']'.repeat(10_000), headers: { 'content-type': 'application/json' } }, 400],
        ['POST', '/v1/environments', { raw: Buffer.from([0xff, 0xfe, 0x00, 0x7b]), headers: { 'content-type': 'application/json' } }, 400],
        ['POST', '/v1/environments', { body: { ...bloxBody('x'), taskDefinition: { $gt: '' } } }, 400],
        ['PUT', '/v1/environments/x', { raw: 'null', headers: { 'content-type': 'application/json' } }, 400],
        ['POST', '/v1/environments/x/deployments', { raw: '"token"', headers: { 'content-type': 'application/json' } }, 400],
        ['POST', '/v1/environments/x/deployments?deploymentToken=a&token=b', {}, 400],
        ['POST', '/v1/environments/x/deployments?deploymentToken=a&deploymentToken=a', {}, 400],
      ];
      for (const [method, path, options, status] of nasty) {
        const res = await api.call(method, path, options);
        expect(res.status, `${method} ${path.slice(0, 60)}`).toBe(status);
        expect(res.body.code).toEqual(expect.any(String));
        expect(res.body.requestId).toEqual(expect.any(String));
      }
      expect((await api.call('DELETE', '/v1/ping')).headers.get('allow')).toBe('GET');
    });

    it('answers 503 for previews when ECS is not configured, after validating the input', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('no-ecs') });
      const env = await api.call('GET', '/v1/environments/no-ecs/instances');
      expect(env.status).toBe(503);
      expect(env.body.message).toContain('--check-ecs');
      expect((await api.call('GET', '/v1/environments/nope/instances')).status).toBe(404);
      expect((await api.call('GET', '/v1/preview?cluster=a')).status).toBe(503);
      expect((await api.call('GET', '/v1/preview?cluster=a&expression=attribute%3Ax%20%3D%3D')).body.field).toBe('expression');
      expect((await api.call('GET', '/v1/preview?cluster=a%20b')).body.field).toBe('cluster');
    });

    it('refuses bodies over 64 KiB with 413', async () => {
      const res = await api.call('POST', '/v1/environments', { body: { ...bloxBody('big'), padding: 'x'.repeat(70_000) } });
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('PayloadTooLarge');
      expect((await api.call('GET', '/v1/ping')).status).toBe(200);
    });

    it('wraps an unexpected failure as 500 Internal with a request id', async () => {
      const failing: TableAccess = {
        get: () => Promise.reject(new Error('disk on fire')),
        batchGet: () => Promise.reject(new Error('disk on fire')),
        query: () => Promise.reject(new Error('disk on fire')),
        transact: () => Promise.reject(new Error('disk on fire')),
      };
      const lines: Record<string, unknown>[] = [];
      const broken = await TestApi.start({ store: new EnvironmentStore({ table: failing }) }, lines);
      try {
        const res = await broken.call('GET', '/v1/environments/x');
        expect(res.status).toBe(500);
        expect(res.body.code).toBe('Internal');
        expect(res.body.message).not.toContain('disk on fire');
        expect(res.body.requestId).toBe(res.headers.get('x-request-id'));
        expect(lines.some((l) => l.requestId === res.body.requestId && String(l.msg).includes('disk on fire'))).toBe(true);
        await broken.expectEveryResponseValidated();
      } finally {
        await broken.close();
      }
    });
  });

  describe('serving', () => {
    it('serves the checked-in OpenAPI document', async () => {
      const res = await api.call('GET', '/v1/openapi.json');
      expect(res.body.openapi).toBe('3.1.0');
      expect(res.body).toEqual(JSON.parse(readFileSync(new URL('../../coordinator/openapi.json', import.meta.url), 'utf8')));
    });

    it('serves the read-only web page and its script, which only use documented GET routes', async () => {
      const page = await api.call('GET', '/');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(page.text).toContain('<script src="/ui.js"></script>');
      const script = await api.call('GET', '/ui.js');
      expect(script.headers.get('content-type')).toContain('text/javascript');
      const paths = [...script.text.matchAll(/'(\/v1\/[a-z]+)/g)].map((m) => m[1]);
      expect(new Set(paths)).toEqual(new Set(['/v1/environments', '/v1/instances', '/v1/ping']));
      expect(script.text).not.toMatch(/innerHTML|method:/);
      expect((await api.call('POST', '/')).status).toBe(405);
    });

    it('logs one pino line per request with method, path, status and ms', async () => {
      await api.call('GET', '/v1/ping?');
      const line = api.logLines.filter((l) => l.path === '/v1/ping').at(-1);
      expect(line).toMatchObject({ method: 'GET', path: '/v1/ping', status: 200, msg: 'request' });
      expect(typeof line?.ms).toBe('number');
    });

    it('needs the bearer token for mutating calls when one is configured', async () => {
      const secured = await TestApi.start({ store: t.store, authToken: 's3cret' });
      try {
        expect((await secured.call('POST', '/v1/environments', { body: bloxBody('auth-a') })).status).toBe(401);
        const wrong = await secured.call('POST', '/v1/environments', { body: bloxBody('auth-a'), headers: { authorization: 'Bearer nope' } });
        expect(wrong.status).toBe(401);
        expect(wrong.headers.get('www-authenticate')).toContain('Bearer');
        expect((await secured.call('DELETE', '/v1/environments/auth-a')).status).toBe(401);
        const ok = await secured.call('POST', '/v1/environments', { body: bloxBody('auth-a'), headers: { authorization: 'Bearer s3cret' } });
        expect(ok.status).toBe(200);
        expect((await secured.call('GET', '/v1/environments/auth-a')).status).toBe(200);
        await secured.expectEveryResponseValidated();
      } finally {
        await secured.close();
      }
    });
  });

  it('answered every request through a client that checked the response against the OpenAPI document', async () => {
    await api.expectEveryResponseValidated();
  });
});
