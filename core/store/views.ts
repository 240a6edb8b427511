// What the API answers and the CLI prints: records joined into views. The API, `blox` over HTTP and
// `blox --direct` all show exactly these shapes (coordinator/openapi.json describes them).
import {
  DEPLOYMENT_STATUSES,
  FINISHED_DEPLOYMENT_STATUSES,
  type DaemonStatus,
  type Deployment,
  type DeploymentStatus,
  type Environment,
  type EnvironmentHealth,
  type EnvironmentRevision,
  type FailedInstance,
  type InstanceStatus,
} from '../records.js';

/** What views show as a deployment's status: the record's, or `paused` for an unfinished deployment that is paused. */
export const DEPLOYMENT_VIEW_STATUSES = [...DEPLOYMENT_STATUSES, 'paused'] as const;
export type DeploymentViewStatus = (typeof DEPLOYMENT_VIEW_STATUSES)[number];

export interface DeploymentSummary extends Pick<Deployment, 'id' | 'paused' | 'targetRevision'> {
  status: DeploymentViewStatus;
}

/** Daemon counts of this environment over the instances that report status. */
export interface InstanceCounts {
  /** Instances whose agent reports a daemon of this environment. */
  reporting: number;
  healthy: number;
  unhealthy: number;
  /** Instances whose daemon runs the environment's current revision. */
  onCurrentRevision: number;
}

/** The environment's head joined with its current revision's settings. */
export interface EnvironmentView
  extends
    Pick<Environment, 'name' | 'cluster' | 'status' | 'health' | 'token' | 'currentRevision' | 'latestRevision' | 'createdAt' | 'updatedAt'>,
    Pick<
      EnvironmentRevision,
      'instanceGroup' | 'taskDefinition' | 'deploymentConfiguration' | 'restartPolicy' | 'critical' | 'order' | 'repair' | 'repairBudget'
    > {
  /** The same value as `token`, under Blox's name. */
  deploymentToken: string;
  activeDeployment?: DeploymentSummary;
  instances: InstanceCounts;
}

export interface RevisionView extends Omit<EnvironmentRevision, 'kind' | 'schemaVersion' | 'environment'> {
  environmentName: string;
}

export interface DeploymentView extends Omit<Deployment, 'kind' | 'schemaVersion' | 'environment' | 'failedInstances' | 'status'> {
  environmentName: string;
  /** `paused` while paused and unfinished (the `paused` flag says so too), else the record's status. */
  status: DeploymentViewStatus;
  /** The target revision's task definition. */
  taskDefinition: string;
  /** Blox's shape: container instance ARNs where the deployment failed. */
  failedInstances: string[];
  /** The same instances with reasons. */
  failures: FailedInstance[];
}

export type InstanceView = Omit<InstanceStatus, 'kind' | 'schemaVersion' | 'expiresAt'>;

/** A daemon that has a task, with the instance it runs on. */
export interface TaskView extends Omit<DaemonStatus, 'environment' | 'taskArn'>, Pick<InstanceStatus, 'cluster' | 'containerInstanceArn'> {
  taskArn: string;
  environmentName: string;
}

const UNHEALTHY_STATES = new Set<string>(['unhealthy', 'crash_loop', 'backoff', 'invalid', 'blocked', 'stopped']);
const HEALTHY_STATES = new Set<string>(['healthy', 'running']);

/**
 * Health is derived on read from the agents' InstanceStatus records of the cluster: `unknown`
 * when no instance reports a daemon of the environment, `unhealthy` when any reported daemon is
 * unhealthy (unhealthy, crash_loop, backoff, invalid, blocked, stopped), `healthy` when every
 * reported daemon is ready (RUNNING, and HEALTHY where it has a health check), else `unknown`
 * (daemons starting, stopping, or waiting for their first health check). A record without the
 * per-daemon `ready` flag (an older agent) counts `healthy` and `running` as ready.
 */
export function deriveHealth(name: string, currentRevision: number, instances: InstanceStatus[]): { health: EnvironmentHealth; counts: InstanceCounts } {
  const counts: InstanceCounts = { reporting: 0, healthy: 0, unhealthy: 0, onCurrentRevision: 0 };
  for (const instance of instances) {
    const daemon = instance.daemons.find((d) => d.environment === name);
    if (!daemon) continue;
    counts.reporting++;
    if (UNHEALTHY_STATES.has(daemon.state) || daemon.health === 'UNHEALTHY') counts.unhealthy++;
    else if (daemon.ready ?? HEALTHY_STATES.has(daemon.state)) counts.healthy++;
    if (daemon.revision === currentRevision) counts.onCurrentRevision++;
  }
  const health: EnvironmentHealth =
    counts.reporting === 0 ? 'unknown' : counts.unhealthy > 0 ? 'unhealthy' : counts.healthy === counts.reporting ? 'healthy' : 'unknown';
  return { health, counts };
}

