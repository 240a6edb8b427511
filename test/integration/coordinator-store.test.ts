// The store library against DynamoDB Local: the semantics both the API and `blox --direct` rely on.
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, InvalidInputError, InvalidRecordError, NotFoundError } from '../../core/errors.js';
import { keys } from '../../core/keys.js';
import type { TableAccess } from '../../core/store/dynamo.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { parseCreateEnvironment, parseUpdateEnvironment } from '../../core/store/inputs.js';
import { dynamoDbEndpoint } from '../support/services.js';
import { createTestTable, instanceStatusItem, type TestTable } from './coordinator-support.js';

const endpoint = dynamoDbEndpoint();

const create = (name: string, cluster = 'prod', extra: Record<string, unknown> = {}) =>
  parseCreateEnvironment({ name, taskDefinition: 'logs:1', instanceGroup: { cluster }, ...extra });

describe.skipIf(!endpoint)('environment store (DynamoDB Local)', () => {
  let t: TestTable;
  beforeAll(async () => {
    t = await createTestTable(endpoint, 'store');
  });
  afterAll(async () => {
    await t?.dispose();
  });

  const marker = async (cluster: string) => (await t.store.getChangeMarker(cluster))?.version ?? 0;

  it('creates an environment: revision 1, a pending deployment to it, and a bumped marker', async () => {
    const before = await marker('prod');
    const env = await t.store.createEnvironment(create('logs', 'arn:aws:ecs:us-east-1:123456789012:cluster/prod'));
    expect(env).toMatchObject({
      name: 'logs',
      cluster: 'prod',
      status: 'ACTIVE',
      currentRevision: 1,
      latestRevision: 1,
      taskDefinition: 'logs:1',
      health: 'unknown',
    });
    expect(env.deploymentToken).toBe(env.token);
    expect(env.activeDeployment).toMatchObject({ status: 'pending', targetRevision: 1, paused: false });
    expect(await marker('prod')).toBe(before + 1);
    const revision = await t.store.getRevision('logs', 1);
    expect(revision).toMatchObject({ revision: 1, taskDefinition: 'logs:1', instanceGroup: { cluster: 'prod' } });
    const deployments = await t.store.listDeployments('logs');
    expect(deployments.items).toHaveLength(1);
    expect(deployments.items[0]).toMatchObject({ environmentName: 'logs', status: 'pending', taskDefinition: 'logs:1', failedInstances: [] });
    // the head lives in the cluster partition, where agents query it
    const head = await t.table.get(keys.environment('prod', 'logs'));
    expect(head).toMatchObject({ kind: 'Environment', schemaVersion: 1, currentRevision: 1 });
  });

  it('rejects a second environment of the same name, in any cluster', async () => {
    await t.store.createEnvironment(create('dup', 'prod'));
    await expect(t.store.createEnvironment(create('dup', 'other'))).rejects.toThrow(ConflictError);
    await expect(t.store.createEnvironment(create('dup', 'prod'))).rejects.toThrow(/already exists/);
  });

  it('updates with the token: new revision, deployment, old one superseded; marker +1 per change', async () => {
    const env = await t.store.createEnvironment(create('upd'));
    const m0 = await marker('prod');
    const result = await t.store.updateEnvironment('upd', parseUpdateEnvironment({ token: env.token, taskDefinition: 'logs:2' }, 'upd'));
    expect(result.changed).toBe(true);
    expect(result.environment).toMatchObject({ currentRevision: 2, latestRevision: 2, taskDefinition: 'logs:2' });
    expect(result.environment.token).not.toBe(env.token);
    expect(result.deployment).toMatchObject({ targetRevision: 2, previousRevision: 1, status: 'pending' });
    expect(await marker('prod')).toBe(m0 + 1);
    const first = await t.store.getDeployment('upd', env.activeDeployment?.id as string);
    expect(first.status).toBe('stopped');
    expect(first.reasons).toContain(`superseded by ${result.deployment?.id}`);

    // the old token is stale now
    const stale = await t.store
      .updateEnvironment('upd', parseUpdateEnvironment({ token: env.token, taskDefinition: 'logs:3' }, 'upd'))
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConflictError);
    expect((stale as ConflictError<{ token: string }>).current?.token).toBe(result.environment.token);

    // an unchanged definition writes nothing
    const same = await t.store.updateEnvironment('upd', parseUpdateEnvironment({ token: result.environment.token, taskDefinition: 'logs:2' }, 'upd'));
    expect(same.changed).toBe(false);
    expect(await marker('prod')).toBe(m0 + 1);

    // deploy: false makes a revision without deploying it
    const quiet = await t.store.updateEnvironment(
      'upd',
      parseUpdateEnvironment({ token: result.environment.token, deploymentConfiguration: { maxUnavailable: '25%' }, deploy: false }, 'upd'),
    );
    expect(quiet.environment).toMatchObject({ currentRevision: 2, latestRevision: 3 });
    expect(quiet.deployment).toBeUndefined();
    expect((await t.store.getRevision('upd', 3)).deploymentConfiguration).toMatchObject({ maxUnavailable: '25%', maxSurge: '0' });
    expect(await marker('prod')).toBe(m0 + 2);
  });

  it('refuses to move an environment to another cluster, naming instanceGroup.cluster', async () => {
    const env = await t.store.createEnvironment(create('stay'));
    const error = await t.store
      .updateEnvironment('stay', parseUpdateEnvironment({ token: env.token, instanceGroup: { cluster: 'elsewhere' } }, 'stay'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).field).toBe('instanceGroup.cluster');
  });

  it('lets exactly one of two racing updates win; the other gets a conflict', async () => {
    const env = await t.store.createEnvironment(create('race'));
    const results = await Promise.allSettled([
      t.store.updateEnvironment('race', parseUpdateEnvironment({ token: env.token, taskDefinition: 'logs:7' }, 'race')),
      t.store.updateEnvironment('race', parseUpdateEnvironment({ token: env.token, taskDefinition: 'logs:8' }, 'race')),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toBeInstanceOf(ConflictError);
    expect((await t.store.getEnvironment('race')).latestRevision).toBe(2);
  });

  it('with six racers on one token (separate stores), still exactly one wins and one revision is made', async () => {
    const env = await t.store.createEnvironment(create('crowd'));
    const before = await marker('prod');
    const stores = Array.from({ length: 6 }, () => new EnvironmentStore({ table: t.table }));
    const results = await Promise.allSettled(
      stores.map((s, i) => s.updateEnvironment('crowd', parseUpdateEnvironment({ token: env.token, taskDefinition: `logs:${10 + i}` }, 'crowd'))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
    expect((await t.store.listRevisions('crowd')).items).toHaveLength(2);
    expect((await t.store.listDeployments('crowd')).items.filter((d) => d.status === 'pending')).toHaveLength(1);
    expect(await marker('prod')).toBe(before + 1);
  });

  it('racing creates of one name: exactly one wins', async () => {
    const results = await Promise.allSettled(['prod', 'other', 'prod', 'third'].map((cluster) => t.store.createEnvironment(create('contested', cluster))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
    expect((await t.store.listRevisions('contested')).items).toHaveLength(1);
  });

  it('deletes: DELETING tombstone with a TTL, hidden, second delete harmless, name reusable with continuing revisions', async () => {
    const env = await t.store.createEnvironment(create('gone'));
    const m0 = await marker('prod');
    const deleted = await t.store.deleteEnvironment('gone');
    expect(deleted?.status).toBe('DELETING');
    expect(await marker('prod')).toBe(m0 + 1);
    const head = await t.table.get(keys.environment('prod', 'gone'));
    expect(head).toMatchObject({ status: 'DELETING' });
    expect(typeof head?.expiresAt).toBe('number');
    expect(await t.store.getDeployment('gone', env.activeDeployment?.id as string).catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
    await expect(t.store.getEnvironment('gone')).rejects.toThrow(NotFoundError);
    expect(await t.store.deleteEnvironment('gone')).toBeUndefined();
    expect((await t.store.listEnvironments()).items.map((e) => e.name)).not.toContain('gone');
    const again = await t.store.createEnvironment(create('gone', 'other'));
    expect(again).toMatchObject({ cluster: 'other', currentRevision: 2, latestRevision: 2, status: 'ACTIVE' });
    expect(await t.store.deleteEnvironment('never-was')).toBeUndefined();
  });

  it("re-creates a deleted name when DynamoDB's TTL removes its index between the read and the write", async () => {
    await t.store.createEnvironment(create('expiring'));
    await t.store.deleteEnvironment('expiring');
    // The TTL sweeper runs at any moment: here, after create read the index and before it writes.
    let expireFirst = true;
    const table: TableAccess = {
      get: (key) => t.table.get(key),
      batchGet: (keys) => t.table.batchGet(keys),
      query: (pk, options) => t.table.query(pk, options),
      async transact(ops) {
        if (expireFirst) {
          expireFirst = false;
          for (const key of [keys.environmentIndex('expiring'), keys.environment('prod', 'expiring')]) {
            await t.table.client.send(new DeleteItemCommand({ TableName: t.tableName, Key: marshall(key) }));
          }
        }
        return t.table.transact(ops);
      },
    };
    const store = new EnvironmentStore({ table, clock: t.clock });
    const again = await store.createEnvironment(create('expiring'));
    expect(expireFirst).toBe(false);
    expect(again).toMatchObject({ status: 'ACTIVE', currentRevision: 2 });
    expect(await t.table.get(keys.environmentIndex('expiring'))).toMatchObject({ cluster: 'prod' });
  });

  it('starts, pauses, resumes, stops and rolls back deployments', async () => {
    const env = await t.store.createEnvironment(create('roll'));
    const up = await t.store.updateEnvironment('roll', parseUpdateEnvironment({ token: env.token, taskDefinition: 'logs:2' }, 'roll'));
    const dep = up.deployment!;
    const paused = await t.store.pauseDeployment('roll', dep.id);
    expect(paused.paused).toBe(true);
    expect((await t.store.resumeDeployment('roll', dep.id)).paused).toBe(false);
    const back = await t.store.rollbackDeployment('roll', dep.id);
    expect(back).toMatchObject({ targetRevision: 3, previousRevision: 2, status: 'pending', taskDefinition: 'logs:1' });
    expect((await t.store.getRevision('roll', 3)).copiedFrom).toBe(1);
    expect((await t.store.getDeployment('roll', dep.id)).status).toBe('rolled_back');
    const current = await t.store.getEnvironment('roll');
    expect(current).toMatchObject({ currentRevision: 3, latestRevision: 3, taskDefinition: 'logs:1', activeDeployment: { id: back.id } });
    const again = await t.store.startDeployment('roll', { token: current.token, revision: 2 });
    expect(again).toMatchObject({ targetRevision: 2, previousRevision: 3, taskDefinition: 'logs:2' });
    expect((await t.store.getDeployment('roll', back.id)).reasons).toContain(`superseded by ${again.id}`);
    const stopped = await t.store.stopDeployment('roll', again.id);
    expect(stopped.status).toBe('stopped');
    await expect(t.store.stopDeployment('roll', again.id)).rejects.toThrow(ConflictError);
    await expect(t.store.pauseDeployment('roll', again.id)).rejects.toThrow(ConflictError);
    await expect(t.store.startDeployment('roll', { token: (await t.store.getEnvironment('roll')).token, revision: 99 })).rejects.toThrow(NotFoundError);
    const list = await t.store.listDeployments('roll');
    expect(list.items.map((d) => d.id)).toEqual([again.id, back.id, dep.id, env.activeDeployment?.id]);
  });

  it('paginates with opaque tokens and rejects tokens it did not issue', async () => {
    for (const name of ['page-a', 'page-b', 'page-c']) await t.store.createEnvironment(create(name, 'paging'));
    const first = await t.store.listEnvironments({ cluster: 'paging', limit: 2 });
    expect(first.items.map((e) => e.name)).toEqual(['page-a', 'page-b']);
    expect(first.nextToken).toBeTruthy();
    const second = await t.store.listEnvironments({ cluster: 'paging', limit: 2, nextToken: first.nextToken as string });
    expect(second.items.map((e) => e.name)).toEqual(['page-c']);
    const wrong = await t.store.listEnvironments({ cluster: 'other', nextToken: first.nextToken as string }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(InvalidInputError);
    expect((wrong as InvalidInputError).field).toBe('nextToken');
    await expect(t.store.listEnvironments({ nextToken: 'not a token!' })).rejects.toThrow(/nextToken/);
    await expect(t.store.listEnvironments({ limit: 0 })).rejects.toThrow(/limit/);
  });

  it('reports a malformed hand-written record by record and field, and still lists the others', async () => {
    await t.store.createEnvironment(create('fine', 'mixed'));
    await t.table.put({ ...keys.environmentIndex('broken'), kind: 'EnvironmentIndex', schemaVersion: 1, name: 'broken', cluster: 'mixed' });
    await t.table.put({
      ...keys.environment('mixed', 'broken'),
      kind: 'Environment',
      schemaVersion: 1,
      name: 'broken',
      cluster: 'mixed',
      status: 'ACTIVE',
      health: 'unknown',
      currentRevision: 'one',
      latestRevision: 1,
      token: 't',
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
    });
    const error = await t.store.getEnvironment('broken').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRecordError);
    expect((error as InvalidRecordError).record).toBe('CLUSTER#mixed/ENV#broken');
    expect((error as InvalidRecordError).field).toBe('currentRevision');
    for (const listing of [await t.store.listEnvironments({ cluster: 'mixed' }), await t.store.listEnvironments()]) {
      expect(listing.items.map((e) => e.name)).toContain('fine');
      expect(listing.invalid).toEqual([
        expect.objectContaining({ record: 'CLUSTER#mixed/ENV#broken', field: 'currentRevision', name: 'broken', code: 'InvalidRecord' }),
      ]);
    }
  });

  it("derives health and counts from agents' instance status; lists instances and tasks with filters", async () => {
    await t.store.createEnvironment(create('mon', 'watch'));
    expect((await t.store.getEnvironment('mon')).health).toBe('unknown');
    await t.table.put(
      instanceStatusItem('watch', 'i1', [
        { environment: 'mon', revision: 1, state: 'healthy', taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/watch/t1', lastStatus: 'RUNNING' },
      ]),
    );
    expect((await t.store.getEnvironment('mon')).health).toBe('healthy');
    await t.table.put(
      instanceStatusItem('watch', 'i2', [
        { environment: 'mon', revision: 1, state: 'crash_loop', taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/watch/t2', lastStatus: 'STOPPED' },
      ]),
    );
    await t.table.put({ ...instanceStatusItem('watch', 'i3', []), ready: 'yes' });
    const env = await t.store.getEnvironment('mon');
    expect(env.health).toBe('unhealthy');
    expect(env.instances).toEqual({ reporting: 2, healthy: 1, unhealthy: 1, onCurrentRevision: 2 });
    const instances = await t.store.listInstances({ cluster: 'watch' });
    expect(instances.items.map((i) => i.containerInstanceArn.split('/').pop())).toEqual(['i1', 'i2']);
    expect(instances.invalid).toEqual([expect.objectContaining({ record: 'CLUSTER#watch/INSTANCE#i3', field: 'ready' })]);
    expect((await t.store.listInstances({ cluster: 'watch', status: 'ready' })).items).toHaveLength(1);
    const all = await t.store.listInstances({ limit: 100 });
    expect(all.items.length).toBeGreaterThanOrEqual(2);
    const tasks = await t.store.listTasks({ cluster: 'watch', status: 'running' });
    expect(tasks.items).toEqual([
      expect.objectContaining({ taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/watch/t1', environmentName: 'mon', lastStatus: 'RUNNING' }),
    ]);
    // walking every cluster one record at a time visits each instance once
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await t.store.listInstances({ limit: 1, ...(token ? { nextToken: token } : {}) });
      seen.push(...page.items.map((i) => i.containerInstanceArn));
      token = page.nextToken;
    } while (token);
    expect(seen.filter((a) => a.includes('/watch/'))).toHaveLength(2);
    expect(new Set(seen).size).toBe(seen.length);
  });
});
