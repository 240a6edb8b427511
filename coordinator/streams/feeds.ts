// The live feeds behind /v1/stream/{instances,tasks,deployments}: the table's changes (a
// ChangeSource) turned into feed events (changes.ts), numbered, kept in each feed's bounded log
// and fanned out to the connected clients, each filtered by its scope (cluster or environment).
//
// A client with a Last-Event-ID this process still holds gets the events after it. Any other client
// gets a snapshot read with the store's list functions and then the live events, with no gap: the
// events logged from shortly before the snapshot read began (SNAPSHOT_OVERLAP_MS, for the stream's
// and the eventually consistent read's delays) are replayed after it. Replayed events the snapshot
// already holds are harmless: an upsert carries the whole item.
//
// Memory owned here, and forgotten here: each feed's log (bounded), the clients (removed when they
// close or fall behind), and the task definitions of revisions (immutable; bounded).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../core/clock.js';
import { BloxError, errorMessage } from '../../core/errors.js';
import type { EnvironmentStore } from '../../core/store/environments.js';
import { everyPage } from '../cli/common.js';
import {
  deploymentFeedItem,
  feedEventsOf,
  FEEDS,
  revisionNeeded,
  type ChangeSink,
  type ChangeSource,
  type FeedEvent,
  type FeedItem,
  type FeedName,
  type TableChange,
} from './changes.js';
import { EventIds, EventLog } from './event-log.js';
import { Liveness } from './liveness.js';
import { SseResponse, sseFrame } from './sse.js';

export const KEEPALIVE_MS = 15_000;
export const SNAPSHOT_OVERLAP_MS = 5_000;
/** What one slow client may leave unread before it is cut. */
export const CLIENT_BUFFER_BYTES = 1024 * 1024;
const LOG_EVENTS = 10_000;
const LOG_BYTES = 8 * 1024 * 1024;
const REVISION_CACHE = 10_000;
/**
 * Bounds on what anyone who reaches the port can make the coordinator do: streams open at once
 * (each may hold CLIENT_BUFFER_BYTES) and snapshots read at once (each reads the feed's records).
 * Past either, a stream request is answered 503 and the client retries.
 */
export const MAX_CLIENTS = 1_000;
export const MAX_SNAPSHOTS = 8;
/** How often instances whose agent stopped writing are looked for (they leave the list routes by time, not by a write). */
const LIVENESS_SWEEP_MS = 1_000;

export interface LiveFeedsOptions {
  source: ChangeSource;
  store: EnvironmentStore;
  logger: Logger;
  clock?: Clock;
  keepaliveMs?: number;
  livenessSweepMs?: number;
  clientBufferBytes?: number;
  logEvents?: number;
  logBytes?: number;
  maxClients?: number;
  maxSnapshots?: number;
}

interface Client {
  scope: string | undefined;
  sse: SseResponse;
}

/** What a stream request asks: the feed, its filter, and where the client left off. */
export interface StreamRequest {
  feed: FeedName;
  scope?: string;
  lastEventId?: string;
}

/** Writes the stream on `res` (the request was validated and its snapshot, if any, read). */
export type StreamWriter = (req: IncomingMessage, res: ServerResponse, headers: Record<string, string>) => void;

export class LiveFeeds implements ChangeSink {
  private readonly ids = new EventIds();
  private readonly logs: Record<FeedName, EventLog>;
  private readonly clients: Record<FeedName, Set<Client>>;
  private readonly taskDefinitions = new Map<string, string>();
  private readonly clock: Clock;
  private readonly keepalive: NodeJS.Timeout;
  private readonly liveness = new Liveness();
  private readonly sweep: NodeJS.Timeout;
  private closed = false;
  /** Snapshots being read now (opens that passed the bounds and have not attached yet). */
  private snapshotsInFlight = 0;

