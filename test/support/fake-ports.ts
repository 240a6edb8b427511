// In-memory fakes of the agent's ports (agent/ports.ts) for tests and simulations that run the
// real reconcile step (agent/reconciler.ts) without services: a table with DynamoDB's conditional
// write semantics (items stored as plain attributes and read through the real record parsers), and
// an ECS cluster whose tasks appear to its readers only after a visibility lag, as ECS's eventually
// consistent reads do. Time is the caller's clock; nothing here sleeps.
import type { Clock } from '../../core/clock.js';
import { GROUP_PREFIX } from '../../core/ecs-labels.js';
import { InvalidRecordError } from '../../core/errors.js';
import { keys, lastArnSegment } from '../../core/keys.js';
import {
  counterAllows,
  parseRepairBudget,
  parseRolloutControl,
  parseStoredRevision,
  type EnvironmentRevision,
  type RolloutControl,
  claimAttributes,
  parseClaimRecord,
  parseInstanceHeartbeat,
  type ChangeMarker,
  type Claim,
  type ClaimRecord,
  type InstanceHeartbeat,
  type InstanceStatus,
  type RepairBudgetRecord,
} from '../../core/records.js';
import type {
  AgentPorts,
  ClaimPort,
  DesiredStatePort,
  EcsAgentPort,
  EcsPort,
  EnvironmentEntry,
  LocalTask,
  RepairPort,
  RolloutPort,
  StartFailure,
  StartTaskInput,
  StatusPort,
  TaskInfo,
} from '../../agent/ports.js';
import { RolloutRefusedError, WriteConflictError } from '../../agent/ports.js';
import type { RolloutCounterMove } from '../../agent/model.js';

type Item = Record<string, unknown>;
const keyOf = (k: { pk: string; sk: string }): string => `${k.pk}\u0000${k.sk}`;

/** A failure a fake injects: thrown like the SDK throws it. */
export class InjectedError extends Error {
  constructor(name: string, message = `injected ${name}`) {
    super(message);
    this.name = name;
  }
}

// ---------------------------------------------------------------------------------------------
// DynamoDB

export class FakeTable implements DesiredStatePort, ClaimPort, StatusPort, RolloutPort, RepairPort {
  readonly items = new Map<string, Item>();
  environments: EnvironmentEntry[] = [];
  marker: ChangeMarker | undefined;
  readonly calls = { reads: 0, writes: 0, conflicts: 0 };
  /** Throws (the table is unreachable or throttling) while it returns an error. */
  fault: (() => Error | undefined) | undefined;

  /** Replaces the environments and moves the marker, as the coordinator's transactions do. */
  setEnvironments(entries: EnvironmentEntry[], cluster = 'sim'): void {
    this.environments = entries;
    this.marker = { kind: 'ChangeMarker', schemaVersion: 1, cluster, version: (this.marker?.version ?? 0) + 1, updatedAt: '2026-01-01T00:00:00.000Z' };
  }

  raw(pk: string, sk: string): Item | undefined {
    return this.items.get(keyOf({ pk, sk }));
  }

  putRaw(item: Item): void {
    this.items.set(keyOf(item as { pk: string; sk: string }), structuredClone(item));
  }

  async getMarker(): Promise<ChangeMarker | undefined> {
    this.touch(false);
    return this.marker;
  }

  async loadEnvironments(): Promise<EnvironmentEntry[]> {
    this.touch(false);
    return structuredClone(this.environments);
  }

  async getHeartbeat(containerInstanceId: string): Promise<InstanceHeartbeat | null> {
    this.touch(false);
    const item = this.items.get(keyOf(keys.heartbeat(containerInstanceId)));
    return item ? parseInstanceHeartbeat(item) : null;
  }

  async putHeartbeat(heartbeat: InstanceHeartbeat, expected: string | undefined): Promise<void> {
    this.conditionalPut(keys.heartbeat(heartbeat.containerInstanceId), { ...heartbeat }, expected, parseInstanceHeartbeat);
  }

  async getRepairBudget(environment: string): Promise<RepairBudgetRecord | null> {
    this.touch(false);
    const item = this.items.get(keyOf(keys.repairBudget(environment)));
    return item ? parseRepairBudget(item) : null;
  }

  async putRepairBudget(record: RepairBudgetRecord, expected: string | undefined): Promise<void> {
    this.conditionalPut(keys.repairBudget(record.environment), { ...structuredClone(record) }, expected, parseRepairBudget);
  }

