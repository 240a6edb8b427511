// `blox deploy status` / `rollout status` (with --watch), `deploy promote`, the rollout flags and
// `env history`, in-process against the API. The agents are not part of these tests: what their
// steward writes into a deployment is written straight into the table. Every API response is
// checked against coordinator/openapi.json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../core/keys.js';
import { EXIT } from '../../coordinator/cli/cli.js';
import { dynamoDbEndpoint } from '../support/services.js';
import { waitFor } from '../support/wait.js';
import { blox, counts, createTestTable, instanceStatusItem, stewardWrites, TestApi, type TestTable } from './coordinator-support.js';

const endpoint = dynamoDbEndpoint();

describe.skipIf(!endpoint)('blox rollout commands (DynamoDB Local)', () => {
  let t: TestTable;
  let api: TestApi;
  let http: string[];
  beforeAll(async () => {
    t = await createTestTable(endpoint, 'cli-rollout');
    api = await TestApi.start({ store: t.store });
    http = ['--endpoint', api.url];
  });
  afterAll(async () => {
    await api?.close();
    await t?.dispose();
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
    await stewardWrites(t, 'canaried', id, { status: 'awaiting_promotion', phase: 'awaiting_promotion', counts: counts(4, 1, { '1': 1 }) });
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
    // Each write waits for the watcher's line of the one before (a loaded machine reads slower than any fixed pause).
    const live = { stdout: '' };
    const printed = (text: string) =>
      waitFor(
        `the watcher to print ${text}`,
        10_000,
        () => live.stdout.includes(text),
        20,
        () => live.stdout,
      );
    const watching = blox(['deploy', 'status', 'counted', '--watch', '--interval', '0.05', ...http], {}, live);
    await printed(': pending,');
    await stewardWrites(t, 'counted', id, { status: 'in_progress', phase: 'rolling', counts: counts(3, 1, { '1': 2, '2': 1 }) });
    await printed('1 of 3 instances updated');
    await stewardWrites(t, 'counted', id, { counts: counts(3, 3, { '2': 3 }) });
    await printed('3 of 3 instances updated');
    await stewardWrites(t, 'counted', id, { status: 'completed', phase: 'done', finishedAt: '2026-01-01T00:10:00.000Z' });
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
    await stewardWrites(t, 'reverted', id, {
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
      await stewardWrites(t, 'outlived', env.activeDeployment.id, { status: 'completed', finishedAt: '2026-01-01T00:10:00.000Z' });
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
    await stewardWrites(t, 'storied', env.activeDeployment.id, { status: 'completed', finishedAt: '2026-01-01T00:10:00.000Z' });
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

  it('answered every request through a client that checked the response against the OpenAPI document', async () => {
    await api.expectEveryResponseValidated();
  });
});
