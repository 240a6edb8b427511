// The Environment service: the one library behind the coordinator's API and `blox --direct`.
// Every change is a single TransactWriteItems that also bumps the cluster's change marker, so an
// agent that sees the marker unchanged knows nothing it cares about changed. Every read goes
// through core/records.ts, so a hand-written malformed record becomes an InvalidRecordError naming
// the record and the field; listings report such records per item and go on with the others.
import { systemClock, type Clock } from '../clock.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { BloxError, ConflictError, InvalidInputError, InvalidRecordError, NotFoundError } from '../errors.js';
import {
  clusterNameOf,
  clusterPk,
  containerInstanceIdOf,
  DEPLOYMENT_SK_PREFIX,
  ENV_SK_PREFIX,
  ENVIRONMENT_INDEX_PK,
  environmentPk,
  INSTANCE_SK_PREFIX,
  keys,
  REVISION_SK_PREFIX,
  SCHEMA_VERSION,
  TTL_ATTRIBUTE,
  type ItemKey,
} from '../keys.js';
import {
  FINISHED_DEPLOYMENT_STATUSES,
  parseChangeMarker,
  parseDeployment,
  parseEnvironment,
  parseEnvironmentIndex,
  parseInstanceHeartbeat,
  parseInstanceStatus,
  parseStoredRevision,
  statusIsLive,
  patterns,
  readDeploymentConfiguration,
  readRestartPolicy,
  type ChangeMarker,
  type Deployment,
  type DeploymentStatus,
  type Environment,
  type EnvironmentIndex,
  type EnvironmentRevision,
  type InstanceHeartbeat,
  type InstanceStatus,
} from '../records.js';
import { ObjectReader } from '../validate.js';
import { TransactionCancelled, type Condition, type Item, type TableAccess, type TransactOp } from './dynamo.js';
import type { CreateEnvironmentInput, DeploymentActionInput, RollbackInput, StartDeploymentInput, UpdateEnvironmentInput } from './inputs.js';
import { validateEnvironmentName } from './inputs.js';
import { decodeKeyToken, decodeMultiToken, encodeToken, keyToken, pageSize, type InvalidItem, type Page, type PageRequest } from './paging.js';
import {
  deploymentView,
  environmentView,
  instanceView,
  revisionView,
  taskViews,
  type DeploymentView,
  type EnvironmentView,
  type InstanceView,
  type RevisionView,
  type TaskView,
} from './views.js';

/** How long a deleted environment's tombstone stays for agents to see (then DynamoDB's TTL removes it). */
export const TOMBSTONE_SECONDS = 7 * 24 * 3600;
/** Instance status records read per cluster to derive health (pages of up to 1 MB each). */
const HEALTH_PAGES = 5;
const TRANSACTION_ATTEMPTS = 6;

export interface EnvironmentStoreOptions {
  table: TableAccess;
  clock?: Clock;
  tombstoneSeconds?: number;
}

export interface UpdateResult {
  environment: EnvironmentView;
  /** False when the definition equals the latest revision: nothing was written. */
  changed: boolean;
  revision?: RevisionView;
  deployment?: DeploymentView;
}

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

/** Thrown inside an attempt to make the transaction runner read again and retry. */
class Retry extends Error {}

const UNFINISHED: DeploymentStatus[] = ['pending', 'in_progress'];

export class EnvironmentStore {
  private readonly table: TableAccess;
  private readonly clock: Clock;
  private readonly tombstoneSeconds: number;

  constructor(options: EnvironmentStoreOptions) {
    this.table = options.table;
    this.clock = options.clock ?? systemClock;
    this.tombstoneSeconds = options.tombstoneSeconds ?? TOMBSTONE_SECONDS;
  }

  // ---------------------------------------------------------------- environments

