// The fleet as the agents report it: their InstanceStatus records (CLUSTER#<c> / INSTANCE#<id>),
// the daemon tasks in them, and each cluster's change marker. Read-only: the coordinator never
// writes these. A status record counts only while it is live (live() below), whenever DynamoDB's
// TTL gets round to deleting it; every read is eventually consistent, since agents rewrite them.
import { systemClock, type Clock } from '../clock.js';
import { InvalidInputError } from '../errors.js';
import { clusterNameOf, clusterPk, containerInstanceIdOf, ENV_SK_PREFIX, ENVIRONMENT_INDEX_PK, INSTANCE_SK_PREFIX, keys, type ItemKey } from '../keys.js';
import {
  parseChangeMarker,
  parseEnvironmentIndex,
  parseInstanceHeartbeat,
  parseInstanceStatus,
  statusIsLive,
  type ChangeMarker,
  type InstanceHeartbeat,
  type InstanceStatus,
} from '../records.js';
import type { TableAccess } from './dynamo.js';
import { validateCluster, validateEnvironmentName } from './inputs.js';
import { decodeKeyToken, decodeMultiToken, encodeToken, keyToken, pageSize, pageWithToken, type InvalidItem, type Page, type PageRequest } from './paging.js';
import { parseAll, parseOrSkip } from './records-io.js';
import { instanceView, taskViews, type InstanceView, type TaskView } from './views.js';

/** Instance status records read per cluster to derive health (pages of up to 1 MB each). */
const HEALTH_PAGES = 5;

export type InstanceStatusFilter = 'ready' | 'not_ready' | 'degraded';
export const INSTANCE_STATUS_FILTERS: readonly InstanceStatusFilter[] = ['ready', 'not_ready', 'degraded'];

export interface InstanceQuery extends PageRequest {
  cluster?: string;
  status?: InstanceStatusFilter;
  environment?: string;
}

export interface TaskQuery extends PageRequest {
  cluster?: string;
  /** ECS lastStatus of the task (RUNNING, PENDING, STOPPED...), case-insensitive. */
  status?: string;
  environment?: string;
}

export class Fleet {
  private readonly table: TableAccess;
  private readonly clock: Clock;

  constructor(options: { table: TableAccess; clock?: Clock }) {
    this.table = options.table;
    this.clock = options.clock ?? systemClock;
  }

  async listInstances(query: InstanceQuery = {}): Promise<Page<InstanceView>> {
    const { statuses, nextToken, invalid } = await this.instancePage(query);
    return pageWithToken(statuses.filter((s) => instanceMatches(s, query)).map(instanceView), nextToken, invalid);
  }

  /** Daemon tasks as the agents report them; `limit` counts instance records read. */
  async listTasks(query: TaskQuery = {}): Promise<Page<TaskView>> {
    const { statuses, nextToken, invalid } = await this.instancePage({ ...query, status: undefined });
    const wanted = query.status?.toUpperCase();
    const items = statuses
      .flatMap(taskViews)
      .filter(
        (t) => (query.environment === undefined || t.environmentName === query.environment) && (wanted === undefined || t.lastStatus?.toUpperCase() === wanted),
      );
    return pageWithToken(items, nextToken, invalid);
  }

  /** The cluster's InstanceStatus records (malformed ones skipped; at most a few pages). */
  async clusterStatuses(cluster: string): Promise<InstanceStatus[]> {
    return this.clusterInstances(validateCluster(cluster), new Map());
  }

  /** The cluster's change marker (what agents poll). */
  async getChangeMarker(cluster: string): Promise<ChangeMarker | undefined> {
    const item = await this.table.get(keys.changeMarker(validateCluster(cluster)));
    return item ? parseChangeMarker(item) : undefined;
  }

  /**
   * The live InstanceStatus records of a cluster named by a head (malformed ones skipped; at most
   * HEALTH_PAGES pages), read once per request per cluster: `cache` is the request's.
   */
  async clusterInstances(cluster: string, cache: Map<string, InstanceStatus[]>): Promise<InstanceStatus[]> {
    const cached = cache.get(cluster);
    if (cached) return cached;
    const { live } = await this.clusterLiveAndGone(cluster);
    cache.set(cluster, live);
    return live;
  }

  /**
   * The cluster's status records, split into those of running agents and those of agents gone (a
   * rollout's steward frees what the gone held). `pages`: views read a few; the steward reads all,
   * since a count of part of the fleet could complete a deployment early.
   */
  async clusterLiveAndGone(cluster: string, pages = HEALTH_PAGES): Promise<{ live: InstanceStatus[]; gone: InstanceStatus[] }> {
    const live: InstanceStatus[] = [];
    const gone: InstanceStatus[] = [];
    let startKey: ItemKey | undefined;
    for (let page = 0; page < pages; page++) {
      const result = await this.table.query(clusterPk(cluster), { prefix: INSTANCE_SK_PREFIX, consistent: false, ...(startKey ? { startKey } : {}) });
      const read = result.items.map((item) => parseOrSkip(item, parseInstanceStatus)).filter((s): s is InstanceStatus => s !== undefined);
      const running = new Set(await this.live(read));
      for (const s of read) (running.has(s) ? live : gone).push(s);
      startKey = result.lastKey;
      if (!startKey) break;
    }
    return { live, gone };
  }

