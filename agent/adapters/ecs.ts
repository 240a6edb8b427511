// The agent's ECS calls, all about its own container instance: StartTask there only (startedBy =
// the attempt token, group and tags naming environment and revision), StopTask with a reason,
// ListTasks(startedBy)+DescribeTasks to resolve an attempt, DescribeContainerInstances on itself,
// ListTasks(containerInstance)+DescribeTasks for the slow reconcile, and PutAttributes of the
// daemons-first attribute on itself; UpdateContainerInstancesState(DRAINING) on itself (scale-in,
// Spot, repair) and DescribeContainerInstances of a repair holder's instance (is it gone?). It implements the ECS port (agent/ports.ts); wire shapes
// become the agent's TaskInfo here and nowhere else.
import {
  DescribeContainerInstancesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  PutAttributesCommand,
  StartTaskCommand,
  StopTaskCommand,
  UpdateContainerInstancesStateCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { GROUP_PREFIX, MANAGED_BY, TAG_ENVIRONMENT, TAG_MANAGED_BY, TAG_REVISION } from '../../core/ecs-labels.js';
import { instanceFactsOf } from '../../core/instance-facts.js';
import { lastArnSegment } from '../../core/keys.js';
import type { EcsPort, SelfDescription, StartFailure, StartTaskInput, TaskInfo } from '../ports.js';
import { sdkClientConfig, type SdkClientOptions } from './sdk-client-config.js';

export interface EcsAdapterOptions extends SdkClientOptions {
  cluster: string;
  containerInstanceArn: string;
  client?: ECSClient;
  call?: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
}

export function taskInfoOf(task: Task): TaskInfo {
  const tags = Object.fromEntries((task.tags ?? []).map((t) => [t.key ?? '', t.value ?? '']));
  const group = task.group;
  const fromGroup = group?.startsWith(GROUP_PREFIX) ? group.slice(GROUP_PREFIX.length) : undefined;
  const environment = tags[TAG_ENVIRONMENT] || fromGroup;
  const revisionText = tags[TAG_REVISION];
  const revision = revisionText && /^\d+$/.test(revisionText) ? Number(revisionText) : undefined;
  const info: TaskInfo = {
    taskArn: task.taskArn ?? '',
    taskDefinitionArn: task.taskDefinitionArn ?? '',
    lastStatus: task.lastStatus ?? 'PROVISIONING',
    desiredStatus: task.desiredStatus ?? 'RUNNING',
    ours: environment !== undefined || TAG_MANAGED_BY in tags,
  };
  if (group) info.group = group;
  if (task.startedBy) info.startedBy = task.startedBy;
  if (environment) info.environment = environment;
  if (revision !== undefined) info.revision = revision;
  if (task.healthStatus === 'HEALTHY' || task.healthStatus === 'UNHEALTHY' || task.healthStatus === 'UNKNOWN') info.healthStatus = task.healthStatus;
  if (task.containerInstanceArn) info.containerInstanceArn = task.containerInstanceArn;
  if (task.stoppedReason) info.stoppedReason = task.stoppedReason;
  return info;
}

export class AgentEcs implements EcsPort {
  readonly client: ECSClient;
  private readonly ownsClient: boolean;
  private readonly cluster: string;
  private readonly containerInstanceArn: string;
  private readonly call: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
  private readonly healthChecks = new Map<string, boolean>();

  constructor(options: EcsAdapterOptions) {
    this.cluster = options.cluster;
    this.containerInstanceArn = options.containerInstanceArn;
    this.ownsClient = !options.client;
    // The agent retries in its own loop, with its own backoff and metrics.
    this.client = options.client ?? new ECSClient({ ...sdkClientConfig(options, 5_000), maxAttempts: 1 });
    this.call = options.call ?? ((_op, run) => run());
  }

  destroy(): void {
    if (this.ownsClient) this.client.destroy();
  }

  async startTask(input: StartTaskInput): Promise<{ task?: TaskInfo; failures: StartFailure[] }> {
    const tags = [
      { key: TAG_ENVIRONMENT, value: input.environment },
      { key: TAG_REVISION, value: String(input.revision) },
      { key: TAG_MANAGED_BY, value: MANAGED_BY },
    ];
    const out = await this.call('StartTask', () =>
      this.client.send(
        new StartTaskCommand({
          cluster: this.cluster,
          containerInstances: [this.containerInstanceArn],
          taskDefinition: input.taskDefinition,
          startedBy: input.token,
          group: `${GROUP_PREFIX}${input.environment}`,
          tags,
        }),
      ),
    );
    const task = out.tasks?.[0];
    const failures = (out.failures ?? []).map((f) => ({
      ...(f.arn ? { arn: f.arn } : {}),
      reason: f.reason ?? 'UNKNOWN',
      ...(f.detail ? { detail: f.detail } : {}),
    }));
    // StartTask's answer need not carry the tags (DescribeTasks gives them only on request); they
    // are the ones just sent, so the task is catalogued complete and never described for them.
    return task ? { task: taskInfoOf({ ...task, tags: task.tags?.length ? task.tags : tags }), failures } : { failures };
  }

  async stopTask(taskArn: string, reason: string): Promise<void> {
    await this.call('StopTask', () => this.client.send(new StopTaskCommand({ cluster: this.cluster, task: taskArn, reason: reason.slice(0, 255) })));
  }

  /** ListTasks(startedBy = token) then DescribeTasks: what an attempt started, if anything. */
  async findByStartedBy(token: string): Promise<TaskInfo[]> {
    const tasks = await this.describeTasks(await this.listTaskArns({ startedBy: token }));
    return tasks.filter((t) => t.containerInstanceArn === undefined || t.containerInstanceArn === this.containerInstanceArn);
  }

  /**
   * The tasks, with tags. A task ECS answers MISSING for (it forgets stopped tasks after about an
   * hour, while the ECS agent may list them for longer) comes back STOPPED, so that the caller
   * catalogues it once instead of asking again at every step.
   */
  async describeTasks(taskArns: string[]): Promise<TaskInfo[]> {
    const result: TaskInfo[] = [];
    for (let i = 0; i < taskArns.length; i += 100) {
      const batch = taskArns.slice(i, i + 100);
      const out = await this.call('DescribeTasks', () =>
        this.client.send(new DescribeTasksCommand({ cluster: this.cluster, tasks: batch, include: ['TAGS'] })),
      );
      result.push(...(out.tasks ?? []).map(taskInfoOf));
      for (const failure of out.failures ?? []) {
        const arn = batch.find((a) => a === failure.arn || a.endsWith(`/${failure.arn ?? ''}`)) ?? failure.arn;
        if (failure.reason === 'MISSING' && arn)
          result.push({
            taskArn: arn,
            taskDefinitionArn: '',
            lastStatus: 'STOPPED',
            desiredStatus: 'STOPPED',
            stoppedReason: 'ECS no longer knows this task (DescribeTasks: MISSING)',
            ours: false,
            missing: true,
          });
      }
    }
    return result;
  }

  /**
   * The slow reconcile: the ARN of every task on this instance whose desired status is RUNNING
   * (ListTasks' default; a task being stopped is not listed, and the sweep describes it once).
   */
  listInstanceTaskArns(): Promise<string[]> {
    return this.listTaskArns({ containerInstance: this.containerInstanceArn });
  }

  /** Every page of ListTasks with one filter (ECS allows startedBy only alone). */
  private async listTaskArns(filter: { startedBy: string } | { containerInstance: string }): Promise<string[]> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.call('ListTasks', () =>
        this.client.send(new ListTasksCommand({ cluster: this.cluster, ...filter, ...(nextToken ? { nextToken } : {}) })),
      );
      arns.push(...(page.taskArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    return arns;
  }

  async describeSelf(): Promise<SelfDescription> {
    const out = await this.call('DescribeContainerInstances', () =>
      this.client.send(new DescribeContainerInstancesCommand({ cluster: this.cluster, containerInstances: [this.containerInstanceArn] })),
    );
    const ci = out.containerInstances?.[0];
    if (!ci) throw new Error(`container instance ${this.containerInstanceArn} not found in cluster ${this.cluster}: ${JSON.stringify(out.failures ?? [])}`);
    return { status: ci.status ?? 'ACTIVE', facts: instanceFactsOf(ci) };
  }

  /** Drains this agent's own container instance (ECS moves service tasks off it; standalone tasks stay). */
  async drainSelf(): Promise<void> {
    await this.call('UpdateContainerInstancesState', () =>
      this.client.send(
        new UpdateContainerInstancesStateCommand({ cluster: this.cluster, containerInstances: [this.containerInstanceArn], status: 'DRAINING' }),
      ),
    );
  }

  /** ECS status of container instances of this cluster by id; MISSING for those ECS does not know. */
  async instanceStatuses(containerInstanceIds: readonly string[]): Promise<Map<string, string>> {
    const statuses = new Map<string, string>();
    // DescribeContainerInstances takes up to 100 at a time.
    for (let i = 0; i < containerInstanceIds.length; i += 100) {
      const ids = containerInstanceIds.slice(i, i + 100);
      const out = await this.call('DescribeContainerInstances', () =>
        this.client.send(new DescribeContainerInstancesCommand({ cluster: this.cluster, containerInstances: [...ids] })),
      );
      for (const ci of out.containerInstances ?? []) if (ci.containerInstanceArn) statuses.set(lastArnSegment(ci.containerInstanceArn), ci.status ?? 'ACTIVE');
      for (const failure of out.failures ?? []) if (failure.arn && failure.reason === 'MISSING') statuses.set(lastArnSegment(failure.arn), 'MISSING');
    }
    return statuses;
  }

  /** Sets a custom attribute on this agent's own container instance. */
  async putOwnAttribute(name: string, value: string): Promise<void> {
    await this.call('PutAttributes', () =>
      this.client.send(
        new PutAttributesCommand({
          cluster: this.cluster,
          attributes: [{ name, value, targetType: 'container-instance', targetId: this.containerInstanceArn }],
        }),
      ),
    );
  }

  /** Whether a task definition gives any container a health check (immutable: cached). */
  async hasHealthCheck(taskDefinitionArn: string): Promise<boolean> {
    const cached = this.healthChecks.get(taskDefinitionArn);
    if (cached !== undefined) return cached;
    const out = await this.call('DescribeTaskDefinition', () => this.client.send(new DescribeTaskDefinitionCommand({ taskDefinition: taskDefinitionArn })));
    const has = (out.taskDefinition?.containerDefinitions ?? []).some((c) => c.healthCheck !== undefined && (c.healthCheck.command?.length ?? 0) > 0);
    this.healthChecks.set(taskDefinitionArn, has);
    return has;
  }
}
