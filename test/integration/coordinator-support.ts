// Shared by the coordinator suites: a fresh, uniquely named table per suite on the run's DynamoDB
// Local, a store over it, and a clock the test moves by hand.
import { randomBytes } from 'node:crypto';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoTable } from '../../core/store/dynamo.js';
import type { Clock } from '../../core/clock.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { dynamoDbClient, localCredentials } from '../support/services.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from '../../coordinator/server.js';
import { OpenApiValidator } from '../support/openapi.js';

export class TestClock implements Clock {
  constructor(private time = Date.parse('2026-01-01T00:00:00.000Z')) {}
  wallMs(): number {
    this.time += 1; // distinct, increasing times for every call
    return this.time;
  }
  monoMs(): number {
    return this.time;
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

// ---- the API in-process, with every response checked against coordinator/openapi.json ----


const validator = new OpenApiValidator();

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface ApiCallOptions {
  body?: unknown;
  /** Sent as is (for malformed JSON and similar). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

export class TestApi {
  readonly logLines: Record<string, unknown>[] = [];
  validated = 0;
  private constructor(readonly coordinator: RunningCoordinator) {}

  static async start(options: Omit<CoordinatorOptions, 'logger'>, logLines?: Record<string, unknown>[]): Promise<TestApi> {
    const lines = logLines ?? [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    const coordinator = await startCoordinator({ ...options, logger: pino({ base: undefined }, sink), listen: '127.0.0.1:0' });
    const api = new TestApi(coordinator);
    (api as { logLines: Record<string, unknown>[] }).logLines = lines;
    return api;
  }

  get url(): string {
    return this.coordinator.url;
  }

  async call(method: string, path: string, options: ApiCallOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    let payload: string | Buffer | undefined = options.raw;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${this.url}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await response.text();
    validator.check(method, path, response.status, text, response.headers.get('content-type'));
    this.validated++;
    const json = text && response.headers.get('content-type')?.startsWith('application/json');
    return { status: response.status, headers: response.headers, text, body: json ? (JSON.parse(text) as unknown) : undefined };
  }

  close(): Promise<void> {
    return this.coordinator.close();
  }
}