  /**
   * The status records that still describe a running agent: within their own `expiresAt` and,
   * where the instance has a heartbeat (agents since the claim contract), within the heartbeat's
   * validity, whenever DynamoDB's TTL deletes either. One BatchGetItem per 100 records.
   */
  private async live(statuses: InstanceStatus[]): Promise<InstanceStatus[]> {
    const now = this.clock.wallMs();
    const unexpired = statuses.filter((s) => s.expiresAt * 1000 > now);
    if (unexpired.length === 0) return [];
    const heartbeats = new Map<string, InstanceHeartbeat>();
    for (const item of await this.table.batchGet(unexpired.map((s) => keys.heartbeat(containerInstanceIdOf(s.containerInstanceArn))))) {
      // An unreadable heartbeat says nothing: the status record's own validity stands.
      const heartbeat = parseOrSkip(item, parseInstanceHeartbeat);
      if (heartbeat) heartbeats.set(heartbeat.containerInstanceId, heartbeat);
    }
    return unexpired.filter((s) => statusIsLive(s, heartbeats.get(containerInstanceIdOf(s.containerInstanceArn)), now));
  }

  /** One page of InstanceStatus records of one cluster, or of every cluster that has environments. */
  private async instancePage(query: InstanceQuery): Promise<{ statuses: InstanceStatus[]; nextToken?: string; invalid: InvalidItem[] }> {
    const limit = pageSize(query.limit);
    if (query.status !== undefined && !INSTANCE_STATUS_FILTERS.includes(query.status))
      throw new InvalidInputError('status', `must be one of ${INSTANCE_STATUS_FILTERS.join(', ')}`);
    if (query.environment !== undefined) validateEnvironmentName(query.environment, 'environment');
    const invalid: InvalidItem[] = [];
    const statuses: InstanceStatus[] = [];
    if (query.cluster !== undefined) {
      const pk = clusterPk(validateCluster(query.cluster));
      const startKey = query.nextToken !== undefined ? decodeKeyToken(query.nextToken, pk, INSTANCE_SK_PREFIX) : undefined;
      const page = await this.table.query(pk, { prefix: INSTANCE_SK_PREFIX, limit, consistent: false, ...(startKey ? { startKey } : {}) });
      statuses.push(...(await this.live(parseAll(page.items, parseInstanceStatus, invalid))));
      const nextToken = keyToken(page.lastKey);
      return nextToken ? { statuses, nextToken, invalid } : { statuses, invalid };
    }
    // Every cluster in name order; the token names the cluster to go on with (and where in it).
    const clusters = await this.knownClusters();
    let position = 0;
    let startKey: ItemKey | undefined;
    if (query.nextToken !== undefined) {
      const token = decodeMultiToken(query.nextToken);
      position = clusters.indexOf(token.partition);
      if (position < 0) position = clusters.findIndex((c) => c > token.partition);
      if (position < 0) position = clusters.length;
      else if (clusters[position] === token.partition && token.sk !== undefined) {
        if (!token.sk.startsWith(INSTANCE_SK_PREFIX)) throw new InvalidInputError('nextToken', 'does not belong to this listing');
        startKey = { pk: clusterPk(token.partition), sk: token.sk };
      }
    }
    for (; position < clusters.length && statuses.length + invalid.length < limit; position++) {
      const cluster = clusters[position] as string;
      const page = await this.table.query(clusterPk(cluster), {
        prefix: INSTANCE_SK_PREFIX,
        limit: limit - statuses.length - invalid.length,
        consistent: false,
        ...(startKey ? { startKey } : {}),
      });
      startKey = undefined;
      statuses.push(...(await this.live(parseAll(page.items, parseInstanceStatus, invalid))));
      if (page.lastKey) return { statuses, nextToken: encodeToken({ p: cluster, s: page.lastKey.sk }), invalid };
    }
    if (position < clusters.length) return { statuses, nextToken: encodeToken({ p: clusters[position] as string }), invalid };
    return { statuses, invalid };
  }

  /** Clusters named by the environment index (every environment, deleted ones included until their TTL). */
  private async knownClusters(): Promise<string[]> {
    const clusters = new Set<string>();
    let startKey: ItemKey | undefined;
    do {
      const page = await this.table.query(ENVIRONMENT_INDEX_PK, { prefix: ENV_SK_PREFIX, consistent: false, ...(startKey ? { startKey } : {}) });
      for (const item of page.items) {
        const index = parseOrSkip(item, parseEnvironmentIndex);
        if (index) clusters.add(clusterNameOf(index.cluster));
      }
      startKey = page.lastKey;
    } while (startKey);
    return [...clusters].sort();
  }
}

function instanceMatches(status: InstanceStatus, query: InstanceQuery): boolean {
  if (query.environment !== undefined && !status.daemons.some((d) => d.environment === query.environment)) return false;
  switch (query.status) {
    case 'ready':
      return status.ready;
    case 'not_ready':
      return !status.ready;
    case 'degraded':
      return status.degraded;
    default:
      return true;
  }
}
