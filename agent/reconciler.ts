// One reconcile step of one agent: observe -> decide -> pace -> plan -> act -> report. The same
// code runs in production (agent/agent.ts wires it to the adapters), in the integration tests, and
// in the seeded simulations (test/unit/agent-world.test.ts, bench/), which wire it to fake ports
// and a manual clock.
import { DEFAULT_RESTART_POLICY, type EnvironmentRevision, type RestartPolicy, type RolloutControl } from '../core/records.js';
import { ClaimWriter } from './act/claim-writer.js';
import { Actuator } from './act/actuator.js';
import { InstanceLife } from './act/instance-life.js';
import { ReadinessWriter } from './act/readiness-writer.js';
import { TaskControl, type FaultPoint } from './act/task-control.js';
import type { AgentContext } from './context.js';
import { planDrain, type DrainPlan, type DrainView } from './decide/drain.js';
import { decideStep } from './decide/step.js';
import { pace, type ReplacementBudget } from './decide/pace.js';
import { keepsStable } from './decide/rollout.js';
import { recordRolloutProgress, rolloutBudget, type RolloutEnvInput, type RolloutStepInput } from './decide/pace-rollout.js';
import { RolloutSource, type RolloutInterest } from './observe/rollout-source.js';
import { Stewards } from './steward/steward.js';
import { instanceActions, plan } from './decide/plan.js';
import { DynamoGate } from './memory/dynamo-gate.js';
import { EnvMemories } from './memory/env-memory.js';
import { OrphanTimers } from './memory/orphans.js';
import { INSTANCE_CHAIN, type DecideOptions, type Decision, type Desired, type Now, type Observed, type ObservedTask } from './model.js';
import { ClaimTable } from './observe/claim-table.js';
import { buildDesired } from './observe/desired.js';
import { DesiredSource } from './observe/desired-source.js';
import { InstanceFactsSource } from './observe/instance-facts.js';
import { TaskCatalog } from './observe/task-catalog.js';
import type { AgentPorts, TaskHealthView } from './ports.js';
import { DecisionLog } from './report/decision-log.js';
import { StatusWriter } from './report/status-writer.js';

export interface ReconcilerOptions {
  /** The local loop's tick: the longest a step sleeps. */
  tickMs: number;
  /** An expectation not met within this long is checked with a look-up instead. */
  expectationTimeoutMs: number;
  budget?: ReplacementBudget;
  fault?: (point: FaultPoint) => void;
}

const DRAIN_GAUGE: Record<DrainView['phase'], number> = { none: 0, 'waiting-for-tasks': 1, 'stopping-daemons': 1, drained: 2 };

/** Progress: step again soon, not at the next tick. */
const PROGRESS_WAKE_MS = 20;

export class Reconciler {
  readonly desired: DesiredSource;
  readonly facts: InstanceFactsSource;
  readonly catalog: TaskCatalog;
  readonly claims: ClaimTable;
  readonly memories: EnvMemories;
  readonly rollouts: RolloutSource;
  private readonly stewards: Stewards;
  private readonly orphans = new OrphanTimers();
  private readonly writer: ClaimWriter;
  private readonly actuator: Actuator;
  private readonly decisions: DecisionLog;
  private readonly status: StatusWriter;
  private readonly readiness: ReadinessWriter;
  readonly life: InstanceLife;
  private readonly decideOptions: DecideOptions;
  private last: Decision | undefined;
  private lastDrain: DrainView = { phase: 'none', reason: '' };
  private lastMarker: number | undefined;