  async createEnvironment(input: CreateEnvironmentInput): Promise<EnvironmentView> {
    return this.attempt(async () => {
      const now = this.nowIso();
      const { name } = input;
      const cluster = input.instanceGroup.cluster;
      const indexItem = await this.table.get(keys.environmentIndex(name));
      const index = indexItem ? parseEnvironmentIndex(indexItem) : undefined;
      if (index) {
        const oldHead = await this.table.get(keys.environment(clusterNameOf(index.cluster), name));
        if (oldHead && parseEnvironment(oldHead).status !== 'DELETING') throw new ConflictError(`environment ${name} already exists`, undefined, 'name');
      }
      const revisionNumber = (await this.highestRevision(name)) + 1;
      const deploymentId = newDeploymentId(new Date(this.clock.wallMs()));
      const head: Environment = {
        kind: 'Environment',
        schemaVersion: SCHEMA_VERSION,
        name,
        cluster,
        status: 'ACTIVE',
        health: 'unknown',
        currentRevision: revisionNumber,
        latestRevision: revisionNumber,
        activeDeploymentId: deploymentId,
        token: newToken(),
        createdAt: now,
        updatedAt: now,
      };
      const revision: EnvironmentRevision = {
        kind: 'EnvironmentRevision',
        schemaVersion: SCHEMA_VERSION,
        environment: name,
        revision: revisionNumber,
        taskDefinition: input.taskDefinition,
        instanceGroup: input.instanceGroup,
        deploymentConfiguration: input.deploymentConfiguration,
        restartPolicy: input.restartPolicy,
        critical: input.critical,
        order: input.order,
        createdAt: now,
      };
      const deployment = newDeployment(deploymentId, name, revisionNumber, undefined, now, ['environment created']);
      const newIndex: EnvironmentIndex = { kind: 'EnvironmentIndex', schemaVersion: SCHEMA_VERSION, name, cluster };
      const ops: TransactOp[] = [
        {
          kind: 'put',
          item: { ...keys.environmentIndex(name), ...newIndex },
          condition: index
            ? { expression: '#c_cluster = :c_cluster', names: { '#c_cluster': 'cluster' }, values: { ':c_cluster': index.cluster } }
            : { expression: 'attribute_not_exists(pk)' },
        },
        { kind: 'put', item: { ...keys.environment(cluster, name), ...head }, condition: absentOrDeleting() },
        { kind: 'put', item: { ...keys.revision(name, revisionNumber), ...revision }, condition: { expression: 'attribute_not_exists(pk)' } },
        { kind: 'put', item: { ...keys.deployment(name, deploymentId), ...deployment }, condition: { expression: 'attribute_not_exists(pk)' } },
        this.markerOp(cluster, now),
      ];
      if (index && clusterNameOf(index.cluster) !== cluster) {
        ops.push({ kind: 'check', key: keys.environment(clusterNameOf(index.cluster), name), condition: absentOrDeleting() });
      }
      await this.run(ops, () => new ConflictError(`environment ${name} already exists`, undefined, 'name'));
      return environmentView(head, revision, deployment, []);
    });
  }

