// What each emulated instance offers its agent: the ECS agent introspection API (only after the
// instance registered), EC2 instance metadata with IMDSv2 tokens, and a Docker Engine API view of
// only that instance's containers, used here through dockerode exactly as an agent would use the
// real /var/run/docker.sock. Runs over the simulated runtime (no Docker engine needed); the last
// suite repeats the Docker view checks over the docker runtime when an engine is present.
import { waitFor } from '../support/wait.js';
import { CreateClusterCommand, DescribeTasksCommand, ECSClient, RegisterTaskDefinitionCommand, StartTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LineSplitter } from '../../core/json-lines.js';
import { startEcsEmulator, type EcsEmulator } from '../../local/ecs/emulator.js';
import { startInstanceEndpoints, type InstanceEndpoints, type InstanceIdentity } from '../../local/instance/endpoints.js';
import { DockerRuntime } from '../../local/runtime/docker.js';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { ECS_LABELS, type TaskRuntime } from '../../local/runtime/types.js';
import { dockerAvailable, localCredentials } from '../support/services.js';

const haveDocker = await dockerAvailable();
const FAMILY = 'endpoints-daemon';

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface World {
  runtime: TaskRuntime;
  emulator: EcsEmulator;
  ecs: ECSClient;
  socketDir: string;
  cluster: string;
  close(): Promise<void>;
}

async function world(runtime: TaskRuntime, cluster: string): Promise<World> {
  const emulator = await startEcsEmulator({ port: 0, runtime });
  const ecs = new ECSClient({ endpoint: emulator.url, region: 'us-east-1', credentials: localCredentials });
  await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
  await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: FAMILY,
      containerDefinitions: [
        {
          name: 'shipper',
          image: 'registry.invalid/shipper:1',
          essential: true,
          memory: 32,
          healthCheck: { command: ['CMD-SHELL', 'true'], interval: 5, timeout: 2, retries: 1 },
        },
      ],
    }),
  );
  const socketDir = mkdtempSync(join(tmpdir(), 'bx-ep-'));
  return {
    runtime,
    emulator,
    ecs,
    socketDir,
    cluster,
    async close() {
      await runtime.close();
      await emulator.close();
      ecs.destroy();
      rmSync(socketDir, { recursive: true, force: true });
    },
  };
}

function identity(ec2InstanceId: string, availabilityZone = 'us-east-1b'): InstanceIdentity {
  return { ec2InstanceId, instanceType: 'm5.large', availabilityZone, amiId: 'ami-0fedcba9876543210', region: 'us-east-1', accountId: '123456789012' };
}

async function register(w: World, id: InstanceIdentity): Promise<string> {
  const { containerInstanceArn } = await w.emulator.registerInstance({
    cluster: w.cluster,
    ec2InstanceId: id.ec2InstanceId,
    instanceType: id.instanceType,
    availabilityZone: id.availabilityZone,
    amiId: id.amiId,
    cpu: 2048,
    memory: 7680,
  });
  return containerInstanceArn;
}

async function startTask(w: World, instanceArn: string): Promise<string> {
  const out = await w.ecs.send(new StartTaskCommand({ cluster: w.cluster, taskDefinition: `${FAMILY}:1`, containerInstances: [instanceArn] }));
  const arn = out.tasks?.[0]?.taskArn;
  if (!arn) throw new Error(`StartTask failed: ${JSON.stringify(out.failures)}`);
  await until('RUNNING', 20_000, async () => {
    const task = (await w.ecs.send(new DescribeTasksCommand({ cluster: w.cluster, tasks: [arn] }))).tasks?.[0];
    return task?.lastStatus === 'RUNNING' ? true : undefined;
  });
  return arn;
}

