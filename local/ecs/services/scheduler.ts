// The service scheduler (REPLICA strategy): keeps `desiredCount` tasks of the PRIMARY deployment
// running, placed through placement.ts, within the deployment configuration's bounds (at most
// maximumPercent of desiredCount live, at least minimumHealthyPercent RUNNING while it replaces).
// It replaces tasks that stop or turn UNHEALTHY, retires the tasks of older deployments and those
// on DRAINING instances (standalone tasks are not its business), and retries placement whenever
// something placement reads changes: an instance registers, drains, reconnects, gains or loses an
// attribute, or a task frees its resources. There is no timer: every retry has a cause.
import { randomInt } from 'node:crypto';
import type { EcsContext } from '../context.js';
import { placeOne, placementRulesOf, requirementOf, type PlacementRules, type Requirement } from '../placement.js';
import type { ClusterState, TaskState } from '../state.js';
import { newId } from '../lifecycle.js';
import { EVENTS_KEPT, primaryOf, serviceGroup, type DeploymentState, type ServiceState } from './state.js';
import { runningCountOf } from './wire.js';

const shortId = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);

/** `ecs-svc/` and 19 digits, the shape of ECS's deployment ids. */
export function newDeploymentId(): string {
  let digits = String(randomInt(1, 9));
  while (digits.length < 19) digits += String(randomInt(0, 10));
  return `ecs-svc/${digits}`;
}

export class ServiceScheduler {
  private readonly due = new Set<ClusterState>();
  private queued = false;
  /** Placement rules and requirement per deployment (constraints compile once). */
  private readonly compiled = new WeakMap<DeploymentState, { rules: PlacementRules; need: Requirement; key: string }>();

  constructor(private readonly context: EcsContext) {
    context.lifecycle.observe((task, change) => this.onTaskChange(task, change));
  }

  /** Reconciles the cluster's services soon (after the current operation or runtime event). */
  poke(cluster: ClusterState): void {
    if (cluster.services.size === 0) return;
    this.due.add(cluster);
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(() => {
      this.queued = false;
      const clusters = [...this.due];
      this.due.clear();
      for (const item of clusters) for (const service of item.services.values()) this.reconcile(service);
    });
  }

  private onTaskChange(task: TaskState, change: string): void {
    if (task.cluster.services.size === 0 || !task.group.startsWith('service:')) return;
    const service = task.cluster.services.get(task.group.slice('service:'.length));
    const deployment = service?.tasks.get(task);
    if (!service || !deployment) return;
    if (change === 'STOPPED') {
      service.tasks.delete(task);
      if (task.stopCode === 'TaskFailedToStart') deployment.failedTasks++;
    } else if (change === 'health' && task.healthStatus === 'UNHEALTHY' && task.desiredStatus === 'RUNNING') {
      // Documented: the service scheduler replaces a task whose essential container is unhealthy
      // (after this change is told to every listener).
      queueMicrotask(() => {
        if (task.desiredStatus === 'RUNNING') this.stop(service, [task], 'Task failed container health checks');
      });
      return;
    } else if (change !== 'RUNNING') {
      return;
    }
    this.poke(task.cluster);
  }

  event(service: ServiceState, message: string): void {
    service.events.unshift({ id: newId(), createdAt: this.context.clock.wallMs(), message: `(service ${service.name}) ${message}` });
    if (service.events.length > EVENTS_KEPT) service.events.length = EVENTS_KEPT;
  }

  private compiledFor(service: ServiceState, deployment: DeploymentState): { rules: PlacementRules; need: Requirement } {
    const key = JSON.stringify([service.placementConstraints, service.placementStrategy]);
    let entry = this.compiled.get(deployment);
    if (!entry || entry.key !== key) {
      const rules = placementRulesOf([...deployment.definition.placementConstraints, ...service.placementConstraints], service.placementStrategy);
      entry = { rules, need: requirementOf(deployment.definition, {}), key };
      this.compiled.set(deployment, entry);
    }
    return entry;
  }

  private stop(service: ServiceState, tasks: TaskState[], reason: string): void {
    if (tasks.length === 0) return;
    for (const task of tasks) this.context.lifecycle.beginStop(task, 'ServiceSchedulerInitiated', reason);
    this.event(service, `has stopped ${tasks.length} running tasks: ${tasks.map((task) => `(task ${task.id})`).join(' ')}.`);
  }