  constructor(
    private readonly ctx: AgentContext,
    ports: AgentPorts,
    private readonly options: ReconcilerOptions,
  ) {
    const dynamo = new DynamoGate(ctx);
    this.memories = new EnvMemories(ctx.random);
    this.desired = new DesiredSource(ctx, ports.desired, dynamo);
    this.facts = new InstanceFactsSource(ctx, ports.ecs);
    this.catalog = new TaskCatalog(ctx, ports, options.expectationTimeoutMs);
    this.claims = new ClaimTable(ctx, ports.claims, dynamo);
    this.rollouts = new RolloutSource(ctx, ports.rollout, dynamo);
    this.stewards = new Stewards(ctx, ports.steward);
    this.writer = new ClaimWriter(ctx, ports.claims, this.claims, dynamo, this.memories, (env) => this.rollouts.invalidate(env));
    const tasks = new TaskControl(ctx, ports.ecs, this.catalog, this.claims, this.memories, options.fault);
    this.decisions = new DecisionLog(ctx.log, ctx.metrics);
    this.actuator = new Actuator(ctx, this.writer, tasks, () => this.claims.standing(ctx.clock.monoMs()), this.decisions);
    this.status = new StatusWriter(ctx, ports.status, this.memories);
    this.readiness = new ReadinessWriter(ctx, ports.ecs, this.facts);
    this.life = new InstanceLife(ctx, ports, this.facts);
    this.decideOptions = {
      orphanGraceMs: ctx.config.orphanGraceMs,
      attemptSettleMs: ctx.config.attemptSettleMs,
      expectationTimeoutMs: options.expectationTimeoutMs,
    };
  }

  /** The last step's decision (reports, intents). */
  get lastDecision(): Decision | undefined {
    return this.last;
  }

  /** Daemons last: where the instance's drain stood at the last step (`drained`: every daemon stopped, claims released). */
  get drain(): DrainView {
    return this.lastDrain;
  }

  desiredView(): Desired {
    return buildDesired(this.desired.entries, this.facts.facts, this.desired.fresh);
  }

  /** observe -> decide -> act; returns how long to sleep before the next step. */
  async step(): Promise<number> {
    const { clock } = this.ctx;
    const now = clock.monoMs();
    // The three sources are independent: read them side by side (a new instance pays the slowest, not the sum).
    const recorded = Object.values(this.claims.claimViews())
      .flatMap((v) => [v.item?.current?.taskArn, v.item?.next?.taskArn])
      .filter((arn): arn is string => arn !== undefined);
    this.facts.watchTasks(this.catalog.tasks, now);
    const [tasks] = await Promise.all([this.catalog.observe(now, recorded), this.desired.poll(now), this.facts.refresh(now)]);
    if (tasks) this.noteTasks(tasks, now);
    // Who acts for the instance comes first: its heartbeat is watched, acquired or renewed before
    // the claims are read and anything is decided, all in this step.
    await this.claims.observeInstance(now);
    const instanceChain = instanceActions(this.claims.instanceView, this.claims.renewDue(now));
    this.decisions.beginStep();
    let progress = instanceChain.length > 0 && (await this.actuator.run([{ key: INSTANCE_CHAIN, actions: instanceChain }]));
    await this.claims.observeClaims(clock.monoMs(), this.relevant(tasks));

    const at: Now = { wallMs: clock.wallMs(), monoMs: clock.monoMs(), nonce: this.ctx.randomHex(10) };
    const observed: Observed = {
      instance: this.claims.standing(at.monoMs),
      claims: this.claims.claimViews(),
      tasks,
      memory: this.memories.views(at.monoMs),
      orphanSince: this.orphans.view(),
    };
    // Rollouts: the controls of unfinished deployments are read (only where they concern this
    // instance), then every replacement passes the rollout gate and admitted parts move on.
    const desired = this.desiredView();
    const rolloutInput = await this.observeRollouts(desired, observed, at);
    const budget = this.options.budget ?? rolloutBudget(rolloutInput);
    const converged = this.convergeTo(desired, observed);
    const drain = this.planDrain(converged, observed, at.monoMs);
    const decided = decideStep({
      desired: converged,
      observed,
      now: at,
      options: this.decideOptions,
      drain,
      notReadySince: this.memories.notReadySince(),
    });
    const decision = recordRolloutProgress(pace(decided, budget), rolloutInput);
    this.last = decision;
    // The timer starts when the step has seen the task (not when it began: a task may appear during its reads).
    for (const arn of this.orphans.update(decision.unclaimed, clock.monoMs()))
      this.ctx.log.info(
        { taskArn: arn, graceMs: this.ctx.config.orphanGraceMs },
        'task of ours claimed by no environment: stopped after the grace period unless claimed',
      );
    const chains = plan({ decision, observed, now: at });
    progress = (await this.actuator.run(chains)) || progress;
    this.afterActing(decision, tasks);

    const acting = this.claims.standing(clock.monoMs()).acting;
    if (acting) await this.stewards.step(clock.monoMs(), this.unfinishedRollouts());
    let lifeWakeAt: number | undefined;
    let degraded = false;
    if (acting) {
      // Scale-in, Spot and repair: after the step's own actions, so the drain they start is seen by the next step.
      const life = await this.life.step({
        // What the instance converges to (a failed deployment keeps new instances on the stable revision): its repair settings apply.
        desired: converged,
        reports: decision.environments.map((e) => e.report),
        memories: this.memories,
        rollout: (env, id) => this.rollouts.view(env, id),
        drain: drain.view,
        nowMono: clock.monoMs(),
      });
      lifeWakeAt = life.wakeAtMono;
      degraded = life.repair.degraded.length > 0;
    }
    const ready = this.ready();
    this.ctx.metrics.set('blox_agent_ready', 'Every matching daemon RUNNING (and HEALTHY where checked)', {}, ready ? 1 : 0);
    this.ctx.metrics.set('blox_agent_degraded', 'The agent cannot reach DynamoDB or ECS', {}, this.ctx.troubles.degraded ? 1 : 0);
    this.ctx.metrics.set('blox_agent_acting', 'This agent holds the instance heartbeat and acts for the instance', {}, acting ? 1 : 0);
    if (acting) {
      const critical = new Set((this.desired.entries ?? []).filter((e) => e.kind === 'valid' && e.revision.critical).map((e) => e.name));
      const reports = decision.environments.map((e) => e.report);
      await this.readiness.publish(this.desired.entries ? reports : undefined, critical, clock.monoMs(), drain.view.phase !== 'none', degraded);
      await this.status.write({ reports, ready, ecsStatus: this.facts.status, drain: drain.view }, clock.monoMs());
    }

    // Wake for the next poll on time rather than at the tick after it, and for any wait that ends sooner.
    const after = clock.monoMs();
    let wakeIn = Math.min(this.options.tickMs, Math.max(10, this.desired.nextPollAt - after));
    if (lifeWakeAt !== undefined) wakeIn = Math.min(wakeIn, Math.max(10, lifeWakeAt - after));
    for (const chain of chains)
      for (const a of chain.actions) if (a.type === 'wait' && a.untilMono !== undefined) wakeIn = Math.min(wakeIn, Math.max(10, a.untilMono - after));
    return progress ? Math.min(wakeIn, PROGRESS_WAKE_MS) : wakeIn;
  }

