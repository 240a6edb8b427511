// Finding the services integration suites need. Locally a missing service skips those suites;
// under CI (CI=true, CI=1, ...: see local/ci.ts) it fails them, so a green CI run always means they
// really ran. Unit tests (the vitest project `unit`) may not use them at all.
import { reservePort } from '../../core/net.js';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { existsSync } from 'node:fs';
import { isCi } from '../../local/ci.js';

export const inCi = isCi();

/**
 * Throws when called from a unit test: vitest.config.ts sets BLOX_TEST_PROJECT=unit for the unit
 * project, whose tests must not need DynamoDB Local, Docker or the bundles.
 */
export function requireIntegrationProject(what: string): void {
  if (process.env.BLOX_TEST_PROJECT === 'unit')
    throw new Error(`${what} is for integration tests only: this test belongs under test/integration/, not test/unit/`);
}

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

/** The endpoint of the run's DynamoDB Local, or '' when it is absent (never '' under CI). */
export function dynamoDbEndpoint(): string {
  requireIntegrationProject('DynamoDB Local');
  const endpoint = process.env.BLOX_TEST_DYNAMODB_ENDPOINT ?? '';
  if (!endpoint && inCi) throw new Error(`DynamoDB Local is required under CI (CI=${process.env.CI}) but is not running`);
  return endpoint;
}

/** Whether a Docker engine answers; under CI its absence is an error, not a skip. */
export async function dockerAvailable(): Promise<boolean> {
  requireIntegrationProject('The Docker engine');
  const { default: Docker } = await import('dockerode');
  try {
    await new Docker().ping();
    return true;
  } catch (error) {
    if (inCi) throw new Error(`the Docker engine is required under CI (CI=${process.env.CI}) but does not answer: ${String(error)}`);
    return false;
  }
}

/**
 * The system Chromium the browser suites drive with playwright-core (Debian's `chromium`, installed
 * by .ci/run; nothing downloads a browser), or '' when it is absent (never '' under CI).
 * BLOX_TEST_CHROMIUM names another binary.
 */
export function chromiumPath(): string {
  requireIntegrationProject('Chromium');
  const path = process.env.BLOX_TEST_CHROMIUM ?? '/usr/bin/chromium';
  if (existsSync(path)) return path;
  if (inCi) throw new Error(`Chromium is required under CI (CI=${process.env.CI}) but ${path} does not exist: apt-get install chromium`);
  return '';
}
