// The live feeds (/v1/stream/*) of the real coordinator over DynamoDB Local's Streams API: agents'
// status writes and deployment changes as they reach clients, resuming with Last-Event-ID, snapshots
// for unknown ids, filters, the bound on a slow client, curl as a peer, and a table without a stream.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTable } from '../../core/store/dynamo.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { keys } from '../../core/keys.js';
import type { LiveFeeds } from '../../coordinator/streams/feeds.js';
import { startTableFeeds } from '../../coordinator/streams/start.js';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/server.js';
import { dynamoDbClient, dynamoDbEndpoint, localCredentials } from '../support/services.js';
import { StreamWatch } from '../support/sse-watch.js';
import { waitFor } from '../support/wait.js';
import { blox, createTestTable, instanceStatusItem, stewardWrites, TestApi, type TestTable } from './coordinator-support.js';

const endpoint = dynamoDbEndpoint();

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

describe.skipIf(!endpoint)('coordinator live feeds (DynamoDB Local streams)', () => {
  let t: TestTable;
  let feeds: LiveFeeds;
  let api: TestApi;
  const logLines: Record<string, unknown>[] = [];
  const watches: StreamWatch[] = [];
  const open = async (path: string, options: { lastEventId?: string } = {}) => {
    const watch = await StreamWatch.open(`${api.coordinator.url}${path}`, options);
    watches.push(watch);
    return watch;
  };
  const status = (cluster: string, id: string, extra: Record<string, unknown> = {}, taskArn?: string) =>
    t.table.put(
      instanceStatusItem(cluster, id, [{ environment: 'logs', revision: 1, state: 'running', ...(taskArn ? { taskArn, lastStatus: 'RUNNING' } : {}) }], {
        updatedAt: new Date().toISOString(),
        ...extra,
      }),
    );

  beforeAll(async () => {
    t = await createTestTable(endpoint, 'streams');
    currentTable = t.tableName;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    feeds = await startTableFeeds({ table: t.table, store: t.store, logger: pino({ base: undefined }, sink), keepaliveMs: 500, clientBufferBytes: 256 * 1024 });
    api = await TestApi.start({ store: t.store, streams: feeds }, logLines);
  });
  afterAll(async () => {
    for (const watch of watches) watch.close();
    await api?.close();
    await t?.dispose();
  });

  it('begins with retry and a snapshot shaped as the list route, then an agent status write arrives as an upsert within a second', async () => {
    await status('alpha', 'i-snap');
    const listed = await api.call('GET', '/v1/instances?cluster=alpha');
    const watch = await open('/v1/stream/instances?cluster=alpha');
    const snapshot = await watch.next('the snapshot', (e) => e.event === 'snapshot');
    expect(watch.events[0]?.event).toBe('snapshot');
    expect(snapshot.id).toMatch(/^[a-z0-9]+-\d+$/);
    expect(snapshot.json.items).toEqual(listed.body.items);

    const latencies: number[] = [];
    for (let i = 0; i < 50; i++) {
      const from = watch.events.length;
      const written = performance.now();
      await status('alpha', 'i-latency', { agentVersion: `0.1.${i}` });
      const event = await watch.next(`upsert ${i}`, (e) => e.event === 'upsert' && e.json.agentVersion === `0.1.${i}`, from);
      latencies.push(event.at - written);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const figures = {
      writes: sorted.length,
      medianMs: Math.round(quantile(sorted, 0.5)),
      p95Ms: Math.round(quantile(sorted, 0.95)),
      maxMs: Math.round(sorted.at(-1) as number),
    };
    console.log(`stream latency, agent status write -> upsert on /v1/stream/instances: ${JSON.stringify(figures)}`);
    expect(figures.p95Ms).toBeLessThan(1_000);
    const last = watch.events.at(-1);
    const item = (await api.call('GET', '/v1/instances?cluster=alpha')).body.items.find((i: { containerInstanceArn: string }) =>
      i.containerInstanceArn.endsWith('/i-latency'),
    );
    expect(last?.json).toEqual(item);
    // Ids increase within the process.
    const seqs = watch.events.map((e) => Number(e.id?.split('-').at(-1)));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
  it('resumes after the Last-Event-ID it holds with no gap and no snapshot (header or ?lastEventId=); an unknown or old id gets a snapshot', async () => {
    const first = await open('/v1/stream/instances?cluster=beta');
    await first.next('the snapshot', (e) => e.event === 'snapshot');
    await status('beta', 'i-resume', { agentVersion: 'r0' });
    const seen = await first.next('r0', (e) => e.json.agentVersion === 'r0');
    first.close();
    for (let i = 1; i <= 3; i++) await status('beta', 'i-resume', { agentVersion: `r${i}` });
    for (const how of ['header', 'query'] as const) {
      const resumed =
        how === 'header'
          ? await open('/v1/stream/instances?cluster=beta', { lastEventId: seen.id as string })
          : await open(`/v1/stream/instances?cluster=beta&lastEventId=${encodeURIComponent(seen.id as string)}`);
      await resumed.next('r3', (e) => e.json.agentVersion === 'r3');
      expect(
        resumed.events.map((e) => `${e.event} ${e.json.agentVersion}`),
        how,
      ).toEqual(['upsert r1', 'upsert r2', 'upsert r3']);
      resumed.close();
    }
    const epoch = (seen.id as string).split('-')[0] as string;
    for (const id of ['0-5', `${epoch}x-3`, `${epoch}-999999999`, 'garbage']) {
      const fresh = await open('/v1/stream/instances?cluster=beta', { lastEventId: id });
      const snapshot = await fresh.next('a snapshot', (e) => e.event === 'snapshot');
      expect(fresh.events[0], id).toBe(snapshot);
      expect(snapshot.json.items.map((i: { agentVersion: string }) => i.agentVersion)).toEqual(['r3']);
      fresh.close();
    }
  });

  it('a write made while the snapshot is read is not lost', async () => {
    // Many clients snapshot while writes go on: each must end at the last write.
    const writes = (async () => {
      for (let i = 0; i < 10; i++) await status('gamma', 'i-race', { agentVersion: `g${i}` });
    })();
    const clients = await Promise.all(Array.from({ length: 5 }, () => open('/v1/stream/instances?cluster=gamma')));
    await writes;
    for (const client of clients) {
      await client.next('the last write', (e) =>
        e.event === 'snapshot' ? e.json.items.some((i: { agentVersion: string }) => i.agentVersion === 'g9') : e.json.agentVersion === 'g9',
      );
      client.close();
    }
  });

  it('filters by cluster; tasks come and go with the status record; a removed record is removed', async () => {
    const deltaTasks = await open('/v1/stream/tasks?cluster=delta');
    const deltaInstances = await open('/v1/stream/instances?cluster=delta');
    const all = await open('/v1/stream/tasks');
    await status('epsilon', 'i-other', {}, 'arn:aws:ecs:us-east-1:123456789012:task/epsilon/t-other');
    await status('delta', 'i-task', {}, 'arn:aws:ecs:us-east-1:123456789012:task/delta/t-1');
    const upsert = await deltaTasks.next('the task', (e) => e.event === 'upsert');
    const listed = await api.call('GET', '/v1/tasks?cluster=delta');
    expect(upsert.json).toEqual(listed.body.items[0]);
    await all.next('the other cluster task', (e) => e.event === 'upsert' && e.json.cluster === 'epsilon');
    // the daemon's task is gone from the record: removed
    await status('delta', 'i-task');
    const removed = await deltaTasks.next('the task removed', (e) => e.event === 'remove');
    expect(removed.json).toEqual({ key: { taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/delta/t-1' } });
    await t.table.transact([{ kind: 'check', key: keys.instanceStatus('delta', 'i-task'), condition: { expression: 'attribute_exists(pk)' } }]);
    await deleteItem(keys.instanceStatus('delta', 'i-task'));
    const gone = await deltaInstances.next('the instance removed', (e) => e.event === 'remove');
    expect(gone.json).toEqual({ key: { cluster: 'delta', containerInstanceId: 'i-task' } });
    expect(deltaTasks.events.some((e) => e.data.includes('epsilon'))).toBe(false);
    expect(deltaInstances.events.filter((e) => e.event !== 'snapshot').every((e) => e.data.includes('delta'))).toBe(true);
  });

  it('an instance whose agent stops writing leaves the stream when its heartbeat lapses, as it leaves GET /v1/instances', async () => {
    const watch = await open('/v1/stream/instances?cluster=iota');
    await watch.next('the snapshot', (e) => e.event === 'snapshot');
    const validUntil = Math.ceil(Date.now() / 1000) + 2;
    await t.table.put({
      pk: 'INSTANCE#i-dying',
      sk: 'HEARTBEAT',
      kind: 'InstanceHeartbeat',
      schemaVersion: 1,
      cluster: 'iota',
      containerInstanceId: 'i-dying',
      owner: 'agent-x',
      recordVersion: 'v1',
      leaseDurationMs: 2_000,
      released: false,
      agentVersion: '0.1.0',
      updatedAt: new Date().toISOString(),
      validUntil,
      expiresAt: 4_000_000_000,
    });
    await status('iota', 'i-dying');
    await watch.next('the upsert', (e) => e.event === 'upsert');
    const removed = await watch.next('the removal by time', (e) => e.event === 'remove', 0, 8_000);
    expect(removed.json).toEqual({ key: { cluster: 'iota', containerInstanceId: 'i-dying' } });
    expect(Date.now()).toBeGreaterThanOrEqual(validUntil * 1000);
    // The list route says the same at the same time (this suite's store runs on a test clock: ask one on the system clock).
    expect((await new EnvironmentStore({ table: t.table }).listInstances({ cluster: 'iota' })).items).toEqual([]);
  });

  it('a deployment change appears on /v1/stream/deployments, shaped as the list route item with environment set; filtered by environment', async () => {
    const everything = await open('/v1/stream/deployments');
    await everything.next('the snapshot', (e) => e.event === 'snapshot');
    const created = await t.store.createEnvironment({ name: 'web', instanceGroup: { cluster: 'zeta' }, taskDefinition: 'web:7' } as never);
    const id = created.activeDeployment?.id as string;
    const inserted = await everything.next('the new deployment', (e) => e.event === 'upsert' && e.json.id === id);
    expect(inserted.json).toMatchObject({ environment: 'web', environmentName: 'web', taskDefinition: 'web:7', status: 'pending' });
    const watch = await open('/v1/stream/deployments?environment=web');
    const snapshot = await watch.next('the snapshot', (e) => e.event === 'snapshot');
    const listedBefore = await api.call('GET', '/v1/environments/web/deployments');
    expect(snapshot.json.items).toEqual(listedBefore.body.items.map((d: object) => ({ ...d, environment: 'web' })));
    await stewardWrites(t, 'web', id, { status: 'in_progress' });
    const progressed = await watch.next('in_progress', (e) => e.event === 'upsert' && e.json.status === 'in_progress');
    const listed = await api.call('GET', '/v1/environments/web/deployments');
    expect(progressed.json).toEqual({ ...listed.body.items[0], environment: 'web' });
    await t.store.createEnvironment({ name: 'other', instanceGroup: { cluster: 'zeta' }, taskDefinition: 'other:1' } as never);
    await everything.next('the other environment', (e) => e.event === 'upsert' && e.json.environment === 'other');
    expect(watch.events.some((e) => e.data.includes('"other"'))).toBe(false);
    expect((await api.call('GET', '/v1/stream/deployments?environment=nope')).status).toBe(404);
  });

  it('blox deploy status --watch follows the deployments stream: a change shows at once, not at the next poll', async () => {
    const created = await t.store.createEnvironment({ name: 'watched', instanceGroup: { cluster: 'eta' }, taskDefinition: 'logs:1' } as never);
    const id = created.activeDeployment?.id as string;
    const before = feeds.clientCounts.deployments;
    const started = performance.now();
    // A 30 s interval: only the stream can end this watch within seconds.
    const watching = blox(['deploy', 'status', 'watched', '--watch', '--interval', '30', '-o', 'json', '--endpoint', api.coordinator.url]);
    await waitFor('the watch on the stream', 5_000, () => feeds.clientCounts.deployments > before);
    await stewardWrites(t, 'watched', id, { status: 'completed', finishedAt: '2026-01-01T00:10:00.000Z' });
    const done = await watching;
    expect(done.code).toBe(0);
    expect(done.json).toMatchObject({ deployment: id, status: 'completed' });
    expect(performance.now() - started).toBeLessThan(10_000);
    await waitFor('the watch closed its stream', 5_000, () => feeds.clientCounts.deployments === before);
  });

  it("refuses bad filters with the API's usual 400", async () => {
    expect((await api.call('GET', '/v1/stream/instances?environment=web')).body).toMatchObject({ code: 'InvalidInput', field: 'environment' });
    expect((await api.call('GET', '/v1/stream/tasks?cluster=')).body).toMatchObject({ code: 'InvalidInput', field: 'cluster' });
    expect((await api.call('GET', '/v1/stream/deployments?environment=bad%20name')).status).toBe(400);
  });

  it('cuts a client that does not read (its buffer stays bounded) and logs it', async () => {
    const before = feeds.clientCounts.instances;
    const url = new URL(`${api.coordinator.url}/v1/stream/instances?cluster=slow`);
    const socket = connect(Number(url.port), url.hostname);
    let received = 0;
    let closed = false;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('close', () => (closed = true));
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    await waitFor('the client connected', 5_000, () => feeds.clientCounts.instances > before);
    socket.pause();
    const big = 'x'.repeat(100_000);
    for (let i = 0; i < 80 && feeds.clientCounts.instances > before; i++)
      await status('slow', `i-big-${i % 4}`, { lastError: { message: `${i} ${big}`, at: '2026-01-01T00:00:00.000Z' } });
    await waitFor('the slow client cut', 10_000, () => feeds.clientCounts.instances === before);
    expect(logLines.some((l) => String(l.msg).startsWith('stream client too slow'))).toBe(true);
    socket.resume();
    await waitFor('the connection closed', 5_000, () => closed);
    // It got far less than was written (80 x 100 kB): the rest was never buffered for it.
    expect(received).toBeLessThan(80 * 100_000);
    socket.destroy();
  });

  it('works with curl -N as the peer, keepalive comments included', async () => {
    const curl = spawn('curl', ['-N', '-s', '--max-time', '3', `${api.coordinator.url}/v1/stream/instances?cluster=curl`]);
    let output = '';
    curl.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    await waitFor('curl got the snapshot', 5_000, () => output.includes('event: snapshot'));
    await status('curl', 'i-curl', { agentVersion: 'via-curl' });
    await waitFor('curl got the upsert and a keepalive', 5_000, () => output.includes('via-curl') && output.includes(': keepalive'));
    await new Promise((resolve) => curl.once('exit', resolve));
    expect(output.startsWith('retry: 1000\n\n')).toBe(true);
    expect(output).toMatch(/id: [a-z0-9]+-\d+\nevent: upsert\ndata: \{.*"via-curl"/);
  });
});

async function deleteItem(key: { pk: string; sk: string }): Promise<void> {
  const { DeleteItemCommand } = await import('@aws-sdk/client-dynamodb');
  const { marshall } = await import('@aws-sdk/util-dynamodb');
  const client = dynamoDbClient(endpoint);
  try {
    await client.send(new DeleteItemCommand({ TableName: currentTable, Key: marshall(key) }));
  } finally {
    client.destroy();
  }
}
let currentTable = '';

describe.skipIf(!endpoint)('a table created without a stream', () => {
  let table: DynamoTable;
  let feeds: LiveFeeds;
  let coordinator: RunningCoordinator;
  const tableName = `nostream-${Date.now().toString(36)}`;
  beforeAll(async () => {
    const client = dynamoDbClient(endpoint);
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
    client.destroy();
    table = new DynamoTable({ tableName, endpoint, region: 'us-east-1', credentials: localCredentials });
    const store = new EnvironmentStore({ table });
    feeds = await startTableFeeds({ table, store, logger: pino({ level: 'silent' }), stream: { retryUnavailableMs: 200 } });
    coordinator = await startCoordinator({ store, streams: feeds, logger: pino({ level: 'silent' }), listen: '127.0.0.1:0' });
  });
  afterAll(async () => {
    await coordinator?.close();
    table?.destroy();
  });

  it('answers 503 naming the fix; the rest of the API works; once `blox table create` adds the stream, the feeds serve', async () => {
    const res = await fetch(`${coordinator.url}/v1/stream/instances`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('Unavailable');
    expect(body.message).toContain(
      `aws dynamodb update-table --table-name ${tableName} --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES`,
    );
    expect((await fetch(`${coordinator.url}/v1/instances`)).status).toBe(200);
    expect(await table.createTable()).toBe(false);
    await waitFor('the feeds available', 10_000, async () => (await fetch(`${coordinator.url}/v1/stream/tasks`, { method: 'HEAD' })).status === 200);
  });

  it('blox deploy status --watch polls a coordinator whose feeds are unavailable', async () => {
    const other = await createTestTable(endpoint, 'nostream-cli');
    const unavailable = await startCoordinator({ store: other.store, logger: pino({ level: 'silent' }), listen: '127.0.0.1:0' });
    try {
      expect((await fetch(`${unavailable.url}/v1/stream/deployments`)).status).toBe(503);
      const created = await other.store.createEnvironment({ name: 'polled', instanceGroup: { cluster: 'theta' }, taskDefinition: 'logs:1' } as never);
      const id = created.activeDeployment?.id as string;
      const watching = blox(['deploy', 'status', 'polled', '--watch', '--interval', '0.1', '-o', 'json', '--endpoint', unavailable.url]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await stewardWrites(other, 'polled', id, { status: 'completed', finishedAt: '2026-01-01T00:10:00.000Z' });
      const done = await watching;
      expect(done.code).toBe(0);
      expect(done.json).toMatchObject({ deployment: id, status: 'completed' });
    } finally {
      await unavailable.close();
      await other.dispose();
    }
  });
});
