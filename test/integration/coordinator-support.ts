// Shared by the coordinator suites: a fresh, uniquely named table per suite on the run's DynamoDB
// Local, a store over it, and a clock the test moves by hand.
import { randomBytes } from 'node:crypto';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoTable } from '../../core/store/dynamo.js';
import { keys } from '../../core/keys.js';
import { runCli } from '../../coordinator/cli/cli.js';
import type { Clock } from '../../core/clock.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { dynamoDbClient, localCredentials } from '../support/services.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from '../../coordinator/server.js';
import { OpenApiClient, startValidatingProxy, type ApiCallOptions, type ApiResponse, type ValidatingProxy } from '../support/openapi.js';
import { expect } from 'vitest';

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
export function instanceStatusItem(
  cluster: string,
  id: string,
  daemons: Array<{ environment: string; revision: number; state: string; taskArn?: string; lastStatus?: string }>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
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

export type { ApiCallOptions, ApiResponse } from '../support/openapi.js';

/**
 * A coordinator in process with its responses checked against the OpenAPI document: the test's own
 * calls through `call` (OpenApiClient) and every other client (the blox CLI) through `url`, a
 * validating proxy in front of it. `expectEveryResponseValidated` then asserts that every request
 * the coordinator answered (one `request` log line each) was one whose response was checked.
 */
export class TestApi {
  readonly logLines: Record<string, unknown>[] = [];
  private constructor(
    readonly coordinator: RunningCoordinator,
    private readonly client: OpenApiClient,
    private readonly proxy: ValidatingProxy,
  ) {}

  static async start(options: Omit<CoordinatorOptions, 'logger'>, logLines?: Record<string, unknown>[]): Promise<TestApi> {
    const lines = logLines ?? [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    const coordinator = await startCoordinator({ ...options, logger: pino({ base: undefined }, sink), listen: '127.0.0.1:0' });
    const proxy = await startValidatingProxy(coordinator.url);
    const api = new TestApi(coordinator, new OpenApiClient(coordinator.url), proxy);
    (api as { logLines: Record<string, unknown>[] }).logLines = lines;
    return api;
  }

  /** The API for clients other than `call` (the CLI's --endpoint): the validating proxy. */
  get url(): string {
    return this.proxy.url;
  }

  call(method: string, path: string, options: ApiCallOptions = {}): Promise<ApiResponse> {
    return this.client.call(method, path, options);
  }

  /** Responses checked against the OpenAPI document, through `call` and through `url`. */
  get validated(): number {
    return this.client.validated + this.proxy.validated;
  }

  /** Requests the coordinator answered, by its log. */
  get served(): number {
    return this.logLines.filter((line) => line.msg === 'request').length;
  }

  /**
   * Asserts that this coordinator answered requests, every one of them through a validating client,
   * and that every response passed: a validator that checks nothing, or a call that bypasses it,
   * fails here.
   */
  async expectEveryResponseValidated(): Promise<void> {
    await this.proxy.idle();
    expect(this.proxy.violations, 'responses through the proxy that break coordinator/openapi.json').toEqual([]);
    expect(this.client.validated, 'calls through TestApi.call whose response was validated').toBe(this.client.calls);
    expect(this.validated, 'validated responses').toBeGreaterThan(0);
    expect(this.validated, 'validated responses, against the requests the coordinator logged').toBe(this.served);
  }

  async close(): Promise<void> {
    await this.proxy.close();
    await this.coordinator.close();
  }
}

/** A steward's count of `desired` instances with `updated` of them updated and available. */
export function counts(desired: number, updated: number, revisions: Record<string, number>, unavailable = 0) {
  return { desired, current: desired, updated, ready: desired - unavailable, available: updated, unavailable, misscheduled: 0, revisions };
}

/** Writes what the agents' steward writes into a deployment (the agents are not part of the coordinator's tests). */
export async function stewardWrites(t: TestTable, environment: string, id: string, set: Record<string, unknown>): Promise<void> {
  await t.table.transact([{ kind: 'update', key: keys.deployment(environment, id), set: { updatedAt: '2026-01-01T00:05:00.000Z', ...set } }]);
}

export interface BloxResult {
  code: number;
  stdout: string;
  stderr: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/**
 * `blox argv...` in process, its output captured (and parsed when `-o json` was asked for).
 * `live.stdout` holds what it printed so far, for a test that waits on a watcher's lines.
 */
export async function blox(argv: string[], env: Record<string, string | undefined> = {}, live: { stdout: string } = { stdout: '' }): Promise<BloxResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (text) => (live.stdout = stdout += text), stderr: (text) => (stderr += text), env });
  let json: unknown;
  if (argv.includes('json')) json = stdout ? JSON.parse(stdout) : undefined;
  return { code, stdout, stderr, json };
}
