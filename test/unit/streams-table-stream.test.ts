// The table stream adapter against a scripted Streams API (DynamoDB Local has one shard and never
// splits it): shard lineage (a child read only after its parent ends, from its start), LATEST for
// the shards open at start, an expired iterator obtained again after the last record read,
// throttling backed off, a table without a stream reported as unavailable, failed reads at start
// and of an expired iterator retried, and a stream replaced by a new one followed.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  LimitExceededException,
  type DynamoDBStreamsClient,
} from '@aws-sdk/client-dynamodb-streams';
import { describe, expect, it } from 'vitest';
import type { TableChange } from '../../coordinator/streams/changes.js';
import { TableStream } from '../../coordinator/streams/table-stream.js';

const STREAM_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026';
const record = (seq: string) => ({
  eventName: 'MODIFY',
  dynamodb: {
    SequenceNumber: seq,
    Keys: { pk: { S: 'CLUSTER#c' }, sk: { S: `INSTANCE#${seq}` } },
    NewImage: { pk: { S: 'CLUSTER#c' }, sk: { S: `INSTANCE#${seq}` } },
  },
});

function dynamodb(streamEnabled: boolean): DynamoDBClient {
  return {
    send: async () => ({
      Table: streamEnabled
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' }, LatestStreamArn: STREAM_ARN }
        : { TableStatus: 'ACTIVE' },
    }),
  } as unknown as DynamoDBClient;
}

