// The adapter of the table's DynamoDB Stream: the only file that imports the Streams SDK. It finds
// the stream (DescribeTable), follows every shard (DescribeStream; a child shard once its parent is
// read to its end; GetRecords with backoff when empty or throttled; an expired iterator obtained
// again after the last record read) and hands each shard's records, in order, to `onChanges`. A
// stream disabled or replaced (disabled and enabled again: a new ARN) is noticed with the shard list
// and ends what is followed (`lost`: clients start over); the table's stream is looked for again.
// Invariants: records of one shard reach `onChanges` in order and one batch at a time across all
// shards (the caller's ids follow that order); a child shard is read only after its parent, so the
// changes of one item never overtake each other when DynamoDB splits or rolls a shard.
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ResourceNotFoundException,
  TrimmedDataAccessException,
  type _Record as StreamRecord,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { enableStreamCommand } from '../../core/dynamo-table.js';
import { errorMessage } from '../../core/errors.js';
import type { Item } from '../../core/store/dynamo.js';
import type { ChangeSource, ChangeSink, TableChange } from './changes.js';

export interface TableStreamOptions {
  tableName: string;
  /** The table's client (kept by the caller); the Streams client is made from its configuration. */
  dynamodb: DynamoDBClient;
  /** A Streams client to use (the caller keeps it); by default one made from `dynamodb`'s configuration. */
  streams?: DynamoDBStreamsClient;
  /** GetRecords on an idle shard backs off from `minIdleMs` to `maxIdleMs` (DynamoDB allows 5 calls a second per shard). */
  minIdleMs?: number;
  maxIdleMs?: number;
  /** How often the shard list is read again for new shards (also at once when a shard ends). */
  describeEveryMs?: number;
  /** How often an unavailable stream (none on the table, no permission) is looked for again. */
  retryUnavailableMs?: number;
  log?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
}

