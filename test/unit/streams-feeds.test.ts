// The pure parts of the live feeds (changes -> feed events, the bounded log and its ids, the SSE
// parser) and the feeds' snapshot ordering with a scripted source and store, over a loopback server.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SseParser } from '../../coordinator/cli/sse-client.js';
import { feedEventsOf, type ChangeSink, type ChangeSource, type TableChange } from '../../coordinator/streams/changes.js';
import { EventIds, EventLog } from '../../coordinator/streams/event-log.js';
import { LiveFeeds } from '../../coordinator/streams/feeds.js';
import { Liveness } from '../../coordinator/streams/liveness.js';
import type { EnvironmentStore } from '../../core/store/environments.js';
import { instanceView, taskViews } from '../../core/store/views.js';
import { parseInstanceStatus } from '../../core/records.js';
import { NotFoundError } from '../../core/errors.js';

const status = (id: string, daemons: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}) => ({
  pk: 'CLUSTER#c',
  sk: `INSTANCE#${id}`,
  kind: 'InstanceStatus',
  schemaVersion: 1,
  cluster: 'c',
  containerInstanceArn: `arn:aws:ecs:us-east-1:123456789012:container-instance/c/${id}`,
  agentVersion: '1',
  ready: true,
  degraded: false,
  daemons: daemons.map((d) => ({
    environment: 'logs',
    revision: 1,
    taskDefinition: 'logs:1',
    state: 'running',
    restarts: 0,
    since: '2026-01-01T00:00:00.000Z',
    ...d,
  })),
  updatedAt: '2026-01-01T00:00:00.000Z',
  expiresAt: 4_000_000_000,
  ...extra,
});
const key = (item: { pk: string; sk: string }) => ({ pk: item.pk, sk: item.sk });
const noRevisions = () => undefined;

describe('feedEventsOf', () => {
  it('an instance status write: the instance upsert in the list view, its tasks upserted and the ones gone removed', () => {
    const before = status('i-1', [{ taskArn: 'task/a' }, { environment: 'metrics', taskArn: 'task/b' }]);
    const after = status('i-1', [{ taskArn: 'task/a', state: 'healthy' }], { updatedAt: '2026-01-01T00:01:00.000Z' });
    const events = feedEventsOf({ eventName: 'MODIFY', key: key(after), oldImage: before, newImage: after }, noRevisions);
    expect(events).toEqual([
      { feed: 'instances', type: 'upsert', scope: 'c', data: instanceView(parseInstanceStatus(after)) },
      { feed: 'tasks', type: 'upsert', scope: 'c', data: taskViews(parseInstanceStatus(after))[0] },
      { feed: 'tasks', type: 'remove', scope: 'c', data: { key: { taskArn: 'task/b' } } },
    ]);
  });

  it('a rewrite that changes nothing a client sees gives no event; a TTL removal removes the instance and its tasks', () => {
    const item = status('i-2', [{ taskArn: 'task/c' }]);
    expect(feedEventsOf({ eventName: 'MODIFY', key: key(item), oldImage: item, newImage: { ...item } }, noRevisions)).toEqual([]);
    expect(feedEventsOf({ eventName: 'REMOVE', key: key(item), oldImage: item }, noRevisions)).toEqual([
      { feed: 'instances', type: 'remove', scope: 'c', data: { key: { cluster: 'c', containerInstanceId: 'i-2' } } },
      { feed: 'tasks', type: 'remove', scope: 'c', data: { key: { taskArn: 'task/c' } } },
    ]);
  });

  it('a record that breaks the contract is removed (the list route does not show it either); other records give nothing', () => {
    const broken = { ...status('i-3', []), ready: 'yes' };
    expect(feedEventsOf({ eventName: 'MODIFY', key: key(broken), newImage: broken }, noRevisions)).toEqual([
      { feed: 'instances', type: 'remove', scope: 'c', data: { key: { cluster: 'c', containerInstanceId: 'i-3' } } },
    ]);
    expect(feedEventsOf({ eventName: 'MODIFY', key: { pk: 'CLUSTER#c', sk: 'MARKER' }, newImage: {} }, noRevisions)).toEqual([]);
    expect(feedEventsOf({ eventName: 'INSERT', key: { pk: 'ENV#web', sk: 'DEP#x' }, newImage: { kind: 'Deployment' } }, noRevisions)).toEqual([
      { feed: 'deployments', type: 'remove', scope: 'web', data: { key: { environment: 'web', deploymentId: 'x' } } },
    ]);
  });
});

