// The DynamoDB adapter of the store: the only file under core/store that imports the AWS SDK.
// It speaks in plain objects (marshalled here) and in a tiny transaction vocabulary, so the
// service above it reads like the contract and never builds attribute maps by hand.
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ResourceInUseException,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type AttributeValue,
  type BatchGetItemCommandOutput,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { randomUUID } from 'node:crypto';
import { STREAM_SPECIFICATION, tableDefinition } from '../dynamo-table.js';
import { TTL_ATTRIBUTE, type ItemKey } from '../keys.js';

export type Item = Record<string, unknown>;

/** A condition expression with its own placeholders (use `#c…` / `:c…`; the adapter uses `#u…` / `:u…`). */
export interface Condition {
  expression: string;
  names?: Record<string, string>;
  values?: Record<string, unknown>;
}

export type TransactOp =
  | { kind: 'put'; item: Item; condition?: Condition }
  | { kind: 'update'; key: ItemKey; set?: Item; add?: Record<string, number>; remove?: string[]; condition?: Condition }
  | { kind: 'check'; key: ItemKey; condition: Condition };

/** A cancelled transaction: `reasons[i]` is DynamoDB's code for op i ('ConditionalCheckFailed', 'TransactionConflict', 'None', ...). */
export class TransactionCancelled extends Error {
  constructor(readonly reasons: string[]) {
    super(`transaction cancelled: ${reasons.join(', ')}`);
    this.name = 'TransactionCancelled';
  }
  failed(index: number): boolean {
    return this.reasons[index] === 'ConditionalCheckFailed';
  }
  get contended(): boolean {
    return this.reasons.some((r) => r === 'TransactionConflict');
  }
}

export interface QueryPage {
  items: Item[];
  lastKey?: ItemKey;
}

export interface QueryOptions {
  prefix?: string;
  limit?: number;
  startKey?: ItemKey;
  /** Ascending sort-key order unless false. */
  forward?: boolean;
  consistent?: boolean;
}

/** The operations the store needs from a table. An in-memory fake could implement it too. */
export interface TableAccess {
  get(key: ItemKey): Promise<Item | undefined>;
  batchGet(keys: ItemKey[]): Promise<Item[]>;
  query(pk: string, options?: QueryOptions): Promise<QueryPage>;
  transact(ops: TransactOp[]): Promise<void>;
}

export interface DynamoTableOptions {
  tableName: string;
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** An existing client (the caller keeps ownership). */
  client?: DynamoDBClient;
}

export class DynamoTable implements TableAccess {
  readonly tableName: string;
  readonly client: DynamoDBClient;
  private readonly ownsClient: boolean;

