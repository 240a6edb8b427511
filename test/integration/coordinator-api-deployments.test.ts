// The coordinator's HTTP API against DynamoDB Local: updates and revisions, and the operator's
// control of deployments (stop, pause, resume, rollback, promote) with what the agents' steward
// writes into them. TestApi checks every response against coordinator/openapi.json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../core/keys.js';
import { parseRolloutControl } from '../../core/records.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { dynamoDbEndpoint } from '../support/services.js';
import { createTestTable, TestApi, type TestTable } from './coordinator-support.js';

const endpoint = dynamoDbEndpoint();
const bloxBody = (name: string, cluster = 'alpha', taskDefinition = 'logs:1') => ({ name, instanceGroup: { cluster }, taskDefinition });

describe.skipIf(!endpoint)('coordinator API: revisions and deployments (DynamoDB Local)', () => {
  let t: TestTable;
  let api: TestApi;
  beforeAll(async () => {
    t = await createTestTable(endpoint, 'deployments');
    api = await TestApi.start({ store: t.store });
  });
  afterAll(async () => {
    await api?.close();
    await t?.dispose();
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
      // The agents admit the rest of the fleet from here; an unlimited rollout's spread begins now.
      const control = parseRolloutControl(await t.table.get(keys.rolloutControl('canaried')));
      expect(control).toMatchObject({ deploymentId: id, phase: 'rolling', rollingAt: expect.stringMatching(/^\d{4}-/) });
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

  it('answered every request through a client that checked the response against the OpenAPI document', async () => {
    await api.expectEveryResponseValidated();
  });
});