  /** Daemons last (decide/drain.ts): what the drain does this step; a change of phase or of its bound is logged. */
  private planDrain(desired: Desired, observed: Observed, nowMono: number): DrainPlan {
    const plan = planDrain({
      ecsStatus: this.facts.status,
      drainingForMs: this.facts.drainingFor(nowMono),
      boundMs: this.ctx.config.drainDaemonsTimeoutMs,
      tasks: observed.tasks,
      localView: this.catalog.localView,
      desired,
      claims: observed.claims,
      closed: this.readiness.closed,
    });
    const view = plan.view;
    if (view.phase !== this.lastDrain.phase) {
      const log = view.reason.includes('drain bound') ? this.ctx.log.warn.bind(this.ctx.log) : this.ctx.log.info.bind(this.ctx.log);
      log({ phase: view.phase, from: this.lastDrain.phase, reason: view.reason }, 'drain phase');
    }
    this.ctx.metrics.set(
      'blox_agent_draining',
      'The instance is DRAINING and its drain not done (1), drained (2), or neither (0)',
      {},
      DRAIN_GAUGE[view.phase],
    );
    this.lastDrain = view;
    return plan;
  }

  /** Reads the rollout controls that are due and gathers the rollout gate's inputs for this step. */
  private async observeRollouts(desired: Desired, observed: Observed, at: Now): Promise<RolloutStepInput> {
    const environments = new Map<string, RolloutEnvInput>();
    const wanted = new Map<string, { deploymentId: string; interest: RolloutInterest }>();
    // Only environments this instance runs: the others' rollouts are none of its business.
    const matching = new Set((desired.environments ?? []).filter((e) => e.kind === 'valid' && e.matches === true).map((e) => e.name));
    for (const entry of this.desired.entries ?? []) {
      if (entry.kind !== 'valid' || entry.environment.activeDeploymentId === undefined || !matching.has(entry.name)) continue;
      const deploymentId = entry.environment.activeDeploymentId;
      const claim = observed.claims[entry.name];
      const last = this.last?.environments.find((e) => e.environment === entry.name);
      const waiting = last?.intents.some((i) => i.type === 'replace' || (i.type === 'wait' && i.reason.includes('held'))) ?? false;
      const part = claim?.item?.rollout;
      const admitted = part?.deploymentId === deploymentId && (part.state === 'admitted' || part.state === 'failed');
      const steward = this.rollouts.control(entry.name)?.steward?.owner === this.ctx.owner;
      wanted.set(entry.name, { deploymentId, interest: waiting || admitted || steward ? 'active' : 'idle' });
    }
    // An operator's action (pause, resume, stop, promote) moves the change marker: read the controls again at once.
    const marker = this.desired.state.markerVersion;
    if (marker !== this.lastMarker) for (const env of wanted.keys()) this.rollouts.invalidate(env);
    this.lastMarker = marker;
    await this.rollouts.poll(at.monoMs, wanted);
    for (const entry of this.desired.entries ?? []) {
      if (entry.kind !== 'valid') continue;
      const deploymentId = entry.environment.activeDeploymentId;
      environments.set(entry.name, {
        deploymentId,
        control: this.rollouts.view(entry.name, deploymentId),
        config: entry.revision.deploymentConfiguration,
        targetRevision: entry.revision.revision,
        claim: observed.claims[entry.name],
        readyForMs: this.memories.peek(entry.name)?.readyFor(at.monoMs) ?? 0,
      });
    }
    return {
      environments,
      tasks: observed.tasks,
      instanceId: this.ctx.identity.containerInstanceId,
      pollMs: this.ctx.config.rolloutPollMs,
      nowWallMs: at.wallMs,
    };
  }

