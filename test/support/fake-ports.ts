// In-memory fakes of the agent's ports (agent/ports.ts) for tests and simulations that run the
// real reconcile step (agent/reconciler.ts) without services: the table (fake-table.ts, re-exported
// here), an ECS cluster whose tasks appear to its readers only after a visibility lag, as ECS's
// eventually consistent reads do, and ports that die with a killed process. Time is the caller's
// clock; nothing here sleeps.
import type { Clock } from '../../core/clock.js';
import { GROUP_PREFIX } from '../../core/ecs-labels.js';
import type { AgentPorts, EcsAgentPort, EcsPort, LocalTask, StartFailure, StartTaskInput, TaskInfo } from '../../agent/ports.js';

export { FakeTable, InjectedError } from './fake-table.js';

// ---------------------------------------------------------------------------------------------
// ECS

export interface FakeTask {
  taskArn: string;
  containerInstanceArn: string;
  taskDefinitionArn: string;
  startedBy: string;
  group: string;
  /** '' for a task of another scheduler (`foreign`). */
  environment: string;
  revision: number;
  /** Started by another scheduler (a service's replica): not ours, no environment. */
  foreign?: boolean;
  lastStatus: 'PROVISIONING' | 'RUNNING' | 'STOPPED';
  desiredStatus: 'RUNNING' | 'STOPPED';
  /** When ECS's reads (and the ECS agent) start to show the task. */
  visibleAtMs: number;
  runningAtMs: number;
  stoppedReason?: string;
}

export interface FakeEcsOptions {
  clock: Clock;
  random: () => number;
  /** Longest delay before a started task shows in reads (uniform from 0). */
  maxVisibilityLagMs?: number;
  /** Time from start to RUNNING. */
  startLatencyMs?: number;
}

/** What happened to the cluster, for invariant checks: called after every change. */
export type EcsChange = { type: 'start'; task: FakeTask } | { type: 'stop'; task: FakeTask; reason: string };

export class FakeEcs {
  readonly tasks: FakeTask[] = [];
  readonly attributes = new Map<string, Record<string, string>>();
  /** ECS status per instance (ACTIVE unless set: DRAINING, by a test or UpdateContainerInstancesState). */
  readonly status = new Map<string, string>();
  readonly calls: Record<string, number> = {};
  private seq = 0;
  /** An error for a call, or a StartTask failure answer (like RESOURCE:MEMORY), or nothing. */
  fault: ((operation: string) => Error | StartFailure | undefined) | undefined;
  readonly listeners: Array<(change: EcsChange) => void> = [];

  constructor(private readonly options: FakeEcsOptions) {}

  addInstance(id: string, attributes: Record<string, string> = {}): string {
    const arn = `arn:aws:ecs:us-east-1:000000000000:container-instance/sim/${id}`;
    this.attributes.set(arn, { ...attributes });
    return arn;
  }

  live(instanceArn: string, environment?: string): FakeTask[] {
    return this.tasks.filter(
      (t) => t.containerInstanceArn === instanceArn && t.lastStatus !== 'STOPPED' && (environment === undefined || t.environment === environment),
    );
  }

  /** The daemon dies by itself (exit 1). */
  crash(task: FakeTask): void {
    if (task.lastStatus === 'STOPPED') return;
    task.lastStatus = 'STOPPED';
    task.desiredStatus = 'STOPPED';
    task.stoppedReason = 'Essential container in task exited';
  }

  /** The port the agent of one instance uses. */
  portFor(instanceArn: string): EcsPort & EcsAgentPort {
    return new InstanceEcs(this, instanceArn, this.options);
  }

  visible(task: FakeTask): boolean {
    return this.options.clock.wallMs() >= task.visibleAtMs;
  }

  /** Moves PROVISIONING tasks to RUNNING when their time has come. */
  advance(): void {
    const now = this.options.clock.wallMs();
    for (const t of this.tasks) if (t.lastStatus === 'PROVISIONING' && t.desiredStatus === 'RUNNING' && now >= t.runningAtMs) t.lastStatus = 'RUNNING';
  }

  call(operation: string): Error | StartFailure | undefined {
    this.calls[operation] = (this.calls[operation] ?? 0) + 1;
    return this.fault?.(operation);
  }

