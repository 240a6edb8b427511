// The instance's tasks as the agent knows them. Each step reads the ECS agent's /v1/tasks (no API
// cost); a task ARN seen for the first time is described once (group, startedBy and tags never
// change); a slow ListTasks sweep catches what the local views missed (agent/observe/sweep.ts says
// what it describes); the Docker engine gives container health. Owns the catalog of ECS answers
// and forgets a task ten minutes after it stopped and left the local view.
import { errorMessage } from '../../core/errors.js';
import type { AgentContext } from '../context.js';
import { recordCall } from '../metrics.js';
import type { ObservedTask } from '../model.js';
import type { AgentPorts, LocalTask, TaskHealthView, TaskInfo } from '../ports.js';
import { catalogued, mergeTasks, type CatalogEntry } from './merge-tasks.js';
import { tasksToDescribe } from './sweep.js';

/** While the ECS agent cannot be asked, or before a sweep succeeded, the sweep runs at least this often. */
const FAST_SWEEP_MS = 10_000;
/** A catalogued live task missing from the local view is described again after this long. */
const RECHECK_MS = 10_000;
const FORGET_STOPPED_MS = 600_000;
/** A recorded task no view shows is asked about again this often. */
const ASK_AGAIN_MS = 2_000;

export class TaskCatalog {
  private readonly catalog = new Map<string, CatalogEntry>();
  private readonly stopped = new Set<string>();
  private local: LocalTask[] | undefined;
  private health = new Map<string, TaskHealthView>();
  private healthFromDocker = false;
  private lastSweepMono: number | undefined;
  private swept = false;
  private lastSweepOk = false;
  private lastView: ObservedTask[] | undefined;
  /** Tasks a claim records that no view shows: when each was last asked about (forgotten once no claim names it). */
  private asked = new Map<string, number>();

  constructor(
    private readonly ctx: AgentContext,
    private readonly ports: Pick<AgentPorts, 'ecs' | 'ecsAgent' | 'docker'>,
    /** How long ECS's reads may take to show a task (the expectation window): MISSING is trusted only after it. */
    private readonly consistencyMs: number,
  ) {}

  /** The last view observe() returned. */
  get tasks(): ObservedTask[] | undefined {
    return this.lastView;
  }

  /** Whether the ECS agent's local view answered in the last step. */
  get localView(): boolean {
    return this.local !== undefined;
  }

  /**
   * The instance's tasks, or undefined when the agent cannot see them well enough to decide on.
   * `recorded`: tasks the claims record, described by ARN when no view shows them (a task started
   * moments ago may not be listed yet).
   */
  async observe(nowMono: number, recorded: readonly string[] = []): Promise<ObservedTask[] | undefined> {
    await this.askAbout(recorded, nowMono);
    this.lastView = await this.read(nowMono);
    this.prune(nowMono);
    return this.lastView;
  }

  private async read(nowMono: number): Promise<ObservedTask[] | undefined> {
    const { ctx } = this;
    try {
      this.local = await recordCall(
        ctx.metrics,
        'ecs-agent',
        'tasks',
        () => ctx.clock.monoMs(),
        () => this.ports.ecsAgent.localTasks(),
      );
      ctx.troubles.recover('ecs-agent');
    } catch (error) {
      this.local = undefined;
      ctx.troubles.fail('ecs-agent', `ECS agent /v1/tasks: ${errorMessage(error)}`, error);
    }
    await this.sweepIfDue(nowMono);
    const local = this.local;
    if (local) {
      // New task ARNs seen locally are described once; live ones gone from the local view again.
      const unknown = local.filter((t) => !this.catalog.has(t.taskArn)).map((t) => t.taskArn);
      const stale = [...this.catalog.values()]
        .filter(
          (c) =>
            c.info.lastStatus !== 'STOPPED' &&
            c.info.desiredStatus !== 'STOPPED' &&
            !local.some((t) => t.taskArn === c.info.taskArn) &&
            nowMono - c.checkedMono >= RECHECK_MS,
        )
        .map((c) => c.info.taskArn);
      if (unknown.length + stale.length > 0) {
        try {
          for (const info of await this.ports.ecs.describeTasks([...unknown, ...stale]))
            this.remember(info, nowMono, local.find((t) => t.taskArn === info.taskArn)?.knownStatus === 'STOPPED');
          ctx.troubles.recover('ecs');
        } catch (error) {
          ctx.troubles.fail('ecs', `ECS: DescribeTasks: ${errorMessage(error)}`, error);
        }
        // A live task of unknown environment here could be a daemon of ours: decide nothing until it is known.
        if (unknown.some((arn) => !this.catalog.has(arn) && local.find((t) => t.taskArn === arn)?.knownStatus !== 'STOPPED')) return undefined;
      }
    } else if (!this.lastSweepOk) {
      return undefined;
    }
    // Until ECS itself has been asked once, the local view alone may miss a task this instance runs
    // (one the ECS agent has not received yet, after a restart): decide nothing on it.
    if (!this.swept) return undefined;
    await this.learnHealthChecks();
    await this.readHealth();
    return mergeTasks({
      containerInstanceArn: ctx.identity.containerInstanceArn,
      local: this.local,
      catalog: this.catalog,
      health: this.health,
      stoppedByUs: this.stopped,
    });
  }