  /**
   * The desired state this instance converges to: the target everywhere, except that an instance
   * with no part in an untrusted deployment (a canary phase, a failed one) keeps to the stable
   * revision: a new instance starts it, one running it is not replaced. The instance group stays
   * the target's (matching is the environment's, not the revision's).
   */
  private convergeTo(desired: Desired, observed: Observed): Desired {
    if (!desired.environments) return desired;
    const environments = desired.environments.map((env) => {
      if (env.kind !== 'valid') return env;
      const stable = this.rollouts.stable(env.name);
      const keep = keepsStable({
        control: this.rollouts.control(env.name),
        deploymentId: env.environment.activeDeploymentId,
        claimRollout: observed.claims[env.name]?.item?.rollout,
        hasDaemon: observed.tasks?.some((t) => t.environment === env.name && t.lastStatus !== 'STOPPED') ?? true,
      });
      return stable && keep ? { ...env, revision: stable } : env;
    });
    return { ...desired, environments };
  }

  /** Unfinished controls this agent read, with their environment's target revision (the steward's work). */
  private unfinishedRollouts(): Map<string, { control: RolloutControl; revision: EnvironmentRevision }> {
    const out = new Map<string, { control: RolloutControl; revision: EnvironmentRevision }>();
    for (const entry of this.desired.entries ?? []) {
      if (entry.kind !== 'valid') continue;
      const view = this.rollouts.view(entry.name, entry.environment.activeDeploymentId);
      if (view.state === 'read' && view.control.phase !== 'done' && view.control.targetRevision === entry.revision.revision)
        out.set(entry.name, { control: view.control, revision: entry.revision });
    }
    return out;
  }

  /** Stops the agent's part: the instance is left for a successor at once. Never stops a daemon. */
  async release(): Promise<void> {
    try {
      await this.writer.releaseInstance();
    } catch (error) {
      this.ctx.log.warn({ error: String(error) }, 'could not release the instance lease on shutdown; a successor waits for it to expire');
    }
  }

  healthEvent(taskArn: string, health: TaskHealthView['health']): void {
    this.catalog.healthEvent(taskArn, health);
  }

  /** Every matching daemon is ready (and the desired state has been read); never while the drain stops them. */
  ready(): boolean {
    if (!this.last || this.desired.entries === undefined) return false;
    if (this.lastDrain.phase === 'stopping-daemons' || this.lastDrain.phase === 'drained') return false;
    return this.last.environments.filter((e) => e.report.matching).every((e) => e.report.ready);
  }

  policyOf(env: string): RestartPolicy {
    const entry = this.desired.entries?.find((e) => e.name === env);
    return entry?.kind === 'valid' ? entry.revision.restartPolicy : DEFAULT_RESTART_POLICY;
  }