  newTask(instanceArn: string, input: StartTaskInput): FakeTask {
    const now = this.options.clock.wallMs();
    const task: FakeTask = {
      taskArn: `arn:aws:ecs:us-east-1:000000000000:task/sim/t${++this.seq}`,
      containerInstanceArn: instanceArn,
      taskDefinitionArn: `arn:aws:ecs:us-east-1:000000000000:task-definition/${input.taskDefinition}`,
      startedBy: input.token,
      group: `${GROUP_PREFIX}${input.environment}`,
      environment: input.environment,
      revision: input.revision,
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      visibleAtMs: now + Math.floor(this.options.random() * (this.options.maxVisibilityLagMs ?? 0)),
      runningAtMs: now + (this.options.startLatencyMs ?? 0),
    };
    this.tasks.push(task);
    for (const l of this.listeners) l({ type: 'start', task });
    return task;
  }

  /** A task of another scheduler (a service's replica), RUNNING and visible at once. */
  addForeign(instanceArn: string): FakeTask {
    const task: FakeTask = {
      taskArn: `arn:aws:ecs:us-east-1:000000000000:task/sim/t${++this.seq}`,
      containerInstanceArn: instanceArn,
      taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:1',
      startedBy: 'ecs-svc/1234567890123456789',
      group: 'service:web',
      environment: '',
      revision: 0,
      foreign: true,
      lastStatus: 'RUNNING',
      desiredStatus: 'RUNNING',
      visibleAtMs: this.options.clock.wallMs(),
      runningAtMs: this.options.clock.wallMs(),
    };
    this.tasks.push(task);
    return task;
  }

  stop(task: FakeTask, reason: string): void {
    if (task.lastStatus === 'STOPPED') return;
    task.desiredStatus = 'STOPPED';
    task.lastStatus = 'STOPPED';
    task.stoppedReason = reason;
    for (const l of this.listeners) l({ type: 'stop', task, reason });
  }
}

export function taskInfoOfFake(t: FakeTask): TaskInfo {
  return {
    taskArn: t.taskArn,
    taskDefinitionArn: t.taskDefinitionArn,
    group: t.group,
    startedBy: t.startedBy,
    ...(t.foreign ? {} : { environment: t.environment, revision: t.revision }),
    lastStatus: t.lastStatus,
    desiredStatus: t.desiredStatus,
    containerInstanceArn: t.containerInstanceArn,
    ours: !t.foreign,
    ...(t.stoppedReason ? { stoppedReason: t.stoppedReason } : {}),
  };
}

class InstanceEcs implements EcsPort, EcsAgentPort {
  constructor(
    private readonly ecs: FakeEcs,
    private readonly instanceArn: string,
    private readonly options: FakeEcsOptions,
  ) {}

  private check(operation: string): StartFailure | undefined {
    const fault = this.ecs.call(operation);
    if (fault instanceof Error) throw fault;
    return fault;
  }

  async startTask(input: StartTaskInput): Promise<{ task?: TaskInfo; failures: StartFailure[] }> {
    const failure = this.check('StartTask');
    if (failure) return { failures: [failure] };
    const task = this.ecs.newTask(this.instanceArn, input);
    // StartTask's answer carries no tags (TaskControl catalogues the ones it sent, as the adapter does).
    return { task: { ...taskInfoOfFake(task), environment: input.environment, revision: input.revision }, failures: [] };
  }

  async stopTask(taskArn: string, reason: string): Promise<void> {
    this.check('StopTask');
    const task = this.ecs.tasks.find((t) => t.taskArn === taskArn);
    if (task) this.ecs.stop(task, reason);
  }

  async findByStartedBy(token: string): Promise<TaskInfo[]> {
    this.check('ListTasks');
    return this.ecs.tasks.filter((t) => t.startedBy === token && t.containerInstanceArn === this.instanceArn && this.ecs.visible(t)).map(taskInfoOfFake);
  }