const THROTTLED = new Set(['LimitExceededException', 'ThrottlingException', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded']);

interface ShardState {
  id: string;
  parentId?: string;
  iterator?: string;
  /** Where a new iterator starts when the current one expires. */
  after?: string;
  startType: ShardIteratorType;
  done: boolean;
}

/** Follows the table's stream; `start` resolves once every open shard has its iterator (from then on no change is missed). */
export class TableStream implements ChangeSource {
  private readonly streams: DynamoDBStreamsClient;
  private ownsStreams = false;
  private readonly abort = new AbortController();
  private readonly shards = new Map<string, ShardState>();
  /** Shards with a reader now (one reader per shard). */
  private readonly reading = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private streamArn: string | undefined;
  private unavailableReason: string | undefined = 'the stream reader is starting';
  private describeSoon: (() => void) | undefined;
  private delivering: Promise<void> = Promise.resolve();
  private readonly minIdleMs: number;
  private readonly maxIdleMs: number;
  private readonly describeEveryMs: number;
  private readonly retryUnavailableMs: number;

  constructor(private readonly options: TableStreamOptions) {
    if (options.streams) this.streams = options.streams;
    else {
      const config = options.dynamodb.config;
      this.streams = new DynamoDBStreamsClient({ endpoint: config.endpoint, region: config.region, credentials: config.credentials });
      this.ownsStreams = true;
    }
    this.minIdleMs = options.minIdleMs ?? 50;
    this.maxIdleMs = options.maxIdleMs ?? 250;
    this.describeEveryMs = options.describeEveryMs ?? 10_000;
    this.retryUnavailableMs = options.retryUnavailableMs ?? 30_000;
  }

  /** Why the stream cannot be read now (no stream on the table, ...), or undefined while it is read. */
  get unavailable(): string | undefined {
    return this.unavailableReason;
  }

  /** Looks for the stream and follows it; resolves when reading has begun or the stream is found unavailable (then it keeps looking). */
  start(sink: ChangeSink): Promise<void> {
    return new Promise<void>((resolve) => {
      const loop = this.track(this.follow(sink, resolve));
      void loop;
    });
  }

  async close(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled([...this.running]);
    await this.delivering.catch(() => undefined);
    if (this.ownsStreams) this.streams.destroy();
  }

  private track(work: Promise<void>): Promise<void> {
    const tracked = work.catch((error: unknown) => {
      if (!this.abort.signal.aborted) this.log('warn', `stream reader stopped: ${errorMessage(error)}`);
    });
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
    return tracked;
  }

  private async follow(sink: ChangeSink, started: () => void): Promise<void> {
    while (!this.abort.signal.aborted) {
      if (!(await this.open(sink, started))) return;
      this.unavailableReason = undefined;
      this.log('info', 'following the table stream', { streamArn: this.streamArn, shards: this.shards.size });
      started();
      await this.followShards(sink);
    }
  }

  /**
   * Finds the stream and reads its shards; until both are read the feeds are unavailable (a 503
   * that says why) and this looks again: a throttled or failed first read must neither stop the
   * reader nor hold `start`. False when closed meanwhile.
   */
  private async open(sink: ChangeSink, started: () => void): Promise<boolean> {
    while (!this.abort.signal.aborted) {
      if (!this.streamArn) await this.findStream();
      if (this.streamArn) {
        try {
          // Shards open now are read from their newest record on; shards that appear later from their start.
          await this.discover(sink, 'LATEST');
          return true;
        } catch (error) {
          if (this.abort.signal.aborted) return false;
          this.setUnavailable(`cannot read the shards of the stream of table ${this.options.tableName}: ${errorMessage(error)}`);
        }
      }
      started();
      await this.sleep(this.retryUnavailableMs);
    }
    return false;
  }

  /**
   * Reads the shard list again now and then (new shards, children of ended ones) and the table's
   * stream with it: a stream disabled, or replaced by a new one (disabled and enabled again), ends
   * what is followed: every client starts over and the table's stream is looked for again.
   */
  private async followShards(sink: ChangeSink): Promise<void> {
    while (!this.abort.signal.aborted) {
      await this.sleep(this.describeEveryMs, (wake) => (this.describeSoon = wake));
      if (this.abort.signal.aborted) return;
      try {
        const current = await this.currentStream();
        if (current.arn !== this.streamArn) {
          this.log('warn', `the stream of table ${this.options.tableName} changed (${current.arn ?? current.reason}): the feeds start over`);
          this.streamArn = undefined;
          this.shards.clear();
          sink.lost();
          if (current.reason !== undefined) this.setUnavailable(current.reason);
          return;
        }
        await this.discover(sink, 'TRIM_HORIZON');
      } catch (error) {
        if (!this.abort.signal.aborted) this.log('warn', `reading the stream's shards failed: ${errorMessage(error)}`);
      }
    }
  }

  /** Sets `streamArn` when the table has a stream, else says why the feeds are unavailable. */
  private async findStream(): Promise<void> {
    try {
      const current = await this.currentStream();
      if (current.reason === undefined) this.streamArn = current.arn;
      else this.setUnavailable(current.reason);
    } catch (error) {
      if (!this.abort.signal.aborted) this.setUnavailable(`cannot read the stream of table ${this.options.tableName}: ${errorMessage(error)}`);
    }
  }

  /** The table's stream now (DescribeTable), or why it has none; throws when the table cannot be read. */
  private async currentStream(): Promise<{ arn: string; reason?: undefined } | { arn?: undefined; reason: string }> {
    const out = await this.options.dynamodb.send(new DescribeTableCommand({ TableName: this.options.tableName }), { abortSignal: this.abort.signal });
    const spec = out.Table?.StreamSpecification;
    if (!spec?.StreamEnabled || !out.Table?.LatestStreamArn)
      return { reason: `table ${this.options.tableName} has no stream; enable it with: ${enableStreamCommand(this.options.tableName)}` };
    if (spec.StreamViewType !== 'NEW_AND_OLD_IMAGES' && out.Table.LatestStreamArn !== this.streamArn)
      this.log('warn', `the stream of table ${this.options.tableName} has view type ${spec.StreamViewType}; task removals need NEW_AND_OLD_IMAGES`);
    return { arn: out.Table.LatestStreamArn };
  }

  private setUnavailable(reason: string): void {
    if (reason !== this.unavailableReason) this.log('warn', `live feeds unavailable: ${reason}`);
    this.unavailableReason = reason;
  }

  /** Reads the shard list; starts a reader for each new shard whose parent is read (or unknown). */
  private async discover(sink: ChangeSink, newShardStart: ShardIteratorType): Promise<void> {
    const listed: Shard[] = [];
    let start: string | undefined;
    do {
      const out = await this.streams.send(new DescribeStreamCommand({ StreamArn: this.streamArn, ...(start ? { ExclusiveStartShardId: start } : {}) }), {
        abortSignal: this.abort.signal,
      });
      listed.push(...(out.StreamDescription?.Shards ?? []));
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    const first = this.shards.size === 0;
    for (const shard of listed) {
      if (!shard.ShardId || this.shards.has(shard.ShardId)) continue;
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      // At the first look a closed shard holds only the past: nothing to follow.
      const state: ShardState = {
        id: shard.ShardId,
        ...(shard.ParentShardId ? { parentId: shard.ParentShardId } : {}),
        startType: first ? 'LATEST' : newShardStart,
        done: first && closed,
      };
      this.shards.set(shard.ShardId, state);
    }
    const starting: Promise<void>[] = [];
    for (const state of this.shards.values()) {
      if (state.done || state.iterator !== undefined || this.reading.has(state.id)) continue;
      const parent = state.parentId ? this.shards.get(state.parentId) : undefined;
      if (parent && !parent.done) continue;
      starting.push(this.startShard(state, sink));
    }
    await Promise.all(starting);
  }

  private async startShard(state: ShardState, sink: ChangeSink): Promise<void> {
    this.reading.add(state.id);
    try {
      state.iterator = await this.iterator(state);
    } catch (error) {
      this.reading.delete(state.id);
      if (error instanceof ResourceNotFoundException) state.done = true;
      else throw error;
      return;
    }
    void this.track(this.readShard(state, sink));
  }

  private async iterator(state: ShardState): Promise<string | undefined> {
    const type: ShardIteratorType = state.after ? 'AFTER_SEQUENCE_NUMBER' : state.startType;
    const out = await this.streams.send(
      new GetShardIteratorCommand({
        StreamArn: this.streamArn,
        ShardId: state.id,
        ShardIteratorType: type,
        ...(state.after ? { SequenceNumber: state.after } : {}),
      }),
      { abortSignal: this.abort.signal },
    );
    return out.ShardIterator;
  }

  private async readShard(state: ShardState, sink: ChangeSink): Promise<void> {
    let idle = this.minIdleMs;
    let throttled = 0;
    let ended = false;
    try {
      while (!this.abort.signal.aborted && state.iterator) {
        let records: StreamRecord[];
        let next: string | undefined;
        try {
          const out = await this.streams.send(new GetRecordsCommand({ ShardIterator: state.iterator, Limit: 1000 }), { abortSignal: this.abort.signal });
          records = out.Records ?? [];
          next = out.NextShardIterator;
          throttled = 0;
        } catch (error) {
          if (this.abort.signal.aborted) return;
          if (error instanceof ExpiredIteratorException) {
            state.iterator = await this.iterator(state);
            continue;
          }
          if (error instanceof TrimmedDataAccessException) {
            // Records were trimmed before they were read: the feeds cannot say what changed.
            this.log('warn', `stream shard ${state.id}: records were trimmed before they were read; the feeds start over`);
            sink.lost();
            state.after = undefined;
            state.startType = 'TRIM_HORIZON';
            state.iterator = await this.iterator(state);
            continue;
          }
          if (error instanceof ResourceNotFoundException) break;
          const name = (error as { name?: string }).name ?? '';
          throttled++;
          const delay = Math.min(5_000, 100 * 2 ** Math.min(throttled, 6));
          if (!THROTTLED.has(name)) this.log('warn', `stream shard ${state.id}: GetRecords failed (${errorMessage(error)}); again in ${delay} ms`);
          await this.sleep(delay);
          continue;
        }
        if (records.length > 0) {
          const changes = records.map(toChange).filter((c): c is TableChange => c !== undefined);
          state.after = records[records.length - 1]?.dynamodb?.SequenceNumber ?? state.after;
          await this.deliver(sink, changes);
          idle = this.minIdleMs;
        }
        state.iterator = next;
        if (!next) break;
        if (records.length === 0) {
          await this.sleep(idle);
          idle = Math.min(this.maxIdleMs, idle * 2);
        }
      }
      ended = true;
    } finally {
      this.reading.delete(state.id);
      // A reader that failed (a new iterator could not be obtained) leaves the shard without an
      // iterator: the next read of the shard list starts it again, after its last record read.
      if (!ended) state.iterator = undefined;
    }
    if (this.abort.signal.aborted) return;
    // The shard ended (closed and read to its end, or gone): its children may begin now.
    state.done = true;
    state.iterator = undefined;
    this.describeSoon?.();
  }

  /** One batch at a time across shards, in the order read. */
  private deliver(sink: ChangeSink, changes: TableChange[]): Promise<void> {
    const next = this.delivering.then(() => sink.changes(changes));
    this.delivering = next.catch((error: unknown) => this.log('warn', `a stream batch was not applied: ${errorMessage(error)}`));
    return this.delivering;
  }

  /** Waits `ms`, or less when closed or woken (`wakeable` receives the function that wakes it). */
  private sleep(ms: number, wakeable?: (wake: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      if (this.abort.signal.aborted) return resolve();
      const wake = () => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.abort.signal.addEventListener('abort', wake, { once: true });
      wakeable?.(wake);
    });
  }

  private log(level: 'info' | 'warn', message: string, fields?: Record<string, unknown>): void {
    this.options.log?.(level, message, fields);
  }
}

function toChange(record: StreamRecord): TableChange | undefined {
  const name = record.eventName;
  const data = record.dynamodb;
  if ((name !== 'INSERT' && name !== 'MODIFY' && name !== 'REMOVE') || !data?.Keys) return undefined;
  const image = (value: Record<string, unknown> | undefined): Item | undefined => (value ? unmarshall(value as Record<string, AttributeValue>) : undefined);
  const keys = image(data.Keys) as Item;
  const change: TableChange = { eventName: name, key: { pk: String(keys.pk), sk: String(keys.sk) } };
  const newImage = image(data.NewImage);
  const oldImage = image(data.OldImage);
  if (newImage) change.newImage = newImage;
  if (oldImage) change.oldImage = oldImage;
  return change;
}
