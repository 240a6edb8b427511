// The steward's DynamoDB access is the store's own rollout code (core/store/rollouts.ts) on the
// agent's DynamoDB client: the steward's writes are the coordinator's writes, not a third layer.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../core/clock.js';
import { DynamoTable } from '../../core/store/dynamo.js';
import { Rollouts } from '../../core/store/rollouts.js';
import type { StewardPort } from '../ports.js';

export function agentSteward(options: { client: DynamoDBClient; table: string; clock: Clock }): StewardPort {
  return new Rollouts({ table: new DynamoTable({ client: options.client, tableName: options.table }), clock: options.clock });
}
