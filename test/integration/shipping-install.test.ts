// The shipped path end to end, with no network: the user-data installer (userdata/install.sh)
// installs a local copy of the bundle (file:// URL, SHA-256 checked; Node.js installation and
// systemctl switched off) into a temporary root, then the agent is started from that root exactly as
// the installed unit's ExecStart says (paths under the root), with the installed agent.json, against
// a local world (`blox local up --no-agents`: DynamoDB Local, the ECS emulator, one container
// instance with its introspection, IMDS and Docker endpoints). An environment created with the CLI
// must get its daemon task RUNNING on that instance, started by the installed agent.
import { DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointsDocument } from '../../local/sandbox/sandbox.js';
import { freshBundles } from '../support/bundles.js';
import { dynamoDbEndpoint, freePort, localCredentials } from '../support/services.js';
import { processAlive, StopWaiting, waitFor } from '../support/wait.js';
import { repoRoot, runInstaller, sha256 } from '../unit/shipping-support.js';

const execFileAsync = promisify(execFile);
// DynamoDB Local (Java) is what the local world needs beyond Node.js; the run's global setup tells
// whether it starts here (and fails the run under CI when it does not).
const haveWorld = dynamoDbEndpoint() !== '';
const CLUSTER = 'shipping-e2e';
const ENVIRONMENT = 'shipped-daemon';
/** dist/agent.js and dist/blox.js, rebuilt first when stale (test/support/bundles.ts). */
let bundles = { agent: '', blox: '' };

/** The installed unit's ExecStart, with every absolute path of it moved under `root`. */
function execStartUnder(root: string): { command: string; args: string[] } {
  const unit = readFileSync(join(root, 'etc/systemd/system/blox-edge-agent.service'), 'utf8');
  const line = /^ExecStart=(.+)$/m.exec(unit)?.[1];
  if (!line) throw new Error('the installed unit has no ExecStart');
  const [command, ...args] = line.split(/\s+/).map((word) => (word.startsWith('/') ? join(root, word) : word));
  return { command: command!, args };
}

