// Reading environments and their revisions. An environment's view joins its head with its current
// revision, its active deployment and its cluster's live instance status (health is derived on
// read, never stored). A read of one environment answers a malformed record with a 422; a listing
// skips it, reports it in `invalid` and goes on with the others.
import { InvalidRecordError, NotFoundError } from '../errors.js';
import { clusterNameOf, clusterPk, ENV_SK_PREFIX, ENVIRONMENT_INDEX_PK, keys, REVISION_SK_PREFIX, type ItemKey } from '../keys.js';
import {
  parseDeployment,
  parseEnvironment,
  parseEnvironmentIndex,
  parseStoredRevision,
  type Deployment,
  type Environment,
  type EnvironmentIndex,
  type EnvironmentRevision,
  type InstanceStatus,
} from '../records.js';
import type { TableAccess } from './dynamo.js';
import type { Fleet } from './fleet.js';
import { validateCluster, validateEnvironmentName } from './inputs.js';
import { decodeKeyToken, pageOf, pageSize, type InvalidItem, type Page, type PageRequest } from './paging.js';
import { invalidItem, Records, tryParse } from './records-io.js';
import { environmentView, revisionView, type EnvironmentView, type RevisionView } from './views.js';

export class EnvironmentReads {
  private readonly records: Records;

  constructor(
    private readonly table: TableAccess,
    private readonly fleet: Fleet,
  ) {
    this.records = new Records(table);
  }

  async getEnvironment(name: string): Promise<EnvironmentView> {
    validateEnvironmentName(name);
    const head = await this.records.loadHead(name);
    const [view] = await this.views([head], new Map(), [], true);
    if (!view) throw new NotFoundError(`environment ${name} not found`);
    return view;
  }

  /** Of one cluster (its heads' partition), or of all through the global index; deleted ones are left out. */
  async listEnvironments(request: PageRequest & { cluster?: string } = {}): Promise<Page<EnvironmentView>> {
    const limit = pageSize(request.limit);
    const invalid: InvalidItem[] = [];
    const heads: Environment[] = [];
    let lastKey: ItemKey | undefined;
    if (request.cluster !== undefined) {
      const cluster = validateCluster(request.cluster);
      const pk = clusterPk(cluster);
      const startKey = request.nextToken !== undefined ? decodeKeyToken(request.nextToken, pk, ENV_SK_PREFIX) : undefined;
      const page = await this.table.query(pk, { prefix: ENV_SK_PREFIX, limit, ...(startKey ? { startKey } : {}) });
      lastKey = page.lastKey;
      for (const item of page.items) {
        const head = tryParse(item, parseEnvironment, invalid);
        if (head && head.status !== 'DELETING') heads.push(head);
      }
    } else {
      const startKey = request.nextToken !== undefined ? decodeKeyToken(request.nextToken, ENVIRONMENT_INDEX_PK, ENV_SK_PREFIX) : undefined;
      const page = await this.table.query(ENVIRONMENT_INDEX_PK, { prefix: ENV_SK_PREFIX, limit, ...(startKey ? { startKey } : {}) });
      lastKey = page.lastKey;
      const indexes = page.items.map((item) => tryParse(item, parseEnvironmentIndex, invalid)).filter((i): i is EnvironmentIndex => i !== undefined);
      const headItems = await this.table.batchGet(indexes.map((i) => keys.environment(clusterNameOf(i.cluster), i.name)));
      const byName = new Map(headItems.map((item) => [String(item.sk), item]));
      for (const index of indexes) {
        const item = byName.get(`${ENV_SK_PREFIX}${index.name}`);
        if (!item) continue; // an index whose head is gone: a half-written record, nothing to show
        const head = tryParse(item, parseEnvironment, invalid, index.name);
        if (head && head.status !== 'DELETING') heads.push(head);
      }
    }
    const items = await this.views(heads, new Map(), invalid);
    return pageOf(items, lastKey, invalid);
  }

