// Shared by the coordinator suites: a fresh, uniquely named table per suite on the run's DynamoDB
// Local, a store over it, and a clock the test moves by hand.
import { randomBytes } from 'node:crypto';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoTable } from '../../core/store/dynamo.js';
import { EnvironmentStore, type Clock } from '../../core/store/environments.js';
import { dynamoDbClient, localCredentials } from '../support/services.js';

export class TestClock implements Clock {
  constructor(private time = Date.parse('2026-01-01T00:00:00.000Z')) {}
  now(): Date {
    this.time += 1; // distinct, increasing times for every call
    return new Date(this.time);
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface TestTable {
  tableName: string;
  table: DynamoTable;
  store: EnvironmentStore;
  clock: TestClock;
  dispose(): Promise<void>;
}

export async function createTestTable(endpoint: string, prefix: string): Promise<TestTable> {
  const tableName = `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const table = new DynamoTable({ tableName, endpoint, region: 'us-east-1', credentials: localCredentials });
  await table.createTable();
  const clock = new TestClock();
  const store = new EnvironmentStore({ table, clock });
  return {
    tableName,
    table,
    store,
    clock,
    async dispose() {
      const client = dynamoDbClient(endpoint);
      try {
        await client.send(new DeleteTableCommand({ TableName: tableName }));
      } finally {
        client.destroy();
        table.destroy();
      }
    },
  };
}

/** An InstanceStatus record as an agent writes it. */
export function instanceStatusItem(cluster: string, id: string, daemons: Array<{ environment: string; revision: number; state: string; taskArn?: string; lastStatus?: string }>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    pk: `CLUSTER#${cluster}`,
    sk: `INSTANCE#${id}`,
    kind: 'InstanceStatus',
    schemaVersion: 1,
    cluster,
    containerInstanceArn: `arn:aws:ecs:us-east-1:123456789012:container-instance/${cluster}/${id}`,
    agentVersion: '0.1.0',
    ready: daemons.every((d) => d.state === 'healthy' || d.state === 'running'),
    degraded: false,
    daemons: daemons.map((d) => ({ taskDefinition: 'logs:1', restarts: 0, since: '2026-01-01T00:00:00.000Z', ...d })),
    updatedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: 4_000_000_000,
    ...extra,
  };
}
