// Finding the services integration suites need. Locally a missing service skips those suites;
// under CI=true it fails them, so a green CI run always means they really ran.
import { reservePort } from '../../core/net.js';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

export const inCi = process.env.CI === 'true';

/** A free TCP port on 127.0.0.1, for services that must be told their port before they start. */
export const freePort = (): Promise<number> => reservePort();

export const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export function dynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: localCredentials });
}

export async function waitForDynamoDb(endpoint: string, timeoutMs: number): Promise<void> {
  const client = dynamoDbClient(endpoint);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  try {
    while (Date.now() < deadline) {
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        lastError = error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    client.destroy();
  }
  throw new Error(`DynamoDB Local at ${endpoint} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}

/** The endpoint of the run's DynamoDB Local, or '' when it is absent (never '' under CI=true). */
export function dynamoDbEndpoint(): string {
  const endpoint = process.env.BLOX_TEST_DYNAMODB_ENDPOINT ?? '';
  if (!endpoint && inCi) throw new Error('DynamoDB Local is required under CI=true but is not running');
  return endpoint;
}

/** Whether a Docker engine answers; under CI=true its absence is an error, not a skip. */
export async function dockerAvailable(): Promise<boolean> {
  const { default: Docker } = await import('dockerode');
  try {
    await new Docker().ping();
    return true;
  } catch (error) {
    if (inCi) throw new Error(`the Docker engine is required under CI=true but does not answer: ${String(error)}`);
    return false;
  }
}