  constructor(options: DynamoTableOptions) {
    this.tableName = options.tableName;
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      this.client = new DynamoDBClient({
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
      this.ownsClient = true;
    }
  }

  destroy(): void {
    if (this.ownsClient) this.client.destroy();
  }

  async get(key: ItemKey): Promise<Item | undefined> {
    const out = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: marshall(key), ConsistentRead: true }));
    return out.Item ? unmarshall(out.Item) : undefined;
  }

  async batchGet(keys: ItemKey[]): Promise<Item[]> {
    const unique = [...new Map(keys.map((k) => [`${k.pk}\u0000${k.sk}`, k])).values()];
    const found: Item[] = [];
    for (let i = 0; i < unique.length; i += 100) {
      let pending: Record<string, AttributeValue>[] | undefined = unique.slice(i, i + 100).map((k) => marshall(k));
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        const out: BatchGetItemCommandOutput = await this.client.send(
          new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }),
        );
        for (const item of out.Responses?.[this.tableName] ?? []) found.push(unmarshall(item));
        pending = out.UnprocessedKeys?.[this.tableName]?.Keys;
        if (pending && pending.length > 0) await sleep(Math.min(1_000, 25 * 2 ** attempt));
      }
    }
    return found;
  }

  async query(pk: string, options: QueryOptions = {}): Promise<QueryPage> {
    const values: Item = { ':pk': pk };
    let expression = '#pk = :pk';
    const names: Record<string, string> = { '#pk': 'pk' };
    if (options.prefix) {
      expression += ' AND begins_with(#sk, :prefix)';
      names['#sk'] = 'sk';
      values[':prefix'] = options.prefix;
    }
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: expression,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: marshall(values),
        ScanIndexForward: options.forward ?? true,
        ConsistentRead: options.consistent ?? true,
        ...(options.limit ? { Limit: options.limit } : {}),
        ...(options.startKey ? { ExclusiveStartKey: marshall(options.startKey) } : {}),
      }),
    );
    const page: QueryPage = { items: (out.Items ?? []).map((item) => unmarshall(item)) };
    if (out.LastEvaluatedKey) {
      const last = unmarshall(out.LastEvaluatedKey);
      page.lastKey = { pk: String(last.pk), sk: String(last.sk) };
    }
    return page;
  }

  /** Puts one item, optionally conditional; a failed condition throws TransactionCancelled(['ConditionalCheckFailed']). */
  async put(item: Item, condition?: Condition): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(item, { removeUndefinedValues: true }),
          ...(condition ? conditionParts(condition) : {}),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new TransactionCancelled(['ConditionalCheckFailed']);
      throw error;
    }
  }

  async transact(ops: TransactOp[]): Promise<void> {
    const items = ops.map((op) => this.transactItem(op));
    try {
      // The token makes the SDK's own retries of this call (after a lost response) idempotent.
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: randomUUID() }));
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        throw new TransactionCancelled((error.CancellationReasons ?? []).map((r) => r.Code ?? 'None'));
      }
      throw error;
    }
  }

  private transactItem(op: TransactOp): TransactWriteItem {
    const TableName = this.tableName;
    if (op.kind === 'put') {
      return { Put: { TableName, Item: marshall(op.item, { removeUndefinedValues: true }), ...(op.condition ? conditionParts(op.condition) : {}) } };
    }
    if (op.kind === 'check') {
      const parts = conditionParts(op.condition);
      return { ConditionCheck: { TableName, Key: marshall(op.key), ConditionExpression: parts.ConditionExpression, ...rest(parts) } };
    }
    const names: Record<string, string> = { ...(op.condition?.names ?? {}) };
    const values: Item = { ...(op.condition?.values ?? {}) };
    const clauses: string[] = [];
    let n = 0;
    const setParts = Object.entries(op.set ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([name, value]) => {
        const i = n++;
        names[`#u${i}`] = name;
        values[`:u${i}`] = value;
        return `#u${i} = :u${i}`;
      });
    if (setParts.length) clauses.push(`SET ${setParts.join(', ')}`);
    const addParts = Object.entries(op.add ?? {}).map(([name, value]) => {
      const i = n++;
      names[`#u${i}`] = name;
      values[`:u${i}`] = value;
      return `#u${i} :u${i}`;
    });
    if (addParts.length) clauses.push(`ADD ${addParts.join(', ')}`);
    const removeParts = (op.remove ?? []).map((name) => {
      const i = n++;
      names[`#u${i}`] = name;
      return `#u${i}`;
    });
    if (removeParts.length) clauses.push(`REMOVE ${removeParts.join(', ')}`);
    return {
      Update: {
        TableName,
        Key: marshall(op.key),
        UpdateExpression: clauses.join(' '),
        ...(op.condition ? { ConditionExpression: op.condition.expression } : {}),
        ExpressionAttributeNames: names,
        ...(Object.keys(values).length ? { ExpressionAttributeValues: marshall(values, { removeUndefinedValues: true }) } : {}),
      },
    };
  }

  /**
   * Creates the table (idempotent), turns on TTL on `expiresAt` and, on a table created before the
   * live feeds, its stream. Returns false when it already existed.
   */
  async createTable(): Promise<boolean> {
    let created = true;
    try {
      await this.client.send(new CreateTableCommand(tableDefinition(this.tableName)));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
      created = false;
    }
    const active = async () => {
      for (let i = 0; i < 120; i++) {
        const out = await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
        if (out.Table?.TableStatus === 'ACTIVE') return out.Table;
        await sleep(500);
      }
      return undefined;
    };
    const described = await active();
    if (described && !described.StreamSpecification?.StreamEnabled) {
      await this.client.send(new UpdateTableCommand({ TableName: this.tableName, StreamSpecification: { ...STREAM_SPECIFICATION } }));
      await active();
    }
    try {
      await this.client.send(
        new UpdateTimeToLiveCommand({ TableName: this.tableName, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } }),
      );
    } catch (error) {
      // Already enabled answers ValidationException; that is the state we want.
      if (!(error instanceof Error && /already enabled/i.test(error.message))) throw error;
    }
    return created;
  }
}

function conditionParts(condition: Condition): {
  ConditionExpression: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, AttributeValue>;
} {
  return {
    ConditionExpression: condition.expression,
    ...(condition.names && Object.keys(condition.names).length ? { ExpressionAttributeNames: condition.names } : {}),
    ...(condition.values && Object.keys(condition.values).length
      ? { ExpressionAttributeValues: marshall(condition.values, { removeUndefinedValues: true }) }
      : {}),
  };
}

function rest<T extends { ConditionExpression: string }>(parts: T): Omit<T, 'ConditionExpression'> {
  const { ConditionExpression: _ignored, ...others } = parts;
  return others;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
