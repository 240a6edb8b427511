// The edge agent: one reconcile loop per container instance, observe -> decide -> act.
// No module-level state: createAgent(config, deps) makes an independent agent, so one process can
// host hundreds of them (benchmarks against the emulator), each with its own identity, clients,
// endpoints and metrics. Time comes from an injected clock (wall + monotonic).
//
// Observe: the change marker (one small GetItem per poll; a Query only when it moved), the ECS
// agent's /v1/tasks (local truth, no API cost), Docker events and health (reaction in
// milliseconds), a slow ECS ListTasks/DescribeTasks sweep, and the agent's own memory: leases,
// expectations of starts not yet observed, attempt lookups, restart and StartTask backoff.
// Decide: agent/decide.ts (pure). Act: each environment's actions in order, stopping that
// environment's chain at the first failure (a StartTask never runs unless the lease write of its
// attempt token just succeeded).
import { randomBytes } from 'node:crypto';
import type pino from 'pino';
import type { InstanceFacts } from '../core/cql.js';
import { errorMessage, InvalidRecordError } from '../core/errors.js';
import { containerInstanceIdOf, clusterNameOf, SCHEMA_VERSION } from '../core/keys.js';
import { DEFAULT_RESTART_POLICY, type DaemonStatus, type InstanceStatus } from '../core/records.js';
import { commit, version } from '../core/version.js';
import { AgentDynamo, LeaseConflictError } from './adapters/dynamo.js';
import { DockerWatcher, type TaskContainerEvent, type TaskHealthView } from './adapters/docker.js';
import { AgentEcs, isThrottle, type TaskInfo } from './adapters/ecs.js';
import { MetadataClient, type InstanceIdentityFacts, type LocalTask } from './adapters/metadata.js';
import type { AgentConfig } from './config.js';
import { decide } from './decide.js';
import { readinessAttributeChange } from './readiness.js';
import { buildDesired, matchInstance, type EnvironmentEntry } from './desired.js';
import { judgeLease, newOwnerName, newRecordVersion, ownLeaseStale, renewDue, type LeaseItem, type LeaseView } from './lease.js';
import { Metrics, outcomeOf, recordCall } from './metrics.js';
import type { Action, AttemptLookup, Backoff, DecideOptions, Desired, Observed, ObservedTask, PendingStart, Plan, Report } from './model.js';
import { ageRestartState, backoffDelay, initialRestartState, onDaemonStopped, onStartIssued, START_RETRY, type RestartState } from './restart-policy.js';
import { tasksToDescribe } from './sweep.js';

export interface Clock {
  wallMs(): number;
  monoMs(): number;
}

// Whole milliseconds: every duration the agent logs or reports is then an integer.
export const systemClock: Clock = { wallMs: () => Date.now(), monoMs: () => Math.round(performance.now()) };

export interface AgentDeps {
  logger: pino.Logger;
  clock?: Clock;
  random?: () => number;
  /** AWS credentials (the SDK's default chain when absent). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Test-only fault hook, called at named points (see docs/agent.md). */
  fault?: (point: 'after-start-task') => void;
  /** Owner name of its leases: main.ts passes the one kept in the state directory; default a fresh name. */
  owner?: string;
  /** Local loop tick: how often the ECS agent's /v1/tasks is read (default 1000 ms). */
  tickMs?: number;
  /** An expectation not met within this long is checked with a lookup (default 30 s). */
  expectationTimeoutMs?: number;
}

export interface AgentIdentity {
  cluster: string;
  containerInstanceArn: string;
  containerInstanceId: string;
  ec2InstanceId?: string;
  availabilityZone?: string;
  instanceType?: string;
  amiId?: string;
  region?: string;
  ecsAgentVersion?: string;
}

export interface AgentErrorRecord {
  source: string;
  message: string;
  at: string;
}

export interface AgentStatusView {
  agent: { version: string; commit: string; owner: string; startedAt: string; steps: number; phase: string };
  identity: AgentIdentity | undefined;
  attributes: Record<string, string | undefined> | undefined;
  ready: boolean;
  degraded: boolean;
  degradedReasons: string[];
  desired: { loaded: boolean; fresh: boolean; markerVersion: number | undefined; environments: { name: string; valid: boolean; matches?: boolean | undefined; reason: string; revision?: number; taskDefinition?: string }[] };
  daemons: (Report & { restarts: number; crashLoop: boolean; lease: { state: string; owner?: string; recordVersion?: string; reason: string } | undefined })[];
  leases: Record<string, { state: string; owner?: string; recordVersion?: string; taskArn?: string; attempt?: string; reason: string }>;
  tasks: ObservedTask[] | undefined;
  pending: Record<string, PendingStart>;
  lastErrors: AgentErrorRecord[];
}

export interface Agent {
  readonly metrics: Metrics;
  readonly owner: string;
  /** Starts the loop (returns once it runs; identity is read inside the loop, with backoff). */
  start(): void;
  /** Stops the loop and releases the leases for a successor. Never stops a daemon. */
  stop(): Promise<void>;
  status(): AgentStatusView;
  healthz(): { ok: boolean; reason: string };
  readyz(): { ok: boolean; reason: string };
  /** Resolves after the next completed reconcile step (tests). */
  nextStep(): Promise<void>;
}

interface LeaseSlot {
  view: LeaseView;
  lastWriteMono?: number;
  lastReadMono?: number;
}

interface CatalogEntry {
  info: TaskInfo;
  checkedMono: number;
  /** From the task definition (DescribeTaskDefinition, cached per definition): whether readiness waits for HEALTHY. */
  hasHealthCheck?: boolean;
}

const LOCAL_STATUS: Record<string, string> = { NONE: 'PROVISIONING', PULLED: 'PENDING', CREATED: 'PENDING', RUNNING: 'RUNNING', STOPPED: 'STOPPED' };

class AbortChain extends Error {}

export function createAgent(config: AgentConfig, deps: AgentDeps): Agent {
  return new EdgeAgent(config, deps);
}

class EdgeAgent implements Agent {
  readonly metrics = new Metrics();
  readonly owner: string;
  private readonly log: pino.Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly tickMs: number;
  private readonly options: DecideOptions;
  private readonly startedAt: string;

  private phase = 'starting';
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wakeResolve: (() => void) | undefined;
  private stepWaiters: Array<() => void> = [];
  private steps = 0;
  private lastProgressMono = 0;

  private metadata: MetadataClient;
  private ecs: AgentEcs | undefined;
  private dynamo: AgentDynamo | undefined;
  private docker: DockerWatcher | undefined;
  private dockerConnected = false;
  private identity: AgentIdentity | undefined;
  private facts: InstanceFacts | undefined;
  private attributesReadMono: number | undefined;

  // desired state
  private entries: EnvironmentEntry[] | undefined;
  private markerVersion: number | undefined;
  private markerSeen = false;
  private lastReloadMono: number | undefined;
  private readinessRetryMono = 0;
  private statusRetryMono = 0;
  private ecsStatus: string | undefined;
  private fresh = false;
  private nextPollMono = 0;
  private dynamoBackoff: Backoff | undefined;