  /** One pass of the scheduler over one service; safe to call at any time. */
  reconcile(service: ServiceState): void {
    if (service.status === 'INACTIVE') return;
    const live = (): TaskState[] => [...service.tasks.keys()].filter((task) => task.desiredStatus === 'RUNNING');
    if (service.status === 'DRAINING') {
      this.stop(service, live(), 'Service is being deleted');
      if (service.tasks.size === 0) service.status = 'INACTIVE';
      return;
    }
    const primary = primaryOf(service);
    const retiring = (task: TaskState): boolean => service.tasks.get(task) !== primary || task.instance.status !== 'ACTIVE';
    const notRunningFirst = (a: TaskState, b: TaskState): number => Number(a.lastStatus === 'RUNNING') - Number(b.lastStatus === 'RUNNING') || b.seq - a.seq;

    // Scale in: the newest tasks, those not yet running first.
    const keepers = live().filter((task) => !retiring(task));
    if (keepers.length > service.desiredCount) {
      this.stop(
        service,
        keepers.sort(notRunningFirst).slice(0, keepers.length - service.desiredCount),
        `Scaling activity initiated by (deployment ${primary.id})`,
      );
    }
    this.startMissing(service, primary, retiring);
    // Retire old-deployment and draining tasks while enough RUNNING tasks remain.
    const minimumHealthy = Math.ceil((service.desiredCount * service.minimumHealthyPercent) / 100);
    let running = live().filter((task) => task.lastStatus === 'RUNNING').length;
    const retired: TaskState[] = [];
    for (const task of live().filter(retiring).sort(notRunningFirst)) {
      const wasRunning = task.lastStatus === 'RUNNING';
      if (wasRunning && running - 1 < minimumHealthy) continue;
      retired.push(task);
      if (wasRunning) running--;
    }
    this.stop(service, retired, retireReason(retired, primary));
    if (retired.length > 0) this.startMissing(service, primary, retiring);
    this.settleDeployments(service, primary);
  }

  private startMissing(service: ServiceState, primary: DeploymentState, retiring: (task: TaskState) => boolean): void {
    const cluster = service.cluster;
    const { rules, need } = this.compiledFor(service, primary);
    const group = serviceGroup(service.name);
    const ceiling = Math.floor((service.desiredCount * service.maximumPercent) / 100);
    const started: TaskState[] = [];
    for (;;) {
      const live = [...service.tasks.keys()].filter((task) => task.desiredStatus === 'RUNNING');
      const keepers = live.filter((task) => !retiring(task)).length;
      if (keepers >= service.desiredCount || live.length >= Math.max(ceiling, service.desiredCount)) break;
      if (cluster.instances.size === 0) {
        this.unplaced(service, 'Reason: No Container Instances were found in your cluster.');
        break;
      }
      const placement = placeOne(cluster.instances.values(), need, rules, group, new Set(), this.context.rng);
      if (!placement.chosen) {
        const [arn, reason] = [...placement.failures][0] ?? ['', 'no ACTIVE container instance'];
        this.unplaced(service, arn ? `The closest matching (container-instance ${shortId(arn)}) failed: ${reason}` : `Reason: ${reason}.`);
        break;
      }
      const task = this.context.lifecycle.launch(cluster, placement.chosen, need, {
        definition: primary.definition,
        startedBy: primary.id,
        group,
        tags: [],
        overrides: {},
      });
      service.tasks.set(task, primary);
      started.push(task);
    }
    if (started.length > 0) this.event(service, `has started ${started.length} tasks: ${started.map((task) => `(task ${task.id})`).join(' ')}.`);
  }

  /** One event per distinct cause: ECS does not repeat the same placement failure on every pass. */
  private unplaced(service: ServiceState, detail: string): void {
    const text = `was unable to place a task because no container instance met all of its requirements. ${detail}`;
    if (service.events[0]?.message === `(service ${service.name}) ${text}`) return;
    service.steady = false;
    this.event(service, text);
  }

  /** Drops older deployments without tasks; says when the service reaches a steady state. */
  private settleDeployments(service: ServiceState, primary: DeploymentState): void {
    const now = this.context.clock.wallMs();
    const owners = new Set(service.tasks.values());
    const before = service.deployments.length;
    service.deployments = service.deployments.filter((deployment) => deployment === primary || owners.has(deployment));
    if (service.deployments.length !== before) primary.updatedAt = now;
    const steady = service.deployments.length === 1 && service.tasks.size === service.desiredCount && runningCountOf(service) === service.desiredCount;
    if (steady === service.steady) return;
    service.steady = steady;
    if (!steady) return;
    if (primary.rolloutState !== 'COMPLETED') {
      primary.rolloutState = 'COMPLETED';
      primary.rolloutStateReason = `ECS deployment ${primary.id} completed.`;
      primary.updatedAt = now;
      this.event(service, `(deployment ${primary.id}) deployment completed.`);
    }
    this.event(service, 'has reached a steady state.');
  }
}

function retireReason(retired: TaskState[], primary: DeploymentState): string {
  const draining = retired.some((task) => task.instance.status !== 'ACTIVE');
  return draining ? 'Container instance is being drained' : `Replaced by (deployment ${primary.id})`;
}