  private constructor(private readonly options: LiveFeedsOptions) {
    this.clock = options.clock ?? systemClock;
    const log = () => new EventLog(options.logEvents ?? LOG_EVENTS, options.logBytes ?? LOG_BYTES);
    this.logs = { instances: log(), tasks: log(), deployments: log() };
    this.clients = { instances: new Set(), tasks: new Set(), deployments: new Set() };
    this.keepalive = setInterval(() => this.forEachClient((c) => c.sse.keepalive()), options.keepaliveMs ?? KEEPALIVE_MS);
    this.keepalive.unref();
    this.sweep = setInterval(() => this.publish(this.liveness.expire(this.clock.wallMs())), options.livenessSweepMs ?? LIVENESS_SWEEP_MS);
    this.sweep.unref();
  }

  /** Starts reading the source; resolves once changes from now on are followed (or the source is known unavailable). */
  static async start(options: LiveFeedsOptions): Promise<LiveFeeds> {
    const feeds = new LiveFeeds(options);
    await options.source.start(feeds);
    return feeds;
  }

  /** Why the feeds cannot be served (the answer is a 503 naming the fix), or undefined. */
  get unavailable(): string | undefined {
    return this.closed ? 'the coordinator is shutting down' : this.options.source.unavailable;
  }

  /** Clients connected now, per feed. */
  get clientCounts(): Record<FeedName, number> {
    return { instances: this.clients.instances.size, tasks: this.clients.tasks.size, deployments: this.clients.deployments.size };
  }

  /** Validates and prepares one stream: reads the snapshot unless the client resumes. Errors are the API's usual ones. */
  async open(request: StreamRequest): Promise<StreamWriter> {
    const reason = this.unavailable;
    if (reason) throw new BloxError('Unavailable', `live feeds are unavailable: ${reason}`);
    const maxClients = this.options.maxClients ?? MAX_CLIENTS;
    const open = FEEDS.reduce((sum, feed) => sum + this.clients[feed].size, 0);
    if (open >= maxClients) throw new BloxError('Unavailable', `${maxClients} streams are open already (the coordinator's bound); retry later`);
    const log = this.logs[request.feed];
    const resumeAt = this.ids.parse(request.lastEventId);
    if (resumeAt !== undefined && log.after(resumeAt) !== undefined) return (req, res, headers) => this.attach(request, req, res, headers, resumeAt);
    const maxSnapshots = this.options.maxSnapshots ?? MAX_SNAPSHOTS;
    if (this.snapshotsInFlight >= maxSnapshots)
      throw new BloxError('Unavailable', `${maxSnapshots} stream snapshots are being read already; retry in a moment`);
    const mark = log.seqBefore(this.clock.wallMs() - SNAPSHOT_OVERLAP_MS, this.ids.head);
    this.snapshotsInFlight += 1;
    try {
      const items = await this.snapshot(request);
      return (req, res, headers) => this.attach(request, req, res, headers, mark, items);
    } finally {
      this.snapshotsInFlight -= 1;
    }
  }