  async describeTasks(taskArns: string[]): Promise<TaskInfo[]> {
    this.check('DescribeTasks');
    return taskArns.map((arn) => {
      const t = this.ecs.tasks.find((x) => x.taskArn === arn && this.ecs.visible(x));
      return t
        ? taskInfoOfFake(t)
        : { taskArn: arn, taskDefinitionArn: '', lastStatus: 'STOPPED', desiredStatus: 'STOPPED', ours: false, missing: true as const };
    });
  }

  async listInstanceTaskArns(): Promise<string[]> {
    this.check('ListTasks');
    return this.ecs.tasks
      .filter((t) => t.containerInstanceArn === this.instanceArn && t.desiredStatus === 'RUNNING' && this.ecs.visible(t))
      .map((t) => t.taskArn);
  }

  async describeSelf(): Promise<{ status: string; facts: { attributes: Record<string, string> } }> {
    this.check('DescribeContainerInstances');
    return { status: this.ecs.status.get(this.instanceArn) ?? 'ACTIVE', facts: { attributes: { ...(this.ecs.attributes.get(this.instanceArn) ?? {}) } } };
  }

  async drainSelf(): Promise<void> {
    this.check('UpdateContainerInstancesState');
    this.ecs.status.set(this.instanceArn, 'DRAINING');
  }

  async instanceStatuses(ids: readonly string[]): Promise<Map<string, string>> {
    this.check('DescribeContainerInstances');
    const known = new Map([...this.ecs.attributes.keys()].map((arn) => [arn.slice(arn.lastIndexOf('/') + 1), arn]));
    return new Map(
      ids.map((id) => {
        const arn = known.get(id);
        return [id, arn === undefined ? 'MISSING' : (this.ecs.status.get(arn) ?? 'ACTIVE')];
      }),
    );
  }

  async putOwnAttribute(name: string, value: string): Promise<void> {
    this.check('PutAttributes');
    this.ecs.attributes.set(this.instanceArn, { ...(this.ecs.attributes.get(this.instanceArn) ?? {}), [name]: value });
  }

  async hasHealthCheck(): Promise<boolean> {
    return false;
  }

  async localTasks(): Promise<LocalTask[]> {
    const known = { PROVISIONING: 'NONE', RUNNING: 'RUNNING', STOPPED: 'STOPPED' } as const;
    return this.ecs.tasks
      .filter((t) => t.containerInstanceArn === this.instanceArn && this.ecs.visible(t))
      .map((t) => ({ taskArn: t.taskArn, desiredStatus: t.desiredStatus, knownStatus: known[t.lastStatus] }));
  }
}

// ---------------------------------------------------------------------------------------------
// Crashes

/** Thrown by every call of an agent whose process was killed: the call had no effect. */
export class Killed extends Error {
  constructor() {
    super('agent killed');
    this.name = 'Killed';
  }
}

/**
 * The ports of one agent process that can be killed between any two calls or right after one
 * (its effect done, its answer lost), as SIGKILL does. `killAt` decides, per call, whether to die
 * before it, after it, or not at all.
 */
export function killablePorts(
  ports: AgentPorts,
  killAt: (operation: string) => 'before' | 'after' | undefined,
): { ports: AgentPorts; dead: () => boolean; kill: () => void } {
  let dead = false;
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          if (dead) throw new Killed();
          const when = killAt(String(prop));
          if (when === 'before') {
            dead = true;
            throw new Killed();
          }
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
          if (when === 'after' || dead) {
            dead = true;
            throw new Killed();
          }
          return result;
        };
      },
    });
  const wrapped: AgentPorts = {
    desired: wrap(ports.desired),
    claims: wrap(ports.claims),
    rollout: wrap(ports.rollout),
    steward: wrap(ports.steward),
    status: wrap(ports.status),
    ecs: wrap(ports.ecs),
    ecsAgent: wrap(ports.ecsAgent),
    // The optional ports die with the process too; the Docker watcher is left out (health then comes from ECS).
    ...(ports.lifecycle ? { lifecycle: wrap(ports.lifecycle) } : {}),
    ...(ports.autoScaling ? { autoScaling: wrap(ports.autoScaling) } : {}),
    ...(ports.repair ? { repair: wrap(ports.repair) } : {}),
  };
  return { ports: wrapped, dead: () => dead, kill: () => void (dead = true) };
}
