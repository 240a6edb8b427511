// A local world for the agent's integration tests: a table of its own in the run's DynamoDB Local,
// the ECS emulator over a task runtime, per-instance endpoints (ECS agent introspection, IMDSv2,
// Docker view), environments written through the store library (or raw items), and agents either
// in-process (createAgent) or as `node dist/agent.js` child processes.
import { CreateClusterCommand, ECSClient, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createAgent, type Agent, type AgentDeps } from '../../agent/agent.js';
import { CONFIG_KEYS, type AgentConfig } from '../../agent/config.js';
import { startHealthServer, type HealthServer } from '../../agent/health-server.js';
import { tableDefinition } from '../../core/dynamo-table.js';
import {
  DEFAULT_DEPLOYMENT_CONFIGURATION,
  DEFAULT_RESTART_POLICY,
  type DeploymentConfiguration,
  type RepairAction,
  type RestartPolicy,
} from '../../core/records.js';
import { DynamoTable } from '../../core/store/dynamo.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { startEcsEmulator, type EcsEmulator, type EmulatedTask } from '../../local/ecs/emulator.js';
import { startInstanceEndpoints, type InstanceEndpoints } from '../../local/instance/endpoints.js';
import type { TaskRuntime } from '../../local/runtime/types.js';
import { freePort, localCredentials } from './services.js';

export interface WorldInstance {
  arn: string;
  ec2InstanceId: string;
  endpoints: InstanceEndpoints;
}

export interface RunningAgent {
  agent: Agent;
  health: HealthServer;
  config: AgentConfig;
  stop(): Promise<void>;
}