const heartbeat = (id: string, validUntil: number) => ({
  pk: `INSTANCE#${id}`,
  sk: 'HEARTBEAT',
  kind: 'InstanceHeartbeat',
  schemaVersion: 1,
  cluster: 'c',
  containerInstanceId: id,
  owner: 'agent-1',
  recordVersion: String(validUntil),
  leaseDurationMs: 30_000,
  released: false,
  agentVersion: '1',
  updatedAt: '2026-01-01T00:00:00.000Z',
  validUntil,
  expiresAt: 4_000_000_000,
});

describe('Liveness', () => {
  it('removes an instance and its tasks once its heartbeat lapses, shows it again when a heartbeat revives it, forgets removed records', () => {
    const liveness = new Liveness();
    const item = status('i-9', [{ taskArn: 'task/z' }], { expiresAt: 2_000 });
    expect(liveness.observe({ eventName: 'INSERT', key: key(item), newImage: item }, 0)).toEqual([]);
    liveness.observe({ eventName: 'MODIFY', key: key(heartbeat('i-9', 100)), newImage: heartbeat('i-9', 100) }, 0);
    expect(liveness.expire(99_000)).toEqual([]);
    expect(liveness.expire(100_000)).toEqual([
      { feed: 'instances', type: 'remove', scope: 'c', data: { key: { cluster: 'c', containerInstanceId: 'i-9' } } },
      { feed: 'tasks', type: 'remove', scope: 'c', data: { key: { taskArn: 'task/z' } } },
    ]);
    expect(liveness.expire(101_000)).toEqual([]);
    const revived = liveness.observe({ eventName: 'MODIFY', key: key(heartbeat('i-9', 500)), newImage: heartbeat('i-9', 500) }, 101_000);
    expect(revived.map((e) => `${e.feed} ${e.type}`)).toEqual(['instances upsert', 'tasks upsert']);
    // Its own expiresAt (2000 s) passes: removed and forgotten.
    expect(liveness.expire(2_000_000)).toHaveLength(2);
    expect(liveness.size).toBe(0);
    liveness.observe({ eventName: 'INSERT', key: key(item), newImage: item }, 0);
    liveness.observe({ eventName: 'REMOVE', key: key(item), oldImage: item }, 0);
    expect(liveness.size).toBe(0);
  });
});