describe('TableStream', () => {
  it('follows shards parent before child, re-obtains expired iterators after the last record, backs off when throttled', async () => {
    const calls: string[] = [];
    // A is open at start; later A closes and B (child of A) and D (child of B) appear.
    let phase = 0;
    const shards = () =>
      phase === 0
        ? [{ ShardId: 'A', SequenceNumberRange: { StartingSequenceNumber: '1' } }]
        : [
            { ShardId: 'A', SequenceNumberRange: { StartingSequenceNumber: '1', EndingSequenceNumber: '2' } },
            { ShardId: 'D', ParentShardId: 'B', SequenceNumberRange: { StartingSequenceNumber: '4' } },
            { ShardId: 'B', ParentShardId: 'A', SequenceNumberRange: { StartingSequenceNumber: '3', EndingSequenceNumber: '3' } },
          ];
    const scripts: Record<string, Array<() => unknown>> = {
      itA0: [() => ({ Records: [record('1')], NextShardIterator: 'itA1' })],
      itA1: [
        () => {
          throw new ExpiredIteratorException({ message: 'expired', $metadata: {} });
        },
      ],
      itA2: [
        () => {
          throw new LimitExceededException({ message: 'slow down', $metadata: {} });
        },
        () => {
          phase = 1;
          return { Records: [record('2')] }; // no NextShardIterator: A is closed and read
        },
      ],
      itB0: [() => ({ Records: [record('3')] })],
      itD0: [() => ({ Records: [record('4')], NextShardIterator: 'itD1' })],
      itD1: [() => ({ Records: [], NextShardIterator: 'itD1' })],
    };
    const streams = {
      send: async (command: unknown) => {
        if (command instanceof DescribeStreamCommand) return { StreamDescription: { Shards: shards() } };
        if (command instanceof GetShardIteratorCommand) {
          const { ShardId, ShardIteratorType, SequenceNumber } = command.input;
          calls.push(`iterator ${ShardId} ${ShardIteratorType}${SequenceNumber ? ` ${SequenceNumber}` : ''}`);
          if (ShardId === 'A') return { ShardIterator: ShardIteratorType === 'LATEST' ? 'itA0' : 'itA2' };
          return { ShardIterator: `it${ShardId}0` };
        }
        if (command instanceof GetRecordsCommand) {
          const iterator = command.input.ShardIterator as string;
          calls.push(`records ${iterator}`);
          const script = scripts[iterator] as Array<() => unknown>;
          const step = script.length > 1 ? (script.shift() as () => unknown) : (script[0] as () => unknown);
          return step();
        }
        throw new Error(`unexpected ${String(command)}`);
      },
    } as unknown as DynamoDBStreamsClient;
    const delivered: string[] = [];
    const source = new TableStream({ tableName: 't', dynamodb: dynamodb(true), streams, minIdleMs: 5, maxIdleMs: 10, describeEveryMs: 20 });
    await source.start({
      changes: async (changes: TableChange[]) => {
        delivered.push(...changes.map((c) => c.key.sk));
      },
      lost: () => undefined,
    });
    expect(source.unavailable).toBeUndefined();
    const deadline = Date.now() + 5_000;
    while (delivered.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await source.close();
    expect(delivered).toEqual(['INSTANCE#1', 'INSTANCE#2', 'INSTANCE#3', 'INSTANCE#4']);
    const iterators = calls.filter((c) => c.startsWith('iterator'));
    expect(iterators).toEqual(['iterator A LATEST', 'iterator A AFTER_SEQUENCE_NUMBER 1', 'iterator B TRIM_HORIZON', 'iterator D TRIM_HORIZON']);
    // D began only after B was read to its end.
    expect(calls.indexOf('iterator D TRIM_HORIZON')).toBeGreaterThan(calls.indexOf('records itB0'));
    // The throttled call was made again (itA2 twice).
    expect(calls.filter((c) => c === 'records itA2')).toHaveLength(2);
  });

  it('says a table without a stream is unavailable, naming the command that enables it', async () => {
    const source = new TableStream({ tableName: 'old-table', dynamodb: dynamodb(false), streams: {} as DynamoDBStreamsClient, retryUnavailableMs: 60_000 });
    await source.start({ changes: async () => undefined, lost: () => undefined });
    expect(source.unavailable).toContain('table old-table has no stream');
    expect(source.unavailable).toContain(
      'aws dynamodb update-table --table-name old-table --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES',
    );
    await source.close();
  });
});

describe('TableStream when the Streams API fails at the wrong moment', () => {
  const openShard = [{ ShardId: 'A', SequenceNumberRange: { StartingSequenceNumber: '1' } }];
  const within = async <T>(promise: Promise<T>, ms: number): Promise<T | 'timed out'> =>
    Promise.race([promise, new Promise<'timed out'>((resolve) => setTimeout(() => resolve('timed out'), ms))]);

  it('a failed first read of the shard list is retried: start resolves and the stream is followed', async () => {
    let describes = 0;
    const streams = {
      send: async (command: unknown) => {
        if (command instanceof DescribeStreamCommand) {
          if (describes++ === 0) throw new LimitExceededException({ message: 'slow down', $metadata: {} });
          return { StreamDescription: { Shards: openShard } };
        }
        if (command instanceof GetShardIteratorCommand) return { ShardIterator: 'it0' };
        if (command instanceof GetRecordsCommand)
          return command.input.ShardIterator === 'it0' ? { Records: [record('1')], NextShardIterator: 'it1' } : { Records: [], NextShardIterator: 'it1' };
        throw new Error(`unexpected ${String(command)}`);
      },
    } as unknown as DynamoDBStreamsClient;
    const delivered: string[] = [];
    const source = new TableStream({
      tableName: 't',
      dynamodb: dynamodb(true),
      streams,
      minIdleMs: 5,
      maxIdleMs: 10,
      describeEveryMs: 20,
      retryUnavailableMs: 20,
    });
    try {
      const started = await within(
        source.start({ changes: async (changes) => void delivered.push(...changes.map((c) => c.key.sk)), lost: () => undefined }),
        2_000,
      );
      expect(started).not.toBe('timed out');
      const deadline = Date.now() + 2_000;
      while ((source.unavailable !== undefined || delivered.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(source.unavailable).toBeUndefined();
      expect(delivered).toEqual(['INSTANCE#1']);
    } finally {
      await source.close();
    }
  });

  it('a shard whose expired iterator cannot be obtained again at once is read again, from after its last record', async () => {
    let refreshes = 0;
    const calls: string[] = [];
    const streams = {
      send: async (command: unknown) => {
        if (command instanceof DescribeStreamCommand) return { StreamDescription: { Shards: openShard } };
        if (command instanceof GetShardIteratorCommand) {
          const { ShardIteratorType, SequenceNumber } = command.input;
          calls.push(`iterator ${ShardIteratorType}${SequenceNumber ? ` ${SequenceNumber}` : ''}`);
          if (ShardIteratorType === 'LATEST') return { ShardIterator: 'it0' };
          if (refreshes++ === 0) throw new LimitExceededException({ message: 'slow down', $metadata: {} });
          return { ShardIterator: 'it2' };
        }
        if (command instanceof GetRecordsCommand) {
          const iterator = command.input.ShardIterator;
          if (iterator === 'it0') return { Records: [record('1')], NextShardIterator: 'it1' };
          if (iterator === 'it1') throw new ExpiredIteratorException({ message: 'expired', $metadata: {} });
          if (iterator === 'it2') return { Records: [record('2')], NextShardIterator: 'it3' };
          return { Records: [], NextShardIterator: 'it3' };
        }
        throw new Error(`unexpected ${String(command)}`);
      },
    } as unknown as DynamoDBStreamsClient;
    const delivered: string[] = [];
    const source = new TableStream({ tableName: 't', dynamodb: dynamodb(true), streams, minIdleMs: 5, maxIdleMs: 10, describeEveryMs: 20 });
    try {
      await source.start({ changes: async (changes) => void delivered.push(...changes.map((c) => c.key.sk)), lost: () => undefined });
      const deadline = Date.now() + 3_000;
      while (delivered.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(delivered).toEqual(['INSTANCE#1', 'INSTANCE#2']);
      expect(calls.filter((c) => c.startsWith('iterator AFTER_SEQUENCE_NUMBER'))).toEqual([
        'iterator AFTER_SEQUENCE_NUMBER 1',
        'iterator AFTER_SEQUENCE_NUMBER 1',
      ]);
    } finally {
      await source.close();
    }
  });

  it('a stream disabled and enabled again (a new stream ARN) is followed: clients start over, then the new stream is read', async () => {
    let arn = 'arn:stream/1';
    const table = {
      send: async () => ({ Table: { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' }, LatestStreamArn: arn } }),
    } as unknown as DynamoDBClient;
    const streams = {
      send: async (command: unknown) => {
        if (command instanceof DescribeStreamCommand) {
          // The old stream's one shard is closed once the stream is disabled.
          const closed = command.input.StreamArn !== arn;
          return {
            StreamDescription: { Shards: [{ ShardId: `${command.input.StreamArn}-s`, SequenceNumberRange: closed ? { EndingSequenceNumber: '9' } : {} }] },
          };
        }
        if (command instanceof GetShardIteratorCommand) return { ShardIterator: `${command.input.ShardId}-it0` };
        if (command instanceof GetRecordsCommand) {
          const iterator = command.input.ShardIterator as string;
          if (iterator.startsWith('arn:stream/1')) return arn === 'arn:stream/1' ? { Records: [], NextShardIterator: iterator } : { Records: [] };
          return iterator.endsWith('-it0') ? { Records: [record('7')], NextShardIterator: 'arn:stream/2-s-it1' } : { Records: [], NextShardIterator: iterator };
        }
        throw new Error(`unexpected ${String(command)}`);
      },
    } as unknown as DynamoDBStreamsClient;
    const delivered: string[] = [];
    let lost = 0;
    const source = new TableStream({ tableName: 't', dynamodb: table, streams, minIdleMs: 5, maxIdleMs: 10, describeEveryMs: 20, retryUnavailableMs: 20 });
    try {
      await source.start({ changes: async (changes) => void delivered.push(...changes.map((c) => c.key.sk)), lost: () => void lost++ });
      expect(source.unavailable).toBeUndefined();
      arn = 'arn:stream/2';
      const deadline = Date.now() + 3_000;
      while (delivered.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(lost).toBe(1);
      expect(delivered).toEqual(['INSTANCE#7']);
      expect(source.unavailable).toBeUndefined();
    } finally {
      await source.close();
    }
  });
});
