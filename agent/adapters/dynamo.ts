// The agent's DynamoDB access, and the only agent file (with the other adapters) that imports the
// SDK. It implements the desired-state, claim and status ports (agent/ports.ts). Costs, by design:
// - steady state: one eventually consistent GetItem of CLUSTER#<c>/MARKER per poll (0.5 RCU);
// - a Query of CLUSTER#<c> begins_with ENV# (strongly consistent) only when the marker moved;
// - revisions are immutable: fetched once (BatchGetItem) and cached while they are current;
// - the instance heartbeat: one small conditional PutItem per heartbeat (1 WCU), whatever the
//   number of environments; claims: a conditional PutItem or DeleteItem only when something
//   happens; a lost condition comes back as a WriteConflictError carrying the item that won
//   (ReturnValuesOnConditionCheckFailure ALL_OLD);
// - the InstanceStatus record is written on change and on a slow refresh.
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { errorMessage, InvalidRecordError } from '../../core/errors.js';
import { clusterPk, containerInstanceIdOf, environmentPk, ENV_SK_PREFIX, keys, type ItemKey } from '../../core/keys.js';
import {
  claimAttributes,
  COUNTER_CONDITION,
  parseRepairBudget,
  parseRolloutControl,
  type RepairBudgetRecord,
  type RolloutControl,
  parseChangeMarker,
  parseClaimRecord,
  parseEnvironment,
  parseInstanceHeartbeat,
  parseStoredRevision,
  type ChangeMarker,
  type Claim,
  type ClaimRecord,
  type EnvironmentRevision,
  type InstanceHeartbeat,
  type InstanceStatus,
} from '../../core/records.js';
import { nameOfHead } from '../observe/desired.js';
import type { RolloutCounterMove } from '../model.js';
import {
  RolloutRefusedError,
  WriteConflictError,
  type ClaimPort,
  type DesiredStatePort,
  type EnvironmentEntry,
  type RepairPort,
  type RolloutPort,
  type StatusPort,
} from '../ports.js';
import { sdkClientConfig, type SdkClientOptions } from './sdk-client-config.js';

const ENV_PK_PREFIX = environmentPk('');

export interface DynamoAdapterOptions extends SdkClientOptions {
  table: string;
  client?: DynamoDBClient;
  /** Wraps every call (metrics). */
  call?: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
}