/** Reads a Docker event stream until `count` events arrived (or the stream ended). */
function collectEvents(stream: NodeJS.ReadableStream, count: number, timeoutMs: number): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const events: Array<Record<string, unknown>> = [];
    const lines = new LineSplitter();
    const timer = setTimeout(() => reject(new Error(`only ${events.length} of ${count} events: ${JSON.stringify(events)}`)), timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      (stream as NodeJS.ReadableStream & { destroy(): void }).destroy();
      resolve(events);
    };
    stream.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) {
        events.push(JSON.parse(line) as Record<string, unknown>);
        if (events.length >= count) return finish();
      }
    });
    stream.on('end', finish);
  });
}

describe('instance endpoints (simulated runtime)', () => {
  let w: World;
  let endpoints: InstanceEndpoints;
  let other: InstanceEndpoints;
  let instanceArn: string;
  let otherArn: string;
  let taskArn: string;
  let otherTaskArn: string;
  const me = identity('i-0aaaabbbbccccdddd');

  beforeAll(async () => {
    w = await world(new SimulatedRuntime({ startLatencyMs: 20 }), 'endpoints-test');
    endpoints = await startInstanceEndpoints({ emulator: w.emulator, runtime: w.runtime, identity: me, cluster: w.cluster, socketDir: w.socketDir });
  });

  afterAll(async () => {
    await endpoints?.close();
    await other?.close();
    await w?.close();
  });

  it('introspection resets connections until the instance registers, then answers /v1/metadata as the ECS agent does', async () => {
    await expect(fetch(`${endpoints.introspectionUrl}/v1/metadata`)).rejects.toMatchObject({ cause: { code: 'ECONNRESET' } });
    // IMDS and the Docker socket are up from the start, as on a booting host.
    expect(await new Docker({ socketPath: endpoints.dockerSocket }).listContainers({ all: true })).toEqual([]);

    instanceArn = await register(w, me);
    await endpoints.markRegistered(instanceArn);
    const response = await fetch(`${endpoints.introspectionUrl}/v1/metadata`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(metadata).sort()).toEqual(['Cluster', 'ContainerInstanceArn', 'Version']);
    expect(metadata).toMatchObject({ Cluster: 'endpoints-test', ContainerInstanceArn: instanceArn });
    expect(metadata.Version).toMatch(/^Amazon ECS Agent - v\d+\.\d+\.\d+ \([0-9a-f]{8}\)$/);
    expect(endpoints.containerInstanceArn).toBe(instanceArn);
  });

  it("introspection /v1/tasks lists the instance's tasks, and finds one by taskarn or (short) dockerid", async () => {
    taskArn = await startTask(w, instanceArn);
    const dockerId = w.emulator.task(taskArn)?.containers[0]?.runtimeId ?? '';
    expect(dockerId).not.toBe('');
    const view = w.runtime.containersOf(instanceArn).find((container) => container.id === dockerId);
    const expected = {
      Arn: taskArn,
      DesiredStatus: 'RUNNING',
      KnownStatus: 'RUNNING',
      Family: FAMILY,
      Version: '1',
      Containers: [{ DockerId: dockerId, DockerName: view?.name, Name: 'shipper' }],
    };
    expect(await (await fetch(`${endpoints.introspectionUrl}/v1/tasks`)).json()).toEqual({ Tasks: [expected] });
    expect(await (await fetch(`${endpoints.introspectionUrl}/v1/tasks?taskarn=${encodeURIComponent(taskArn)}`)).json()).toEqual(expected);
    expect(await (await fetch(`${endpoints.introspectionUrl}/v1/tasks?dockerid=${dockerId}`)).json()).toEqual(expected);
    expect(await (await fetch(`${endpoints.introspectionUrl}/v1/tasks?dockerid=${dockerId.slice(0, 12)}`)).json()).toEqual(expected);

    const missing = await fetch(`${endpoints.introspectionUrl}/v1/tasks?taskarn=arn:aws:ecs:us-east-1:123456789012:task/endpoints-test/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ Arn: '', KnownStatus: '', Family: '', Version: '', Containers: null });
    expect((await fetch(`${endpoints.introspectionUrl}/v1/tasks?taskarn=${encodeURIComponent(taskArn)}&dockerid=${dockerId}`)).status).toBe(400);
    expect((await fetch(`${endpoints.introspectionUrl}/v1/nothing`)).status).toBe(404);
  });

  it('IMDSv2: a token from PUT /latest/api/token with a TTL of 1..21600 s, then metadata with it; 401 without', async () => {
    const url = endpoints.imdsUrl;
    expect((await fetch(`${url}/latest/meta-data/instance-id`)).status).toBe(401);
    expect((await fetch(`${url}/latest/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': 'forged' } })).status).toBe(401);
    const put = (ttl?: string, extra: Record<string, string> = {}) =>
      fetch(`${url}/latest/api/token`, { method: 'PUT', headers: { ...(ttl === undefined ? {} : { 'X-aws-ec2-metadata-token-ttl-seconds': ttl }), ...extra } });
    expect((await put()).status).toBe(400);
    expect((await put('0')).status).toBe(400);
    expect((await put('21601')).status).toBe(400);
    expect((await put('ten')).status).toBe(400);
    expect((await put('60', { 'X-Forwarded-For': '10.1.1.1' })).status).toBe(403);
    expect((await fetch(`${url}/latest/api/token`)).status).toBe(405);

    const granted = await put('21600');
    expect(granted.status).toBe(200);
    expect(granted.headers.get('x-aws-ec2-metadata-token-ttl-seconds')).toBe('21600');
    const token = await granted.text();
    expect(token.length).toBeGreaterThan(20);
    const get = async (path: string): Promise<string> => {
      const response = await fetch(`${url}${path}`, { headers: { 'X-aws-ec2-metadata-token': token } });
      expect(response.status, path).toBe(200);
      return response.text();
    };
    expect(await get('/latest/meta-data/instance-id')).toBe('i-0aaaabbbbccccdddd');
    expect(await get('/latest/meta-data/instance-type')).toBe('m5.large');
    expect(await get('/latest/meta-data/ami-id')).toBe('ami-0fedcba9876543210');
    expect(await get('/latest/meta-data/placement/availability-zone')).toBe('us-east-1b');
    expect(await get('/latest/meta-data/placement/region')).toBe('us-east-1');
    expect((await get('/latest/meta-data/')).split('\n')).toEqual(expect.arrayContaining(['ami-id', 'instance-id', 'instance-type', 'placement/']));
    const document = JSON.parse(await get('/latest/dynamic/instance-identity/document')) as Record<string, unknown>;
    expect(document).toMatchObject({
      instanceId: 'i-0aaaabbbbccccdddd',
      instanceType: 'm5.large',
      availabilityZone: 'us-east-1b',
      region: 'us-east-1',
      imageId: 'ami-0fedcba9876543210',
      accountId: '123456789012',
      architecture: 'x86_64',
      version: '2017-09-30',
    });
    expect(document.privateIp).toMatch(/^10\.0\.\d+\.\d+$/);
    expect((await fetch(`${url}/latest/meta-data/no-such-key`, { headers: { 'X-aws-ec2-metadata-token': token } })).status).toBe(404);
  });

  it('IMDSv2: a token stops working when its TTL has passed', async () => {
    const token = await (
      await fetch(`${endpoints.imdsUrl}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '1' } })
    ).text();
    const read = () => fetch(`${endpoints.imdsUrl}/latest/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': token } });
    const issued = Date.now();
    expect((await read()).status).toBe(200);
    await waitFor('the token expires', 10_000, async () => (await read()).status === 401, 50);
    expect(Date.now() - issued).toBeGreaterThanOrEqual(900); // not before its TTL (1 s, whole seconds on the server)
  });

  it('the Docker view answers dockerode: ping, version, list with label filters, inspect by id and name', async () => {
    const docker = new Docker({ socketPath: endpoints.dockerSocket });
    expect((await docker.ping()).toString()).toBe('OK');
    expect(await docker.version()).toMatchObject({ ApiVersion: '1.41', Os: 'linux' });

    // A second instance with its own task: never visible through the first one's socket.
    const otherIdentity = identity('i-0eeeeffff00001111', 'us-east-1a');
    otherArn = await register(w, otherIdentity);
    other = await startInstanceEndpoints({
      emulator: w.emulator,
      runtime: w.runtime,
      identity: otherIdentity,
      cluster: w.cluster,
      socketDir: w.socketDir,
      containerInstanceArn: otherArn,
    });
    otherTaskArn = await startTask(w, otherArn);

    const running = await docker.listContainers();
    expect(running).toHaveLength(1);
    const [entry] = running;
    expect(entry?.Labels).toMatchObject({
      [ECS_LABELS.taskArn]: taskArn,
      [ECS_LABELS.family]: FAMILY,
      [ECS_LABELS.containerName]: 'shipper',
      [ECS_LABELS.cluster]: 'endpoints-test',
    });
    expect(entry?.State).toBe('running');
    expect(entry?.Names[0]).toMatch(/^\//);
    expect(await docker.listContainers({ all: true, filters: { label: [`${ECS_LABELS.family}=${FAMILY}`] } })).toHaveLength(1);
    expect(await docker.listContainers({ all: true, filters: { label: [`${ECS_LABELS.family}=other`] } })).toEqual([]);
    expect(await docker.listContainers({ all: true, filters: { label: [ECS_LABELS.taskArn] } })).toHaveLength(1);
    // The older map form of filters works too.
    expect(await docker.listContainers({ all: true, filters: JSON.stringify({ label: { [`${ECS_LABELS.containerName}=shipper`]: true } }) })).toHaveLength(1);
    expect(await docker.listContainers({ filters: { status: ['exited'] } })).toEqual([]);

    const inspected = await docker.getContainer(entry?.Id ?? '').inspect();
    expect(inspected.Id).toBe(entry?.Id);
    expect(inspected.Name).toBe(entry?.Names[0]);
    expect(inspected.State).toMatchObject({ Status: 'running', Running: true, ExitCode: 0, OOMKilled: false });
    expect(inspected.State.Health?.Status).toMatch(/^(starting|healthy)$/);
    expect(inspected.Config.Labels).toMatchObject({ [ECS_LABELS.taskArn]: taskArn });
    expect((await docker.getContainer(inspected.Name.slice(1)).inspect()).Id).toBe(inspected.Id);
    expect((await docker.getContainer(inspected.Id.slice(0, 12)).inspect()).Id).toBe(inspected.Id);
    await expect(docker.getContainer('nope').inspect()).rejects.toMatchObject({ statusCode: 404 });
    const otherId = other.dockerSocket && (await new Docker({ socketPath: other.dockerSocket }).listContainers())[0]?.Id;
    expect(otherId).toBeTruthy();
    await expect(docker.getContainer(otherId ?? '').inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('the Docker view streams Docker-shaped events with type, event and label filters', async () => {
    const docker = new Docker({ socketPath: endpoints.dockerSocket });
    const since = Math.floor(Date.now() / 1000) - 60;
    const stream = await docker.getEvents({ filters: { type: ['container'], event: ['die'], label: [`${ECS_LABELS.taskArn}=${taskArn}`] } });
    const collected = collectEvents(stream, 1, 10_000);
    // The other instance's container dies first: the filtered stream of this instance must not see it.
    await w.ecs.send(new StopTaskCommand({ cluster: w.cluster, task: otherTaskArn }));
    await w.ecs.send(new StopTaskCommand({ cluster: w.cluster, task: taskArn }));
    const [die] = await collected;
    const dockerId = w.emulator.task(taskArn)?.containers[0]?.runtimeId;
    expect(die).toMatchObject({ Type: 'container', Action: 'die', status: 'die', id: dockerId, scope: 'local', Actor: { ID: dockerId } });
    const attributes = (die?.Actor as { Attributes: Record<string, string> }).Attributes;
    expect(attributes).toMatchObject({ [ECS_LABELS.taskArn]: taskArn, [ECS_LABELS.containerName]: 'shipper', exitCode: '143' });
    expect(attributes.name).toMatch(/^ecs-/);
    expect(typeof die?.time).toBe('number');
    expect(String(die?.timeNano)).toMatch(/^\d{19}$/);

    // `since` + `until` replays what happened and ends the stream, as Docker does.
    const replay = await collectEvents(await docker.getEvents({ since, until: Math.ceil(Date.now() / 1000) }), 100, 10_000);
    const actions = replay.map((event) => event.Action);
    expect(actions).toEqual(expect.arrayContaining(['start', 'die']));
    expect(replay.every((event) => (event.Actor as { Attributes: Record<string, string> }).Attributes[ECS_LABELS.taskArn] === taskArn)).toBe(true);
    const exited = await docker.listContainers({ all: true, filters: { status: ['exited'] } });
    expect(exited).toHaveLength(1);
    expect(exited[0]?.Status).toMatch(/^Exited \(143\) /);
  });

  it('the endpoints close: ports and socket are released', async () => {
    const closing = await startInstanceEndpoints({
      emulator: w.emulator,
      runtime: w.runtime,
      identity: identity('i-0123412341234abcd'),
      cluster: w.cluster,
      socketDir: w.socketDir,
      containerInstanceArn: otherArn,
    });
    await closing.close();
    await expect(fetch(`${closing.imdsUrl}/latest/api/token`, { method: 'PUT' })).rejects.toThrow();
    await expect(fetch(`${closing.introspectionUrl}/v1/metadata`)).rejects.toThrow();
    await expect(new Docker({ socketPath: closing.dockerSocket }).ping()).rejects.toThrow();
  });
});

describe.skipIf(!haveDocker)('instance endpoints over the docker runtime', () => {
  let w: World;
  let endpoints: InstanceEndpoints;
  let runtime: DockerRuntime;

  beforeAll(async () => {
    runtime = new DockerRuntime();
    await runtime.init();
    w = await world(runtime, 'endpoints-docker-test');
    const me = identity('i-0dddd0000dddd0000');
    endpoints = await startInstanceEndpoints({
      emulator: w.emulator,
      runtime,
      identity: me,
      cluster: w.cluster,
      socketDir: w.socketDir,
      containerInstanceArn: await register(w, me),
    });
  });

  afterAll(async () => {
    await endpoints?.close();
    await w?.close();
  });

  it("shows the real container and streams the engine's die event after docker kill", { timeout: 60_000 }, async () => {
    const instanceArn = endpoints.containerInstanceArn ?? '';
    const taskArn = await startTask(w, instanceArn);
    const docker = new Docker({ socketPath: endpoints.dockerSocket });
    const [entry] = await docker.listContainers({ filters: { label: [`${ECS_LABELS.taskArn}=${taskArn}`] } });
    const real = await new Docker().getContainer(entry?.Id ?? '').inspect();
    expect(`/${entry?.Names[0]?.slice(1)}`).toBe(real.Name);
    const introspected = (await (await fetch(`${endpoints.introspectionUrl}/v1/tasks?dockerid=${entry?.Id}`)).json()) as {
      Containers: Array<{ DockerName: string }>;
    };
    expect(`/${introspected.Containers[0]?.DockerName}`).toBe(real.Name);

    const collected = collectEvents(await docker.getEvents({ filters: { event: ['die'] } }), 1, 15_000);
    execFileSync('docker', ['kill', entry?.Id ?? '']);
    const [die] = await collected;
    expect(die).toMatchObject({ Action: 'die', Actor: { ID: entry?.Id, Attributes: { exitCode: '137' } } });
    const inspected = await docker.getContainer(entry?.Id ?? '').inspect();
    expect(inspected.State).toMatchObject({ Status: 'exited', Running: false, ExitCode: 137 });
  });
});
