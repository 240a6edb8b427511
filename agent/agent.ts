// The edge agent's composition root: createAgent(config, deps) wires one agent (its loop, identity,
// adapters and reconcile step) and answers for it. No module-level state, so one process can host
// hundreds of agents (benchmarks against the emulator), each with its own identity, clients,
// endpoints and metrics. Time comes from one injected clock.
//
// The step itself is agent/reconciler.ts (observe -> decide -> pace -> plan -> act -> report); the
// adapters in agent/adapters/ are the only files that import an SDK.
import { randomBytes } from 'node:crypto';
import type pino from 'pino';
import { systemClock, type Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { AgentAutoScaling } from './adapters/autoscaling.js';
import { AgentDynamo } from './adapters/dynamo.js';
import { DockerWatcher } from './adapters/docker.js';
import { AgentEcs } from './adapters/ecs.js';
import { agentSteward } from './adapters/steward.js';
import { MetadataClient } from './adapters/metadata.js';
import type { FaultPoint } from './act/task-control.js';
import type { AgentConfig } from './config.js';
import type { AgentContext, AgentIdentity } from './context.js';
import { readIdentity } from './identity.js';
import { newOwnerName } from './lease.js';
import { Loop } from './loop.js';
import { Metrics, recordCall } from './metrics.js';
import { Reconciler } from './reconciler.js';
import { Troubles } from './report/degraded.js';
import { healthz, readyz, statusView, type AgentStatusView, type ViewSources } from './report/views.js';

export type { AgentIdentity } from './context.js';
export type { AgentStatusView } from './report/views.js';

export interface AgentDeps {
  logger: pino.Logger;
  clock?: Clock;
  random?: () => number;
  /** AWS credentials (the SDK's default chain when absent). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Test-only fault hook, called at named points (see docs/agent.md). */
  fault?: (point: FaultPoint) => void;
  /** Owner name: main.ts passes the one kept in the state directory; default a fresh name. */
  owner?: string;
  /** Local loop tick: how often the ECS agent's /v1/tasks is read (default 1000 ms). */
  tickMs?: number;
  /** An expectation not met within this long is checked with a look-up (default 30 s). */
  expectationTimeoutMs?: number;
}

export interface Agent {
  readonly metrics: Metrics;
  readonly owner: string;
  /** Starts the loop (returns at once; identity is read inside the loop, with backoff). */
  start(): void;
  /** Stops the loop and releases the instance for a successor. Never stops a daemon. */
  stop(): Promise<void>;
  status(): AgentStatusView;
  healthz(): { ok: boolean; reason: string };
  readyz(): { ok: boolean; reason: string };
  /** Resolves after the next completed reconcile step (tests). */
  nextStep(): Promise<void>;
}

const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex');

export function createAgent(config: AgentConfig, deps: AgentDeps): Agent {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const tickMs = deps.tickMs ?? 1_000;
  const owner = deps.owner ?? newOwnerName(randomHex);
  const log = deps.logger.child({ owner });
  const metrics = new Metrics();
  const troubles = new Troubles(log, metrics, () => clock.wallMs());
  const metadata = new MetadataClient({ ecsAgentUrl: config.ecsAgentUrl, imdsUrl: config.imdsUrl });
  const startedAt = new Date(clock.wallMs()).toISOString();
  let identity: AgentIdentity | undefined;
  let reconciler: Reconciler | undefined;
  const closers: Array<() => void> = [];

  const loop = new Loop(
    clock,
    tickMs,
    (error) => {
      troubles.record('loop', error);
      log.error({ err: error }, 'reconcile step failed');
    },
    (durationMs) => metrics.observe('blox_agent_reconcile_duration_seconds', 'Duration of one observe-decide-act step', {}, durationMs / 1000),
  );

  /** Identity first (waiting for the ECS agent), then the clients and the reconcile step. */
  const prepare = async (): Promise<boolean> => {
    loop.setPhase('waiting-for-ecs-agent');
    identity = await readIdentity(
      { clock, random, log, metrics, troubles },
      { port: metadata, running: () => loop.isRunning, sleep: (ms) => loop.sleep(ms), alive: () => loop.alive(), region: config.region },
    );
    if (!identity) return false;
    const region = identity.region ?? 'us-east-1';
    const call =
      (service: 'ecs' | 'dynamodb' | 'autoscaling') =>
      <T>(operation: string, run: () => Promise<T>) =>
        recordCall(metrics, service, operation, () => clock.monoMs(), run);
    const sdk = { region, ...(deps.credentials ? { credentials: deps.credentials } : {}) };
    const ecs = new AgentEcs({
      ...sdk,
      cluster: identity.cluster,
      containerInstanceArn: identity.containerInstanceArn,
      ...(config.ecsEndpoint ? { endpoint: config.ecsEndpoint } : {}),
      call: call('ecs'),
    });
    const dynamo = new AgentDynamo({
      ...sdk,
      table: config.table,
      ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {}),
      call: call('dynamodb'),
    });
    const autoScaling = new AgentAutoScaling({
      ...sdk,
      ...(config.autoscalingEndpoint ? { endpoint: config.autoscalingEndpoint } : {}),
      call: call('autoscaling'),
    });
    const ctx: AgentContext = { config, identity, owner, clock, random, randomHex, log, metrics, troubles };
    const docker = new DockerWatcher({
      socketPath: config.dockerSocket,
      onEvent: (event) => {
        metrics.inc('blox_agent_docker_events_total', 'Docker events seen for ECS task containers', { action: event.action });
        log.debug({ event }, 'docker event');
        if (event.action === 'health_status')
          reconciler?.healthEvent(event.taskArn, event.health === 'healthy' ? 'HEALTHY' : event.health === 'unhealthy' ? 'UNHEALTHY' : 'UNKNOWN');
        loop.wake();
      },
      onState: (connected, error) => {
        if (!connected && error) log.debug({ error: errorMessage(error) }, 'docker events disconnected; reconnecting');
      },
    });
    const step = new Reconciler(
      ctx,
      {
        desired: dynamo,
        claims: dynamo,
        rollout: dynamo,
        steward: agentSteward({ client: dynamo.client, table: config.table, clock }),
        status: dynamo,
        ecs,
        ecsAgent: metadata,
        docker,
        lifecycle: metadata,
        autoScaling,
        repair: dynamo,
      },
      { tickMs, expectationTimeoutMs: deps.expectationTimeoutMs ?? 30_000, ...(deps.fault ? { fault: deps.fault } : {}) },
    );
    docker.start();
    closers.push(
      () => docker.close(),
      () => ecs.destroy(),
      () => dynamo.destroy(),
      () => autoScaling.destroy(),
    );
    reconciler = step;
    log.info({ identity }, 'identity read; reconciling');
    return true;
  };

  const views: ViewSources = { owner, startedAt, loop, tickMs, identity: () => identity, reconciler: () => reconciler, troubles, monoMs: () => clock.monoMs() };
  return {
    metrics,
    owner,
    start: () =>
      loop.start(
        prepare,
        () => reconciler!.step(),
        (error) => log.fatal({ err: error }, 'agent loop failed'),
      ),
    async stop() {
      if (!loop.isRunning) return;
      await loop.stop();
      await reconciler?.release();
      for (const close of closers.splice(0)) close();
      await metadata.close().catch(() => undefined);
      log.info('agent stopped; daemons left running');
    },
    status: () => statusView(views),
    healthz: () => healthz(views),
    readyz: () => readyz(views),
    nextStep: () => loop.nextStep(),
  };
}
