// The agent's DynamoDB access, and the only agent file (with the other adapters) that imports the
// SDK. Costs, by design:
// - steady state: one eventually consistent GetItem of CLUSTER#<c>/MARKER per poll (0.5 RCU);
// - a Query of CLUSTER#<c> begins_with ENV# (strongly consistent) only when the marker moved;
// - revisions are immutable: fetched once (BatchGetItem) and cached while they are current;
// - lease writes are conditional UpdateItem/DeleteItem; a lost condition comes back as a
//   LeaseConflictError carrying the item that won (ReturnValuesOnConditionCheckFailure ALL_OLD);
// - the InstanceStatus record is written on change and on a slow heartbeat, with a TTL.
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { ConflictError, errorMessage } from '../../core/errors.js';
import { clusterPk, ENV_SK_PREFIX, keys, SCHEMA_VERSION, TTL_ATTRIBUTE, type ItemKey } from '../../core/keys.js';
import { parseChangeMarker, parseEnvironment, type ChangeMarker, type EnvironmentRevision, type InstanceStatus } from '../../core/records.js';
import { parseStoredRevision } from '../../core/records.js';
import type { EnvironmentEntry } from '../desired.js';
import { nameOfHead } from '../desired.js';
import { LEASE_KIND, leaseKey, parseLease, type LeaseAttempt, type LeaseItem } from '../lease.js';
import { sdkClientConfig, type SdkClientOptions } from './sdk-client-config.js';

/** A lost conditional lease write; `current` is the item that won (null: there is none). */
export class LeaseConflictError extends ConflictError<LeaseItem | null> {
  constructor(message: string, current: LeaseItem | null) {
    super(message, current);
    this.name = 'LeaseConflictError';
  }
}

export interface DynamoAdapterOptions extends SdkClientOptions {
  table: string;
  client?: DynamoDBClient;
  /** Wraps every call (metrics). */
  call?: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
}

/** Lease items disappear by themselves this long after their last write (a vanished instance's). */
export const LEASE_TTL_SECONDS = 7 * 24 * 3600;

export class AgentDynamo {
  readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly ownsClient: boolean;
  private readonly revisions = new Map<string, EnvironmentRevision>();
  private readonly call: <T>(operation: string, run: () => Promise<T>) => Promise<T>;

  constructor(options: DynamoAdapterOptions) {
    this.table = options.table;
    this.ownsClient = !options.client;
    this.client = options.client ?? new DynamoDBClient({ ...sdkClientConfig(options, 3_000), maxAttempts: 2 });
    this.call = options.call ?? ((_op, run) => run());
  }

  destroy(): void {
    if (this.ownsClient) this.client.destroy();
  }

  /** Eventually consistent GetItem of the change marker: the one read per poll. */
  async getMarker(cluster: string): Promise<ChangeMarker | undefined> {
    const out = await this.call('GetItem', () => this.client.send(new GetItemCommand({ TableName: this.table, Key: marshall(keys.changeMarker(cluster)) })));
    return out.Item ? parseChangeMarker(unmarshall(out.Item)) : undefined;
  }