  /** Restart policy for daemons that stopped by themselves; expectations met or expired. */
  private noteTasks(tasks: ObservedTask[], now: number): void {
    const known = {
      stoppedByUs: (arn: string) => this.catalog.wasStoppedByUs(arn),
      knownStopped: (arn: string) => this.catalog.knownStopped(arn),
      localView: this.catalog.localView,
    };
    for (const [env, memory] of this.memories.entries()) {
      memory.expectations.observe(tasks, now, this.options.expectationTimeoutMs);
      for (const { taskArn, restart } of memory.noteStops(tasks, known, this.policyOf(env), now, this.ctx.random())) {
        const delay = restart.notBeforeMono - now;
        this.ctx.metrics.inc('blox_agent_daemon_stops_total', 'Daemons that stopped by themselves', { environment: env });
        this.ctx.metrics.inc('blox_agent_backoff_seconds_total', 'Backoff scheduled, by kind', { kind: 'restart' }, delay / 1000);
        if (restart.crashLoop) this.ctx.metrics.inc('blox_agent_crash_loops_total', 'Crash loops detected', { environment: env });
        this.ctx.log.warn(
          { environment: env, taskArn, restartInMs: delay, crashLoop: restart.crashLoop, stops: restart.recentStops.length },
          restart.crashLoop ? 'daemon stopped: crash loop detected; restart at the capped delay' : 'daemon stopped: restart after backoff',
        );
      }
    }
  }

  /** Environments whose claim matters here: listed, running a task here, or with memory. */
  private relevant(tasks: ObservedTask[] | undefined): Set<string> {
    const names = new Set<string>((this.desired.entries ?? []).map((e) => e.name));
    for (const t of tasks ?? []) if (t.environment !== undefined && t.lastStatus !== 'STOPPED') names.add(t.environment);
    for (const [env, memory] of this.memories.entries()) if (env !== '' && memory.busy) names.add(env);
    return names;
  }

  private afterActing(decision: Decision, tasks: ObservedTask[] | undefined): void {
    const now = this.ctx.clock.monoMs();
    const wallIso = new Date(this.ctx.clock.wallMs()).toISOString();
    const claims = this.claims.claimViews();
    const heldByOrder = new Set(decision.heldByOrder ?? []);
    for (const { environment, report } of decision.environments) {
      const memory = this.memories.get(environment);
      memory.noteReady(report.ready && report.next === undefined ? report.taskArn : undefined, now);
      memory.noteWanted(report.matching && !heldByOrder.has(environment), report.ready, now);
      if (memory.reported?.state !== report.state) {
        memory.reported = { state: report.state, since: wallIso };
        this.ctx.log.info({ environment, state: report.state, taskArn: report.taskArn, revision: report.revision, reason: report.reason }, 'daemon state');
      }
      // The daemons this agent runs (its claim's tasks, live): a stop by themselves triggers the restart policy.
      const claim = claims[environment];
      if (claim?.state === 'mine') {
        for (const arn of [claim.item?.current?.taskArn, claim.item?.next?.taskArn]) {
          const task = arn === undefined ? undefined : tasks?.find((t) => t.taskArn === arn);
          if (task && task.lastStatus !== 'STOPPED' && task.desiredStatus !== 'STOPPED') memory.daemons.add(task.taskArn);
        }
      }
      memory.pruneAttempts(new Set((claim?.item?.attempts ?? []).map((a) => a.token)), now);
    }
    const present = new Set((tasks ?? []).filter((t) => t.lastStatus !== 'STOPPED').map((t) => t.environment ?? ''));
    const held = new Set(
      Object.entries(claims)
        .filter(([, v]) => v.state === 'mine' || v.state === 'takeable')
        .map(([env]) => env),
    );
    const listed = new Set((this.desired.entries ?? []).map((e) => e.name));
    for (const env of this.memories.forget({ fresh: this.desired.fresh && tasks !== undefined, listed, present, claimed: held })) {
      this.ctx.troubles.recover(`start:${env}`);
      this.ctx.troubles.recover(`claim:${env}`);
    }
    if (this.desired.fresh && tasks !== undefined) this.claims.forget(new Set([...listed, ...present]));
  }
}
