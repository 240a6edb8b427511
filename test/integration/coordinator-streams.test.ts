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
import { createTestTable, instanceStatusItem, stewardWrites, TestApi, type TestTable } from './coordinator-support.js';

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
    const figures = { writes: sorted.length, medianMs: Math.round(quantile(sorted, 0.5)), p95Ms: Math.round(quantile(sorted, 0.95)), maxMs: Math.round(sorted.at(-1) as number) };
    console.log(`stream latency, agent status write -> upsert on /v1/stream/instances: ${JSON.stringify(figures)}`);
    expect(figures.p95Ms).toBeLessThan(1_000);
    const last = watch.events.at(-1);
    const item = (await api.call('GET', '/v1/instances?cluster=alpha')).body.items.find((i: { containerInstanceArn: string }) => i.containerInstanceArn.endsWith('/i-latency'));
    expect(last?.json).toEqual(item);
    // Ids increase within the process.
    const seqs = watch.events.map((e) => Number(e.id?.split('-').at(-1)));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
});