  async getEnvironment(name: string): Promise<EnvironmentView> {
    validateEnvironmentName(name);
    const head = await this.loadHead(name);
    const [view] = await this.views([head], new Map(), [], true);
    if (!view) throw new NotFoundError(`environment ${name} not found`);
    return view;
  }

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
        const head = this.tryParse(item, parseEnvironment, invalid);
        if (head && head.status !== 'DELETING') heads.push(head);
      }
    } else {
      const startKey = request.nextToken !== undefined ? decodeKeyToken(request.nextToken, ENVIRONMENT_INDEX_PK, ENV_SK_PREFIX) : undefined;
      const page = await this.table.query(ENVIRONMENT_INDEX_PK, { prefix: ENV_SK_PREFIX, limit, ...(startKey ? { startKey } : {}) });
      lastKey = page.lastKey;
      const indexes = page.items.map((item) => this.tryParse(item, parseEnvironmentIndex, invalid)).filter((i): i is EnvironmentIndex => i !== undefined);
      const headItems = await this.table.batchGet(indexes.map((i) => keys.environment(clusterNameOf(i.cluster), i.name)));
      const byName = new Map(headItems.map((item) => [String(item.sk), item]));
      for (const index of indexes) {
        const item = byName.get(`${ENV_SK_PREFIX}${index.name}`);
        if (!item) continue; // an index whose head is gone: a half-written record, nothing to show
        const head = this.tryParse(item, parseEnvironment, invalid, index.name);
        if (head && head.status !== 'DELETING') heads.push(head);
      }
    }
    const items = await this.views(heads, new Map(), invalid);
    const result: Page<EnvironmentView> = { items };
    const token = keyToken(lastKey);
    if (token) result.nextToken = token;
    if (invalid.length) result.invalid = invalid;
    return result;
  }

  async updateEnvironment(name: string, input: UpdateEnvironmentInput): Promise<UpdateResult> {
    validateEnvironmentName(name);
    return this.attempt(async () => {
      const now = this.nowIso();
      const head = await this.loadHead(name);
      checkToken(head, input.token, true);
      if (input.instanceGroup && input.instanceGroup.cluster !== head.cluster) {
        throw new InvalidInputError(
          'instanceGroup.cluster',
          `cannot be changed: environment ${name} belongs to cluster ${head.cluster} (create a new environment for another cluster)`,
        );
      }
      const latest = await this.loadRevision(name, head.latestRevision);
      const fail = (field: string, message: string) => new InvalidInputError(field, message);
      const content = {
        taskDefinition: input.taskDefinition ?? latest.taskDefinition,
        instanceGroup: input.instanceGroup ?? latest.instanceGroup,
        deploymentConfiguration: input.deploymentConfiguration
          ? readDeploymentConfiguration(ObjectReader.of(input.deploymentConfiguration, 'deploymentConfiguration', fail), latest.deploymentConfiguration)
          : latest.deploymentConfiguration,
        restartPolicy: input.restartPolicy
          ? readRestartPolicy(ObjectReader.of(input.restartPolicy, 'restartPolicy', fail), latest.restartPolicy)
          : latest.restartPolicy,
        critical: input.critical ?? latest.critical,
        order: input.order ?? latest.order,
      };
      if (sameContent(content, latest)) {
        const [view] = await this.views([head], new Map(), [], true);
        return { environment: view as EnvironmentView, changed: false };
      }
      const number = head.latestRevision + 1;
      const revision: EnvironmentRevision = {
        kind: 'EnvironmentRevision',
        schemaVersion: SCHEMA_VERSION,
        environment: name,
        revision: number,
        ...content,
        createdAt: now,
      };
      const newHead: Environment = { ...head, latestRevision: number, token: newToken(), updatedAt: now };
      const ops: TransactOp[] = [
        { kind: 'put', item: { ...keys.revision(name, number), ...revision }, condition: { expression: 'attribute_not_exists(pk)' } },
        this.markerOp(head.cluster, now),
      ];
      let deployment: Deployment | undefined;
      if (input.deploy) {
        deployment = newDeployment(newDeploymentId(new Date(this.clock.wallMs())), name, number, head.currentRevision, now, [
          `environment updated to revision ${number}`,
        ]);
        newHead.currentRevision = number;
        newHead.activeDeploymentId = deployment.id;
        ops.push({ kind: 'put', item: { ...keys.deployment(name, deployment.id), ...deployment }, condition: { expression: 'attribute_not_exists(pk)' } });
        const supersede = await this.supersedeOp(head, deployment.id, now);
        if (supersede) ops.push(supersede);
      }
      ops.push(this.headPut(newHead, head.token));
      // What the reply shows is read before the commit: a malformed record then fails the request
      // before anything is written, never after (a malformed active deployment is left out of it).
      const replyRevision = newHead.currentRevision === number ? revision : await this.loadRevision(name, newHead.currentRevision);
      const active = deployment ?? (await this.activeDeployment(newHead).catch(unlessInvalid(undefined)));
      await this.run(ops, () => new Retry());
      const view = await this.viewWith(newHead, replyRevision, active);
      const result: UpdateResult = { environment: view, changed: true, revision: revisionView(revision) };
      if (deployment) result.deployment = deploymentView(deployment, revision.taskDefinition);
      return result;
    });
  }

  /** Marks the environment DELETING (agents stop its tasks) with a TTL. Returns undefined when there was nothing to delete (or its revision is malformed). */
  async deleteEnvironment(name: string, token?: string): Promise<EnvironmentView | undefined> {
    validateEnvironmentName(name);
    return this.attempt(async () => {
      const now = this.nowIso();
      const indexItem = await this.table.get(keys.environmentIndex(name));
      if (!indexItem) return undefined;
      const index = parseEnvironmentIndex(indexItem);
      const headItem = await this.table.get(keys.environment(clusterNameOf(index.cluster), name));
      if (!headItem) return undefined;
      const head = parseEnvironment(headItem);
      if (head.status === 'DELETING') return undefined;
      checkToken(head, token, false);
      const expiresAt = Math.floor(this.clock.wallMs() / 1000) + this.tombstoneSeconds;
      const tombstone: Environment = { ...head, status: 'DELETING', token: newToken(), updatedAt: now };
      const ops: TransactOp[] = [
        { kind: 'put', item: { ...keys.environment(head.cluster, name), ...tombstone, [TTL_ATTRIBUTE]: expiresAt }, condition: tokenCondition(head.token) },
        { kind: 'update', key: keys.environmentIndex(name), set: { [TTL_ATTRIBUTE]: expiresAt }, condition: { expression: 'attribute_exists(pk)' } },
        this.markerOp(head.cluster, now),
      ];
      const stop = await this.finishActiveOp(head, 'stopped', 'environment deleted', now);
      if (stop) ops.push(stop);
      await this.run(ops, () => new Retry());
      // Deleted. A malformed current revision must not turn that into an error: answer without a view (204).
      const revision = await this.loadRevision(name, head.currentRevision).catch(unlessInvalid(undefined));
      return revision ? environmentView(tombstone, revision, undefined, []) : undefined;
    });
  }

  // ---------------------------------------------------------------- revisions

  async getRevision(name: string, revision: number): Promise<RevisionView> {
    validateEnvironmentName(name);
    const head = await this.loadHead(name);
    if (!Number.isInteger(revision) || revision < 1 || revision > head.latestRevision)
      throw new NotFoundError(`revision ${revision} of environment ${name} not found`);
    return revisionView(await this.loadRevision(name, revision));
  }

  /** Newest first. */
  async listRevisions(name: string, request: PageRequest = {}): Promise<Page<RevisionView>> {
    const page = await this.queryNewestFirst(name, REVISION_SK_PREFIX, request);
    const invalid: InvalidItem[] = [];
    const items = page.items
      .map((item) => this.tryParse(item, (i) => parseStoredRevision(i), invalid, name))
      .filter((r): r is EnvironmentRevision => r !== undefined);
    return pageOf(items.map(revisionView), page.lastKey, invalid);
  }

  /** One page of an existing environment's items under `prefix` (revisions, deployments), newest first. */
  private async queryNewestFirst(name: string, prefix: string, request: PageRequest) {
    validateEnvironmentName(name);
    const limit = pageSize(request.limit);
    await this.loadHead(name);
    const pk = environmentPk(name);
    const startKey = request.nextToken !== undefined ? decodeKeyToken(request.nextToken, pk, prefix) : undefined;
    return this.table.query(pk, { prefix, limit, forward: false, ...(startKey ? { startKey } : {}) });
  }

  // ---------------------------------------------------------------- deployments

  async startDeployment(name: string, input: StartDeploymentInput): Promise<DeploymentView> {
    validateEnvironmentName(name);
    return this.attempt(async () => {
      const now = this.nowIso();
      const head = await this.loadHead(name);
      checkToken(head, input.token, true);
      const target = input.revision ?? head.latestRevision;
      if (target > head.latestRevision) throw new NotFoundError(`revision ${target} of environment ${name} not found (latest is ${head.latestRevision})`);
      const revision = await this.loadRevision(name, target);
      checkRevisionCluster(revision, head);
      const deployment = newDeployment(newDeploymentId(new Date(this.clock.wallMs())), name, target, head.currentRevision, now, [
        `deployment of revision ${target} requested`,
      ]);
      const newHead: Environment = { ...head, currentRevision: target, activeDeploymentId: deployment.id, token: newToken(), updatedAt: now };
      const ops: TransactOp[] = [
        { kind: 'put', item: { ...keys.deployment(name, deployment.id), ...deployment }, condition: { expression: 'attribute_not_exists(pk)' } },
        this.headPut(newHead, head.token),
        this.markerOp(head.cluster, now),
      ];
      const supersede = await this.supersedeOp(head, deployment.id, now);
      if (supersede) ops.push(supersede);
      await this.run(ops, () => new Retry());
      return deploymentView(deployment, revision.taskDefinition);
    });
  }

  async getDeployment(name: string, id: string): Promise<DeploymentView> {
    validateEnvironmentName(name);
    validateDeploymentId(id);
    await this.loadHead(name);
    const deployment = await this.loadDeployment(name, id);
    const revision = await this.loadRevision(name, deployment.targetRevision);
    return deploymentView(deployment, revision.taskDefinition);
  }

  /** Newest first. */
  async listDeployments(name: string, request: PageRequest = {}): Promise<Page<DeploymentView>> {
    const page = await this.queryNewestFirst(name, DEPLOYMENT_SK_PREFIX, request);
    const invalid: InvalidItem[] = [];
    const deployments = page.items.map((item) => this.tryParse(item, parseDeployment, invalid, name)).filter((d): d is Deployment => d !== undefined);
    const revisions = await this.revisionsByNumber(
      name,
      deployments.map((d) => d.targetRevision),
      invalid,
    );
    const items: DeploymentView[] = [];
    for (const deployment of deployments) {
      const revision = revisions.get(deployment.targetRevision);
      if (revision) items.push(deploymentView(deployment, revision.taskDefinition));
    }
    return pageOf(items, page.lastKey, invalid);
  }

  async stopDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.changeDeployment(name, id, input, (d) => {
      if (!UNFINISHED.includes(d.status)) throw new ConflictError(`deployment ${id} is already ${d.status}`);
      return { status: 'stopped', finishedAt: this.nowIso(), reasons: withReason(d.reasons, 'stopped by request') };
    });
  }

  async pauseDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.changeDeployment(name, id, input, (d) => {
      if (!UNFINISHED.includes(d.status)) throw new ConflictError(`deployment ${id} is ${d.status}; only a pending or in_progress deployment can be paused`);
      return d.paused ? undefined : { paused: true, reasons: withReason(d.reasons, 'paused by request') };
    });
  }

  async resumeDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.changeDeployment(name, id, input, (d) => {
      if (!UNFINISHED.includes(d.status)) throw new ConflictError(`deployment ${id} is ${d.status}; only a pending or in_progress deployment can be resumed`);
      return d.paused ? { paused: false, reasons: withReason(d.reasons, 'resumed by request') } : undefined;
    });
  }

  /**
   * Rolls forward to a new revision that copies an old one (the rolled-back deployment's previous
   * revision unless `revision` names another), deploys it, and marks the rolled-back deployment
   * rolled_back. An unfinished active deployment other than the rolled-back one is superseded.
   */
  async rollbackDeployment(name: string, id: string, input: RollbackInput = {}): Promise<DeploymentView> {
    validateEnvironmentName(name);
    validateDeploymentId(id);
    return this.attempt(async () => {
      const now = this.nowIso();
      const head = await this.loadHead(name);
      checkToken(head, input.token, false);
      const rolledBack = await this.loadDeployment(name, id);
      if (rolledBack.status === 'rolled_back') throw new ConflictError(`deployment ${id} was already rolled back`);
      const source = input.revision ?? rolledBack.previousRevision;
      if (source === undefined) throw new InvalidInputError('revision', `deployment ${id} has no previous revision to roll back to; name one with revision`);
      if (source > head.latestRevision) throw new NotFoundError(`revision ${source} of environment ${name} not found (latest is ${head.latestRevision})`);
      const from = await this.loadRevision(name, source);
      checkRevisionCluster(from, head);
      const number = head.latestRevision + 1;
      const revision: EnvironmentRevision = { ...from, revision: number, copiedFrom: source, createdAt: now };
      const deployment = newDeployment(newDeploymentId(new Date(this.clock.wallMs())), name, number, head.currentRevision, now, [
        `rollback of deployment ${id} to revision ${source}`,
      ]);
      const newHead: Environment = {
        ...head,
        latestRevision: number,
        currentRevision: number,
        activeDeploymentId: deployment.id,
        token: newToken(),
        updatedAt: now,
      };
      const ops: TransactOp[] = [
        { kind: 'put', item: { ...keys.revision(name, number), ...revision }, condition: { expression: 'attribute_not_exists(pk)' } },
        { kind: 'put', item: { ...keys.deployment(name, deployment.id), ...deployment }, condition: { expression: 'attribute_not_exists(pk)' } },
        this.headPut(newHead, head.token),
        this.markerOp(head.cluster, now),
        {
          kind: 'update',
          key: keys.deployment(name, id),
          set: {
            status: 'rolled_back',
            updatedAt: now,
            finishedAt: rolledBack.finishedAt ?? now,
            reasons: withReason(rolledBack.reasons, `rolled back by ${deployment.id}`),
          },
          condition: { expression: '#c_status = :c_status', names: { '#c_status': 'status' }, values: { ':c_status': rolledBack.status } },
        },
      ];
      if (head.activeDeploymentId && head.activeDeploymentId !== id) {
        const supersede = await this.supersedeOp(head, deployment.id, now);
        if (supersede) ops.push(supersede);
      }
      await this.run(ops, () => new Retry());
      return deploymentView(deployment, revision.taskDefinition);
    });
  }

  // ---------------------------------------------------------------- instances and tasks

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

  /** What an instance preview evaluates: a revision (default current) and the agents' status records of its cluster. */
  async previewTarget(name: string, revision?: number): Promise<{ revision: RevisionView; statuses: InstanceStatus[] }> {
    validateEnvironmentName(name);
    const head = await this.loadHead(name);
    const number = revision ?? head.currentRevision;
    if (number > head.latestRevision) throw new NotFoundError(`revision ${number} of environment ${name} not found (latest is ${head.latestRevision})`);
    const loaded = await this.loadRevision(name, number);
    return { revision: revisionView(loaded), statuses: await this.clusterInstances(head.cluster, new Map()) };
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

  // ---------------------------------------------------------------- internals

  private nowIso(): string {
    return new Date(this.clock.wallMs()).toISOString();
  }

  private async attempt<T>(body: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await body();
      } catch (error) {
        const again = error instanceof Retry || (error instanceof TransactionCancelled && error.contended);
        if (!again || attempt >= TRANSACTION_ATTEMPTS) {
          if (again) throw new ConflictError('too many concurrent changes to this environment; try again');
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 20 * attempt));
      }
    }
  }

  /** Runs a transaction; a failed condition (not contention) becomes `onFailure`'s error. */
  private async run(ops: TransactOp[], onFailure: (index: number) => Error): Promise<void> {
    try {
      await this.table.transact(ops);
    } catch (error) {
      if (error instanceof TransactionCancelled && !error.contended) {
        const index = error.reasons.findIndex((r) => r === 'ConditionalCheckFailed');
        if (index >= 0) throw onFailure(index);
      }
      throw error;
    }
  }

  private markerOp(cluster: string, now: string): TransactOp {
    return {
      kind: 'update',
      key: keys.changeMarker(cluster),
      set: { kind: 'ChangeMarker', schemaVersion: SCHEMA_VERSION, cluster, updatedAt: now },
      add: { version: 1 },
    };
  }

  private headPut(head: Environment, expectedToken: string): TransactOp {
    return { kind: 'put', item: { ...keys.environment(head.cluster, head.name), ...head }, condition: tokenCondition(expectedToken) };
  }

  /** Stops the head's unfinished active deployment (if any) because `by` replaces it. */
  private async supersedeOp(head: Environment, by: string, now: string): Promise<TransactOp | undefined> {
    return this.finishActiveOp(head, 'stopped', `superseded by ${by}`, now);
  }

  private async finishActiveOp(head: Environment, status: DeploymentStatus, reason: string, now: string): Promise<TransactOp | undefined> {
    if (!head.activeDeploymentId) return undefined;
    const item = await this.table.get(keys.deployment(head.name, head.activeDeploymentId));
    if (!item) return undefined;
    let active: Deployment;
    try {
      active = parseDeployment(item);
    } catch (error) {
      // A malformed deployment record is left as it is: it must not block changes to its environment.
      if (error instanceof InvalidRecordError) return undefined;
      throw error;
    }
    if (FINISHED_DEPLOYMENT_STATUSES.includes(active.status)) return undefined;
    return {
      kind: 'update',
      key: keys.deployment(head.name, active.id),
      set: { status, updatedAt: now, finishedAt: now, reasons: withReason(active.reasons, reason) },
      condition: { expression: '#c_status = :c_status', names: { '#c_status': 'status' }, values: { ':c_status': active.status } },
    };
  }

  private async changeDeployment(
    name: string,
    id: string,
    input: DeploymentActionInput,
    change: (deployment: Deployment) => Partial<Pick<Deployment, 'status' | 'paused' | 'reasons' | 'finishedAt'>> | undefined,
  ): Promise<DeploymentView> {
    validateEnvironmentName(name);
    validateDeploymentId(id);
    return this.attempt(async () => {
      const now = this.nowIso();
      const head = await this.loadHead(name);
      checkToken(head, input.token, false);
      const deployment = await this.loadDeployment(name, id);
      const revision = await this.loadRevision(name, deployment.targetRevision);
      const fields = change(deployment);
      if (!fields) return deploymentView(deployment, revision.taskDefinition);
      const updated: Deployment = { ...deployment, ...fields, updatedAt: now };
      const ops: TransactOp[] = [
        {
          kind: 'update',
          key: keys.deployment(name, id),
          set: { ...fields, updatedAt: now },
          condition: {
            expression: deployment.paused
              ? '#c_status = :c_status AND #c_paused = :c_paused'
              : '#c_status = :c_status AND (attribute_not_exists(#c_paused) OR #c_paused = :c_paused)',
            names: { '#c_status': 'status', '#c_paused': 'paused' },
            values: { ':c_status': deployment.status, ':c_paused': deployment.paused },
          },
        },
        this.headPut({ ...head, token: newToken(), updatedAt: now }, head.token),
        this.markerOp(head.cluster, now),
      ];
      await this.run(ops, () => new Retry());
      return deploymentView(updated, revision.taskDefinition);
    });
  }

  private async loadHead(name: string): Promise<Environment> {
    const indexItem = await this.table.get(keys.environmentIndex(name));
    if (!indexItem) throw new NotFoundError(`environment ${name} not found`);
    const index = parseEnvironmentIndex(indexItem);
    const headItem = await this.table.get(keys.environment(clusterNameOf(index.cluster), name));
    if (!headItem) throw new NotFoundError(`environment ${name} not found`);
    const head = parseEnvironment(headItem);
    if (head.status === 'DELETING') throw new NotFoundError(`environment ${name} not found (it is being deleted)`);
    return head;
  }

  private async loadRevision(name: string, number: number): Promise<EnvironmentRevision> {
    const key = keys.revision(name, number);
    const item = await this.table.get(key);
    if (!item) throw new InvalidRecordError(`${key.pk}/${key.sk}`, 'revision', `revision ${number} of environment ${name} is missing`);
    return parseStoredRevision(item);
  }

  private async loadDeployment(name: string, id: string): Promise<Deployment> {
    const item = await this.table.get(keys.deployment(name, id));
    if (!item) throw new NotFoundError(`deployment ${id} of environment ${name} not found`);
    return parseDeployment(item);
  }

  private async activeDeployment(head: Environment): Promise<Deployment | undefined> {
    if (!head.activeDeploymentId) return undefined;
    const item = await this.table.get(keys.deployment(head.name, head.activeDeploymentId));
    return item ? parseDeployment(item) : undefined;
  }

  private async viewWith(head: Environment, revision: EnvironmentRevision | undefined, active: Deployment | undefined): Promise<EnvironmentView> {
    const current = revision ?? (await this.loadRevision(head.name, head.currentRevision));
    const instances = await this.clusterInstances(head.cluster, new Map());
    return environmentView(head, current, active, instances);
  }

  private async highestRevision(name: string): Promise<number> {
    const page = await this.table.query(environmentPk(name), { prefix: REVISION_SK_PREFIX, forward: false, limit: 1 });
    const sk = page.items[0]?.sk;
    if (typeof sk !== 'string') return 0;
    const number = Number(sk.slice(REVISION_SK_PREFIX.length));
    return Number.isInteger(number) && number > 0 ? number : 0;
  }

  /** Joins heads with their current revision, active deployment and the cluster's instance status. */
  /** `single`: a read of one environment, where a malformed record is the answer (422); lists skip and report it. */
  private async views(heads: Environment[], instanceCache: Map<string, InstanceStatus[]>, invalid: InvalidItem[], single = false): Promise<EnvironmentView[]> {
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
        const instances = await this.clusterInstances(head.cluster, instanceCache);
        views.push(environmentView(head, revision, active, instances));
      } catch (error) {
        if (single || !(error instanceof InvalidRecordError)) throw error;
        invalid.push(invalidItem(error, head.name));
      }
    }
    return views;
  }

  private async revisionsByNumber(name: string, numbers: number[], invalid: InvalidItem[]): Promise<Map<number, EnvironmentRevision>> {
    const items = await this.table.batchGet([...new Set(numbers)].map((n) => keys.revision(name, n)));
    const map = new Map<number, EnvironmentRevision>();
    for (const item of items) {
      const revision = this.tryParse(item, (i) => parseStoredRevision(i), invalid, name);
      if (revision) map.set(revision.revision, revision);
    }
    for (const n of new Set(numbers)) {
      if (!map.has(n) && !invalid.some((i) => i.record === `${environmentPk(name)}/${keys.revision(name, n).sk}`)) {
        const key = keys.revision(name, n);
        invalid.push({
          record: `${key.pk}/${key.sk}`,
          code: 'InvalidRecord',
          message: `record ${key.pk}/${key.sk}: revision ${n} of environment ${name} is missing`,
          field: 'revision',
          name,
        });
      }
    }
    return map;
  }

  /** The cluster's InstanceStatus records (malformed ones skipped), read once per request per cluster. */
  private async clusterInstances(cluster: string, cache: Map<string, InstanceStatus[]>): Promise<InstanceStatus[]> {
    const cached = cache.get(cluster);
    if (cached) return cached;
    const statuses: InstanceStatus[] = [];
    let startKey: ItemKey | undefined;
    for (let page = 0; page < HEALTH_PAGES; page++) {
      const result = await this.table.query(clusterPk(cluster), { prefix: INSTANCE_SK_PREFIX, consistent: false, ...(startKey ? { startKey } : {}) });
      const page: InstanceStatus[] = [];
      for (const item of result.items) {
        try {
          page.push(parseInstanceStatus(item));
        } catch (error) {
          if (!(error instanceof InvalidRecordError)) throw error;
        }
      }
      statuses.push(...(await this.live(page)));
      startKey = result.lastKey;
      if (!startKey) break;
    }
    cache.set(cluster, statuses);
    return statuses;
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
      try {
        const heartbeat = parseInstanceHeartbeat(item);
        heartbeats.set(heartbeat.containerInstanceId, heartbeat);
      } catch (error) {
        if (!(error instanceof InvalidRecordError)) throw error; // an unreadable heartbeat says nothing: the status record's own validity stands
      }
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
      statuses.push(...(await this.live(this.parseAll(page.items, parseInstanceStatus, invalid))));
      const nextToken = keyToken(page.lastKey);
      return nextToken ? { statuses, nextToken, invalid } : { statuses, invalid };
    }
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
      statuses.push(...(await this.live(this.parseAll(page.items, parseInstanceStatus, invalid))));
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
        try {
          clusters.add(clusterNameOf(parseEnvironmentIndex(item).cluster));
        } catch (error) {
          if (!(error instanceof InvalidRecordError)) throw error;
        }
      }
      startKey = page.lastKey;
    } while (startKey);
    return [...clusters].sort();
  }

  private parseAll<T>(items: Item[], parse: (item: unknown) => T, invalid: InvalidItem[]): T[] {
    return items.map((item) => this.tryParse(item, parse, invalid)).filter((x): x is T => x !== undefined);
  }

  private tryParse<T>(item: Item, parse: (item: unknown) => T, invalid: InvalidItem[], name?: string): T | undefined {
    try {
      return parse(item);
    } catch (error) {
      if (!(error instanceof InvalidRecordError)) throw error;
      const sk = typeof item.sk === 'string' ? item.sk : '';
      const inferred = name ?? (sk.startsWith(ENV_SK_PREFIX) ? sk.slice(ENV_SK_PREFIX.length) : undefined);
      invalid.push(invalidItem(error, inferred));
      return undefined;
    }
  }
}