describe('EventIds and EventLog', () => {
  it('ids carry the epoch; another epoch, a future seq or garbage is not resumable', () => {
    const ids = new EventIds('ep');
    const seq = ids.next();
    expect(ids.format(seq)).toBe('ep-1');
    expect(ids.parse('ep-1')).toBe(1);
    expect(ids.parse('other-1')).toBeUndefined();
    expect(ids.parse('ep-2')).toBeUndefined();
    expect(ids.parse('ep-x')).toBeUndefined();
    expect(ids.parse(undefined)).toBeUndefined();
  });

  it('holds at most its bound; an id older than what it holds is refused; a cleared log refuses every earlier id', () => {
    const log = new EventLog(3, 1_000);
    for (let seq = 1; seq <= 5; seq++) log.append({ seq, at: seq * 10, scope: 'c', frame: `f${seq}` });
    expect(log.size.events).toBe(3);
    expect(log.after(1)).toBeUndefined();
    expect(log.after(2)?.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(log.after(4)?.map((e) => e.seq)).toEqual([5]);
    expect(log.seqBefore(35, 5)).toBe(3);
    expect(log.seqBefore(10, 5)).toBe(2);
    const bytes = new EventLog(100, 10);
    for (let seq = 1; seq <= 4; seq++) bytes.append({ seq, at: 0, scope: 'c', frame: 'xxxx' });
    expect(bytes.size).toEqual({ events: 2, bytes: 8 });
    log.clear(6);
    expect(log.after(5)).toBeUndefined();
    expect(log.after(6)).toEqual([]);
  });
});

describe('SseParser', () => {
  it('parses frames split anywhere, skips comments and keeps the last id', () => {
    const parser = new SseParser();
    const text = 'retry: 1000\n\n: keepalive\n\nid: e-1\nevent: snapshot\ndata: {"items":[]}\n\nid: e-2\nevent: upsert\ndata: {"a":1}\n\n';
    const events = [...text].flatMap((c) => parser.push(c));
    expect(events).toEqual([
      { id: 'e-1', event: 'snapshot', data: '{"items":[]}' },
      { id: 'e-2', event: 'upsert', data: '{"a":1}' },
    ]);
  });
});

/** A store whose instance list is held until `release()`: a snapshot being read. */
function heldSnapshot(items: () => unknown[]) {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const state = { reading: false };
  const store = {
    listInstances: async () => {
      state.reading = true;
      await held;
      return { items: items() };
    },
  } as unknown as EnvironmentStore;
  const whileReading = async () => {
    while (!state.reading) await new Promise((r) => setTimeout(r, 5));
  };
  return { store, release, whileReading };
}

describe('LiveFeeds', () => {
  let server: Server | undefined;
  let feeds: LiveFeeds | undefined;
  afterEach(async () => {
    await feeds?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  it('replays after the snapshot what arrived while it was read; ids increase; close ends the streams', async () => {
    let sink: ChangeSink | undefined;
    const source: ChangeSource = {
      unavailable: undefined,
      start: async (s) => void (sink = s),
      close: async () => undefined,
    };
    const snapshot = heldSnapshot(() => [instanceView(parseInstanceStatus(status('i-old', [])))]);
    const { store } = snapshot;
    feeds = await LiveFeeds.start({ source, store, logger: pino({ level: 'silent' }) });
    const live = feeds;
    server = createServer((req, res) => {
      void live.open({ feed: 'instances' }).then((write) => write(req, res, {}));
    });
    await new Promise<void>((resolve) => (server as Server).listen(0, '127.0.0.1', resolve));
    // The answer begins once the snapshot is read (an error before it is a plain JSON error).
    const responding = fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await snapshot.whileReading();
    // A write lands while the snapshot is being read.
    const during = status('i-new', []);
    await sink?.changes([{ eventName: 'INSERT', key: key(during), newImage: during } as TableChange]);
    snapshot.release();
    const reader = ((await responding).body as ReadableStream<Uint8Array>).getReader();
    const parser = new SseParser();
    const events: Array<{ id?: string; event: string; data: string }> = [];
    const decoder = new TextDecoder();
    while (events.length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      events.push(...parser.push(decoder.decode(value)));
    }
    expect(events.map((e) => e.event)).toEqual(['snapshot', 'upsert']);
    expect(JSON.parse(events[1]?.data as string).containerInstanceArn).toMatch(/i-new$/);
    const seqs = events.map((e) => Number(e.id?.split('-').at(-1)));
    expect(seqs[0]).toBeLessThan(seqs[1] as number);
    expect(feeds.clientCounts.instances).toBe(1);
    await feeds.close();
    expect((await reader.read()).done).toBe(true);
    expect(feeds.clientCounts.instances).toBe(0);
  });

  it('does not keep a client whose connection closed while its snapshot was read', async () => {
    const source: ChangeSource = { unavailable: undefined, start: async () => undefined, close: async () => undefined };
    const snapshot = heldSnapshot(() => []);
    feeds = await LiveFeeds.start({ source, store: snapshot.store, logger: pino({ level: 'silent' }) });
    const live = feeds;
    let written: () => void = () => undefined;
    const wrote = new Promise<void>((resolve) => (written = resolve));
    server = createServer((req, res) => {
      void live.open({ feed: 'instances' }).then((write) => {
        write(req, res, {});
        written();
      });
    });
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    const abort = new AbortController();
    const responding = fetch(`http://127.0.0.1:${(listening.address() as AddressInfo).port}/`, { signal: abort.signal }).catch(() => undefined);
    await snapshot.whileReading();
    // The client gives up while the snapshot is read: its connection is closed before the stream begins.
    abort.abort();
    await responding;
    while ((await new Promise<number>((r) => listening.getConnections((_e, n) => r(n)))) > 0) await new Promise((r) => setTimeout(r, 5));
    snapshot.release();
    await wrote;
    expect(live.clientCounts.instances).toBe(0);
  });

  it('a deployments snapshot of every environment leaves out one deleted while it is read (no 404 for the whole stream)', async () => {
    const source: ChangeSource = { unavailable: undefined, start: async () => undefined, close: async () => undefined };
    const store = {
      listEnvironments: async () => ({ items: [{ name: 'gone' }, { name: 'kept' }] }),
      listDeployments: async (name: string) => {
        if (name === 'gone') throw new NotFoundError('environment gone');
        return { items: [{ environmentName: 'kept', deploymentId: 'd-1' }] };
      },
    } as unknown as EnvironmentStore;
    feeds = await LiveFeeds.start({ source, store, logger: pino({ level: 'silent' }) });
    const live = feeds;
    server = createServer((req, res) => {
      void live.open({ feed: 'deployments' }).then(
        (write) => write(req, res, {}),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    });
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    const response = await fetch(`http://127.0.0.1:${(listening.address() as AddressInfo).port}/`);
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const events: Array<{ event: string; data: string }> = [];
    while (events.length < 1) {
      const { value, done } = await reader.read();
      if (done) break;
      events.push(...parser.push(decoder.decode(value)));
    }
    expect(events[0]?.event).toBe('snapshot');
    expect(JSON.parse(events[0]?.data as string).items.map((d: { deploymentId: string }) => d.deploymentId)).toEqual(['d-1']);
    await reader.cancel();
  });
});

describe('LiveFeeds bounds', () => {
  const source: ChangeSource = { unavailable: undefined, start: async () => undefined, close: async () => undefined };
  let feeds: LiveFeeds | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    await feeds?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  it('answers 503 past its bound of snapshots read at once, and serves again once one is read', async () => {
    const snapshot = heldSnapshot(() => []);
    feeds = await LiveFeeds.start({ source, store: snapshot.store, logger: pino({ level: 'silent' }), maxSnapshots: 1 });
    const first = feeds.open({ feed: 'instances' });
    await snapshot.whileReading();
    await expect(feeds.open({ feed: 'instances' })).rejects.toMatchObject({ code: 'Unavailable', message: expect.stringContaining('1 stream snapshots') });
    snapshot.release();
    await first;
    await expect(feeds.open({ feed: 'instances' })).resolves.toBeTypeOf('function');
  });

  it('answers 503 past its bound of open streams, and serves again once one closes', async () => {
    const store = { listInstances: async () => ({ items: [] }) } as unknown as EnvironmentStore;
    feeds = await LiveFeeds.start({ source, store, logger: pino({ level: 'silent' }), maxClients: 2 });
    const live = feeds;
    server = createServer((req, res) => {
      void live.open({ feed: 'instances' }).then(
        (write) => write(req, res, {}),
        (error: unknown) => res.writeHead(503).end(String(error)),
      );
    });
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(listening.address() as AddressInfo).port}/`;
    const aborts = [new AbortController(), new AbortController()];
    const open = await Promise.all(aborts.map((a) => fetch(url, { signal: a.signal })));
    expect(open.map((r) => r.status)).toEqual([200, 200]);
    const refused = await fetch(url);
    expect(refused.status).toBe(503);
    expect(await refused.text()).toContain('2 streams are open already');
    aborts[0]?.abort();
    while (live.clientCounts.instances > 1) await new Promise((r) => setTimeout(r, 5));
    const again = new AbortController();
    expect((await fetch(url, { signal: again.signal })).status).toBe(200);
    again.abort();
    aborts[1]?.abort();
  });
});
