// The table definition, used by `blox table create`, the sandbox, the tests and (mirrored) by the
// CloudFormation template. On-demand billing; TTL on `expiresAt`.
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { PK, SK } from './keys.js';

export const DEFAULT_TABLE_NAME = 'blox-edge';

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
  };
}
