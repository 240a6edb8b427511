// The coordinator's live feeds over its table's DynamoDB Stream (what `blox coordinator` and the
// integration tests start).
import type { Logger } from 'pino';
import type { DynamoTable } from '../../core/store/dynamo.js';
import type { EnvironmentStore } from '../../core/store/environments.js';
import { LiveFeeds, type LiveFeedsOptions } from './feeds.js';
import { TableStream, type TableStreamOptions } from './table-stream.js';

export function startTableFeeds(
  options: { table: DynamoTable; store: EnvironmentStore; logger: Logger } & Partial<Omit<LiveFeedsOptions, 'source' | 'store' | 'logger'>> & {
      stream?: Partial<TableStreamOptions>;
    },
): Promise<LiveFeeds> {
  const { table, store, logger, stream, ...rest } = options;
  const source = new TableStream({
    tableName: table.tableName,
    dynamodb: table.client,
    log: (level, message, fields) => logger[level](fields ?? {}, message),
    ...stream,
  });
  return LiveFeeds.start({ source, store, logger, ...rest });
}