describe('the agent bundle, alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'blox-bundle-'));
  const agentJs = join(dir, 'agent.js');
  const runAgent = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [agentJs, ...args],
        { cwd: dir, timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });

  beforeAll(async () => {
    bundles = await freshBundles();
    // Outside the repository: no node_modules anywhere above it.
    copyFileSync(bundles.agent, agentJs);
  }, 240_000);

  it('runs with plain node and no node_modules: --version prints the version and the commit', async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const result = await runAgent(['--version']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^blox-edge-agent ${version.replace(/\./g, '\\.')} \\(commit ([0-9a-f]{12}|unknown)\\)\n$`));
  });

  it('exits with the codes the systemd unit relies on: 64 for a bad command line, 78 for bad configuration', async () => {
    expect((await runAgent(['--no-such-flag'])).code).toBe(64);
    const config = join(dir, 'broken.json');
    writeFileSync(config, '{"table": ');
    expect((await runAgent(['--config', config])).code).toBe(78);
  });

  it('stays small: under 1.5 MiB (about 0.9 MiB now; the build prints its size)', () => {
    expect(statSync(agentJs).size).toBeLessThan(1.5 * 1024 * 1024);
  });
});

describe.skipIf(!haveWorld)('user-data install, then the installed agent in the local world', () => {
  const work = mkdtempSync(join(tmpdir(), 'blox-shipping-e2e-'));
  const root = join(work, 'root');
  const artifacts = join(work, 'artifacts');
  let sandbox: ChildProcess | undefined;
  let sandboxOutput = '';
  let agent: ChildProcess | undefined;
  let agentOutput = '';
  let doc: EndpointsDocument;
  let ecs: ECSClient | undefined;
  let agentListen = '';

  const context = () => `--- agent output (tail) ---\n${agentOutput.slice(-4000)}\n--- sandbox output (tail) ---\n${sandboxOutput.slice(-2000)}`;

  beforeAll(async () => {
    bundles = await freshBundles();
    // The operator's artifact: a copy of the bundle and its source map, as uploaded to S3.
    mkdirSync(artifacts, { recursive: true });
    copyFileSync(bundles.agent, join(artifacts, 'agent.js'));
    copyFileSync(`${bundles.agent}.map`, join(artifacts, 'agent.js.map'));

    const [coordinatorPort, ecsPort, dynamodbPort, controlPort, agentPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    agentListen = `127.0.0.1:${agentPort}`;
    sandbox = spawn(
      process.execPath,
      [
        bundles.blox,
        'local',
        'up',
        '--no-agents',
        '--no-coordinator',
        '--runtime',
        'simulated',
        '--instances',
        '1',
        '--cluster',
        CLUSTER,
        '--coordinator-port',
        String(coordinatorPort),
        '--ecs-port',
        String(ecsPort),
        '--dynamodb-port',
        String(dynamodbPort),
        '--control-port',
        String(controlPort),
        '--register-delay-ms',
        '300',
      ],
      { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
    );
    sandbox.stdout?.on('data', (chunk: Buffer) => (sandboxOutput += chunk.toString()));
    sandbox.stderr?.on('data', (chunk: Buffer) => (sandboxOutput += chunk.toString()));
    const endpointsFile = join(work, '.blox-local', 'endpoints.json');
    doc = await waitFor(
      'the local world',
      120_000,
      () => {
        if (sandbox?.exitCode !== null) throw new StopWaiting(`blox local up exited with ${sandbox?.exitCode}`);
        if (!existsSync(endpointsFile)) return undefined;
        const d = JSON.parse(readFileSync(endpointsFile, 'utf8')) as EndpointsDocument;
        return d.instances.length === 1 ? d : undefined;
      },
      250,
      context,
    );
    ecs = new ECSClient({ endpoint: doc.ecs.url, region: doc.region, credentials: localCredentials });
  }, 240_000);

  afterAll(async () => {
    ecs?.destroy();
    if (agent && agent.exitCode === null) agent.kill('SIGKILL');
    if (sandbox && sandbox.exitCode === null) {
      const exited = new Promise((r) => sandbox?.once('exit', r));
      sandbox.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (sandbox.exitCode === null) sandbox.kill('SIGKILL');
    }
    for (const pid of doc?.pids ?? []) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }, 60_000);

  it('installs the bundle from a file:// URL, checked against its SHA-256, into the root', () => {
    const instance = doc.instances[0]!;
    const extra = {
      dynamodbEndpoint: doc.dynamodb.endpoint,
      ecsEndpoint: doc.ecs.url,
      ecsAgentUrl: instance.introspectionUrl,
      imdsUrl: instance.imdsUrl,
      dockerSocket: instance.dockerSocket,
      listen: agentListen,
      stateDir: join(root, 'var/lib/blox-edge'),
      pollIntervalMs: 500,
      attemptSettleMs: 500,
    };
    const result = runInstaller(join(repoRoot, 'userdata/install.sh'), root, {
      BLOX_CLUSTER: CLUSTER,
      BLOX_BUNDLE_URL: pathToFileURL(join(artifacts, 'agent.js')).href,
      BLOX_BUNDLE_SHA256: sha256(join(artifacts, 'agent.js')),
      BLOX_TABLE: doc.table,
      BLOX_REGION: doc.region,
      BLOX_LOG_LEVEL: 'debug',
      // The local world's endpoints, through the installer's documented pass-through to agent.json.
      BLOX_AGENT_CONFIG_EXTRA: JSON.stringify(extra).slice(1, -1),
    });
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(join(root, 'opt/blox-edge/agent.js'))).toEqual(readFileSync(bundles.agent));
    expect(existsSync(join(root, 'opt/blox-edge/agent.js.map'))).toBe(true);
    expect(readFileSync(join(root, 'etc/ecs/ecs.config'), 'utf8')).toContain(`ECS_CLUSTER=${CLUSTER}\n`);
    expect(JSON.parse(readFileSync(join(root, 'etc/blox-edge/agent.json'), 'utf8'))).toMatchObject({ table: doc.table, region: doc.region, ...extra });
  });

  it('the installed agent prints its version and commit', async () => {
    const { command } = execStartUnder(root);
    const { stdout } = await execFileAsync(command, [join(root, 'opt/blox-edge/agent.js'), '--version']);
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(stdout).toMatch(new RegExp(`^blox-edge-agent ${version.replace(/\./g, '\\.')} \\(commit ([0-9a-f]{12}|unknown)\\)\n$`));
  });

  it('started as the unit starts it, the installed agent runs the environment’s daemon', { timeout: 120_000 }, async () => {
    const { command, args } = execStartUnder(root);
    expect(args).toEqual(['--enable-source-maps', join(root, 'opt/blox-edge/agent.js'), '--config', join(root, 'etc/blox-edge/agent.json')]);
    mkdirSync(join(root, 'var/lib/blox-edge'), { recursive: true });
    agent = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        NODE_ENV: 'production',
        AWS_ACCESS_KEY_ID: doc.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: doc.credentials.secretAccessKey,
        AWS_EC2_METADATA_SERVICE_ENDPOINT: doc.instances[0]!.imdsUrl,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    agent.stdout?.on('data', (chunk: Buffer) => (agentOutput += chunk.toString()));
    agent.stderr?.on('data', (chunk: Buffer) => (agentOutput += chunk.toString()));

    // The health endpoint answers once the agent runs.
    await waitFor(
      'the agent’s /healthz',
      30_000,
      async () => {
        if (agent?.exitCode !== null) throw new StopWaiting(`the agent exited with ${agent?.exitCode}`);
        const response = await fetch(`http://${agentListen}/healthz`);
        return response.status < 500 ? true : undefined;
      },
      250,
      context,
    );

    await execFileAsync(
      process.execPath,
      [
        bundles.blox,
        'env',
        'create',
        ENVIRONMENT,
        '--cluster',
        CLUSTER,
        '--task-definition',
        doc.sampleTaskDefinition,
        '--direct',
        '--table',
        doc.table,
        '--dynamodb-endpoint',
        doc.dynamodb.endpoint,
        '--region',
        doc.region,
      ],
      { env: { ...process.env, AWS_ACCESS_KEY_ID: doc.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: doc.credentials.secretAccessKey }, timeout: 30_000 },
    );

    const instanceArn = await waitFor('the container instance registration', 30_000, () => {
      const d = JSON.parse(readFileSync(join(work, '.blox-local', 'endpoints.json'), 'utf8')) as EndpointsDocument;
      return d.instances[0]?.containerInstanceArn ?? undefined;
    });
    const task = await waitFor(
      'the daemon task RUNNING',
      90_000,
      async () => {
        if (agent?.exitCode !== null) throw new StopWaiting(`the agent exited with ${agent?.exitCode}`);
        const arns = (await ecs!.send(new ListTasksCommand({ cluster: CLUSTER, containerInstance: instanceArn }))).taskArns ?? [];
        if (!arns.length) return undefined;
        const tasks = (await ecs!.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: arns }))).tasks ?? [];
        return tasks.find((t) => t.lastStatus === 'RUNNING' && t.group?.includes(ENVIRONMENT));
      },
      250,
      context,
    );
    expect(task.containerInstanceArn).toBe(instanceArn);
    expect(task.taskDefinitionArn).toContain(doc.sampleTaskDefinition.split(':')[0]);

    // SIGTERM, as `systemctl stop` sends it: exit 0 (not restarted), the daemon keeps running.
    const exited = new Promise<number | null>((r) => agent?.once('exit', (code) => r(code)));
    agent.kill('SIGTERM');
    expect(await exited).toBe(0);
    const after = (await ecs!.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [task.taskArn!] }))).tasks?.[0];
    expect(after?.lastStatus).toBe('RUNNING');
  });
});