  /** Ends every stream and stops reading the table's stream. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.keepalive);
    clearInterval(this.sweep);
    this.forEachClient((c) => c.sse.end());
    for (const feed of FEEDS) this.clients[feed].clear();
    await this.options.source.close();
  }

  // ---------------------------------------------------------------- ChangeSink

  async changes(changes: TableChange[]): Promise<void> {
    let events: FeedEvent[];
    try {
      await this.learnTaskDefinitions(changes);
      const now = this.clock.wallMs();
      events = changes.flatMap((change) => [
        ...feedEventsOf(change, (environment, revision) => this.taskDefinitions.get(revisionKey(environment, revision))),
        ...this.liveness.observe(change, now),
      ]);
    } catch (error) {
      // A revision that could not be read (DynamoDB failing): what the events would say is unknown.
      this.options.logger.warn({ err: error }, `live feeds: a batch of changes could not be read (${errorMessage(error)}); clients start over`);
      this.lost();
      return;
    }
    this.publish(events);
  }

  lost(): void {
    const floor = this.ids.next();
    for (const feed of FEEDS) {
      this.logs[feed].clear(floor);
      for (const client of this.clients[feed]) client.sse.end();
      this.clients[feed].clear();
    }
  }

  // ---------------------------------------------------------------- internals

  private publish(events: FeedEvent[]): void {
    const now = this.clock.wallMs();
    for (const event of events) {
      const seq = this.ids.next();
      const frame = sseFrame(event.type, this.ids.format(seq), event.data);
      this.logs[event.feed].append({ seq, at: now, scope: event.scope, frame });
      for (const client of this.clients[event.feed]) if (client.scope === undefined || client.scope === event.scope) client.sse.send(frame);
    }
  }

  private attach(
    request: StreamRequest,
    req: IncomingMessage,
    res: ServerResponse,
    headers: Record<string, string>,
    after: number,
    snapshot?: FeedItem[],
  ): void {
    const { feed, scope } = request;
    const sse = new SseResponse(res, this.options.clientBufferBytes ?? CLIENT_BUFFER_BYTES, (buffered) =>
      this.options.logger.warn({ feed, scope, buffered }, 'stream client too slow: disconnected (it reconnects and resumes or gets a snapshot)'),
    );
    sse.begin(headers);
    if (req.method === 'HEAD') return sse.end();
    const replay = this.logs[feed].after(after);
    // The log lost events since the snapshot began (a burst larger than it holds): the client reconnects.
    if (this.closed || replay === undefined) return sse.end();
    let initial = snapshot ? sseFrame('snapshot', this.ids.format(after), { items: snapshot }) : '';
    for (const event of replay) if (scope === undefined || event.scope === scope) initial += event.frame;
    sse.sendInitial(initial);
    // The client may have gone while its snapshot was read: its 'close' has passed, so it would never leave the set.
    if (!sse.isOpen) return;
    const client: Client = { scope, sse };
    this.clients[feed].add(client);
    res.on('close', () => this.clients[feed].delete(client));
  }

  private async snapshot({ feed, scope }: StreamRequest): Promise<FeedItem[]> {
    const { store } = this.options;
    const cluster = scope !== undefined ? { cluster: scope } : {};
    if (feed === 'instances') return (await everyPage((page) => store.listInstances({ ...cluster, ...page }))).items;
    if (feed === 'tasks') return (await everyPage((page) => store.listTasks({ ...cluster, ...page }))).items;
    const names = scope !== undefined ? [scope] : (await everyPage((page) => store.listEnvironments(page))).items.map((e) => e.name);
    const items: FeedItem[] = [];
    for (const name of names) {
      try {
        items.push(...(await everyPage((page) => store.listDeployments(name, page))).items.map(deploymentFeedItem));
      } catch (error) {
        // Listed, then deleted before its deployments were read: it has none to show (a scoped feed keeps its 404).
        if (scope === undefined && error instanceof BloxError && error.code === 'NotFound') continue;
        throw error;
      }
    }
    return items;
  }

  /** The task definitions of the revisions the changes' deployments target (read once each; revisions never change). */
  private async learnTaskDefinitions(changes: TableChange[]): Promise<void> {
    for (const change of changes) {
      const needed = revisionNeeded(change);
      if (!needed) continue;
      const key = revisionKey(needed.environment, needed.revision);
      if (this.taskDefinitions.has(key)) continue;
      let taskDefinition: string;
      try {
        taskDefinition = (await this.options.store.getRevision(needed.environment, needed.revision)).taskDefinition;
      } catch (error) {
        // Not found or malformed: the list route would not show the deployment either.
        if (error instanceof BloxError && (error.code === 'NotFound' || error.code === 'InvalidRecord')) continue;
        throw error;
      }
      if (this.taskDefinitions.size >= REVISION_CACHE) this.taskDefinitions.delete(this.taskDefinitions.keys().next().value as string);
      this.taskDefinitions.set(key, taskDefinition);
    }
  }

  private forEachClient(action: (client: Client) => void): void {
    for (const feed of FEEDS) for (const client of [...this.clients[feed]]) action(client);
  }
}

function revisionKey(environment: string, revision: number): string {
  return `${environment}\u0000${revision}`;
}
