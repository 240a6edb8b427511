// `npm start` end to end: builds the bundles, starts `node dist/blox.js local up` as a child process
// (non-default ports, its own state directory), waits for .blox-local/endpoints.json, talks to
// every endpoint it lists, adds an instance through the control endpoint, runs a task, sends
// SIGINT, and checks that every process it started is gone and no container of it remains.
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeContainerInstancesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListContainerInstancesCommand,
  ListTasksCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import Docker from 'dockerode';
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWNER_LABEL } from '../../local/runtime/docker.js';
import type { EndpointsDocument } from '../../local/sandbox/sandbox.js';
import { awsJson, findAws } from '../support/aws-cli.js';
import { freshBundles } from '../support/bundles.js';
import { freePortArgs, upSandbox } from '../support/sandbox-process.js';
import { dockerAvailable, dynamoDbClient, localCredentials } from '../support/services.js';
import { processAlive, waitFor } from '../support/wait.js';

const haveDocker = await dockerAvailable();
const aws = findAws();
const run = promisify(execFile);

describe('npm start: blox local up', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'blox-sandbox-'));
  const endpointsFile = join(cwd, '.blox-local', 'endpoints.json');
  let bloxJs = '';
  let sandbox: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;
  let doc: EndpointsDocument;
  let ecs: ECSClient;

  beforeAll(async () => {
    // `npm test` builds first; run alone, the bundles are rebuilt when missing or stale.
    bloxJs = (await freshBundles()).blox;
    const up = await upSandbox(bloxJs, ['--instances', '2', ...(await freePortArgs()), '--register-delay-ms', '300', '--cluster', 'sandbox-test'], {
      cwd,
      onOutput: (text) => (output += text),
    });
    ({ child: sandbox, exited, doc } = up);
    ecs = new ECSClient({ endpoint: doc.ecs.url, region: doc.region, credentials: localCredentials });
  }, 240_000);

  afterAll(async () => {
    ecs?.destroy();
    if (sandbox && sandbox.exitCode === null) {
      sandbox.kill('SIGKILL');
      for (const pid of doc?.pids ?? []) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    if (doc?.runtimeOwner) {
      const docker = new Docker();
      for (const container of await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${doc.runtimeOwner}`] } })) {
        await docker.getContainer(container.Id).remove({ force: true });
      }
    }
    rmSync(cwd, { recursive: true, force: true });
  });

  it('prints where everything is and writes endpoints.json with the chosen ports and the runtime it picked', () => {
    expect(output).toContain('blox-edge local sandbox is up');
    expect(output).toContain(`runtime: ${haveDocker ? 'docker' : 'simulated'}`);
    expect(output).toContain('Try this:');
    expect(doc.pid).toBe(sandbox.pid);
    expect(doc.runtime).toBe(haveDocker ? 'docker' : 'simulated');
    expect(doc.cluster).toBe('sandbox-test');
    expect(doc.instances).toHaveLength(2);
    expect(new Set(doc.instances.map((instance) => instance.instanceType))).toEqual(new Set(['t3.medium', 'm5.large']));
    expect(new Set(doc.instances.map((instance) => instance.availabilityZone)).size).toBe(2);
    expect(doc.pids).toContain(doc.dynamodb.pid);
  });

  it('the coordinator answers /v1/ping', async () => {
    expect(doc.coordinator, `no coordinator; output:\n${output}`).not.toBeNull();
    const response = await fetch(`${doc.coordinator?.url}/v1/ping`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { auth?: unknown }).auth, 'the sandbox coordinator is on loopback, without tokens').toEqual({
      writes: false,
      reads: false,
    });
    expect(doc.pids).toContain(doc.coordinator?.pid);
  });

  it("the ECS emulator lists the cluster's container instances; DynamoDB Local has the table", async () => {
    const listed = await ecs.send(new ListContainerInstancesCommand({ cluster: doc.cluster }));
    expect(new Set(listed.containerInstanceArns)).toEqual(new Set(doc.instances.map((instance) => instance.containerInstanceArn)));
    const described = await ecs.send(new DescribeContainerInstancesCommand({ cluster: doc.cluster, containerInstances: listed.containerInstanceArns }));
    expect(new Set(described.containerInstances?.map((instance) => instance.ec2InstanceId))).toEqual(
      new Set(doc.instances.map((instance) => instance.ec2InstanceId)),
    );
    const dynamo = dynamoDbClient(doc.dynamodb.endpoint);
    try {
      const table = await dynamo.send(new DescribeTableCommand({ TableName: doc.table }));
      expect(table.Table?.TableStatus).toBe('ACTIVE');
    } finally {
      dynamo.destroy();
    }
  });

  it('every instance offers introspection, IMDSv2 and its Docker socket', async () => {
    for (const instance of doc.instances) {
      const metadata = (await (await fetch(`${instance.introspectionUrl}/v1/metadata`)).json()) as Record<string, string>;
      expect(metadata).toMatchObject({ Cluster: doc.cluster, ContainerInstanceArn: instance.containerInstanceArn });
      const token = await (
        await fetch(`${instance.imdsUrl}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })
      ).text();
      const id = await (await fetch(`${instance.imdsUrl}/latest/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': token } })).text();
      expect(id).toBe(instance.ec2InstanceId);
      const docker = new Docker({ socketPath: instance.dockerSocket });
      expect((await docker.ping()).toString()).toBe('OK');
      expect(Array.isArray(await docker.listContainers({ all: true }))).toBe(true);
    }
  });

  it('runs one agent per instance, each answering on its health port', async () => {
    for (const instance of doc.instances) {
      const agent = instance.agent;
      expect(agent, `no agent for ${instance.ec2InstanceId}; output:\n${output}`).not.toBeNull();
      expect(processAlive(agent?.pid ?? -1)).toBe(true);
      expect(doc.pids).toContain(agent?.pid);
      await waitFor(`the agent of ${instance.ec2InstanceId} to be healthy`, 30_000, async () => {
        try {
          return (await fetch(`${agent?.healthUrl}/healthz`)).status === 200 ? true : undefined;
        } catch {
          return undefined;
        }
      });
    }
  });

  /** Per instance ARN: the RUNNING tasks of the sample family. */
  const sampleTasks = async (): Promise<Map<string, string[]>> => {
    const family = doc.sampleTaskDefinition.split(':')[0];
    const listed = await ecs.send(new ListTasksCommand({ cluster: doc.cluster, family, desiredStatus: 'RUNNING' }));
    const byInstance = new Map<string, string[]>();
    if (!listed.taskArns?.length) return byInstance;
    const described = await ecs.send(new DescribeTasksCommand({ cluster: doc.cluster, tasks: listed.taskArns }));
    for (const task of described.tasks ?? []) {
      if (task.lastStatus !== 'RUNNING') continue;
      const list = byInstance.get(task.containerInstanceArn ?? '') ?? [];
      list.push(task.taskArn ?? '');
      byInstance.set(task.containerInstanceArn ?? '', list);
    }
    return byInstance;
  };
  const onEveryInstance = async (what: string): Promise<Map<string, string[]>> =>
    waitFor(what, 60_000, async () => {
      const tasks = await sampleTasks();
      return doc.instances.every((instance) => tasks.get(instance.containerInstanceArn ?? '')?.length === 1) ? tasks : undefined;
    });

  it('try this: an environment created with the CLI reaches every instance; a killed daemon comes back', { timeout: 120_000 }, async () => {
    const endpoint = doc.coordinator?.url ?? '';
    await run(
      process.execPath,
      [bloxJs, 'env', 'create', 'sample', '--cluster', doc.cluster, '--task-definition', doc.sampleTaskDefinition, '--endpoint', endpoint],
      { cwd, timeout: 30_000 },
    );
    const before = await onEveryInstance('the sample daemon on every instance');

    const victim = doc.instances[0];
    const victimTask = before.get(victim?.containerInstanceArn ?? '')?.[0] ?? '';
    const view = new Docker({ socketPath: victim?.dockerSocket ?? '' });
    const [container] = await view.listContainers({ filters: { label: [`com.amazonaws.ecs.task-arn=${victimTask}`] } });
    expect(container).toBeDefined();
    if (haveDocker) {
      // A real container of the sandbox on the real engine: kill it there, as a user would.
      const real = await new Docker().listContainers({ filters: { label: [`${OWNER_LABEL}=${doc.runtimeOwner}`] } });
      expect(real.map((entry) => entry.Id)).toContain(container?.Id);
      await run('docker', ['kill', container?.Id ?? '']);
    } else {
      await ecs.send(new StopTaskCommand({ cluster: doc.cluster, task: victimTask }));
    }
    const after = await waitFor('the daemon to come back', 60_000, async () => {
      const tasks = await onEveryInstance('the sample daemon on every instance');
      const replacement = tasks.get(victim?.containerInstanceArn ?? '')?.[0];
      return replacement && replacement !== victimTask ? replacement : undefined;
    });
    expect(after).not.toBe(victimTask);
  });

  it('try this: an instance added with `blox local add-instance` gets the daemon too', { timeout: 90_000 }, async () => {
    const { stdout } = await run(process.execPath, [bloxJs, 'local', 'add-instance', '--instance-type', 'm5.large'], { cwd, timeout: 30_000 });
    const added = JSON.parse(stdout) as { ec2InstanceId: string; containerInstanceArn: string; instanceType: string };
    expect(added.instanceType).toBe('m5.large');
    const listed = await ecs.send(new ListContainerInstancesCommand({ cluster: doc.cluster }));
    expect(listed.containerInstanceArns).toContain(added.containerInstanceArn);
    doc = JSON.parse(readFileSync(endpointsFile, 'utf8')) as EndpointsDocument;
    expect(doc.instances.map((instance) => instance.ec2InstanceId)).toContain(added.ec2InstanceId);
    expect(doc.instances.find((instance) => instance.ec2InstanceId === added.ec2InstanceId)?.agent?.pid).toBeGreaterThan(0);
    await onEveryInstance('the sample daemon on the new instance too');
  });

  it.skipIf(!aws)(
    'try this: `aws autoscaling set-instance-health --health-status Unhealthy` replaces the instance and the new one gets the daemon',
    { timeout: 120_000 },
    async () => {
      const autoscaling = (...args: string[]): Promise<Record<string, unknown>> => awsJson(aws as string, 'autoscaling', doc.ecs.url, args);
      const imds = async (url: string, path: string): Promise<{ status: number; text: string }> => {
        const token = await (await fetch(`${url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
        const response = await fetch(`${url}/latest/meta-data/${path}`, { headers: { 'X-aws-ec2-metadata-token': token } });
        return { status: response.status, text: await response.text() };
      };
      const members = async (): Promise<Array<{ InstanceId: string; LifecycleState: string }>> =>
        (
          (await autoscaling('describe-auto-scaling-groups', '--auto-scaling-group-names', 'blox-local')) as {
            AutoScalingGroups: Array<{ Instances: Array<{ InstanceId: string; LifecycleState: string }> }>;
          }
        ).AutoScalingGroups[0]?.Instances ?? [];
      const before = await members();
      expect(before).toHaveLength(2);
      const victim = doc.instances.find((instance) => instance.ec2InstanceId === before[0]?.InstanceId);
      expect(await imds(victim?.imdsUrl as string, 'autoscaling/target-lifecycle-state')).toEqual({ status: 200, text: 'InService' });
      expect((await imds(victim?.imdsUrl as string, 'spot/instance-action')).status).toBe(404);
      await autoscaling('set-instance-health', '--instance-id', victim?.ec2InstanceId as string, '--health-status', 'Unhealthy');
      const replacement = await waitFor('a replacement InService', 60_000, async () => {
        const now = await members();
        const fresh = now.find((member) => !before.some((old) => old.InstanceId === member.InstanceId) && member.LifecycleState === 'InService');
        return now.every((member) => member.InstanceId !== victim?.ec2InstanceId) ? fresh : undefined;
      });
      doc = JSON.parse(readFileSync(endpointsFile, 'utf8')) as EndpointsDocument;
      const added = doc.instances.find((instance) => instance.ec2InstanceId === replacement.InstanceId);
      expect(added?.containerInstanceArn).toBeTruthy();
      expect(doc.instances.map((instance) => instance.ec2InstanceId)).not.toContain(victim?.ec2InstanceId);
      await onEveryInstance('the sample daemon on the replacement too');
    },
  );

  it('SIGINT stops every process it started and leaves no container, socket or endpoints.json behind', { timeout: 90_000 }, async () => {
    doc = JSON.parse(readFileSync(endpointsFile, 'utf8')) as EndpointsDocument;
    const pids = [...doc.pids];
    expect(pids.length).toBeGreaterThanOrEqual(1);
    sandbox.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('sandbox stopped');
    await waitFor('every child to be gone', 10_000, () => (pids.every((pid) => !processAlive(pid)) ? true : undefined));
    expect(pids.filter(processAlive)).toEqual([]);
    expect(existsSync(endpointsFile)).toBe(false);
    for (const instance of doc.instances) expect(existsSync(instance.dockerSocket)).toBe(false);
    if (haveDocker) expect(await new Docker().listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${doc.runtimeOwner}`] } })).toEqual([]);
  });
});