  /** Every environment head of the cluster with the revision it converges to (or why it is invalid). */
  async loadEnvironments(cluster: string): Promise<EnvironmentEntry[]> {
    const heads: Record<string, unknown>[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.call('Query', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: marshall({ ':pk': clusterPk(cluster), ':prefix': ENV_SK_PREFIX }),
            ConsistentRead: true,
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
        ),
      );
      for (const item of page.Items ?? []) heads.push(unmarshall(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);

    const entries: EnvironmentEntry[] = [];
    const wanted: { name: string; revision: number; index: number }[] = [];
    for (const item of heads) {
      const name = nameOfHead(item);
      try {
        const environment = parseEnvironment(item);
        entries.push({ name, kind: 'valid', environment, revision: undefined as unknown as EnvironmentRevision });
        wanted.push({ name, revision: environment.currentRevision, index: entries.length - 1 });
      } catch (error) {
        entries.push({ name, kind: 'invalid', error: errorMessage(error) });
      }
    }
    const missing = wanted.filter((w) => !this.revisions.has(revisionCacheKey(w.name, w.revision)));
    const invalidRevisions = new Map<string, string>();
    for (let i = 0; i < missing.length; i += 100) {
      let request: ItemKey[] = missing.slice(i, i + 100).map((w) => keys.revision(w.name, w.revision));
      for (let round = 0; request.length > 0 && round < 5; round++) {
        const out = await this.call('BatchGetItem', () => this.client.send(new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: request.map((k) => marshall(k)) } } })));
        for (const raw of out.Responses?.[this.table] ?? []) {
          const item = unmarshall(raw);
          const key = `${String(item.pk)}/${String(item.sk)}`;
          try {
            const revision = parseStoredRevision(item);
            this.revisions.set(revisionCacheKey(revision.environment, revision.revision), revision);
          } catch (error) {
            invalidRevisions.set(key, errorMessage(error));
          }
        }
        request = (out.UnprocessedKeys?.[this.table]?.Keys ?? []).map((k) => unmarshall(k) as ItemKey);
      }
    }
    // Only the revisions in use stay cached: an agent that runs for months sees many deployments.
    const inUse = new Set(wanted.map((w) => revisionCacheKey(w.name, w.revision)));
    for (const key of [...this.revisions.keys()]) if (!inUse.has(key)) this.revisions.delete(key);
    for (const w of wanted) {
      const revision = this.revisions.get(revisionCacheKey(w.name, w.revision));
      const key = keys.revision(w.name, w.revision);
      const entry = entries[w.index];
      if (!entry || entry.kind !== 'valid') continue;
      if (revision) entry.revision = revision;
      else entries[w.index] = { name: w.name, kind: 'invalid', error: invalidRevisions.get(`${key.pk}/${key.sk}`) ?? `revision ${w.revision} (${key.pk}/${key.sk}) not found` };
    }
    return entries;
  }

  async getLease(environment: string, containerInstanceId: string): Promise<LeaseItem | null> {
    const out = await this.call('GetItem', () => this.client.send(new GetItemCommand({ TableName: this.table, Key: marshall(leaseKey(environment, containerInstanceId)), ConsistentRead: true })));
    return out.Item ? parseLease(unmarshall(out.Item)) : null;
  }

  /**
   * Takes the lease: when there is none, when it was released, or when it still carries the record
   * version the caller watched expire. Keeps the attempt and task recorded by the previous holder.
   */
  async acquireLease(input: { environment: string; containerInstanceId: string; owner: string; recordVersion: string; leaseDurationMs: number; expectedRecordVersion?: string; nowIso: string; nowEpochSeconds: number }): Promise<LeaseItem> {
    // With a version: exactly the item the decision was made on (released or watched expire), so an
    // attempt written since cannot be overwritten unseen. Without one: free or released; the caller
    // then decides again with the item this returns.
    const condition = input.expectedRecordVersion !== undefined ? 'attribute_not_exists(pk) OR recordVersion = :expected' : 'attribute_not_exists(pk) OR released = :true';
    return this.updateLease(
      leaseKey(input.environment, input.containerInstanceId),
      'SET #kind = :kind, schemaVersion = :sv, environment = :env, containerInstanceId = :ci, #owner = :owner, recordVersion = :rv, leaseDurationMs = :dur, released = :false, updatedAt = :now, #ttl = :ttl',
      condition,
      {
        ':kind': LEASE_KIND,
        ':sv': SCHEMA_VERSION,
        ':env': input.environment,
        ':ci': input.containerInstanceId,
        ':owner': input.owner,
        ':rv': input.recordVersion,
        ':dur': input.leaseDurationMs,
        ':false': false,
        ':now': input.nowIso,
        ':ttl': input.nowEpochSeconds + LEASE_TTL_SECONDS,
        ...(input.expectedRecordVersion !== undefined ? { ':expected': input.expectedRecordVersion } : { ':true': true }),
      },
      { '#kind': 'kind', '#owner': 'owner', '#ttl': TTL_ATTRIBUTE },
      'acquire',
    );
  }

  /**
   * A write by the holder, conditional on still holding it at the version it last wrote:
   * heartbeat (no change), record an attempt, record the adopted task, clear a void attempt, or
   * release without deleting (clean shutdown: the next agent may take it at once).
   */
  async writeLease(
    current: LeaseItem,
    change: { recordVersion: string; nowIso: string; nowEpochSeconds: number; attempt?: LeaseAttempt | null; task?: { taskArn: string; revision?: number }; released?: boolean },
  ): Promise<LeaseItem> {
    const sets = ['recordVersion = :rv', 'updatedAt = :now', '#ttl = :ttl'];
    const removes: string[] = [];
    const values: Record<string, unknown> = { ':rv': change.recordVersion, ':now': change.nowIso, ':ttl': change.nowEpochSeconds + LEASE_TTL_SECONDS, ':owner': current.owner, ':cur': current.recordVersion };
    if (change.attempt) {
      sets.push('attempt = :attempt');
      values[':attempt'] = change.attempt;
    } else if (change.attempt === null) removes.push('attempt');
    if (change.task) {
      sets.push('taskArn = :task');
      values[':task'] = change.task.taskArn;
      if (change.task.revision !== undefined) {
        sets.push('revision = :revision');
        values[':revision'] = change.task.revision;
      }
    }
    if (change.released) {
      sets.push('released = :released');
      values[':released'] = true;
    }
    const update = `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`;
    return this.updateLease(leaseKey(current.environment, current.containerInstanceId), update, '#owner = :owner AND recordVersion = :cur', values, { '#owner': 'owner', '#ttl': TTL_ATTRIBUTE }, 'write');
  }

  /** Deletes the lease (no daemon left to guard), conditional on holding it. */
  async deleteLease(current: LeaseItem): Promise<void> {
    try {
      await this.call('DeleteItem', () =>
        this.client.send(
          new DeleteItemCommand({
            TableName: this.table,
            Key: marshall(leaseKey(current.environment, current.containerInstanceId)),
            ConditionExpression: '#owner = :owner AND recordVersion = :cur',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: marshall({ ':owner': current.owner, ':cur': current.recordVersion }),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
    } catch (error) {
      throw await this.conflictOf(error, leaseKey(current.environment, current.containerInstanceId), 'release');
    }
  }

  async putInstanceStatus(status: InstanceStatus): Promise<void> {
    const item = { ...keys.instanceStatus(status.cluster, containerInstanceIdOfArn(status.containerInstanceArn)), ...status };
    await this.call('PutItem', () => this.client.send(new PutItemCommand({ TableName: this.table, Item: marshall(item, { removeUndefinedValues: true }) })));
  }

  private async updateLease(key: ItemKey, update: string, condition: string, values: Record<string, unknown>, names: Record<string, string>, what: string): Promise<LeaseItem> {
    try {
      const out = await this.call('UpdateItem', () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: marshall(key),
            UpdateExpression: update,
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: marshall(usedValues(values, `${update} ${condition}`), { removeUndefinedValues: true }),
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return parseLease(unmarshall(out.Attributes ?? {}));
    } catch (error) {
      throw await this.conflictOf(error, key, what);
    }
  }

  /** A failed condition becomes LeaseConflictError with the winning item (read if not returned). */
  private async conflictOf(error: unknown, key: ItemKey, what: string): Promise<unknown> {
    if (!(error instanceof ConditionalCheckFailedException) && (error as { name?: string })?.name !== 'ConditionalCheckFailedException') return error;
    const returned = (error as { Item?: Record<string, AttributeValue> }).Item;
    let current: LeaseItem | null = null;
    try {
      if (returned) current = parseLease(unmarshall(returned));
      else {
        const out = await this.call('GetItem', () => this.client.send(new GetItemCommand({ TableName: this.table, Key: marshall(key), ConsistentRead: true })));
        current = out.Item ? parseLease(unmarshall(out.Item)) : null;
      }
    } catch (readError) {
      return readError;
    }
    return new LeaseConflictError(`lease ${key.pk}/${key.sk}: ${what} lost to ${current ? `${current.owner} (record version ${current.recordVersion})` : 'nobody (no item)'}`, current);
  }
}

function revisionCacheKey(name: string, revision: number): string {
  return `${name}#${revision}`;
}

function containerInstanceIdOfArn(arn: string): string {
  const slash = arn.lastIndexOf('/');
  return slash >= 0 ? arn.slice(slash + 1) : arn;
}

/** DynamoDB rejects unused expression values; keep only those the expressions mention. */
function usedValues(values: Record<string, unknown>, expressions: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([k]) => new RegExp(`${k}(?![A-Za-z0-9_])`).test(expressions)));
}
