// The fleet page's world for the browser suites: DynamoDB Local with a table and a store, the
// bundled coordinator (`node dist/blox.js coordinator`) as a process on a port of its own (so a test
// can kill it and start it again on the same port), what the agents would write (status records,
// the steward's deployment counts), and Chromium driven by playwright-core.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseCreateEnvironment, parseUpdateEnvironment } from '../../core/store/inputs.js';
import type { EnvironmentView } from '../../core/store/views.js';
import { freshBundles } from '../support/bundles.js';
import { freePort } from '../support/services.js';
import { createTestTable, instanceStatusItem, stewardWrites, type TestTable } from './coordinator-support.js';

export type Daemon = { environment: string; revision: number; state: string; restarts?: number; reason?: string };

export class PageWorld {
  private child: ChildProcess | undefined;
  private constructor(
    readonly t: TestTable,
    private readonly bundle: string,
    readonly port: number,
    private readonly token: string | undefined,
    private readonly args: string[],
  ) {}

  /** `table`: another world's (this one then leaves it to its owner); `args`: more `blox coordinator` flags. */
  static async start(endpoint: string, options: { token?: string; table?: TestTable; args?: string[] } = {}): Promise<PageWorld> {
    const t = options.table ?? (await createTestTable(endpoint, 'page'));
    const { blox } = await freshBundles();
    const world = new PageWorld(t, blox, await freePort(), options.token, options.args ?? []);
    world.ownsTable = options.table === undefined;
    await world.startCoordinator(endpoint);
    return world;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private endpoint = '';
  private ownsTable = true;
  logs = '';

  async startCoordinator(endpoint = this.endpoint): Promise<void> {
    this.endpoint = endpoint;
    const env: Record<string, string | undefined> = {
      ...process.env,
      BLOX_COORDINATOR_LISTEN: `127.0.0.1:${this.port}`,
      BLOX_TABLE: this.t.tableName,
      BLOX_DYNAMODB_ENDPOINT: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      BLOX_COORDINATOR_TOKEN: this.token,
    };
    if (this.token === undefined) delete env.BLOX_COORDINATOR_TOKEN;
    const child = spawn(process.execPath, [this.bundle, 'coordinator', ...this.args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let started = '';
    const collect = (d: Buffer) => {
      started += d.toString();
      this.logs += d.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    for (let i = 0; i < 400 && !started.includes('coordinator listening'); i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    if (!started.includes('coordinator listening')) throw new Error(`the coordinator did not start:\n${started}`);
  }

  /** Kills the coordinator at once (as a crash would: open streams break, nothing is flushed). */
  async killCoordinator(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Creates an environment from an API body (as POST /v1/environments takes it); its first deployment's id is `activeDeployment.id`. */
  async create(body: Record<string, unknown>): Promise<EnvironmentView> {
    return this.t.store.createEnvironment(parseCreateEnvironment(body));
  }

  /** Changes an environment as PUT /v1/environments/{name} does (with its current token) and answers the new deployment's id. */
  async update(name: string, body: Record<string, unknown>): Promise<string> {
    const { token } = await this.t.store.getEnvironment(name);
    const result = await this.t.store.updateEnvironment(name, parseUpdateEnvironment({ token, ...body }, name, undefined));
    return result.deployment?.id as string;
  }

  /** An InstanceStatus record of `cluster`/`id`, as its agent writes it. */
  async instance(cluster: string, id: string, daemons: Daemon[], extra: Record<string, unknown> = {}): Promise<void> {
    const updatedAt = new Date().toISOString();
    await this.t.table.put(instanceStatusItem(cluster, id, daemons, { updatedAt, ecsStatus: 'ACTIVE', ...extra }));
  }

  /** What the agents' steward writes into a deployment. */
  async steward(environment: string, id: string, set: Record<string, unknown>): Promise<void> {
    await stewardWrites(this.t, environment, id, { updatedAt: new Date().toISOString(), ...set });
  }

  async close(): Promise<void> {
    await this.killCoordinator();
    if (this.ownsTable) await this.t.dispose();
  }
}

export async function launchChromium(executablePath: string): Promise<Browser> {
  // --no-sandbox: the suite may run as root (CI containers), where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/**
 * A new page on `url`, its token (if any) already in the tab's sessionStorage as the page keeps it,
 * once it has rendered everything it read (`rendered` false: once it loaded).
 */
export async function openPage(
  browser: Browser,
  url: string,
  options: { token?: string; width?: number; height?: number; rendered?: boolean } = {},
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: options.height ?? 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  // A refusal by the page's Content-Security-Policy (an inline style or script) is a console error.
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) errors.push(message.text());
  });
  (page as Page & { errors: string[] }).errors = errors;
  // A string script: the suite is compiled without the DOM's types.
  if (options.token) await page.addInitScript(`sessionStorage.setItem('blox-edge.token', ${JSON.stringify(options.token)})`);
  await page.goto(url);
  if (options.rendered !== false) await page.waitForSelector('body[data-rendered="true"]', { timeout: 15_000 });
  return page;
}

/** Errors the page's scripts threw or logged (none, in a passing test; failed requests the tests cause are left out). */
export function pageErrors(page: Page): string[] {
  return (page as Page & { errors?: string[] }).errors ?? [];
}

/** A counts record as the steward writes it. */
export function stewardCounts(desired: number, updated: number, ready: number, available: number, revisions: Record<string, number>) {
  return { desired, current: desired, updated, ready, available, unavailable: desired - ready, misscheduled: 0, revisions };
}

/**
 * A TCP proxy in front of the coordinator that the test can take down (open connections cut, new
 * ones refused) and bring back, as a network would drop the page's streams. It keeps what clients
 * sent, so a test can check the headers of the requests made after it came back.
 */
export class CuttablePipe {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private down = false;
  url = '';
  sent = '';
  private constructor(targetPort: number) {
    this.server = createServer((client) => {
      if (this.down) {
        client.destroy();
        return;
      }
      const upstream = connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk: Buffer) => (this.sent += chunk.toString('latin1')));
      client.pipe(upstream).pipe(client);
    });
  }

  static async start(targetPort: number): Promise<CuttablePipe> {
    const pipe = new CuttablePipe(targetPort);
    await new Promise<void>((resolve) => pipe.server.listen(0, '127.0.0.1', resolve));
    pipe.url = `http://127.0.0.1:${(pipe.server.address() as AddressInfo).port}`;
    return pipe;
  }

  /** Cuts every open connection and refuses new ones until `bringBack`. */
  takeDown(): void {
    this.down = true;
    for (const socket of this.sockets) socket.destroy();
  }

  bringBack(): void {
    this.sent = '';
    this.down = false;
  }

  async close(): Promise<void> {
    this.takeDown();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Whether the coordinator at `url` serves the live streams (else the page polls the list routes). */
export async function offersStreams(url: string): Promise<boolean> {
  const abort = new AbortController();
  const res = await fetch(`${url}/v1/stream/deployments`, { signal: abort.signal });
  abort.abort();
  return res.status === 200;
}
