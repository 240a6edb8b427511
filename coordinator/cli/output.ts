// Human-readable output of `blox`: aligned tables for lists, key/value blocks for single items.
// `-o json` bypasses all of this and prints the API's JSON.
import { lastArnSegment } from '../../core/keys.js';
import type { InvalidItem } from '../../core/store/paging.js';
import type { InstancePreview } from '../preview.js';
import type { DeploymentCounts } from '../../core/records.js';
import type { DeploymentView, EnvironmentView, InstanceView, RevisionView, TaskView } from '../../core/store/views.js';

export type Cell = string | number | boolean | undefined | null;

export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((row) => row.map((cell) => (cell === undefined || cell === null || cell === '' ? '-' : String(cell))));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].join('\n') + '\n';
}

export function keyValues(pairs: [string, Cell][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v === undefined || v === null || v === '' ? '-' : String(v)}`).join('\n') + '\n';
}

export function environmentsTable(items: EnvironmentView[]): string {
  return table(
    ['NAME', 'CLUSTER', 'TASK DEFINITION', 'REVISION', 'HEALTH', 'DEPLOYMENT', 'INSTANCES'],
    items.map((e) => [e.name, e.cluster, e.taskDefinition, revisionText(e), e.health, deploymentText(e), `${e.instances.healthy}/${e.instances.reporting}`]),
  );
}

function revisionText(e: EnvironmentView): string {
  return e.currentRevision === e.latestRevision ? String(e.currentRevision) : `${e.currentRevision} (latest ${e.latestRevision})`;
}

function deploymentText(e: EnvironmentView): string {
  return e.activeDeployment ? statusText(e.activeDeployment) : '-';
}

/** The view's status; a deployment that ended while paused says so. */
export function statusText(d: Pick<DeploymentView, 'status' | 'paused'>): string {
  return d.paused && d.status !== 'paused' ? `${d.status} (paused)` : d.status;
}

export function environmentDetails(e: EnvironmentView): string {
  return keyValues([
    ['Name', e.name],
    ['Status', e.status],
    ['Cluster', e.cluster],
    ['Expression', e.instanceGroup.expression],
    ['Task definition', e.taskDefinition],
    ['Revision', revisionText(e)],
    ['Health', e.health],
    [
      'Instances',
      `${e.instances.reporting} reporting, ${e.instances.healthy} healthy, ${e.instances.unhealthy} unhealthy, ${e.instances.onCurrentRevision} on revision ${e.currentRevision}`,
    ],
    ['Deployment', e.activeDeployment ? `${e.activeDeployment.id} ${deploymentText(e)} -> revision ${e.activeDeployment.targetRevision}` : undefined],
    ['Max unavailable', e.deploymentConfiguration.maxUnavailable],
    ['Max surge', e.deploymentConfiguration.maxSurge],
    ['Min healthy (s)', e.deploymentConfiguration.minHealthySeconds],
    ['Healthy deadline (s)', e.deploymentConfiguration.healthyDeadlineSeconds],
    ['Progress deadline (s)', e.deploymentConfiguration.progressDeadlineSeconds],
    ['Failure threshold', e.deploymentConfiguration.failureThreshold],
    ['Canary', e.deploymentConfiguration.canary],
    ['Auto promote', e.deploymentConfiguration.autoPromote],
    ['Strategy', e.deploymentConfiguration.strategy],
    ['Auto rollback', e.deploymentConfiguration.autoRollback],
    ['Critical', e.critical],
    ['Order', e.order],
    ['Repair', `${e.repair} (budget ${e.repairBudget})`],
    ['Token', e.token],
    ['Created', e.createdAt],
    ['Updated', e.updatedAt],
  ]);
}

export function revisionsTable(items: RevisionView[]): string {
  return table(
    ['REVISION', 'TASK DEFINITION', 'EXPRESSION', 'MAX UNAVAILABLE', 'MAX SURGE', 'COPIED FROM', 'CREATED'],
    items.map((r) => [
      r.revision,
      r.taskDefinition,
      r.instanceGroup.expression,
      r.deploymentConfiguration.maxUnavailable,
      r.deploymentConfiguration.maxSurge,
      r.copiedFrom,
      r.createdAt,
    ]),
  );
}

export function revisionDetails(r: RevisionView): string {
  return keyValues([
    ['Environment', r.environmentName],
    ['Revision', r.revision],
    ['Task definition', r.taskDefinition],
    ['Cluster', r.instanceGroup.cluster],
    ['Expression', r.instanceGroup.expression],
    ['Deployment configuration', JSON.stringify(r.deploymentConfiguration)],
    ['Restart policy', JSON.stringify(r.restartPolicy)],
    ['Critical', r.critical],
    ['Order', r.order],
    ['Repair', `${r.repair} (budget ${r.repairBudget})`],
    ['Copied from', r.copiedFrom],
    ['Created', r.createdAt],
  ]);
}

export function deploymentsTable(items: DeploymentView[]): string {
  return table(
    ['ID', 'STATUS', 'REVISION', 'TASK DEFINITION', 'UPDATED', 'FAILED', 'CREATED', 'FINISHED'],
    items.map((d) => [
      d.id,
      statusText(d),
      d.previousRevision !== undefined ? `${d.previousRevision} -> ${d.targetRevision}` : d.targetRevision,
      d.taskDefinition,
      d.counts ? `${d.counts.updated}/${d.counts.desired}` : undefined,
      d.failedInstances.length,
      d.createdAt,
      d.finishedAt,
    ]),
  );
}

export function deploymentDetails(d: DeploymentView): string {
  const text = keyValues([
    ['Id', d.id],
    ['Environment', d.environmentName],
    ['Status', statusText(d)],
    ['Phase', d.phase],
    ['Revision', d.previousRevision !== undefined ? `${d.previousRevision} -> ${d.targetRevision}` : d.targetRevision],
    ['Stable revision', d.stableRevision],
    ['Task definition', d.taskDefinition],
    ['Progress', d.counts ? countsText(d.counts) : undefined],
    ['Revisions', d.counts ? revisionsText(d.counts) : undefined],
    ['Reasons', d.reasons.join('; ')],
    ['Rolled back by', d.rolledBackBy],
    ['Created', d.createdAt],
    ['Started', d.startedAt],
    ['Last progress', d.progressAt],
    ['Updated', d.updatedAt],
    ['Finished', d.finishedAt],
  ]);
  if (d.failures.length === 0) return text;
  return `${text}\nFailed instances:\n${table(
    ['INSTANCE', 'REASON', 'AT'],
    d.failures.map((f) => [f.containerInstanceArn, f.reason, f.at]),
  )}`;
}

/** The agents' count in one phrase, Kubernetes' words. */
export function countsText(c: DeploymentCounts): string {
  return `${c.updated} of ${c.desired} instances updated, ${c.available} available, ${c.unavailable} unavailable${c.misscheduled ? `, ${c.misscheduled} misscheduled` : ''}`;
}

/** Instances per revision, lowest revision first ("1: 7, 2: 3"). */
export function revisionsText(c: DeploymentCounts): string {
  const entries = Object.entries(c.revisions).sort(([a], [b]) => Number(a) - Number(b));
  return entries.length ? entries.map(([revision, n]) => `${revision}: ${n}`).join(', ') : 'none';
}

const BAR_WIDTH = 24;

/**
 * One line for a terminal, redrawn in place: the bar fills with updated/desired, then the rest of
 * the count, failures, instances per revision, the phase and the status. Cut to the terminal's
 * width, since a wrapped line could no longer be redrawn with a carriage return.
 */
export function progressBar(d: DeploymentView, columns: number): string {
  const c = d.counts;
  const share = c && c.desired > 0 ? Math.min(1, c.updated / c.desired) : 0;
  const filled = Math.round(share * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  const parts = c
    ? [
        `${c.updated}/${c.desired} updated`,
        `${c.available} available`,
        `${c.unavailable} unavailable`,
        `${d.failures.length} failed`,
        `revisions ${revisionsText(c)}`,
      ]
    : ["waiting for the agents' first count", `${d.failures.length} failed`];
  if (d.phase) parts.push(`phase ${d.phase}`);
  parts.push(statusText(d));
  if (d.status === 'awaiting_promotion') parts.push(`promote: blox deploy promote ${d.environmentName} ${d.id}`);
  const line = `${bar} ${parts.join(' | ')}`;
  return line.length < columns ? line : line.slice(0, Math.max(1, columns - 1));
}

/** A revision of `blox env history` with the deployments that targeted it. */
export interface RevisionHistoryEntry {
  revision: number;
  taskDefinition: string;
  copiedFrom?: number;
  /** The environment's current revision (the target of its newest deployment). */
  current: boolean;
  /** Some deployment of this revision completed. */
  completed: boolean;
  /** Newest first. */
  deployments: { id: string; status: DeploymentView['status']; createdAt: string; finishedAt?: string }[];
  createdAt: string;
}

export function historyTable(items: RevisionHistoryEntry[]): string {
  return table(
    ['REVISION', 'TASK DEFINITION', 'COPIED FROM', 'CREATED', 'COMPLETED', 'DEPLOYMENTS'],
    items.map((r) => [
      r.current ? `${r.revision} (current)` : r.revision,
      r.taskDefinition,
      r.copiedFrom,
      r.createdAt,
      r.completed ? 'yes' : 'no',
      r.deployments.map((d) => `${d.id} ${d.status}`).join(', '),
    ]),
  );
}

export function instancesTable(items: InstanceView[]): string {
  return table(
    ['INSTANCE', 'CLUSTER', 'EC2 INSTANCE', 'TYPE', 'ZONE', 'ECS STATUS', 'READY', 'DEGRADED', 'DAEMONS', 'UPDATED'],
    items.map((i) => [
      lastArnSegment(i.containerInstanceArn),
      i.cluster,
      i.ec2InstanceId,
      i.instanceType,
      i.availabilityZone,
      // A draining instance shows where its drain stands (daemons last).
      i.drain && i.drain.phase !== 'none' ? `${i.ecsStatus ?? '-'} (${i.drain.phase})` : i.ecsStatus,
      i.ready,
      i.degraded,
      i.daemons.map((d) => `${d.environment}@${d.revision}:${d.state}`).join(' '),
      i.updatedAt,
    ]),
  );
}

export function tasksTable(items: TaskView[]): string {
  return table(
    ['TASK', 'ENVIRONMENT', 'REVISION', 'STATE', 'LAST STATUS', 'HEALTH', 'RESTARTS', 'INSTANCE'],
    items.map((t) => [
      lastArnSegment(t.taskArn),
      t.environmentName,
      t.revision,
      t.state,
      t.lastStatus,
      t.health,
      t.restarts,
      lastArnSegment(t.containerInstanceArn),
    ]),
  );
}

export function invalidWarnings(invalid: InvalidItem[] | undefined): string {
  return (invalid ?? []).map((i) => `warning: skipped a malformed record: ${i.message}\n`).join('');
}

export function previewTable(preview: InstancePreview): string {
  const title = `${preview.matching} of ${preview.total} container instances of ${preview.cluster} match${preview.expression ? ` ${preview.expression}` : ' (no expression: every instance)'}${preview.revision !== undefined ? ` (revision ${preview.revision})` : ''}\n`;
  return (
    title +
    table(
      ['INSTANCE', 'EC2 INSTANCE', 'TYPE', 'ZONE', 'ECS STATUS', 'MATCHES', 'DAEMON'],
      preview.items.map((i) => [
        lastArnSegment(i.containerInstanceArn),
        i.ec2InstanceId,
        i.instanceType,
        i.availabilityZone,
        i.status,
        i.matches ? 'yes' : 'no',
        i.daemon ? `${i.daemon.revision}:${i.daemon.state}` : undefined,
      ]),
    )
  );
}