/**
 * Pause is a flag beside the status in the record (the agents keep advancing status while paused
 * mid-update), but an operator asks "is it paused?" first: the views answer it in the status.
 */
export function viewStatus(status: DeploymentStatus, paused: boolean): DeploymentViewStatus {
  return paused && !FINISHED_DEPLOYMENT_STATUSES.includes(status) ? 'paused' : status;
}

export function summarizeDeployment(deployment: Deployment): DeploymentSummary {
  return { id: deployment.id, status: viewStatus(deployment.status, deployment.paused), paused: deployment.paused, targetRevision: deployment.targetRevision };
}

export function environmentView(env: Environment, revision: EnvironmentRevision, active: Deployment | undefined, instances: InstanceStatus[]): EnvironmentView {
  const { health, counts } = deriveHealth(env.name, env.currentRevision, instances);
  const view: EnvironmentView = {
    name: env.name,
    cluster: env.cluster,
    status: env.status,
    health,
    instanceGroup: { ...revision.instanceGroup },
    taskDefinition: revision.taskDefinition,
    token: env.token,
    deploymentToken: env.token,
    currentRevision: env.currentRevision,
    latestRevision: env.latestRevision,
    deploymentConfiguration: { ...revision.deploymentConfiguration },
    restartPolicy: { ...revision.restartPolicy },
    critical: revision.critical,
    order: revision.order,
    repair: revision.repair,
    repairBudget: revision.repairBudget,
    instances: counts,
    createdAt: env.createdAt,
    updatedAt: env.updatedAt,
  };
  if (active) view.activeDeployment = summarizeDeployment(active);
  return view;
}

export function revisionView(revision: EnvironmentRevision): RevisionView {
  const view: RevisionView = {
    environmentName: revision.environment,
    revision: revision.revision,
    taskDefinition: revision.taskDefinition,
    instanceGroup: { ...revision.instanceGroup },
    deploymentConfiguration: { ...revision.deploymentConfiguration },
    restartPolicy: { ...revision.restartPolicy },
    critical: revision.critical,
    order: revision.order,
    repair: revision.repair,
    repairBudget: revision.repairBudget,
    createdAt: revision.createdAt,
  };
  if (revision.copiedFrom !== undefined) view.copiedFrom = revision.copiedFrom;
  return view;
}

export function deploymentView(deployment: Deployment, taskDefinition: string): DeploymentView {
  const view: DeploymentView = {
    id: deployment.id,
    environmentName: deployment.environment,
    status: viewStatus(deployment.status, deployment.paused),
    taskDefinition,
    failedInstances: deployment.failedInstances.map((f) => f.containerInstanceArn),
    failures: deployment.failedInstances.map((f) => ({ ...f })),
    targetRevision: deployment.targetRevision,
    paused: deployment.paused,
    reasons: [...deployment.reasons],
    createdAt: deployment.createdAt,
    updatedAt: deployment.updatedAt,
  };
  if (deployment.previousRevision !== undefined) view.previousRevision = deployment.previousRevision;
  if (deployment.stableRevision !== undefined) view.stableRevision = deployment.stableRevision;
  if (deployment.phase !== undefined) view.phase = deployment.phase;
  if (deployment.counts !== undefined) view.counts = { ...deployment.counts, revisions: { ...deployment.counts.revisions } };
  for (const name of ['startedAt', 'progressAt', 'finishedAt', 'rolledBackBy'] as const) {
    const value = deployment[name];
    if (value !== undefined) view[name] = value;
  }
  return view;
}

export function instanceView(status: InstanceStatus): InstanceView {
  const { kind: _kind, schemaVersion: _schemaVersion, expiresAt: _expiresAt, ...rest } = status;
  return { ...rest, daemons: status.daemons.map((d) => ({ ...d })) };
}

export function taskViews(status: InstanceStatus): TaskView[] {
  return status.daemons
    .filter((d) => d.taskArn !== undefined)
    .map((d) => {
      const view: TaskView = {
        taskArn: d.taskArn as string,
        cluster: status.cluster,
        containerInstanceArn: status.containerInstanceArn,
        environmentName: d.environment,
        revision: d.revision,
        taskDefinition: d.taskDefinition,
        state: d.state,
        restarts: d.restarts,
        since: d.since,
      };
      if (d.lastStatus !== undefined) view.lastStatus = d.lastStatus;
      if (d.health !== undefined) view.health = d.health;
      if (d.reason !== undefined) view.reason = d.reason;
      return view;
    });
}
