// Daemons first, end to end in the sandbox (`blox local up`: DynamoDB Local, the ECS emulator, the
// coordinator, one agent process per instance) with the AWS CLI: a REPLICA service with the one
// placement constraint docs/lifecycle.md shows (memberOf(attribute:blox-edge.daemons == ready)) gets
// no task on a new instance before that instance's critical daemon is ready (by the tasks'
// timestamps); the instance registers with the attribute at `pending` (as user-data does), and
// goes back to `pending` when the daemon is lost.
import { DescribeContainerInstancesCommand, DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointsDocument } from '../../local/sandbox/sandbox.js';
import { awsJson, findAws } from '../support/aws-cli.js';
import { freshBundles } from '../support/bundles.js';
import { freePortArgs, idleContainer, stopSandbox, upSandbox } from '../support/sandbox-process.js';
import { localCredentials } from '../support/services.js';
import { waitFor } from '../support/wait.js';

const aws = findAws();
const run = promisify(execFile);
const ATTRIBUTE = 'blox-edge.daemons';
// Long enough that the check right after add-instance (an AWS CLI process on a loaded machine)
// still reads the attribute before the daemon can be ready (3 s once was not).
const START_PERIOD_SECONDS = 8;

interface CliTask {
  taskArn: string;
  containerInstanceArn: string;
  group: string;
  lastStatus: string;
  /** The CLI prints ECS timestamps as ISO 8601 text. */
  createdAt: string;
  startedAt?: string;
}
const ms = (time: string | undefined): number => (time === undefined ? NaN : Date.parse(time));

describe.skipIf(!aws)('daemons first with a real ECS service in the sandbox (AWS CLI)', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'blox-first-'));
  let bloxJs = '';
  let sandbox: ChildProcess;
  let doc: EndpointsDocument;
  let ecs: ECSClient;
  const cli = (args: string[]) => awsJson(aws!, 'ecs', doc.ecs.url, args);
  const attributeOf = async (arn: string): Promise<string | undefined> => {
    const out = await ecs.send(new DescribeContainerInstancesCommand({ cluster: doc.cluster, containerInstances: [arn] }));
    return out.containerInstances?.[0]?.attributes?.find((a) => a.name === ATTRIBUTE)?.value;
  };
  const tasksOn = async (arn: string): Promise<CliTask[]> => {
    const listed = (await cli(['list-tasks', '--cluster', doc.cluster, '--container-instance', arn])) as { taskArns: string[] };
    if (listed.taskArns.length === 0) return [];
    return ((await cli(['describe-tasks', '--cluster', doc.cluster, '--tasks', ...listed.taskArns])) as { tasks: CliTask[] }).tasks;
  };

  beforeAll(async () => {
    bloxJs = (await freshBundles()).blox;
    const args = ['--instances', '1', '--runtime', 'simulated', '--cluster', 'first', '--register-delay-ms', '300', ...(await freePortArgs())];
    // The agents read their configuration from the environment too: a faster poll than the default 5 s.
    ({ child: sandbox, doc } = await upSandbox(bloxJs, args, { cwd, env: { BLOX_POLL_INTERVAL_MS: '500' }, onOutput: () => undefined }));
    ecs = new ECSClient({ endpoint: doc.ecs.url, region: doc.region, credentials: localCredentials });
  }, 240_000);

  afterAll(async () => {
    ecs?.destroy();
    await stopSandbox(sandbox, doc);
    rmSync(cwd, { recursive: true, force: true });
  }, 30_000);

  it('no replica lands on a new instance before its critical daemon is ready; a lost daemon closes it again', async () => {
    const healthCheck = { command: ['CMD-SHELL', 'true'], interval: 5, timeout: 2, retries: 1, startPeriod: START_PERIOD_SECONDS };
    await cli(['register-task-definition', '--family', 'shipper', '--container-definitions', idleContainer('shipper', { healthCheck })]);
    await cli(['register-task-definition', '--family', 'web', '--container-definitions', idleContainer('web')]);
    const created = await fetch(`${doc.coordinator!.url}/v1/environments`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'shipper', taskDefinition: 'shipper:1', instanceGroup: { cluster: doc.cluster }, critical: true }),
    });
    expect(created.status, await created.text()).toBe(200);
    const first = doc.instances[0]!.containerInstanceArn!;
    await waitFor('the first instance open for work', 60_000, async () => (await attributeOf(first)) === 'ready');

    // one replica per instance: the second waits for an instance whose daemons are ready
    await cli([
      'create-service',
      '--cluster',
      doc.cluster,
      '--service-name',
      'web',
      '--task-definition',
      'web:1',
      '--desired-count',
      '2',
      '--placement-constraints',
      'type=distinctInstance',
      `type=memberOf,expression=attribute:${ATTRIBUTE} == ready`,
    ]);
    const runningCount = async () => (await ecs.send(new DescribeServicesCommand({ cluster: doc.cluster, services: ['web'] }))).services?.[0]?.runningCount;
    await waitFor('one replica on the first instance', 30_000, async () => (await runningCount()) === 1);

    const { stdout } = await run(process.execPath, [bloxJs, 'local', 'add-instance'], { cwd });
    const added = JSON.parse(stdout) as { containerInstanceArn: string };
    // registered as user-data registers it: pending from the first moment
    const registered = (await cli(['describe-container-instances', '--cluster', doc.cluster, '--container-instances', added.containerInstanceArn])) as {
      containerInstances: { attributes: { name: string; value?: string }[] }[];
    };
    expect(registered.containerInstances[0]?.attributes.find((a) => a.name === ATTRIBUTE)?.value).toBe('pending');

    await waitFor('the second replica placed', 60_000, async () => (await runningCount()) === 2);
    const onNew = await tasksOn(added.containerInstanceArn);
    const daemon = onNew.find((t) => t.group === 'blox:shipper');
    const replica = onNew.find((t) => t.group === 'service:web');
    expect(daemon?.startedAt, JSON.stringify(onNew)).toBeDefined();
    expect(replica, JSON.stringify(onNew)).toBeDefined();
    // the daemon is ready (HEALTHY) only after its health check's start period: the replica came after that
    // (the container's start period may begin a few ms before the task's startedAt is stamped: 50 ms of slack)
    expect(ms(replica!.createdAt)).toBeGreaterThanOrEqual(ms(daemon!.startedAt) + START_PERIOD_SECONDS * 1000 - 50);
    // and it never came before the daemon at all
    expect(ms(replica!.createdAt)).toBeGreaterThan(ms(daemon!.createdAt));
    expect(await attributeOf(added.containerInstanceArn)).toBe('ready');

    // the daemon lost: the instance closes to new work, then opens again once the restarted daemon is ready
    await cli(['stop-task', '--cluster', doc.cluster, '--task', daemon!.taskArn, '--reason', 'test: daemon lost']);
    await waitFor('the attribute back to pending', 15_000, async () => (await attributeOf(added.containerInstanceArn)) === 'pending');
    await waitFor('open again', 30_000, async () => (await attributeOf(added.containerInstanceArn)) === 'ready');
    // the replica that already ran was never moved (constraints apply at placement only)
    expect((await tasksOn(added.containerInstanceArn)).find((t) => t.taskArn === replica!.taskArn)?.lastStatus).toBe('RUNNING');
  }, 240_000);
});