  async getRevision(name: string, revision: number): Promise<RevisionView> {
    validateEnvironmentName(name);
    const head = await this.records.loadHead(name);
    if (!Number.isInteger(revision) || revision < 1 || revision > head.latestRevision)
      throw new NotFoundError(`revision ${revision} of environment ${name} not found`);
    return revisionView(await this.records.loadRevision(name, revision));
  }

  /** Newest first. */
  async listRevisions(name: string, request: PageRequest = {}): Promise<Page<RevisionView>> {
    const page = await this.records.newestFirst(name, REVISION_SK_PREFIX, request);
    const invalid: InvalidItem[] = [];
    const items = page.items
      .map((item) => tryParse(item, (i) => parseStoredRevision(i), invalid, name))
      .filter((r): r is EnvironmentRevision => r !== undefined);
    return pageOf(items.map(revisionView), page.lastKey, invalid);
  }

  /** What an instance preview evaluates: a revision (default current) and the agents' status records of its cluster. */
  async previewTarget(name: string, revision?: number): Promise<{ revision: RevisionView; statuses: InstanceStatus[] }> {
    validateEnvironmentName(name);
    const head = await this.records.loadHead(name);
    const number = revision ?? head.currentRevision;
    if (number > head.latestRevision) throw new NotFoundError(`revision ${number} of environment ${name} not found (latest is ${head.latestRevision})`);
    const loaded = await this.records.loadRevision(name, number);
    return { revision: revisionView(loaded), statuses: await this.fleet.clusterInstances(head.cluster, new Map()) };
  }

  /**
   * Joins heads with their current revision, active deployment and the cluster's instance status
   * (two BatchGetItems for all heads; `instanceCache` reads each cluster once).
   * `single`: a read of one environment, where a malformed record is the answer (422); lists skip and report it.
   */
  async views(heads: Environment[], instanceCache: Map<string, InstanceStatus[]>, invalid: InvalidItem[], single = false): Promise<EnvironmentView[]> {
    const revisionItems = await this.table.batchGet(heads.map((h) => keys.revision(h.name, h.currentRevision)));
    const deploymentItems = await this.table.batchGet(
      heads.filter((h) => h.activeDeploymentId).map((h) => keys.deployment(h.name, h.activeDeploymentId as string)),
    );
    const byKey = new Map([...revisionItems, ...deploymentItems].map((item) => [`${String(item.pk)}/${String(item.sk)}`, item]));
    const views: EnvironmentView[] = [];
    for (const head of heads) {
      try {
        const revisionKey = keys.revision(head.name, head.currentRevision);
        const revisionItem = byKey.get(`${revisionKey.pk}/${revisionKey.sk}`);
        if (!revisionItem)
          throw new InvalidRecordError(
            `${revisionKey.pk}/${revisionKey.sk}`,
            'revision',
            `revision ${head.currentRevision} of environment ${head.name} is missing`,
          );
        const revision = parseStoredRevision(revisionItem);
        let active: Deployment | undefined;
        if (head.activeDeploymentId) {
          const key = keys.deployment(head.name, head.activeDeploymentId);
          const item = byKey.get(`${key.pk}/${key.sk}`);
          if (item) active = parseDeployment(item);
        }
        const instances = await this.fleet.clusterInstances(head.cluster, instanceCache);
        views.push(environmentView(head, revision, active, instances));
      } catch (error) {
        if (single || !(error instanceof InvalidRecordError)) throw error;
        invalid.push(invalidItem(error, head.name));
      }
    }
    return views;
  }

  /** The view of a head just written, from the records the command already holds (`revision` default: read the current one). */
  async viewWith(head: Environment, revision: EnvironmentRevision | undefined, active: Deployment | undefined): Promise<EnvironmentView> {
    const current = revision ?? (await this.records.loadRevision(head.name, head.currentRevision));
    const instances = await this.fleet.clusterInstances(head.cluster, new Map());
    return environmentView(head, current, active, instances);
  }
}
