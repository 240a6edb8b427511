// One view of the instance's tasks from three sources (pure): the ECS agent's /v1/tasks (status,
// local truth, no API cost), ECS's answers catalogued by ARN (environment, revision, startedBy:
// immutable; status when nothing local says it), and the Docker engine's container health.
import type { HealthStatus } from '../../core/records.js';
import type { ObservedTask } from '../model.js';
import type { LocalTask, TaskHealthView, TaskInfo } from '../ports.js';

/** The ECS agent's known status as ECS's lastStatus. */
const LOCAL_STATUS: Record<string, string> = { NONE: 'PROVISIONING', PULLED: 'PENDING', CREATED: 'PENDING', RUNNING: 'RUNNING', STOPPED: 'STOPPED' };

export interface CatalogEntry {
  info: TaskInfo;
  /** When ECS last answered about the task, and when the agent first heard of it. */
  checkedMono: number;
  firstSeenMono: number;
  /** From the task definition (DescribeTaskDefinition, cached per definition): whether readiness waits for HEALTHY. */
  hasHealthCheck?: boolean;
}

export interface MergeInput {
  containerInstanceArn: string;
  /** Undefined when the ECS agent could not be asked. */
  local: readonly LocalTask[] | undefined;
  catalog: ReadonlyMap<string, CatalogEntry>;
  health: ReadonlyMap<string, TaskHealthView>;
  /** Tasks this agent stopped: desired STOPPED whatever a lagging view says. */
  stoppedByUs: ReadonlySet<string>;
}

/** Every catalogued task of this instance, local or not (a task unknown to the catalog is not known yet). */
export function mergeTasks(input: MergeInput): ObservedTask[] {
  const localByArn = new Map((input.local ?? []).map((t) => [t.taskArn, t]));
  const arns = new Set<string>([...localByArn.keys(), ...input.catalog.keys()]);
  const tasks: ObservedTask[] = [];
  for (const arn of arns) {
    const entry = input.catalog.get(arn);
    if (!entry) continue;
    const info = entry.info;
    if (info.containerInstanceArn && info.containerInstanceArn !== input.containerInstanceArn) continue;
    const local = localByArn.get(arn);
    const lastStatus = local ? (LOCAL_STATUS[local.knownStatus] ?? 'PENDING') : info.lastStatus;
    const desiredStatus = input.stoppedByUs.has(arn) && lastStatus !== 'STOPPED' ? 'STOPPED' : local ? local.desiredStatus : info.desiredStatus;
    const view = input.health.get(arn);
    const hasHealthCheck = (view?.hasHealthCheck ?? false) || (entry.hasHealthCheck ?? false);
    const task: ObservedTask = { taskArn: arn, lastStatus, desiredStatus, hasHealthCheck, ours: info.ours };
    if (info.environment !== undefined) task.environment = info.environment;
    if (info.revision !== undefined) task.revision = info.revision;
    if (info.startedBy !== undefined) task.startedBy = info.startedBy;
    const health = healthOf(view, hasHealthCheck, info.healthStatus);
    if (health) task.health = health;
    tasks.push(task);
  }
  return tasks;
}

/** Docker's health where it reports one; UNKNOWN where a check exists but Docker has no answer yet; else ECS's. */
function healthOf(view: TaskHealthView | undefined, hasHealthCheck: boolean, fromEcs: HealthStatus | undefined): HealthStatus | undefined {
  if (view?.hasHealthCheck) return view.health;
  if (view && hasHealthCheck) return 'UNKNOWN';
  return fromEcs;
}

/**
 * What ECS answered about a task, merged with what was known. MISSING means "long stopped" only
 * for a task ECS has had time to show: for a task never described, or first heard of within
 * `youngMs` (a start this agent just made: ECS's reads are eventually consistent, and ListTasks
 * and DescribeTasks may not show it yet), it proves nothing and changes nothing, unless the ECS
 * agent also says the task stopped. MISSING for a known task keeps what was known of it (StopTask
 * deletes a task's tags: a later answer must not make the agent forget them).
 */
export function catalogued(answer: TaskInfo, previous: CatalogEntry | undefined, locallyStopped: boolean, young: boolean): TaskInfo | undefined {
  if (answer.missing && !locallyStopped && (!previous || young)) return previous?.info;
  if (answer.missing && previous)
    return { ...previous.info, lastStatus: 'STOPPED', desiredStatus: 'STOPPED', ...(answer.stoppedReason ? { stoppedReason: answer.stoppedReason } : {}) };
  if (!previous) return answer;
  const kept = previous.info;
  return {
    ...answer,
    ours: answer.ours || kept.ours,
    ...(answer.environment === undefined && kept.environment !== undefined ? { environment: kept.environment } : {}),
    ...(answer.revision === undefined && kept.revision !== undefined ? { revision: kept.revision } : {}),
    ...(answer.group === undefined && kept.group !== undefined ? { group: kept.group } : {}),
  };
}
