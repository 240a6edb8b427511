// What the API answers and the CLI prints: records joined into views. The API, `blox` over HTTP and
// `blox --direct` all show exactly these shapes (coordinator/openapi.json describes them).
import type {
  DaemonStatus,
  DeploymentConfiguration,
  Deployment,
  DeploymentStatus,
  Environment,
  EnvironmentHealth,
  EnvironmentRevision,
  EnvironmentStatus,
  FailedInstance,
  InstanceGroup,
  InstanceStatus,
  RestartPolicy,
} from '../records.js';

export interface DeploymentSummary {
  id: string;
  status: DeploymentStatus;
  paused: boolean;
  targetRevision: number;
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

export interface EnvironmentView {
  name: string;
  cluster: string;
  status: EnvironmentStatus;
  health: EnvironmentHealth;
  instanceGroup: InstanceGroup;
  taskDefinition: string;
  /** The optimistic-concurrency token; `deploymentToken` is the same value under Blox's name. */
  token: string;
  deploymentToken: string;
  currentRevision: number;
  latestRevision: number;
  activeDeployment?: DeploymentSummary;
  deploymentConfiguration: DeploymentConfiguration;
  restartPolicy: RestartPolicy;
  critical: boolean;
  order: number;
  instances: InstanceCounts;
  createdAt: string;
  updatedAt: string;
}

export interface RevisionView {
  environmentName: string;
  revision: number;
  taskDefinition: string;
  instanceGroup: InstanceGroup;
  deploymentConfiguration: DeploymentConfiguration;
  restartPolicy: RestartPolicy;
  critical: boolean;
  order: number;
  copiedFrom?: number;
  createdAt: string;
}

export interface DeploymentView {
  id: string;
  environmentName: string;
  status: DeploymentStatus;
  /** The target revision's task definition. */
  taskDefinition: string;
  /** Blox's shape: container instance ARNs where the deployment failed. */
  failedInstances: string[];
  /** The same instances with reasons. */
  failures: FailedInstance[];
  targetRevision: number;
  previousRevision?: number;
  paused: boolean;
  reasons: string[];
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
}

export type InstanceView = Omit<InstanceStatus, 'kind' | 'schemaVersion' | 'expiresAt'>;

export interface TaskView {
  taskArn: string;
  cluster: string;
  containerInstanceArn: string;
  environmentName: string;
  revision: number;
  taskDefinition: string;
  state: DaemonStatus['state'];
  lastStatus?: string;
  health?: DaemonStatus['health'];
  restarts: number;
  reason?: string;
  since: string;
}

const UNHEALTHY_STATES = new Set<string>(['unhealthy', 'crash_loop', 'backoff', 'invalid', 'blocked', 'stopped']);
const HEALTHY_STATES = new Set<string>(['healthy', 'running']);

/**
 * Health is derived on read from the agents' InstanceStatus records of the cluster: `unknown`
 * when no instance reports a daemon of the environment, `unhealthy` when any reported daemon is
 * unhealthy (unhealthy, crash_loop, backoff, invalid, blocked, stopped), else `healthy`.
 */
export function deriveHealth(name: string, currentRevision: number, instances: InstanceStatus[]): { health: EnvironmentHealth; counts: InstanceCounts } {
  const counts: InstanceCounts = { reporting: 0, healthy: 0, unhealthy: 0, onCurrentRevision: 0 };
  for (const instance of instances) {
    const daemon = instance.daemons.find((d) => d.environment === name);
    if (!daemon) continue;
    counts.reporting++;
    if (UNHEALTHY_STATES.has(daemon.state) || daemon.health === 'UNHEALTHY') counts.unhealthy++;
    else if (HEALTHY_STATES.has(daemon.state)) counts.healthy++;
    if (daemon.revision === currentRevision) counts.onCurrentRevision++;
  }
  const health: EnvironmentHealth = counts.reporting === 0 ? 'unknown' : counts.unhealthy > 0 ? 'unhealthy' : 'healthy';
  return { health, counts };
}

export function summarizeDeployment(deployment: Deployment): DeploymentSummary {
  return { id: deployment.id, status: deployment.status, paused: deployment.paused, targetRevision: deployment.targetRevision };
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
    createdAt: revision.createdAt,
  };
  if (revision.copiedFrom !== undefined) view.copiedFrom = revision.copiedFrom;
  return view;
}

export function deploymentView(deployment: Deployment, taskDefinition: string): DeploymentView {
  const view: DeploymentView = {
    id: deployment.id,
    environmentName: deployment.environment,
    status: deployment.status,
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
  if (deployment.finishedAt !== undefined) view.finishedAt = deployment.finishedAt;
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
