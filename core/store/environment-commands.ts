// Creating, updating and deleting environments. Invariants kept here:
// - A name is global: the index record (ENVIRONMENTS / ENV#<name>) names the one cluster whose head
//   it is, and create writes index and head together, only over nothing or a deleted head.
// - Revisions are immutable and numbered without gaps: a change writes revision latest + 1, only
//   if it does not exist yet, with the head that names it (conditioned on the token read).
// - Delete leaves a DELETING tombstone (agents stop its tasks) that DynamoDB's TTL removes later.
// Deploying (on create, on update, superseding the active deployment) is the Deployments module's.
import type { Clock } from '../clock.js';
import { ConflictError, InvalidInputError } from '../errors.js';
import { clusterNameOf, environmentPk, keys, REVISION_SK_PREFIX, SCHEMA_VERSION, TTL_ATTRIBUTE } from '../keys.js';
import {
  DEFAULT_REPAIR,
  DEFAULT_REPAIR_BUDGET,
  parseEnvironment,
  parseEnvironmentIndex,
  readDeploymentConfiguration,
  readRestartPolicy,
  type Deployment,
  type Environment,
  type EnvironmentIndex,
  type EnvironmentRevision,
} from '../records.js';
import { ObjectReader } from '../validate.js';
import type { TableAccess, TransactOp } from './dynamo.js';
import { controlPut, newDeployment, type Deployments } from './deployments.js';
import type { EnvironmentReads } from './environment-reads.js';
import { validateEnvironmentName, type CreateEnvironmentInput, type UpdateEnvironmentInput } from './inputs.js';
import { Records, unlessInvalid } from './records-io.js';
import {
  absentOrDeleting,
  attempt,
  checkToken,
  headPut,
  markerOp,
  newDeploymentId,
  newToken,
  nowIso,
  putNew,
  Retry,
  run,
  tokenCondition,
} from './transactions.js';
import { deploymentView, environmentView, revisionView, type DeploymentView, type EnvironmentView, type RevisionView } from './views.js';

export interface UpdateResult {
  environment: EnvironmentView;
  /** False when the definition equals the latest revision: nothing was written. */
  changed: boolean;
  revision?: RevisionView;
  deployment?: DeploymentView;
}

type RevisionContent = Pick<
  EnvironmentRevision,
  'taskDefinition' | 'instanceGroup' | 'deploymentConfiguration' | 'restartPolicy' | 'critical' | 'order' | 'repair' | 'repairBudget'
>;

export interface EnvironmentCommandsOptions {
  table: TableAccess;
  clock: Clock;
  tombstoneSeconds: number;
  reads: EnvironmentReads;
  deployments: Deployments;
}

export class EnvironmentCommands {
  private readonly records: Records;

  constructor(private readonly options: EnvironmentCommandsOptions) {
    this.records = new Records(options.table);
  }

  async createEnvironment(input: CreateEnvironmentInput): Promise<EnvironmentView> {
    const { table, clock } = this.options;
    return attempt(async () => {
      const now = nowIso(clock);
      const { name } = input;
      const cluster = input.instanceGroup.cluster;
      const indexItem = await table.get(keys.environmentIndex(name));
      const index = indexItem ? parseEnvironmentIndex(indexItem) : undefined;
      if (index) {
        const oldHead = await table.get(keys.environment(clusterNameOf(index.cluster), name));
        if (oldHead && parseEnvironment(oldHead).status !== 'DELETING') throw new ConflictError(`environment ${name} already exists`, undefined, 'name');
      }
      // Numbering goes on after the revisions of a deleted environment of this name (they are immutable).
      const revisionNumber = (await this.highestRevision(name)) + 1;
      const deploymentId = newDeploymentId(new Date(clock.wallMs()));
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
      const { taskDefinition, instanceGroup, deploymentConfiguration, restartPolicy, critical, order, repair, repairBudget } = input;
      const content: RevisionContent = {
        taskDefinition,
        instanceGroup,
        deploymentConfiguration,
        restartPolicy,
        critical,
        order,
        repair: repair ?? DEFAULT_REPAIR,
        repairBudget: repairBudget ?? DEFAULT_REPAIR_BUDGET,
      };
      const revision = newRevision(name, revisionNumber, content, now);
      const deployment = newDeployment(deploymentId, name, revisionNumber, undefined, now, ['environment created']);
      const newIndex: EnvironmentIndex = { kind: 'EnvironmentIndex', schemaVersion: SCHEMA_VERSION, name, cluster };
      const ops: TransactOp[] = [
        {
          kind: 'put',
          item: { ...keys.environmentIndex(name), ...newIndex },
          // Over an old index only if it still names the cluster whose tombstone was checked, or if
          // DynamoDB's TTL removed that index (and so the tombstone) since it was read.
          condition: index
            ? {
                expression: 'attribute_not_exists(pk) OR #c_cluster = :c_cluster',
                names: { '#c_cluster': 'cluster' },
                values: { ':c_cluster': index.cluster },
              }
            : { expression: 'attribute_not_exists(pk)' },
        },
        { kind: 'put', item: { ...keys.environment(cluster, name), ...head }, condition: absentOrDeleting() },
        putNew(keys.revision(name, revisionNumber), revision),
        putNew(keys.deployment(name, deploymentId), deployment),
        controlPut(deployment, now),
        markerOp(cluster, now),
      ];
      if (index && clusterNameOf(index.cluster) !== cluster) {
        // The name moves to another cluster: its head in the old one must still be deleted.
        ops.push({ kind: 'check', key: keys.environment(clusterNameOf(index.cluster), name), condition: absentOrDeleting() });
      }
      await run(table, ops, () => new ConflictError(`environment ${name} already exists`, undefined, 'name'));
      return environmentView(head, revision, deployment, []);
    });
  }