// ---------------------------------------------------------------- helpers

function invalidItem(error: InvalidRecordError, name: string | undefined): InvalidItem {
  const entry: InvalidItem = { record: error.record, code: error.code, message: error.message };
  if (error.field !== undefined) entry.field = error.field;
  if (name !== undefined) entry.name = name;
  return entry;
}

function pageOf<T>(items: T[], lastKey: ItemKey | undefined, invalid: InvalidItem[]): Page<T> {
  return pageWithToken(items, keyToken(lastKey), invalid);
}

/** nextToken and invalid only when there are any. */
function pageWithToken<T>(items: T[], nextToken: string | undefined, invalid: InvalidItem[]): Page<T> {
  const page: Page<T> = { items };
  if (nextToken) page.nextToken = nextToken;
  if (invalid.length) page.invalid = invalid;
  return page;
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

/** For `.catch`: a malformed record gives `fallback`; any other error stays an error. */
function unlessInvalid<T>(fallback: T): (error: unknown) => T {
  return (error) => {
    if (error instanceof InvalidRecordError) return fallback;
    throw error;
  };
}

/** A revision of an earlier life of the name may name another cluster: it cannot be deployed here. */
function checkRevisionCluster(revision: EnvironmentRevision, head: Environment): void {
  if (clusterNameOf(revision.instanceGroup.cluster) !== head.cluster) {
    throw new InvalidInputError(
      'revision',
      `revision ${revision.revision} belongs to cluster ${revision.instanceGroup.cluster} (an earlier environment of this name); this one is in ${head.cluster}`,
    );
  }
}

/** Deployment reasons keep the latest MAX_REASONS (an item must stay far below DynamoDB's 400 KB). */
const MAX_REASONS = 50;
function withReason(reasons: readonly string[], reason: string): string[] {
  return [...reasons, reason].slice(-MAX_REASONS);
}

function checkToken(head: Environment, token: string | undefined, required: boolean): void {
  if (token === undefined) {
    if (required) throw new InvalidInputError('token', 'is required');
    return;
  }
  if (token !== head.token) {
    throw new ConflictError(
      `the token is stale: environment ${head.name} changed since it was read (current token ${head.token})`,
      { token: head.token },
      'token',
    );
  }
}

function tokenCondition(token: string): Condition {
  return {
    expression: '#c_token = :c_token AND #c_status = :c_active',
    names: { '#c_token': 'token', '#c_status': 'status' },
    values: { ':c_token': token, ':c_active': 'ACTIVE' },
  };
}

function absentOrDeleting(): Condition {
  return { expression: 'attribute_not_exists(pk) OR #c_status = :c_deleting', names: { '#c_status': 'status' }, values: { ':c_deleting': 'DELETING' } };
}

/** A cluster filter: name or ARN; returns the name. */
export function validateCluster(cluster: string, field = 'cluster'): string {
  if (!patterns.CLUSTER.test(cluster)) throw new InvalidInputError(field, 'must be a cluster name or cluster ARN');
  return clusterNameOf(cluster);
}

const DEPLOYMENT_ID = /^[0-9a-z]{9}-[0-9a-z]{8}$/;

export function validateDeploymentId(id: string): void {
  // Ids this store makes have one shape; hand-written ones may differ, so only reject the absurd.
  if (id.length === 0 || id.length > 64 || !/^[A-Za-z0-9_.:-]+$/.test(id)) throw new InvalidInputError('id', 'is not a deployment id');
}

/** 9 base36 digits of epoch milliseconds (sorts by creation time), '-', 8 random base36 digits. */
export function newDeploymentId(now: Date): string {
  const time = now.getTime().toString(36).padStart(9, '0');
  const bytes = randomBytes(8);
  let random = '';
  for (const byte of bytes) random += (byte % 36).toString(36);
  const id = `${time}-${random}`;
  if (!DEPLOYMENT_ID.test(id)) throw new BloxError('Internal', `made a malformed deployment id ${id}`);
  return id;
}

export function newToken(): string {
  return randomUUID();
}

function newDeployment(id: string, environment: string, target: number, previous: number | undefined, now: string, reasons: string[]): Deployment {
  const deployment: Deployment = {
    kind: 'Deployment',
    schemaVersion: SCHEMA_VERSION,
    id,
    environment,
    targetRevision: target,
    status: 'pending',
    paused: false,
    reasons,
    failedInstances: [],
    createdAt: now,
    updatedAt: now,
  };
  if (previous !== undefined) deployment.previousRevision = previous;
  return deployment;
}

function sameContent(
  content: Pick<EnvironmentRevision, 'taskDefinition' | 'instanceGroup' | 'deploymentConfiguration' | 'restartPolicy' | 'critical' | 'order'>,
  revision: EnvironmentRevision,
): boolean {
  const canonical = (value: unknown): string =>
    JSON.stringify(value, (_key, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
    );
  const { taskDefinition, instanceGroup, deploymentConfiguration, restartPolicy, critical, order } = revision;
  return canonical(content) === canonical({ taskDefinition, instanceGroup, deploymentConfiguration, restartPolicy, critical, order });
}