export interface ChildAgent {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface FleetSampler {
  readonly maxUnavailable: number;
  /** The most live tasks of the environment on one instance. */
  readonly maxPerInstance: number;
  /** Some instance had two live tasks of the same task definition. */
  readonly sameRevisionTwice: boolean;
  stop(): void;
}

/** A task is ready: RUNNING and meant to run, every essential container with a health check HEALTHY. */
export const readyTask = (task: EmulatedTask): boolean =>
  task.lastStatus === 'RUNNING' &&
  task.desiredStatus === 'RUNNING' &&
  task.containers.every((c) => !c.essential || !c.hasHealthCheck || c.healthStatus === 'HEALTHY');

export interface AgentWorld {
  cluster: string;
  table: string;
  dynamodbEndpoint: string;
  ddb: DynamoDBClient;
  store: EnvironmentStore;
  emulator: EcsEmulator;
  ecs: ECSClient;
  runtime: TaskRuntime;
  /** `introspectionLater`: the ECS agent's introspection answers only after `endpoints.markRegistered(arn)` (boot order). */
  addInstance(options?: {
    instanceType?: string;
    availabilityZone?: string;
    attributes?: Record<string, string>;
    introspectionLater?: boolean;
  }): Promise<WorldInstance>;
  /** `healthCheck`: a container health check (the simulated runtime reports HEALTHY after its start period, at least 1 s). */
  registerTaskDefinition(
    family: string,
    options?: { healthCheck?: boolean | { startPeriodSeconds: number }; image?: string; command?: string[] },
  ): Promise<string>;
  createEnvironment(
    name: string,
    taskDefinition: string,
    options?: {
      expression?: string;
      restartPolicy?: Partial<RestartPolicy>;
      critical?: boolean;
      order?: number;
      deploymentConfiguration?: Partial<DeploymentConfiguration>;
      repair?: RepairAction;
      repairBudget?: string;
    },
  ): Promise<void>;
  deleteEnvironment(name: string): Promise<void>;
  putRaw(item: Record<string, unknown>): Promise<void>;
  /** One item as stored (strongly consistent), or undefined. */
  rawItem(pk: string, sk: string): Promise<Record<string, unknown> | undefined>;
  /**
   * The invariant every agent test holds, checked on every task state change the emulator makes
   * (not sampled): no (environment, instance) has two live tasks of one revision, nor more than two.
   * `maxPerInstance` 1 also refuses a second live task of another revision (no surge configured).
   */
  watchDuplicates(options?: { maxPerInstance?: 1 | 2 }): { violations: string[]; stop(): void };
  /** Live (not STOPPED, desired RUNNING) tasks of an instance, optionally of one environment. */
  liveTasks(instanceArn: string, environment?: string): EmulatedTask[];
  /**
   * The instances of `environment` without a ready daemon (readyTask), sampled on every task
   * change the emulator makes (not polled). `onSample` sees each sample's live tasks per instance,
   * with the performance.now() of the change.
   */
  sampleFleet(environment: string, instances: WorldInstance[], options?: { onSample?: (atMs: number, live: EmulatedTask[][]) => void }): FleetSampler;
  startAgent(instance: WorldInstance, overrides?: Partial<AgentConfig>, deps?: Partial<AgentDeps>): Promise<RunningAgent>;
  spawnAgent(instance: WorldInstance, overrides?: Partial<AgentConfig>, env?: Record<string, string>): Promise<ChildAgent>;
  agentConfig(instance: WorldInstance, overrides?: Partial<AgentConfig>): Promise<AgentConfig>;
  close(): Promise<void>;
}

export const quietLogger = (): pino.Logger => pino({ level: process.env.BLOX_TEST_AGENT_LOG ?? 'silent' });

export { waitFor } from './wait.js';

let worldCount = 0;

export async function startAgentWorld(options: { dynamodbEndpoint: string; runtime: TaskRuntime; cluster?: string }): Promise<AgentWorld> {
  worldCount++;
  const cluster = options.cluster ?? `agent-${process.pid}-${worldCount}`;
  const table = `agent-it-${process.pid}-${Date.now()}-${worldCount}`;
  const ddb = new DynamoDBClient({ endpoint: options.dynamodbEndpoint, region: 'us-east-1', credentials: localCredentials });
  await ddb.send(new CreateTableCommand(tableDefinition(table)));
  const store = new EnvironmentStore({ table: new DynamoTable({ tableName: table, client: ddb }) });
  const runtime = options.runtime;
  const emulator = await startEcsEmulator({ port: 0, runtime });
  const ecs = new ECSClient({ endpoint: emulator.url, region: 'us-east-1', credentials: localCredentials, maxAttempts: 1 });
  await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
  const socketDir = mkdtempSync(join(tmpdir(), 'bx-ag-'));
  const instances: WorldInstance[] = [];
  const agents: RunningAgent[] = [];
  const children: ChildAgent[] = [];
  let n = 0;

  const world: AgentWorld = {
    cluster,
    table,
    dynamodbEndpoint: options.dynamodbEndpoint,
    ddb,
    store,
    emulator,
    ecs,
    runtime,
    async addInstance(o = {}) {
      n++;
      const ec2InstanceId = `i-${(worldCount * 1000 + n).toString(16).padStart(17, '0')}`;
      const instanceType = o.instanceType ?? 't2.micro';
      const availabilityZone = o.availabilityZone ?? 'us-east-1a';
      const { containerInstanceArn } = await emulator.registerInstance({
        cluster,
        ec2InstanceId,
        instanceType,
        availabilityZone,
        amiId: 'ami-0123456789abcdef0',
        cpu: 2048,
        memory: 4096,
        ...(o.attributes ? { attributes: o.attributes } : {}),
      });
      const endpoints = await startInstanceEndpoints({
        emulator,
        runtime,
        identity: { ec2InstanceId, instanceType, availabilityZone, amiId: 'ami-0123456789abcdef0', region: 'us-east-1', accountId: '000000000000' },
        cluster,
        ...(o.introspectionLater ? {} : { containerInstanceArn }),
        socketDir,
      });
      const instance = { arn: containerInstanceArn, ec2InstanceId, endpoints };
      instances.push(instance);
      return instance;
    },
    async registerTaskDefinition(family, o = {}) {
      const out = await ecs.send(
        new RegisterTaskDefinitionCommand({
          family,
          containerDefinitions: [
            {
              name: 'main',
              image: o.image ?? 'busybox:latest',
              essential: true,
              memory: 32,
              command: o.command ?? ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
              ...(o.healthCheck
                ? {
                    healthCheck: {
                      command: ['CMD-SHELL', 'true'],
                      interval: 5,
                      timeout: 2,
                      retries: 1,
                      startPeriod: typeof o.healthCheck === 'object' ? o.healthCheck.startPeriodSeconds : 0,
                    },
                  }
                : {}),
            },
          ],
        }),
      );
      return `${out.taskDefinition?.family}:${out.taskDefinition?.revision}`;
    },
    async createEnvironment(name, taskDefinition, o = {}) {
      await store.createEnvironment({
        name,
        taskDefinition,
        instanceGroup: o.expression ? { cluster, expression: o.expression } : { cluster },
        deploymentConfiguration: { ...DEFAULT_DEPLOYMENT_CONFIGURATION, ...o.deploymentConfiguration },
        restartPolicy: { ...DEFAULT_RESTART_POLICY, initialDelayMs: 200, maxDelayMs: 2_000, ...o.restartPolicy },
        critical: o.critical ?? false,
        order: o.order ?? 0,
        ...(o.repair ? { repair: o.repair } : {}),
        ...(o.repairBudget ? { repairBudget: o.repairBudget } : {}),
      });
    },
    async deleteEnvironment(name) {
      await store.deleteEnvironment(name);
    },
    async putRaw(item) {
      await ddb.send(new PutItemCommand({ TableName: table, Item: marshall(item, { removeUndefinedValues: true }) }));
    },
    async rawItem(pk, sk) {
      const out = await ddb.send(new GetItemCommand({ TableName: table, Key: marshall({ pk, sk }), ConsistentRead: true }));
      return out.Item ? unmarshall(out.Item) : undefined;
    },
    watchDuplicates(o = {}) {
      const max = o.maxPerInstance ?? 1;
      const violations: string[] = [];
      const stop = emulator.onTaskStateChange(({ task }) => {
        if (!task.containerInstanceArn || !task.group?.startsWith('blox:')) return;
        const live = emulator.tasksOnInstance(task.containerInstanceArn).filter((t) => t.group === task.group && t.lastStatus !== 'STOPPED');
        const revisions = live.map((t) => t.tags?.find((tag) => tag.key === 'blox:revision')?.value ?? '?');
        if (live.length > max || new Set(revisions).size < revisions.length)
          violations.push(
            `${task.group} on ${task.containerInstanceArn}: ${live.map((t) => `${t.taskArn} rev ${t.tags?.find((tag) => tag.key === 'blox:revision')?.value} ${t.lastStatus}/${t.desiredStatus} by ${t.startedBy}`).join(', ')}`,
          );
      });
      return { violations, stop };
    },
    liveTasks(instanceArn, environment) {
      return emulator
        .tasksOnInstance(instanceArn)
        .filter((t) => t.lastStatus !== 'STOPPED' && t.desiredStatus === 'RUNNING' && (environment === undefined || t.group === `blox:${environment}`));
    },
    sampleFleet(environment, sampled, o = {}) {
      let maxUnavailable = 0;
      let maxPerInstance = 0;
      let sameRevisionTwice = false;
      const off = emulator.onTaskStateChange(() => {
        const at = performance.now();
        let unavailable = 0;
        const live = sampled.map((i) => world.liveTasks(i.arn, environment));
        for (const tasks of live) {
          if (!tasks.some(readyTask)) unavailable++;
          maxPerInstance = Math.max(maxPerInstance, tasks.length);
          const revisions = tasks.map((t) => t.taskDefinitionArn);
          if (new Set(revisions).size !== revisions.length) sameRevisionTwice = true;
        }
        maxUnavailable = Math.max(maxUnavailable, unavailable);
        o.onSample?.(at, live);
      });
      return {
        stop: () => off(),
        get maxUnavailable() {
          return maxUnavailable;
        },
        get maxPerInstance() {
          return maxPerInstance;
        },
        get sameRevisionTwice() {
          return sameRevisionTwice;
        },
      };
    },
    async agentConfig(instance, overrides = {}) {
      const defaults: Record<string, unknown> = {};
      for (const k of CONFIG_KEYS) if (k.default !== undefined) defaults[k.key] = k.default;
      return {
        ...(defaults as unknown as AgentConfig),
        table,
        region: 'us-east-1',
        dynamodbEndpoint: options.dynamodbEndpoint,
        ecsEndpoint: emulator.url,
        ecsAgentUrl: instance.endpoints.introspectionUrl,
        imdsUrl: instance.endpoints.imdsUrl,
        dockerSocket: instance.endpoints.dockerSocket,
        listen: `127.0.0.1:${await freePort()}`,
        pollIntervalMs: 300,
        ecsReconcileIntervalMs: 5_000,
        leaseDurationMs: 3_000,
        stateDir: join(socketDir, 'state', instance.ec2InstanceId), // one agent installation per instance
        orphanGraceMs: 1_000,
        attemptSettleMs: 500,
        statusHeartbeatMs: 5_000,
        rolloutPollMs: 200,
        rolloutIdlePollMs: 1_000,
        stewardIntervalMs: 300,
        ...overrides,
      };
    },
    async startAgent(instance, overrides = {}, deps = {}) {
      // In process the health server can bind port 0 and report the port it got.
      const config = await world.agentConfig(instance, { listen: '127.0.0.1:0', ...overrides });
      const agent = createAgent(config, { logger: quietLogger(), credentials: localCredentials, tickMs: 200, ...deps });
      const health = await startHealthServer(agent, config.listen);
      agent.start();
      let stopped = false;
      const running: RunningAgent = {
        agent,
        health,
        config,
        async stop() {
          if (stopped) return;
          stopped = true;
          await agent.stop();
          await health.close();
        },
      };
      agents.push(running);
      return running;
    },
    async spawnAgent(instance, overrides = {}, env = {}) {
      const config = await world.agentConfig(instance, overrides);
      const args = [await agentBundle()];
      for (const k of CONFIG_KEYS) {
        const value = config[k.key];
        if (value !== undefined && value !== '') args.push(k.flag, String(value));
      }
      let output = '';
      const child = spawn(process.execPath, args, {
        env: { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', BLOX_LOG_LEVEL: 'debug', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      const handle = { child, url: `http://${config.listen}`, output: () => output, exited };
      children.push(handle);
      return handle;
    },
    async close() {
      for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
      await Promise.all(children.map((c) => c.exited));
      await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
      await Promise.all(instances.map((i) => i.endpoints.close().catch(() => undefined)));
      await emulator.close();
      await runtime.close();
      ecs.destroy();
      await ddb.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
      ddb.destroy();
      rmSync(socketDir, { recursive: true, force: true });
    },
  };
  return world;
}

export interface TcpProxy {
  url: string;
  /** Refuses new connections and cuts open ones (the service looks unreachable). */
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy in front of a service (DynamoDB Local) that a test can cut and restore. */
export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  // Port 0 on the first listen (no window for another process to take a reserved port); the
  // same port again on restore, which the kernel allows once the old listener is closed.
  let port = 0;
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        sockets.add(client);
        sockets.add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await listen();
  return { url: `http://127.0.0.1:${port}`, cut: stop, restore: listen, close: stop };
}

/**
 * The agent bundle to run as a process: dist/agent.js as `npm test` builds it, rebuilt first by the
 * project's build when missing or older than a source it is built from (test/support/bundles.ts).
 */
export async function agentBundle(): Promise<string> {
  const { freshBundles } = await import('./bundles.js');
  return (await freshBundles()).agent;
}