  async updateEnvironment(name: string, input: UpdateEnvironmentInput): Promise<UpdateResult> {
    validateEnvironmentName(name);
    const { table, clock, reads, deployments } = this.options;
    return attempt(async () => {
      const now = nowIso(clock);
      const head = await this.records.loadHead(name);
      checkToken(head, input.token, true);
      if (input.instanceGroup && input.instanceGroup.cluster !== head.cluster) {
        throw new InvalidInputError(
          'instanceGroup.cluster',
          `cannot be changed: environment ${name} belongs to cluster ${head.cluster} (create a new environment for another cluster)`,
        );
      }
      const latest = await this.records.loadRevision(name, head.latestRevision);
      const content = mergeContent(input, latest);
      if (sameContent(content, latest)) {
        const [view] = await reads.views([head], new Map(), [], true);
        return { environment: view as EnvironmentView, changed: false };
      }
      const number = head.latestRevision + 1;
      const revision = newRevision(name, number, content, now);
      const newHead: Environment = { ...head, latestRevision: number, token: newToken(), updatedAt: now };
      const ops: TransactOp[] = [putNew(keys.revision(name, number), revision), markerOp(head.cluster, now)];
      let deployment: Deployment | undefined;
      if (input.deploy) {
        const replaced = await deployments.replace(head, number, `environment updated to revision ${number}`, now);
        deployment = replaced.deployment;
        newHead.currentRevision = number;
        newHead.activeDeploymentId = deployment.id;
        ops.push(...replaced.ops);
      }
      ops.push(headPut(newHead, head.token));
      // What the reply shows is read before the commit: a malformed record then fails the request
      // before anything is written, never after (a malformed active deployment is left out of it).
      const replyRevision = newHead.currentRevision === number ? revision : await this.records.loadRevision(name, newHead.currentRevision);
      const active = deployment ?? (await this.records.activeDeployment(newHead).catch(unlessInvalid(undefined)));
      await run(table, ops, () => new Retry());
      const view = await reads.viewWith(newHead, replyRevision, active);
      const result: UpdateResult = { environment: view, changed: true, revision: revisionView(revision) };
      if (deployment) result.deployment = deploymentView(deployment, revision.taskDefinition);
      return result;
    });
  }

  /** Marks the environment DELETING (agents stop its tasks) with a TTL. Returns undefined when there was nothing to delete (or its revision is malformed). */
  async deleteEnvironment(name: string, token?: string): Promise<EnvironmentView | undefined> {
    validateEnvironmentName(name);
    const { table, clock, tombstoneSeconds, deployments } = this.options;
    return attempt(async () => {
      const now = nowIso(clock);
      const indexItem = await table.get(keys.environmentIndex(name));
      if (!indexItem) return undefined;
      const index = parseEnvironmentIndex(indexItem);
      const headItem = await table.get(keys.environment(clusterNameOf(index.cluster), name));
      if (!headItem) return undefined;
      const head = parseEnvironment(headItem);
      if (head.status === 'DELETING') return undefined;
      checkToken(head, token, false);
      const expiresAt = Math.floor(clock.wallMs() / 1000) + tombstoneSeconds;
      const tombstone: Environment = { ...head, status: 'DELETING', token: newToken(), updatedAt: now };
      const ops: TransactOp[] = [
        { kind: 'put', item: { ...keys.environment(head.cluster, name), ...tombstone, [TTL_ATTRIBUTE]: expiresAt }, condition: tokenCondition(head.token) },
        { kind: 'update', key: keys.environmentIndex(name), set: { [TTL_ATTRIBUTE]: expiresAt }, condition: { expression: 'attribute_exists(pk)' } },
        markerOp(head.cluster, now),
      ];
      const stop = await deployments.finishActiveOp(head, 'stopped', 'environment deleted', now);
      if (stop) ops.push(stop);
      await run(table, ops, () => new Retry());
      // Deleted. A malformed current revision must not turn that into an error: answer without a view (204).
      const revision = await this.records.loadRevision(name, head.currentRevision).catch(unlessInvalid(undefined));
      return revision ? environmentView(tombstone, revision, undefined, []) : undefined;
    });
  }

  private async highestRevision(name: string): Promise<number> {
    const page = await this.options.table.query(environmentPk(name), { prefix: REVISION_SK_PREFIX, forward: false, limit: 1 });
    const sk = page.items[0]?.sk;
    if (typeof sk !== 'string') return 0;
    const number = Number(sk.slice(REVISION_SK_PREFIX.length));
    return Number.isInteger(number) && number > 0 ? number : 0;
  }
}

function newRevision(environment: string, revision: number, content: RevisionContent, now: string): EnvironmentRevision {
  return { kind: 'EnvironmentRevision', schemaVersion: SCHEMA_VERSION, environment, revision, ...content, createdAt: now };
}

/** The update's fields over the latest revision's; configuration objects merge field by field. */
function mergeContent(input: UpdateEnvironmentInput, latest: EnvironmentRevision): RevisionContent {
  const fail = (field: string, message: string) => new InvalidInputError(field, message);
  return {
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
    repair: input.repair ?? latest.repair,
    repairBudget: input.repairBudget ?? latest.repairBudget,
  };
}

/** Equal definitions (key order aside): an update that changes nothing writes nothing. */
function sameContent(content: RevisionContent, revision: EnvironmentRevision): boolean {
  const canonical = (value: unknown): string =>
    JSON.stringify(value, (_key, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
    );
  const { taskDefinition, instanceGroup, deploymentConfiguration, restartPolicy, critical, order, repair, repairBudget } = revision;
  return canonical(content) === canonical({ taskDefinition, instanceGroup, deploymentConfiguration, restartPolicy, critical, order, repair, repairBudget });
}