  private async askAbout(recorded: readonly string[], nowMono: number): Promise<void> {
    const wanted = new Set(recorded.filter((arn) => !this.catalog.has(arn)));
    this.asked = new Map([...this.asked].filter(([arn]) => wanted.has(arn)));
    const due = [...wanted].filter((arn) => nowMono - (this.asked.get(arn) ?? -Infinity) >= ASK_AGAIN_MS);
    if (due.length === 0) return;
    for (const arn of due) this.asked.set(arn, nowMono);
    try {
      for (const info of await this.ports.ecs.describeTasks(due)) this.remember(info, nowMono);
    } catch (error) {
      this.ctx.troubles.fail('ecs', `ECS: DescribeTasks: ${errorMessage(error)}`, error);
    }
  }

  private async sweepIfDue(nowMono: number): Promise<void> {
    const every = this.local && this.swept ? this.ctx.config.ecsReconcileIntervalMs : Math.min(this.ctx.config.ecsReconcileIntervalMs, FAST_SWEEP_MS);
    if (this.lastSweepMono !== undefined && nowMono - this.lastSweepMono < every) return;
    this.lastSweepMono = nowMono;
    try {
      const listed = await this.ports.ecs.listInstanceTaskArns();
      const known = new Map([...this.catalog].map(([arn, c]) => [arn, { lastStatus: c.info.lastStatus, ours: c.info.ours }]));
      const describe = tasksToDescribe({ listed, catalog: known, localStatus: this.local !== undefined, localHealth: this.healthFromDocker });
      if (describe.length) for (const info of await this.ports.ecs.describeTasks(describe)) this.remember(info, nowMono);
      this.lastSweepOk = true;
      this.swept = true;
      this.ctx.troubles.recover('ecs');
    } catch (error) {
      this.lastSweepOk = false;
      this.ctx.troubles.fail('ecs', `ECS: reconcile sweep: ${errorMessage(error)}`, error);
    }
  }

  /** Whether our tasks have health checks: one DescribeTaskDefinition per definition, ever. */
  private async learnHealthChecks(): Promise<void> {
    for (const entry of this.catalog.values()) {
      if (!entry.info.ours || entry.hasHealthCheck !== undefined || entry.info.lastStatus === 'STOPPED' || !entry.info.taskDefinitionArn) continue;
      try {
        entry.hasHealthCheck = await this.ports.ecs.hasHealthCheck(entry.info.taskDefinitionArn);
      } catch (error) {
        this.ctx.troubles.record('ecs', error);
        return;
      }
    }
  }

  /** Health from the Docker view (a label-filtered container list): cheap and local; the last view is kept on failure. */
  private async readHealth(): Promise<void> {
    if (!this.ports.docker) return;
    try {
      this.health = await this.ports.docker.taskHealth();
      this.healthFromDocker = true;
    } catch {
      this.healthFromDocker = false; // the ECS health status (sweep) is the fallback
    }
  }

  /** A Docker health event, between reads of the container list. */
  healthEvent(taskArn: string, health: TaskHealthView['health']): void {
    this.health.set(taskArn, { health, hasHealthCheck: true, running: this.health.get(taskArn)?.running ?? true });
  }

  /** An ECS answer about a task (DescribeTasks, StartTask, a look-up). `locallyStopped`: the ECS agent reports it STOPPED. */
  remember(answer: TaskInfo, nowMono: number, locallyStopped = false): void {
    const previous = this.catalog.get(answer.taskArn);
    const young = previous !== undefined && nowMono - previous.firstSeenMono < this.consistencyMs;
    const info = catalogued(answer, previous, locallyStopped, young);
    if (!info) return;
    this.catalog.set(info.taskArn, {
      info,
      checkedMono: nowMono,
      firstSeenMono: previous?.firstSeenMono ?? nowMono,
      ...(previous?.hasHealthCheck !== undefined ? { hasHealthCheck: previous.hasHealthCheck } : {}),
    });
  }

  /** This agent called StopTask for the task: it is desired STOPPED from now on. */
  stoppedByUs(taskArn: string): void {
    this.stopped.add(taskArn);
    const entry = this.catalog.get(taskArn);
    if (entry) entry.info = { ...entry.info, desiredStatus: 'STOPPED' };
  }

  wasStoppedByUs(taskArn: string): boolean {
    return this.stopped.has(taskArn);
  }

  knownStopped(taskArn: string): boolean {
    return this.catalog.get(taskArn)?.info.lastStatus === 'STOPPED';
  }

  private prune(nowMono: number): void {
    for (const [arn, c] of this.catalog) {
      if (c.info.lastStatus !== 'STOPPED' || this.local?.some((t) => t.taskArn === arn) || nowMono - c.checkedMono <= FORGET_STOPPED_MS) continue;
      this.catalog.delete(arn);
      this.stopped.delete(arn);
    }
  }
}
