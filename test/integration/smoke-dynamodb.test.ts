import { describe, expect, it } from 'vitest';
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { dynamoDbClient, dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();
describe.skipIf(!endpoint)('DynamoDB Local (integration)', () => {
  it('creates a table', async () => {
    const client = dynamoDbClient(endpoint);
    const name = `smoke-${Date.now()}`;
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    const described = await client.send(new DescribeTableCommand({ TableName: name }));
    expect(described.Table?.TableStatus).toBe('ACTIVE');
  });
});