export class AgentDynamo implements DesiredStatePort, ClaimPort, StatusPort, RolloutPort, RepairPort {
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
        const out = await this.call('BatchGetItem', () =>
          this.client.send(new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: request.map((k) => marshall(k)) } } })),
        );
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
      else
        entries[w.index] = {
          name: w.name,
          kind: 'invalid',
          error: invalidRevisions.get(`${key.pk}/${key.sk}`) ?? `revision ${w.revision} (${key.pk}/${key.sk}) not found`,
        };
    }
    return entries;
  }

  async getHeartbeat(containerInstanceId: string): Promise<InstanceHeartbeat | null> {
    const item = await this.getConsistent(keys.heartbeat(containerInstanceId));
    return item ? parseInstanceHeartbeat(item) : null;
  }

  async putHeartbeat(heartbeat: InstanceHeartbeat, expectedRecordVersion: string | undefined): Promise<void> {
    await this.conditionalPut(keys.heartbeat(heartbeat.containerInstanceId), { ...heartbeat }, expectedRecordVersion, parseInstanceHeartbeat);
  }

  async getClaims(environments: readonly string[], containerInstanceId: string): Promise<Map<string, ClaimRecord | null | InvalidRecordError>> {
    const result = new Map<string, ClaimRecord | null | InvalidRecordError>(environments.map((env) => [env, null]));
    for (let i = 0; i < environments.length; i += 100) {
      let request: ItemKey[] = environments.slice(i, i + 100).map((env) => keys.claim(env, containerInstanceId));
      for (let round = 0; request.length > 0; round++) {
        if (round >= 5) throw new Error(`BatchGetItem left ${request.length} claim(s) unprocessed after ${round} rounds`);
        const out = await this.call('BatchGetItem', () =>
          this.client.send(new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: request.map((k) => marshall(k)), ConsistentRead: true } } })),
        );
        for (const raw of out.Responses?.[this.table] ?? []) {
          const item = unmarshall(raw);
          const env = String(item.pk).slice(ENV_PK_PREFIX.length);
          try {
            result.set(env, parseClaimRecord(item));
          } catch (error) {
            if (!(error instanceof InvalidRecordError)) throw error;
            result.set(env, error);
          }
        }
        request = (out.UnprocessedKeys?.[this.table]?.Keys ?? []).map((k) => unmarshall(k) as ItemKey);
      }
    }
    return result;
  }

  async putClaim(claim: Claim, expectedRecordVersion: string | undefined, counter?: RolloutCounterMove): Promise<void> {
    const key = keys.claim(claim.environment, claim.containerInstanceId);
    if (!counter) return this.conditionalPut(key, claimAttributes(claim), expectedRecordVersion, parseClaimRecord);
    // The claim and the rollout counter in one transaction (2 WCU each): both or neither.
    const admit = counter.delta > 0;
    try {
      await this.call('TransactWriteItems', () =>
        this.client.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.table,
                  Item: marshall({ ...key, ...claimAttributes(claim) }, { removeUndefinedValues: true }),
                  ConditionExpression: expectedRecordVersion === undefined ? 'attribute_not_exists(pk)' : 'recordVersion = :expected',
                  ...(expectedRecordVersion === undefined ? {} : { ExpressionAttributeValues: marshall({ ':expected': expectedRecordVersion }) }),
                  ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
                },
              },
              {
                Update: {
                  TableName: this.table,
                  Key: marshall(keys.rolloutControl(counter.environment)),
                  UpdateExpression: admit ? 'ADD inFlight :one, admitted :one' : 'ADD inFlight :minus',
                  ConditionExpression: admit ? COUNTER_CONDITION.admit : COUNTER_CONDITION.release,
                  ExpressionAttributeValues: marshall(
                    admit
                      ? { ':d': counter.deploymentId, ':one': 1, ':rolling': 'rolling', ':canary': 'canary', ':false': false }
                      : { ':d': counter.deploymentId, ':minus': -1 },
                  ),
                },
              },
            ],
          }),
        ),
      );
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [claimReason, controlReason] = error.CancellationReasons ?? [];
      if (claimReason?.Code === 'ConditionalCheckFailed') {
        const returned = claimReason.Item;
        throw await this.conflictOf(
          Object.assign(new Error('claim condition'), { name: 'ConditionalCheckFailedException', Item: returned }),
          key,
          'write',
          parseClaimRecord,
        );
      }
      if (controlReason?.Code === 'ConditionalCheckFailed')
        throw new RolloutRefusedError(`rollout of ${counter.environment} refused ${admit ? 'an admission' : 'a release'} (deployment ${counter.deploymentId})`);
      throw error;
    }
  }

  async getRevision(environment: string, revision: number): Promise<EnvironmentRevision | undefined> {
    const out = await this.call('GetItem', () =>
      this.client.send(new GetItemCommand({ TableName: this.table, Key: marshall(keys.revision(environment, revision)) })),
    );
    return out.Item ? parseStoredRevision(unmarshall(out.Item)) : undefined;
  }

  /** Eventually consistent GetItem of the environment's rollout control (0.5 RCU). */
  async getControl(environment: string, consistent = false): Promise<RolloutControl | null> {
    const out = await this.call('GetItem', () =>
      this.client.send(new GetItemCommand({ TableName: this.table, Key: marshall(keys.rolloutControl(environment)), ConsistentRead: consistent })),
    );
    return out.Item ? parseRolloutControl(unmarshall(out.Item)) : null;
  }

  async deleteClaim(environment: string, containerInstanceId: string, expectedRecordVersion: string): Promise<void> {
    const key = keys.claim(environment, containerInstanceId);
    try {
      await this.call('DeleteItem', () =>
        this.client.send(
          new DeleteItemCommand({
            TableName: this.table,
            Key: marshall(key),
            ConditionExpression: 'recordVersion = :expected',
            ExpressionAttributeValues: marshall({ ':expected': expectedRecordVersion }),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
    } catch (error) {
      throw await this.conflictOf(error, key, 'delete', parseClaimRecord);
    }
  }

  async putInstanceStatus(status: InstanceStatus): Promise<void> {
    const item = { ...keys.instanceStatus(status.cluster, containerInstanceIdOf(status.containerInstanceArn)), ...status };
    await this.call('PutItem', () => this.client.send(new PutItemCommand({ TableName: this.table, Item: marshall(item, { removeUndefinedValues: true }) })));
  }

  async getRepairBudget(environment: string): Promise<RepairBudgetRecord | null> {
    const item = await this.getConsistent(keys.repairBudget(environment));
    return item ? parseRepairBudget(item) : null;
  }

  async putRepairBudget(record: RepairBudgetRecord, expectedRecordVersion: string | undefined): Promise<void> {
    await this.conditionalPut(keys.repairBudget(record.environment), { ...record }, expectedRecordVersion, parseRepairBudget);
  }

  private async getConsistent(key: ItemKey): Promise<Record<string, unknown> | undefined> {
    const out = await this.call('GetItem', () => this.client.send(new GetItemCommand({ TableName: this.table, Key: marshall(key), ConsistentRead: true })));
    return out.Item ? unmarshall(out.Item) : undefined;
  }

  /**
   * A whole-item PutItem, conditional on the item's absence (`expected` undefined) or on exactly the
   * record version the writer read. Record versions are random 128-bit values: equal means unchanged.
   */
  private async conditionalPut<T>(key: ItemKey, attributes: Record<string, unknown>, expected: string | undefined, parse: (item: unknown) => T): Promise<void> {
    try {
      await this.call('PutItem', () =>
        this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: marshall({ ...key, ...attributes }, { removeUndefinedValues: true }),
            ConditionExpression: expected === undefined ? 'attribute_not_exists(pk)' : 'recordVersion = :expected',
            ...(expected === undefined ? {} : { ExpressionAttributeValues: marshall({ ':expected': expected }) }),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
    } catch (error) {
      throw await this.conflictOf(error, key, 'write', parse);
    }
  }

  /** A failed condition becomes WriteConflictError with the winning item (read if not returned). */
  private async conflictOf<T>(error: unknown, key: ItemKey, what: string, parse: (item: unknown) => T): Promise<unknown> {
    if (!(error instanceof ConditionalCheckFailedException) && (error as { name?: string })?.name !== 'ConditionalCheckFailedException') return error;
    const returned = (error as { Item?: Record<string, AttributeValue> }).Item;
    let current: T | null = null;
    try {
      const item = returned ? unmarshall(returned) : await this.getConsistent(key);
      current = item ? parse(item) : null;
    } catch (readError) {
      return readError;
    }
    const holder = current as { owner?: string; recordVersion?: string } | null;
    return new WriteConflictError(
      `${key.pk}/${key.sk}: ${what} lost to ${holder ? `${holder.owner} (record version ${holder.recordVersion})` : 'nobody (no item)'}`,
      current,
    );
  }
}

function revisionCacheKey(name: string, revision: number): string {
  return `${name}#${revision}`;
}