  // observed state
  private readonly catalog = new Map<string, CatalogEntry>();
  private localTasks: LocalTask[] | undefined;
  private health = new Map<string, TaskHealthView>();
  private dockerHealthOk = false;
  private lastSweepMono: number | undefined;
  private sweepOk = false;
  private sweptOnce = false;
  private readonly leases = new Map<string, LeaseSlot>();
  private readonly pending: Record<string, PendingStart> = {};
  private readonly ecsBackoff: Record<string, Backoff> = {};
  private readonly lookups: Record<string, AttemptLookup> = {};
  private readonly attemptFirstSeen: Record<string, number> = {};
  private readonly restart: Record<string, RestartState> = {};
  private readonly startBackoff: Record<string, Backoff> = {};
  private readonly orphanSince: Record<string, number> = {};
  private readonly tracked = new Map<string, string>();
  private readonly stoppedByUs = new Set<string>();
  private lastPlan: Plan | undefined;
  private lastTasks: ObservedTask[] | undefined;
  private readonly stateSince = new Map<string, { state: string; since: string }>();
  private readonly lastWaitReason = new Map<string, string>();

  // health and reporting
  private readonly errors: AgentErrorRecord[] = [];
  private readonly degradedBy = new Map<string, string>();
  private lastStatusKey = '';
  private lastStatusWriteMono: number | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
    this.tickMs = deps.tickMs ?? 1_000;
    this.owner = deps.owner ?? newOwnerName((n) => randomBytes(n).toString('hex'));
    this.log = deps.logger.child({ owner: this.owner });
    this.options = { orphanGraceMs: config.orphanGraceMs, attemptSettleMs: config.attemptSettleMs, expectationTimeoutMs: deps.expectationTimeoutMs ?? 30_000 };
    this.startedAt = new Date(this.clock.wallMs()).toISOString();
    this.metadata = new MetadataClient({ ecsAgentUrl: config.ecsAgentUrl, imdsUrl: config.imdsUrl });
  }

  // ------------------------------------------------------------------ lifecycle

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastProgressMono = this.clock.monoMs();
    this.loopDone = this.loop().catch((error) => {
      this.log.fatal({ err: error }, 'agent loop failed');
      throw error;
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    await this.loopDone?.catch(() => undefined);
    await this.releaseAll();
    this.docker?.close();
    this.ecs?.destroy();
    this.dynamo?.destroy();
    await this.metadata.close().catch(() => undefined);
    for (const w of this.stepWaiters.splice(0)) w();
    this.log.info('agent stopped; daemons left running');
  }

  nextStep(): Promise<void> {
    return new Promise((resolve) => this.stepWaiters.push(resolve));
  }

  private wake(): void {
    const resolve = this.wakeResolve;
    this.wakeResolve = undefined;
    resolve?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeResolve = undefined;
        resolve();
      }, Math.max(0, ms));
      this.wakeResolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async loop(): Promise<void> {
    await this.initIdentity();
    while (this.running) {
      const started = this.clock.monoMs();
      let wakeIn = this.tickMs;
      try {
        wakeIn = await this.step();
      } catch (error) {
        this.recordError('loop', error);
        this.log.error({ err: error }, 'reconcile step failed');
      }
      const duration = this.clock.monoMs() - started;
      this.metrics.observe('blox_agent_reconcile_duration_seconds', 'Duration of one observe-decide-act step', {}, duration / 1000);
      this.steps++;
      this.lastProgressMono = this.clock.monoMs();
      for (const w of this.stepWaiters.splice(0)) w();
      if (!this.running) break;
      await this.sleep(wakeIn);
    }
  }

  /** Identity: the ECS agent's /v1/metadata (waiting with backoff until it has registered), IMDSv2, then clients. */
  private async initIdentity(): Promise<void> {
    this.phase = 'waiting-for-ecs-agent';
    let attempt = 0;
    let meta: Awaited<ReturnType<MetadataClient['ecsMetadata']>> | undefined;
    while (this.running && !meta) {
      try {
        meta = await recordCall(this.metrics, 'ecs-agent', 'metadata', () => this.clock.monoMs(), () => this.metadata.ecsMetadata());
      } catch (error) {
        attempt++;
        const delay = backoffDelay(attempt, { initialDelayMs: 250, maxDelayMs: 5_000, multiplier: 2 }, this.random());
        if (attempt === 1 || attempt % 10 === 0) this.log.info({ attempt, delayMs: delay, error: errorMessage(error) }, 'ECS agent not registered yet; waiting');
        this.lastProgressMono = this.clock.monoMs();
        await this.sleep(delay);
      }
    }
    if (!meta) return;
    let imds: InstanceIdentityFacts = {};
    for (let i = 1; this.running && i <= 5; i++) {
      try {
        imds = await recordCall(this.metrics, 'imds', 'identity', () => this.clock.monoMs(), () => this.metadata.instanceIdentity());
        break;
      } catch (error) {
        this.recordError('imds', error);
        await this.sleep(backoffDelay(i, { initialDelayMs: 250, maxDelayMs: 2_000, multiplier: 2 }, this.random()));
      }
    }
    const cluster = clusterNameOf(meta.cluster);
    const region = this.config.region ?? imds.region ?? 'us-east-1';
    this.identity = {
      cluster,
      containerInstanceArn: meta.containerInstanceArn,
      containerInstanceId: containerInstanceIdOf(meta.containerInstanceArn),
      ...imds,
      region,
      ...(meta.version ? { ecsAgentVersion: meta.version } : {}),
    };
    const call = (service: 'ecs' | 'dynamodb') => <T>(operation: string, run: () => Promise<T>) => recordCall(this.metrics, service, operation, () => this.clock.monoMs(), run);
    this.ecs = new AgentEcs({ cluster, containerInstanceArn: meta.containerInstanceArn, region, ...(this.config.ecsEndpoint ? { endpoint: this.config.ecsEndpoint } : {}), ...(this.deps.credentials ? { credentials: this.deps.credentials } : {}), call: call('ecs') });
    this.dynamo = new AgentDynamo({ table: this.config.table, region, ...(this.config.dynamodbEndpoint ? { endpoint: this.config.dynamodbEndpoint } : {}), ...(this.deps.credentials ? { credentials: this.deps.credentials } : {}), call: call('dynamodb') });
    this.docker = new DockerWatcher({
      socketPath: this.config.dockerSocket,
      onEvent: (event) => this.onDockerEvent(event),
      onState: (connected, error) => {
        this.dockerConnected = connected;
        if (!connected && error) this.log.debug({ error: errorMessage(error) }, 'docker events disconnected; reconnecting');
      },
    });
    this.docker.start();
    this.phase = 'running';
    this.log.info({ identity: this.identity }, 'identity read; reconciling');
  }

  private onDockerEvent(event: TaskContainerEvent): void {
    this.metrics.inc('blox_agent_docker_events_total', 'Docker events seen for ECS task containers', { action: event.action });
    this.log.debug({ event }, 'docker event');
    if (event.action === 'health_status') {
      const prev = this.health.get(event.taskArn);
      const health = event.health === 'healthy' ? 'HEALTHY' : event.health === 'unhealthy' ? 'UNHEALTHY' : 'UNKNOWN';
      this.health.set(event.taskArn, { health, hasHealthCheck: true, running: prev?.running ?? true });
    }
    this.wake();
  }

  // ------------------------------------------------------------------ one step

  /** observe -> decide -> act; returns how long to sleep before the next step. */
  private async step(): Promise<number> {
    if (!this.identity || !this.ecs || !this.dynamo) return this.tickMs;
    const now = this.clock.monoMs();
    await this.observeDesired(now);
    await this.observeAttributes(now);
    const tasks = await this.observeTasks(now);
    this.lastTasks = tasks;
    this.trackStops(tasks, now);
    await this.observeLeases(now);

    const desired = this.desired();
    const observed = this.observed(tasks, now);
    const plan = decide(desired, observed, { wallMs: this.clock.wallMs(), monoMs: now, nonce: randomBytes(10).toString('hex') }, this.options);
    this.lastPlan = plan;
    this.updateOrphans(plan, now);
    const progress = await this.act(plan, desired);
    this.noteReports(plan);
    await this.publishReadiness(plan, now);
    await this.writeStatus(plan);

    // Wake for the next poll on time rather than at the tick after it (polls would average interval + tick / 2).
    let wakeIn = Math.min(this.tickMs, Math.max(10, this.nextPollMono - this.clock.monoMs()));
    for (const a of plan.actions) if (a.type === 'wait' && a.untilMono !== undefined) wakeIn = Math.min(wakeIn, Math.max(10, a.untilMono - this.clock.monoMs()));
    if (progress) wakeIn = Math.min(wakeIn, 20);
    return wakeIn;
  }

  /** Keeps the daemons-first attribute in step with the critical daemons (agent/readiness.ts). */
  private async publishReadiness(plan: Plan, now: number): Promise<void> {
    if (now < this.readinessRetryMono || !this.facts) return;
    const critical = new Set((this.entries ?? []).filter((e) => e.kind === 'valid' && e.revision.critical).map((e) => e.name));
    const attribute = this.config.daemonsReadyAttribute;
    const value = readinessAttributeChange({ attribute, attributes: this.facts.attributes, reports: this.entries ? plan.reports : undefined, critical });
    if (!value) return;
    try {
      await this.ecs!.putOwnAttribute(attribute, value);
      this.facts = { ...this.facts, attributes: { ...this.facts.attributes, [attribute]: value } };
      this.metrics.inc('blox_agent_readiness_changes_total', 'Daemons-first attribute writes, by value', { value });
      this.log.info({ attribute, value }, value === 'ready' ? 'critical daemons ready: instance open for other work' : 'a critical daemon is not ready: instance closed to new work');
    } catch (error) {
      this.readinessRetryMono = now + 5_000;
      this.recordError('ecs', error);
    }
  }

  private desired(): Desired {
    const desired = buildDesired(this.entries, this.facts, this.fresh);
    return desired;
  }

  private observed(tasks: ObservedTask[] | undefined, now: number): Observed {
    const leases: Record<string, LeaseView> = {};
    const renew: Record<string, boolean> = {};
    for (const [env, slot] of this.leases) {
      leases[env] = slot.view;
      if (slot.view.state === 'mine') renew[env] = renewDue(slot.lastWriteMono, this.config.leaseDurationMs, now) || ownLeaseStale(slot.lastWriteMono, this.config.leaseDurationMs, now);
    }
    const restart: Record<string, RestartState> = {};
    for (const [env, state] of Object.entries(this.restart)) {
      const policy = this.policyOf(env);
      restart[env] = ageRestartState(state, policy, now);
      this.restart[env] = restart[env];
    }
    return { leases, renewDue: renew, tasks, pending: { ...this.pending }, lookups: { ...this.lookups }, attemptFirstSeen: { ...this.attemptFirstSeen }, restart, startBackoff: { ...this.startBackoff }, ecsBackoff: { ...this.ecsBackoff }, orphanSince: { ...this.orphanSince } };
  }

  private policyOf(env: string) {
    const entry = this.entries?.find((e) => e.name === env);
    return entry?.kind === 'valid' ? entry.revision.restartPolicy : DEFAULT_RESTART_POLICY;
  }

  // ------------------------------------------------------------------ observe

  private dynamoAvailable(now: number): boolean {
    return !this.dynamoBackoff || this.dynamoBackoff.untilMono <= now;
  }

  private dynamoFailed(error: unknown, what: string): void {
    const attempts = (this.dynamoBackoff?.attempts ?? 0) + 1;
    const delay = backoffDelay(attempts, { initialDelayMs: 500, maxDelayMs: 15_000, multiplier: 2 }, this.random());
    this.dynamoBackoff = { untilMono: this.clock.monoMs() + delay, attempts, reason: errorMessage(error) };
    this.metrics.inc('blox_agent_backoff_seconds_total', 'Backoff scheduled, by kind', { kind: 'dynamodb' }, delay / 1000);
    this.setDegraded('dynamodb', `DynamoDB: ${what}: ${errorMessage(error)}`);
    this.recordError('dynamodb', error);
  }

  private dynamoOk(): void {
    this.dynamoBackoff = undefined;
    this.clearDegraded('dynamodb');
  }

  private async observeDesired(now: number): Promise<void> {
    if (now < this.nextPollMono || !this.dynamoAvailable(now)) {
      if (!this.dynamoAvailable(now)) this.fresh = false;
      return;
    }
    const jitter = 0.8 + 0.4 * this.random();
    this.nextPollMono = now + this.config.pollIntervalMs * jitter;
    const dynamo = this.dynamo!;
    const cluster = this.identity!.cluster;
    try {
      const marker = await dynamo.getMarker(cluster);
      const markerVersion = marker?.version;
      const markerMoved = !this.markerSeen || markerVersion !== this.markerVersion || this.entries === undefined;
      const reloadDue = this.lastReloadMono === undefined || now - this.lastReloadMono >= this.config.fullReloadIntervalMs;
      if (markerMoved || reloadDue) {
        const entries = await dynamo.loadEnvironments(cluster);
        this.lastReloadMono = now;
        this.logEntryChanges(entries);
        this.entries = entries;
        this.markerVersion = markerVersion;
        this.markerSeen = true;
        this.metrics.inc('blox_agent_desired_reloads_total', 'Full reloads of the environments (change marker moved, or the slow periodic reload)', { cause: markerMoved ? 'marker' : 'periodic' });
      }
      this.fresh = true;
      this.dynamoOk();
    } catch (error) {
      this.fresh = false;
      this.dynamoFailed(error, 'reading desired state');
    }
  }

  private logEntryChanges(entries: EnvironmentEntry[]): void {
    const before = new Map((this.entries ?? []).map((e) => [e.name, e]));
    for (const e of entries) {
      const old = before.get(e.name);
      if (e.kind === 'invalid') {
        if (old?.kind !== 'invalid' || old.error !== e.error) {
          this.log.warn({ environment: e.name, error: e.error }, 'environment record invalid; it is reported and left alone');
          this.recordError(`environment ${e.name}`, new Error(e.error));
        }
      } else if (old?.kind !== 'valid' || old.revision.revision !== e.revision.revision || old.environment.status !== e.environment.status) {
        this.log.info({ environment: e.name, revision: e.revision.revision, status: e.environment.status, taskDefinition: e.revision.taskDefinition }, 'environment loaded');
      }
    }
  }

  private async observeAttributes(now: number): Promise<void> {
    const due = this.attributesReadMono === undefined ? true : now - this.attributesReadMono >= this.config.ecsReconcileIntervalMs;
    if (!due) return;
    if (this.facts && this.attributesReadMono !== undefined && now - this.attributesReadMono < 5_000) return;
    try {
      const self = await this.ecs!.describeSelf();
      this.ecsStatus = self.status;
      const facts: InstanceFacts = { attributes: self.attributes };
      if (self.ec2InstanceId ?? this.identity?.ec2InstanceId) facts.ec2InstanceId = self.ec2InstanceId ?? this.identity?.ec2InstanceId;
      if (self.registeredAt) facts.registeredAt = self.registeredAt;
      if (self.runningTasksCount !== undefined) facts.runningTasksCount = self.runningTasksCount;
      if (self.agentConnected !== undefined) facts.agentConnected = self.agentConnected;
      if (self.agentVersion) facts.agentVersion = self.agentVersion;
      if (JSON.stringify(facts.attributes) !== JSON.stringify(this.facts?.attributes)) this.log.info({ attributes: facts.attributes }, 'instance attributes read');
      this.facts = facts;
      this.attributesReadMono = now;
      this.clearDegraded('ecs');
    } catch (error) {
      this.attributesReadMono = now - this.config.ecsReconcileIntervalMs + Math.min(this.config.ecsReconcileIntervalMs, 5_000);
      this.setDegraded('ecs', `ECS: DescribeContainerInstances: ${errorMessage(error)}`);
      this.recordError('ecs', error);
    }
  }

  /** Merges the ECS agent's /v1/tasks, the catalog (DescribeTasks answers) and Docker health. */
  private async observeTasks(now: number): Promise<ObservedTask[] | undefined> {
    const ecs = this.ecs!;
    let local: LocalTask[] | undefined;
    try {
      local = await recordCall(this.metrics, 'ecs-agent', 'tasks', () => this.clock.monoMs(), () => this.metadata.localTasks());
      this.clearDegraded('ecs-agent');
    } catch (error) {
      this.setDegraded('ecs-agent', `ECS agent /v1/tasks: ${errorMessage(error)}`);
      this.recordError('ecs-agent', error);
    }
    this.localTasks = local;

    // The slow sweep; a faster one while the ECS agent cannot be asked or no sweep has succeeded yet.
    const sweepEvery = local && this.sweptOnce ? this.config.ecsReconcileIntervalMs : Math.min(this.config.ecsReconcileIntervalMs, 10_000);
    if (this.lastSweepMono === undefined || now - this.lastSweepMono >= sweepEvery) {
      this.lastSweepMono = now;
      try {
        const listed = await ecs.listInstanceTaskArns();
        const catalog = new Map([...this.catalog].map(([arn, c]) => [arn, { lastStatus: c.info.lastStatus, ours: c.info.ours }]));
        const describe = tasksToDescribe({ listed, catalog, localStatus: local !== undefined, localHealth: this.dockerHealthOk });
        if (describe.length) for (const info of await ecs.describeTasks(describe)) this.remember(info, now);
        this.sweepOk = true;
        this.sweptOnce = true;
        this.clearDegraded('ecs');
      } catch (error) {
        this.sweepOk = false;
        this.setDegraded('ecs', `ECS: reconcile sweep: ${errorMessage(error)}`);
        this.recordError('ecs', error);
      }
    }

    // New task ARNs seen locally are described once (group, startedBy, tags are immutable).
    if (local) {
      const unknown = local.filter((t) => !this.catalog.has(t.taskArn)).map((t) => t.taskArn);
      const stale = [...this.catalog.values()].filter((c) => c.info.lastStatus !== 'STOPPED' && c.info.desiredStatus !== 'STOPPED' && !local!.some((t) => t.taskArn === c.info.taskArn) && now - c.checkedMono >= 10_000).map((c) => c.info.taskArn);
      const toDescribe = [...unknown, ...stale];
      if (toDescribe.length) {
        try {
          const infos = await ecs.describeTasks(toDescribe);
          for (const info of infos) this.remember(info, now, local.find((t) => t.taskArn === info.taskArn)?.knownStatus === 'STOPPED');
          this.clearDegraded('ecs');
        } catch (error) {
          this.setDegraded('ecs', `ECS: DescribeTasks: ${errorMessage(error)}`);
          this.recordError('ecs', error);
        }
        // A live task of unknown environment here could be a daemon of ours: decide nothing until it is known.
        if (unknown.some((arn) => !this.catalog.has(arn) && local.find((t) => t.taskArn === arn)?.knownStatus !== 'STOPPED')) return undefined;
      }
    } else if (!this.sweepOk) {
      return undefined;
    }
    // Until ECS itself has been asked once, the local view alone may miss a task this instance runs
    // (one the ECS agent has not received yet, after a restart): decide nothing on it.
    if (!this.sweptOnce) return undefined;

    // Whether our tasks have health checks (one DescribeTaskDefinition per definition, ever).
    for (const entry of this.catalog.values()) {
      if (!entry.info.ours || entry.hasHealthCheck !== undefined || entry.info.lastStatus === 'STOPPED' || !entry.info.taskDefinitionArn) continue;
      try {
        entry.hasHealthCheck = await ecs.hasHealthCheck(entry.info.taskDefinitionArn);
      } catch (error) {
        this.recordError('ecs', error);
        break;
      }
    }

    // Health from the Docker view (label-filtered container list): cheap and local.
    if (this.docker) {
      try {
        this.health = await this.docker.taskHealth();
        this.dockerHealthOk = true;
      } catch {
        this.dockerHealthOk = false; // keep the last view; the ECS health status (sweep) is the fallback
      }
    }

    const tasks: ObservedTask[] = [];
    const localByArn = new Map((local ?? []).map((t) => [t.taskArn, t]));
    const arns = new Set<string>([...localByArn.keys(), ...this.catalog.keys()]);
    for (const arn of arns) {
      const entry = this.catalog.get(arn);
      const l = localByArn.get(arn);
      const info = entry?.info;
      if (!info) continue;
      if (info.containerInstanceArn && info.containerInstanceArn !== this.identity!.containerInstanceArn) continue;
      const lastStatus = l ? (LOCAL_STATUS[l.knownStatus] ?? 'PENDING') : info.lastStatus;
      const desiredStatus = l ? l.desiredStatus : info.desiredStatus;
      const h = this.health.get(arn);
      const task: ObservedTask = { taskArn: arn, lastStatus, desiredStatus: this.stoppedByUs.has(arn) && lastStatus !== 'STOPPED' ? 'STOPPED' : desiredStatus, hasHealthCheck: (h?.hasHealthCheck ?? false) || (entry.hasHealthCheck ?? false), ours: info.ours };
      if (info.environment !== undefined) task.environment = info.environment;
      if (info.revision !== undefined) task.revision = info.revision;
      if (info.startedBy !== undefined) task.startedBy = info.startedBy;
      const health = h?.hasHealthCheck ? h.health : h && task.hasHealthCheck ? 'UNKNOWN' : info.healthStatus;
      if (health) task.health = health;
      tasks.push(task);
    }
    this.prune(now);
    // Expectations met.
    for (const [env, p] of Object.entries(this.pending)) if (tasks.some((t) => t.startedBy === p.token)) delete this.pending[env];
    return tasks;
  }

  /** `locallyStopped`: the ECS agent reports the task STOPPED. */
  private remember(answer: TaskInfo, now: number, locallyStopped = false): void {
    const previous = this.catalog.get(answer.taskArn);
    // MISSING for a task never described: long stopped (fine, if the ECS agent says so too), or so
    // new that ECS's eventually consistent reads do not show it yet: then it stays uncatalogued.
    if (answer.missing && !previous && !locallyStopped) return;
    // MISSING says only "stopped long ago": keep what was known of the task (environment, ours).
    // A task's environment, revision and origin never change, but StopTask deletes its tags: an
    // answer after a stop must not make the agent forget them.
    const info: TaskInfo = answer.missing && previous
      ? { ...previous.info, lastStatus: 'STOPPED', desiredStatus: 'STOPPED', ...(answer.stoppedReason ? { stoppedReason: answer.stoppedReason } : {}) }
      : {
          ...answer,
          ours: answer.ours || (previous?.info.ours ?? false),
          ...(answer.environment === undefined && previous?.info.environment !== undefined ? { environment: previous.info.environment } : {}),
          ...(answer.revision === undefined && previous?.info.revision !== undefined ? { revision: previous.info.revision } : {}),
        };
    this.catalog.set(info.taskArn, { info, checkedMono: now, ...(previous?.hasHealthCheck !== undefined ? { hasHealthCheck: previous.hasHealthCheck } : {}) });
  }

  /** Forgets what no longer matters: long-stopped tasks, settled attempts. */
  private prune(now: number): void {
    for (const [arn, c] of this.catalog) {
      if (c.info.lastStatus === 'STOPPED' && !this.localTasks?.some((t) => t.taskArn === arn) && now - c.checkedMono > 600_000) {
        this.catalog.delete(arn);
        this.stoppedByUs.delete(arn);
      }
    }
    // Per-environment memory of environments that are gone (fresh list) and left nothing here.
    if (this.entries && this.fresh) {
      const listed = new Set(this.entries.map((e) => e.name));
      const present = new Set((this.lastTasks ?? []).filter((t) => t.lastStatus !== 'STOPPED').map((t) => t.environment));
      const gone = (env: string): boolean => !listed.has(env) && !present.has(env) && !this.tracked.has(env) && this.pending[env] === undefined;
      for (const [env, slot] of this.leases) if (gone(env) && slot.view.state !== 'mine') this.leases.delete(env);
      for (const env of new Set([...Object.keys(this.restart), ...Object.keys(this.startBackoff), ...Object.keys(this.ecsBackoff), ...this.lastWaitReason.keys()])) {
        if (env === '' || !gone(env) || this.leases.has(env)) continue; // '': stops of tasks of no environment
        delete this.restart[env];
        delete this.startBackoff[env];
        delete this.ecsBackoff[env];
        this.lastWaitReason.delete(env);
      }
    }
    const inLeases = new Set([...this.leases.values()].map((l) => l.view.item?.attempt?.token).filter((t): t is string => !!t));
    for (const [token, at] of Object.entries(this.attemptFirstSeen)) {
      if (!inLeases.has(token) && now - at > 600_000) {
        delete this.attemptFirstSeen[token];
        delete this.lookups[token];
      }
    }
  }

  /** A tracked daemon that stopped without this agent stopping it: the restart policy applies. */
  private trackStops(tasks: ObservedTask[] | undefined, now: number): void {
    if (!tasks) return;
    for (const [env, arn] of [...this.tracked]) {
      const task = tasks.find((t) => t.taskArn === arn);
      const gone = !task || task.lastStatus === 'STOPPED' || task.desiredStatus === 'STOPPED';
      if (!gone) continue;
      this.tracked.delete(env);
      if (this.stoppedByUs.has(arn)) continue;
      if (!task && this.catalog.get(arn)?.info.lastStatus !== 'STOPPED' && this.localTasks) {
        // not listed locally and not known stopped: could be the ECS agent's view lagging
        this.tracked.set(env, arn);
        continue;
      }
      const policy = this.policyOf(env);
      const next = onDaemonStopped(this.restart[env] ?? initialRestartState(), policy, now, this.random());
      this.restart[env] = next;
      const delay = next.notBeforeMono - now;
      this.metrics.inc('blox_agent_daemon_stops_total', 'Daemons that stopped by themselves', { environment: env });
      this.metrics.inc('blox_agent_backoff_seconds_total', 'Backoff scheduled, by kind', { kind: 'restart' }, delay / 1000);
      if (next.crashLoop) this.metrics.inc('blox_agent_crash_loops_total', 'Crash loops detected', { environment: env });
      this.log.warn({ environment: env, taskArn: arn, restartInMs: delay, crashLoop: next.crashLoop, stops: next.recentStops.length }, next.crashLoop ? 'daemon stopped: crash loop detected; restart at the capped delay' : 'daemon stopped: restart after backoff');
    }
  }

  /** Leases held by others are read again to watch their record version (only while contested). */
  private async observeLeases(now: number): Promise<void> {
    if (!this.dynamoAvailable(now)) return;
    for (const [env, slot] of this.leases) {
      if (slot.view.state !== 'other' && slot.view.state !== 'expired') continue;
      // Watch a contested lease only while it matters here: the daemon is wanted, or tasks of it run.
      const entry = this.entries?.find((e) => e.name === env);
      const wanted = entry?.kind === 'valid' && entry.environment.status === 'ACTIVE' && matchInstance(entry.revision, this.facts).matches === true;
      const running = this.lastTasks?.some((t) => t.environment === env && t.lastStatus !== 'STOPPED') ?? true;
      if (!wanted && !running) {
        this.leases.delete(env);
        continue;
      }
      const every = Math.max(500, this.config.leaseDurationMs / 4);
      if (slot.lastReadMono !== undefined && now - slot.lastReadMono < every) {
        // re-judge with the same item: expiry is a matter of the observer's clock
        if (slot.view.item) slot.view = judgeLease(slot.view.item, this.owner, slot.view.sighting, now);
        continue;
      }
      try {
        const item = await this.dynamo!.getLease(env, this.identity!.containerInstanceId);
        slot.lastReadMono = now;
        this.setLeaseView(env, judgeLease(item, this.owner, slot.view.sighting, now), now, false);
        this.clearDegraded(`lease:${env}`);
        this.dynamoOk();
      } catch (error) {
        if (error instanceof InvalidRecordError) {
          slot.lastReadMono = now;
          this.leaseInvalid(env, error);
          continue;
        }
        this.dynamoFailed(error, 'reading a lease');
        return;
      }
    }
  }

  private setLeaseView(env: string, view: LeaseView, now: number, written: boolean): void {
    const slot = this.leases.get(env) ?? { view };
    const before = slot.view.state;
    slot.view = view;
    if (written) slot.lastWriteMono = now;
    this.leases.set(env, slot);
    const attempt = view.item?.attempt;
    if (attempt && this.attemptFirstSeen[attempt.token] === undefined) this.attemptFirstSeen[attempt.token] = now;
    if (before !== view.state && !(before === 'mine' && view.state === 'mine')) {
      if (view.state === 'expired') this.leaseEvent(env, 'expired-observed', view.reason);
    }
  }

  private leaseEvent(env: string, event: string, reason: string): void {
    this.metrics.inc('blox_agent_lease_events_total', 'Lease events', { environment: env, event });
    this.log.info({ environment: env, event, reason }, `lease ${event}`);
  }

  private updateOrphans(plan: Plan, now: number): void {
    if (plan.unclaimed === undefined) return; // not judged (stale desired state or tasks unseen): timers keep running
    const unclaimed = new Set(plan.unclaimed);
    for (const arn of Object.keys(this.orphanSince)) if (!unclaimed.has(arn)) delete this.orphanSince[arn];
    for (const arn of unclaimed) {
      if (this.orphanSince[arn] === undefined) {
        this.orphanSince[arn] = now;
        this.log.info({ taskArn: arn, graceMs: this.config.orphanGraceMs }, 'task of ours claimed by no environment: stopped after the grace period unless claimed');
      }
    }
  }

  // ------------------------------------------------------------------ act

  private async act(plan: Plan, desired: Desired): Promise<boolean> {
    const chains = new Map<string, Action[]>();
    for (const action of plan.actions) {
      const key = action.environment ?? `task:${'taskArn' in action ? action.taskArn : ''}`;
      chains.set(key, [...(chains.get(key) ?? []), action]);
    }
    let progress = false;
    for (const [, chain] of chains) {
      for (const action of chain) {
        this.metrics.inc('blox_agent_decisions_total', 'Actions planned, by type', { action: action.type });
        this.logDecision(action);
        if (action.type === 'wait') continue;
        try {
          await this.perform(action, desired);
          if (action.type !== 'renew-lease' && action.type !== 'stop') progress = true;
        } catch (error) {
          if (!(error instanceof AbortChain)) {
            this.recordError(action.type, error);
            this.log.warn({ environment: action.environment, action: action.type, error: errorMessage(error) }, 'action failed; rest of this environment\'s plan skipped');
          }
          if (error instanceof LeaseConflictError) progress = true;
          break;
        }
      }
    }
    return progress;
  }

  private logDecision(action: Action): void {
    const fields = { environment: action.environment, action: action.type, reason: action.reason, ...('taskArn' in action ? { taskArn: action.taskArn } : {}), ...('token' in action ? { token: action.token } : {}) };
    if (action.type === 'wait' || action.type === 'renew-lease') {
      const key = action.environment;
      if (this.lastWaitReason.get(key) === `${action.type}:${action.reason.replace(/\d+ ms/g, '')}`) {
        this.log.debug(fields, 'decision');
        return;
      }
      this.lastWaitReason.set(key, `${action.type}:${action.reason.replace(/\d+ ms/g, '')}`);
    } else this.lastWaitReason.delete(action.environment ?? '');
    this.log.info(fields, 'decision');
  }

  private leaseItem(env: string): LeaseItem {
    const item = this.leases.get(env)?.view.item;
    if (!item || this.leases.get(env)?.view.state !== 'mine') throw new AbortChain(`lease of ${env} not held`);
    return item;
  }

  private nowFields() {
    const wall = this.clock.wallMs();
    return { nowIso: new Date(wall).toISOString(), nowEpochSeconds: Math.floor(wall / 1000) };
  }

  private async leaseWrite(env: string, run: () => Promise<LeaseItem>, event: string): Promise<void> {
    const now = this.clock.monoMs();
    if (!this.dynamoAvailable(now)) throw new AbortChain('DynamoDB backoff');
    try {
      const item = await run();
      this.setLeaseView(env, { state: 'mine', item, reason: 'held by this agent' }, this.clock.monoMs(), true);
      this.dynamoOk();
      if (event !== 'renewed') this.leaseEvent(env, event, item.recordVersion);
      else this.metrics.inc('blox_agent_lease_events_total', 'Lease events', { environment: env, event });
    } catch (error) {
      if (error instanceof LeaseConflictError) {
        const slot = this.leases.get(env);
        const wasMine = slot?.view.state === 'mine';
        this.setLeaseView(env, judgeLease(error.current ?? null, this.owner, slot?.view.sighting, this.clock.monoMs()), this.clock.monoMs(), false);
        const slotAfter = this.leases.get(env);
        if (slotAfter) slotAfter.lastReadMono = this.clock.monoMs();
        this.leaseEvent(env, wasMine ? 'lost' : 'conflict', error.message);
        if (slotAfter?.view.state === 'mine') slotAfter.lastWriteMono = undefined;
        throw error;
      }
      if (error instanceof InvalidRecordError) {
        // The write's answer (or the item that won) is not a lease this agent can read: hands off
        // this environment until a read shows a valid one; the others go on.
        this.leaseInvalid(env, error);
        const slot = this.leases.get(env);
        if (slot) slot.lastReadMono = this.clock.monoMs();
        throw error;
      }
      this.dynamoFailed(error, `lease ${event}`);
      throw error;
    }
  }

  /** A malformed lease record: seen as held by someone else (nothing is done here) and re-read like one. */
  private leaseInvalid(env: string, error: InvalidRecordError): void {
    this.setLeaseView(env, { state: 'other', reason: `lease record invalid: ${error.message}` }, this.clock.monoMs(), false);
    this.setDegraded(`lease:${env}`, `lease of ${env}: ${error.message}`);
    this.recordError('dynamodb', error);
  }

  private async perform(action: Action, desired: Desired): Promise<void> {
    const dynamo = this.dynamo!;
    const ecs = this.ecs!;
    const ci = this.identity!.containerInstanceId;
    switch (action.type) {
      case 'acquire-lease': {
        const env = action.environment;
        await this.leaseWrite(
          env,
          () => dynamo.acquireLease({ environment: env, containerInstanceId: ci, owner: this.owner, recordVersion: newRecordVersion((n) => randomBytes(n).toString('hex')), leaseDurationMs: this.config.leaseDurationMs, ...(action.expectedRecordVersion !== undefined ? { expectedRecordVersion: action.expectedRecordVersion } : {}), ...this.nowFields() }),
          action.expectedRecordVersion !== undefined && this.leases.get(env)?.view.state === 'expired' ? 'taken-over' : 'acquired',
        );
        return;
      }
      case 'renew-lease': {
        const item = this.leaseItem(action.environment);
        await this.leaseWrite(action.environment, () => dynamo.writeLease(item, { recordVersion: newRecordVersion((n) => randomBytes(n).toString('hex')), ...this.nowFields() }), 'renewed');
        return;
      }
      case 'record-attempt': {
        const item = this.leaseItem(action.environment);
        const attempt = { token: action.token, revision: action.revision, issuedAt: this.nowFields().nowIso };
        await this.leaseWrite(action.environment, () => dynamo.writeLease(item, { recordVersion: newRecordVersion((n) => randomBytes(n).toString('hex')), attempt, ...this.nowFields() }), 'attempt-recorded');
        this.attemptFirstSeen[action.token] = this.clock.monoMs();
        return;
      }
      case 'start': {
        const env = action.environment;
        this.leaseItem(env); // still held (the chain's record-attempt just proved it)
        this.pending[env] = { token: action.token, revision: action.revision, issuedMono: this.clock.monoMs() };
        const restartState = this.restart[env];
        let result: Awaited<ReturnType<AgentEcs['startTask']>>;
        try {
          result = await ecs.startTask({ taskDefinition: action.taskDefinition, token: action.token, environment: env, revision: action.revision });
        } catch (error) {
          const definitive = isThrottle(error) || /ClientException|InvalidParameter|ClusterNotFound|AccessDenied/.test((error as { name?: string }).name ?? '');
          if (definitive) {
            delete this.pending[env];
            this.lookups[action.token] = { token: action.token, taskArns: [], atMono: this.clock.monoMs(), conclusive: true };
          }
          this.startFailed(env, isThrottle(error) ? 'ThrottlingException' : ((error as { name?: string }).name ?? 'error'), errorMessage(error));
          throw error;
        }
        this.deps.fault?.('after-start-task');
        if (result.task) {
          this.remember(result.task, this.clock.monoMs());
          this.tracked.set(env, result.task.taskArn); // a death before it is recorded still counts as a stop
          delete this.startBackoff[env];
          this.clearDegraded('ecs');
          if (restartState?.restartDue) {
            this.restart[env] = onStartIssued(restartState);
            this.metrics.inc('blox_agent_restarts_total', 'Daemon restarts issued', { environment: env });
          }
          this.metrics.inc('blox_agent_starts_total', 'StartTask calls that started a task', { environment: env });
          this.log.info({ environment: env, taskArn: result.task.taskArn, token: action.token, revision: action.revision }, 'task started');
          return;
        }
        delete this.pending[env];
        this.lookups[action.token] = { token: action.token, taskArns: [], atMono: this.clock.monoMs(), conclusive: true };
        const reason = result.failures.map((f) => `${f.reason}${f.detail ? ` (${f.detail})` : ''}`).join(', ') || 'no task and no failure';
        this.startFailed(env, result.failures[0]?.reason ?? 'UNKNOWN', reason);
        throw new AbortChain(reason);
      }
      case 'lookup-attempt': {
        const found = await this.ecsAction(action.environment, () => ecs.findByStartedBy(action.token));
        for (const info of found) this.remember(info, this.clock.monoMs());
        this.lookups[action.token] = { token: action.token, taskArns: found.filter((t) => t.lastStatus !== 'STOPPED' && t.desiredStatus !== 'STOPPED').map((t) => t.taskArn), atMono: this.clock.monoMs() };
        this.log.info({ environment: action.environment, token: action.token, found: found.map((t) => t.taskArn) }, 'attempt looked up');
        return;
      }
      case 'adopt': {
        const item = this.leaseItem(action.environment);
        await this.leaseWrite(action.environment, () => dynamo.writeLease(item, { recordVersion: newRecordVersion((n) => randomBytes(n).toString('hex')), attempt: null, task: { taskArn: action.taskArn, ...(action.revision !== undefined ? { revision: action.revision } : {}) }, ...this.nowFields() }), 'task-recorded');
        delete this.pending[action.environment];
        this.tracked.set(action.environment, action.taskArn);
        return;
      }
      case 'stop': {
        await this.ecsAction(action.environment ?? '', () => ecs.stopTask(action.taskArn, `blox-edge: ${action.reason}`));
        this.stoppedByUs.add(action.taskArn);
        const entry = this.catalog.get(action.taskArn);
        if (entry) entry.info = { ...entry.info, desiredStatus: 'STOPPED' };
        if (action.environment && this.tracked.get(action.environment) === action.taskArn) this.tracked.delete(action.environment);
        this.metrics.inc('blox_agent_stops_total', 'StopTask calls, by environment', { environment: action.environment ?? '' });
        return;
      }
      case 'release-lease': {
        const item = this.leaseItem(action.environment);
        if (!this.dynamoAvailable(this.clock.monoMs())) throw new AbortChain('DynamoDB backoff');
        try {
          await dynamo.deleteLease(item);
          this.dynamoOk();
        } catch (error) {
          if (error instanceof LeaseConflictError) this.setLeaseView(action.environment, judgeLease(error.current ?? null, this.owner, undefined, this.clock.monoMs()), this.clock.monoMs(), false);
          else this.dynamoFailed(error, 'lease release');
          throw error;
        }
        this.leases.delete(action.environment);
        this.leaseEvent(action.environment, 'released', action.reason);
        return;
      }
      case 'wait':
        return;
    }
    void desired;
  }

  /** A StopTask or ListTasks for an environment: a failure backs that environment's such calls off (decide holds them). */
  private async ecsAction<T>(key: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      delete this.ecsBackoff[key];
      return result;
    } catch (error) {
      const attempts = (this.ecsBackoff[key]?.attempts ?? 0) + 1;
      const delay = backoffDelay(attempts, START_RETRY, this.random());
      this.ecsBackoff[key] = { untilMono: this.clock.monoMs() + delay, attempts, reason: errorMessage(error).slice(0, 300) };
      this.metrics.inc('blox_agent_backoff_seconds_total', 'Backoff scheduled, by kind', { kind: 'ecs' }, delay / 1000);
      throw error; // recorded by act()
    }
  }

  private startFailed(env: string, reason: string, detail: string): void {
    const prev = this.startBackoff[env];
    const attempts = (prev?.attempts ?? 0) + 1;
    const delay = backoffDelay(attempts, START_RETRY, this.random());
    this.startBackoff[env] = { untilMono: this.clock.monoMs() + delay, attempts, reason: `${reason}: ${detail}`.slice(0, 300) };
    this.metrics.inc('blox_agent_start_failures_total', 'StartTask failures, by reason', { environment: env, reason: reason.replace(/:.*/, '') });
    this.metrics.inc('blox_agent_backoff_seconds_total', 'Backoff scheduled, by kind', { kind: 'start' }, delay / 1000);
    this.setDegraded(`start:${env}`, `StartTask for ${env} failed: ${detail}`);
    this.recordError(`start ${env}`, new Error(`${reason}: ${detail}`));
    this.log.warn({ environment: env, reason, detail, attempt: attempts, retryInMs: delay }, 'StartTask failed; retrying with backoff');
  }

  /** Leaves every lease held for a successor (released, attempt and task kept). Never stops a daemon. */
  private async releaseAll(): Promise<void> {
    if (!this.dynamo) return;
    const now = this.clock.monoMs();
    await Promise.all(
      [...this.leases].map(async ([env, slot]) => {
        if (slot.view.state !== 'mine' || !slot.view.item || ownLeaseStale(slot.lastWriteMono, this.config.leaseDurationMs, now)) return;
        try {
          await this.dynamo!.writeLease(slot.view.item, { recordVersion: newRecordVersion((n) => randomBytes(n).toString('hex')), released: true, ...this.nowFields() });
          this.leaseEvent(env, 'released-on-shutdown', 'agent stopping; daemon left running');
        } catch (error) {
          this.log.warn({ environment: env, error: errorMessage(error) }, 'could not release lease on shutdown; a successor waits for it to expire');
        }
      }),
    );
  }

  // ------------------------------------------------------------------ report

  private noteReports(plan: Plan): void {
    const wallIso = new Date(this.clock.wallMs()).toISOString();
    for (const r of plan.reports) {
      const prev = this.stateSince.get(r.environment);
      if (!prev || prev.state !== r.state) {
        this.stateSince.set(r.environment, { state: r.state, since: wallIso });
        this.log.info({ environment: r.environment, state: r.state, taskArn: r.taskArn, revision: r.revision, reason: r.reason }, 'daemon state');
      }
      if (r.taskArn && (r.state === 'running' || r.state === 'healthy' || r.state === 'unhealthy' || r.state === 'starting') && this.leases.get(r.environment)?.view.state === 'mine' && this.leases.get(r.environment)?.view.item?.taskArn === r.taskArn) {
        this.tracked.set(r.environment, r.taskArn);
      }
    }
    for (const env of [...this.stateSince.keys()]) if (!plan.reports.some((r) => r.environment === env)) this.stateSince.delete(env);
    const ready = this.isReady(plan);
    this.metrics.set('blox_agent_ready', 'Every matching daemon RUNNING (and HEALTHY where checked)', {}, ready ? 1 : 0);
    this.metrics.set('blox_agent_degraded', 'The agent cannot reach DynamoDB or ECS', {}, this.degradedBy.size > 0 ? 1 : 0);
  }

  private isReady(plan: Plan | undefined): boolean {
    if (!plan || this.entries === undefined) return false;
    return plan.reports.filter((r) => r.matching).every((r) => r.ready);
  }

  /** The status record lists the daemons of this instance: not environments that simply do not match it. */
  private daemonStatuses(plan: Plan): DaemonStatus[] {
    return plan.reports.filter((r) => r.matching || r.taskArn !== undefined || r.state !== 'stopped').map((r) => {
      const d: DaemonStatus = { environment: r.environment, revision: r.revision, taskDefinition: r.taskDefinition, state: r.state, restarts: this.restart[r.environment]?.restarts ?? 0, reason: r.reason, since: this.stateSince.get(r.environment)?.since ?? new Date(this.clock.wallMs()).toISOString() };
      if (r.taskArn) d.taskArn = r.taskArn;
      if (r.lastStatus) d.lastStatus = r.lastStatus;
      if (r.health) d.health = r.health;
      d.ready = r.ready;
      if (this.restart[r.environment]?.crashLoop && (r.state === 'backoff' || r.state === 'starting')) d.state = 'crash_loop';
      return d;
    });
  }

  private async writeStatus(plan: Plan): Promise<void> {
    const id = this.identity!;
    const now = this.clock.monoMs();
    const daemons = this.daemonStatuses(plan);
    const ready = this.isReady(plan);
    const degraded = this.degradedBy.size > 0;
    const key = JSON.stringify({ ready, degraded, ecs: this.ecsStatus, d: daemons.map((d) => [d.environment, d.revision, d.state, d.taskArn, d.lastStatus, d.health, d.ready, d.restarts]), e: this.errors.at(-1)?.message });
    const heartbeatDue = this.lastStatusWriteMono === undefined || now - this.lastStatusWriteMono >= this.config.statusHeartbeatMs;
    if (key === this.lastStatusKey && !heartbeatDue) return;
    if (this.lastStatusWriteMono !== undefined && now - this.lastStatusWriteMono < 1_000 && !heartbeatDue) return;
    if (!this.dynamoAvailable(now) || now < this.statusRetryMono) return;
    const wall = this.clock.wallMs();
    const status: InstanceStatus = {
      kind: 'InstanceStatus',
      schemaVersion: SCHEMA_VERSION,
      cluster: id.cluster,
      containerInstanceArn: id.containerInstanceArn,
      agentVersion: version,
      ready,
      degraded,
      daemons,
      updatedAt: new Date(wall).toISOString(),
      // Readers skip a record past expiresAt: a silent (terminated) instance leaves the views after three heartbeats.
      expiresAt: Math.floor(wall / 1000) + Math.max(180, Math.ceil((this.config.statusHeartbeatMs * 3) / 1000)),
    };
    if (id.ec2InstanceId) status.ec2InstanceId = id.ec2InstanceId;
    if (id.availabilityZone) status.availabilityZone = id.availabilityZone;
    if (id.instanceType) status.instanceType = id.instanceType;
    if (this.ecsStatus) status.ecsStatus = this.ecsStatus;
    const last = this.errors.at(-1);
    if (last) status.lastError = { message: `${last.source}: ${last.message}`.slice(0, 1000), at: last.at };
    try {
      await this.dynamo!.putInstanceStatus(status);
      this.lastStatusKey = key;
      this.lastStatusWriteMono = now;
      this.statusRetryMono = 0;
      this.clearDegraded('status');
    } catch (error) {
      // Its own retry, not the DynamoDB backoff: a status write that keeps failing (say, a policy
      // that denies it) must not stop polls and lease heartbeats.
      this.statusRetryMono = now + Math.min(this.config.statusHeartbeatMs, 30_000);
      this.setDegraded('status', `DynamoDB: writing instance status: ${errorMessage(error)}`);
      this.recordError('dynamodb', error);
    }
  }

  private setDegraded(source: string, reason: string): void {
    if (!this.degradedBy.has(source)) this.log.warn({ source, reason }, 'degraded');
    this.degradedBy.set(source, reason);
  }

  private clearDegraded(source: string): void {
    if (this.degradedBy.delete(source)) this.log.info({ source }, 'recovered');
    if (source === 'ecs') for (const key of [...this.degradedBy.keys()]) if (key.startsWith('start:') && !Object.keys(this.startBackoff).some((env) => `start:${env}` === key)) this.degradedBy.delete(key);
  }

  private recordError(source: string, error: unknown): void {
    this.errors.push({ source, message: errorMessage(error), at: new Date(this.clock.wallMs()).toISOString() });
    if (this.errors.length > 20) this.errors.shift();
    this.metrics.inc('blox_agent_errors_total', 'Errors, by source and kind', { source: source.split(' ')[0] ?? source, outcome: outcomeOf(error) });
  }

  // ------------------------------------------------------------------ health endpoint views

  healthz(): { ok: boolean; reason: string } {
    if (!this.running) return { ok: false, reason: 'stopped' };
    const age = this.clock.monoMs() - this.lastProgressMono;
    const limit = Math.max(30_000, this.tickMs * 10);
    if (age > limit) return { ok: false, reason: `no loop progress for ${Math.round(age)} ms` };
    return { ok: true, reason: `${this.phase}; last step ${Math.round(age)} ms ago` };
  }

  readyz(): { ok: boolean; reason: string } {
    if (this.entries === undefined) return { ok: false, reason: 'desired state not read yet' };
    const plan = this.lastPlan;
    if (!plan) return { ok: false, reason: 'no reconcile step yet' };
    const notReady = plan.reports.filter((r) => r.matching && !r.ready);
    if (notReady.length) return { ok: false, reason: notReady.map((r) => `${r.environment}: ${r.state}${r.health ? ` ${r.health}` : ''}`).join('; ') };
    return { ok: true, reason: `${plan.reports.filter((r) => r.matching).length} matching daemon(s) ready` };
  }

  status(): AgentStatusView {
    const desired = this.desired();
    const plan = this.lastPlan;
    const leases: AgentStatusView['leases'] = {};
    for (const [env, slot] of this.leases) {
      const v = slot.view;
      leases[env] = { state: v.state, reason: v.reason, ...(v.item ? { owner: v.item.owner, recordVersion: v.item.recordVersion, ...(v.item.taskArn ? { taskArn: v.item.taskArn } : {}), ...(v.item.attempt ? { attempt: v.item.attempt.token } : {}) } : {}) };
    }
    return {
      agent: { version, commit, owner: this.owner, startedAt: this.startedAt, steps: this.steps, phase: this.phase },
      identity: this.identity,
      attributes: this.facts?.attributes,
      ready: this.isReady(plan),
      degraded: this.degradedBy.size > 0,
      degradedReasons: [...this.degradedBy.values()],
      desired: {
        loaded: this.entries !== undefined,
        fresh: this.fresh,
        markerVersion: this.markerVersion,
        environments: (desired.environments ?? []).map((e) =>
          e.kind === 'valid' ? { name: e.name, valid: true, matches: e.matches, reason: e.matchReason, revision: e.revision.revision, taskDefinition: e.revision.taskDefinition } : { name: e.name, valid: false, reason: e.error },
        ),
      },
      daemons: (plan?.reports ?? []).map((r) => {
        const lease = leases[r.environment];
        return { ...r, restarts: this.restart[r.environment]?.restarts ?? 0, crashLoop: this.restart[r.environment]?.crashLoop ?? false, lease: lease ? { state: lease.state, reason: lease.reason, ...(lease.owner ? { owner: lease.owner } : {}), ...(lease.recordVersion ? { recordVersion: lease.recordVersion } : {}) } : undefined };
      }),
      leases,
      tasks: this.lastTasks,
      pending: { ...this.pending },
      lastErrors: [...this.errors].reverse(),
    };
  }
}
