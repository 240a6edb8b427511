// The table definition, used by `blox table create`, the sandbox, the tests and (mirrored) by the
// CloudFormation template. On-demand billing; TTL on `expiresAt`; a DynamoDB Stream that the
// coordinator's live feeds (/v1/stream/*) read.
import type { CreateTableCommandInput, StreamSpecification } from '@aws-sdk/client-dynamodb';
import { PK, SK } from './keys.js';

export const DEFAULT_TABLE_NAME = 'blox-edge';

/**
 * Old and new images: a task is part of its instance's status record, so a task that left a record
 * (or a record TTL deleted) is known only from the old image; the feeds also skip a rewrite that
 * changed nothing a client sees by comparing the two.
 */
export const STREAM_SPECIFICATION = { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } as const satisfies StreamSpecification;

export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: PK, AttributeType: 'S' },
      { AttributeName: SK, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: PK, KeyType: 'HASH' },
      { AttributeName: SK, KeyType: 'RANGE' },
    ],
    StreamSpecification: { ...STREAM_SPECIFICATION },
  };
}

/** What an operator runs to give a table created without the stream (before the live feeds) its stream. */
export function enableStreamCommand(tableName: string): string {
  return `aws dynamodb update-table --table-name ${tableName} --stream-specification StreamEnabled=true,StreamViewType=${STREAM_SPECIFICATION.StreamViewType} (or blox table create --table ${tableName})`;
}
