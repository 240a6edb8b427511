// How a decision describes an environment's daemon on this instance: the state people and the
// status record see, and whether it is ready (what readiness and rollouts wait for).
import type { DesiredEnvironment, ObservedTask, Report } from '../model.js';

export const isActive = (t: ObservedTask): boolean => t.lastStatus !== 'STOPPED' && t.desiredStatus !== 'STOPPED';
export const isStopping = (t: ObservedTask): boolean => t.lastStatus !== 'STOPPED' && t.desiredStatus === 'STOPPED';

/** RUNNING, and HEALTHY where the task has a health check. */
export function isReady(task: ObservedTask | undefined): boolean {
  return !!task && task.lastStatus === 'RUNNING' && (!task.hasHealthCheck || task.health === 'HEALTHY');
}

function stateOf(task: ObservedTask): Report['state'] {
  if (task.desiredStatus === 'STOPPED' && task.lastStatus !== 'STOPPED') return 'stopping';
  if (task.lastStatus === 'STOPPED') return 'stopped';
  if (task.lastStatus !== 'RUNNING') return 'starting';
  if (task.health === 'HEALTHY') return 'healthy';
  if (task.health === 'UNHEALTHY') return 'unhealthy';
  return 'running';
}

export function reportOf(
  name: string,
  desired: DesiredEnvironment | undefined,
  task: ObservedTask | undefined,
  state: Report['state'],
  matching: boolean,
  reason: string,
): Report {
  const valid = desired?.kind === 'valid' ? desired : undefined;
  const report: Report = {
    environment: name,
    state,
    revision: task?.revision ?? valid?.revision.revision ?? 0,
    taskDefinition: valid?.revision.taskDefinition ?? '',
    matching,
    ready: isReady(task),
    reason,
  };
  if (task) {
    report.taskArn = task.taskArn;
    report.lastStatus = task.lastStatus;
    if (task.health) report.health = task.health;
  }
  return report;
}

/** The report of a task as it is (its own state), or `fallback` without one. */
export function reportTask(
  name: string,
  desired: DesiredEnvironment | undefined,
  task: ObservedTask | undefined,
  fallback: Report['state'],
  matching: boolean,
  reason: string,
): Report {
  return reportOf(name, desired, task, task ? stateOf(task) : fallback, matching, reason);
}