  async getClaims(environments: readonly string[], containerInstanceId: string): Promise<Map<string, ClaimRecord | null | InvalidRecordError>> {
    this.touch(false);
    const result = new Map<string, ClaimRecord | null | InvalidRecordError>();
    for (const env of environments) {
      const item = this.items.get(keyOf(keys.claim(env, containerInstanceId)));
      try {
        result.set(env, item ? parseClaimRecord(item) : null);
      } catch (error) {
        if (!(error instanceof InvalidRecordError)) throw error;
        result.set(env, error);
      }
    }
    return result;
  }

  async putClaim(claim: Claim, expected: string | undefined, counter?: RolloutCounterMove): Promise<void> {
    const key = keys.claim(claim.environment, claim.containerInstanceId);
    if (!counter) return this.conditionalPut(key, claimAttributes(claim), expected, parseClaimRecord);
    // One transaction: the claim's condition and the counter's, then both writes or neither.
    this.touch(true);
    const current = this.items.get(keyOf(key));
    if (expected === undefined ? current !== undefined : current?.recordVersion !== expected) throw this.conflict(key, current, parseClaimRecord);
    const controlKey = keys.rolloutControl(counter.environment);
    const controlItem = this.items.get(keyOf(controlKey));
    const control = controlItem ? parseRolloutControl(controlItem) : undefined;
    if (!counterAllows(control, counter.deploymentId, counter.delta)) {
      this.calls.conflicts++;
      throw new RolloutRefusedError(`rollout of ${counter.environment} refused ${counter.delta > 0 ? 'an admission' : 'a release'}`);
    }
    controlItem!.inFlight = (controlItem!.inFlight as number) + counter.delta;
    if (counter.delta > 0) controlItem!.admitted = (controlItem!.admitted as number) + 1;
    this.items.set(keyOf(key), structuredClone({ ...key, ...claimAttributes(claim) }));
  }

  async getRevision(environment: string, revision: number): Promise<EnvironmentRevision | undefined> {
    this.touch(false);
    const item = this.items.get(keyOf(keys.revision(environment, revision)));
    return item ? parseStoredRevision(item) : undefined;
  }

  async getControl(environment: string): Promise<RolloutControl | null> {
    this.touch(false);
    const item = this.items.get(keyOf(keys.rolloutControl(environment)));
    return item ? parseRolloutControl(item) : null;
  }

  async deleteClaim(environment: string, containerInstanceId: string, expected: string): Promise<void> {
    this.touch(true);
    const key = keys.claim(environment, containerInstanceId);
    const current = this.items.get(keyOf(key));
    if (current?.recordVersion !== expected) throw this.conflict(key, current, parseClaimRecord);
    this.items.delete(keyOf(key));
  }

  async putInstanceStatus(status: InstanceStatus): Promise<void> {
    this.touch(true);
    const key = keys.instanceStatus(status.cluster, lastArnSegment(status.containerInstanceArn));
    this.items.set(keyOf(key), structuredClone({ ...key, ...status }));
  }

  /** Counts a read or write, or throws the injected fault (every fake port of the table calls it). */
  touch(write: boolean): void {
    const error = this.fault?.();
    if (error) throw error;
    if (write) this.calls.writes++;
    else this.calls.reads++;
  }

  /** DynamoDB's PutItem with `attribute_not_exists(pk)` or `recordVersion = :expected`, ALL_OLD on failure. */
  private conditionalPut<T>(key: { pk: string; sk: string }, attributes: Item, expected: string | undefined, parse: (item: unknown) => T): void {
    this.touch(true);
    const current = this.items.get(keyOf(key));
    const ok = expected === undefined ? current === undefined : current?.recordVersion === expected;
    if (!ok) throw this.conflict(key, current, parse);
    this.items.set(keyOf(key), structuredClone({ ...key, ...attributes }));
  }

  private conflict<T>(key: { pk: string; sk: string }, current: Item | undefined, parse: (item: unknown) => T): Error {
    this.calls.conflicts++;
    let parsed: T | null = null;
    if (current) {
      try {
        parsed = parse(current);
      } catch (error) {
        if (error instanceof InvalidRecordError) return error;
        throw error;
      }
    }
    return new WriteConflictError(`${key.pk}/${key.sk}: condition failed`, parsed);
  }
}

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
  };
  return { ports: wrapped, dead: () => dead, kill: () => void (dead = true) };
}
