// `blox deploy status` (alias `blox rollout status`) with its --watch, and `blox env history`: what
// an operator or a CI pipeline sees of a rollout the agents carry out.
import { BloxError, errorMessage } from '../../core/errors.js';
import { FINISHED_DEPLOYMENT_STATUSES, type DeploymentCounts } from '../../core/records.js';
import type { Page } from '../../core/store/paging.js';
import type { DeploymentView, EnvironmentView } from '../../core/store/views.js';
import type { Command, Context, Values } from './options.js';
import { everyPage, EXIT, UsageError } from './common.js';
import * as out from './output.js';
import { DeploymentChanges } from './watch-stream.js';

// Widened to strings: a view's status may also be `paused`, which is never finished.
const FINISHED: readonly string[] = FINISHED_DEPLOYMENT_STATUSES;

function secondsFlag(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(value) || value <= 0 || value > 86_400)
    throw new UsageError(`${flag} must be a number of seconds (0 < S <= 86400)`);
  return value;
}

export interface RolloutStatus {
  environment: string;
  deployment: string;
  status: DeploymentView['status'];
  paused: boolean;
  targetRevision: number;
  phase?: string;
  /** The agents' last count of the rollout (absent until they first count it). */
  counts?: DeploymentCounts;
  instances: EnvironmentView['instances'];
  failedInstances: number;
  line: string;
}

function rolloutStatus(env: EnvironmentView, deployment: DeploymentView): RolloutStatus {
  const c = env.instances;
  const counts = deployment.counts;
  let progress = '';
  if (counts) progress = `, ${out.countsText(counts)}`;
  // Before the agents' first count, what the instances report is all there is (and only the active deployment's target is theirs).
  else if (env.activeDeployment?.id === deployment.id)
    progress = `, ${c.onCurrentRevision} of ${c.reporting} reporting instances on revision ${deployment.targetRevision} (${c.healthy} healthy, ${c.unhealthy} unhealthy)`;
  const failed = deployment.failedInstances.length ? `, ${deployment.failedInstances.length} failed` : '';
  const phase = deployment.phase && deployment.phase !== deployment.status ? ` (${deployment.phase})` : '';
  const promote = deployment.status === 'awaiting_promotion' ? ` (promote with: blox deploy promote ${env.name} ${deployment.id})` : '';
  const line = `deployment ${deployment.id} of ${env.name}: ${out.statusText(deployment)}${phase}${progress}${failed}${promote}`;
  const status: RolloutStatus = {
    environment: env.name,
    deployment: deployment.id,
    status: deployment.status,
    paused: deployment.paused,
    targetRevision: deployment.targetRevision,
    instances: c,
    failedInstances: deployment.failedInstances.length,
    line,
  };
  if (deployment.phase !== undefined) status.phase = deployment.phase;
  if (counts) status.counts = counts;
  return status;
}

/**
 * `deploy status ENV [ID] [--watch]`. The deployment is chosen once: when the agents roll a failed
 * deployment back, the environment's active deployment becomes the rollback, and the watcher must
 * still report how the one it watched ended (rolled_back, exit 8), as a CI gate expects.
 */
export async function deploymentStatus(command: Command, args: string[], values: Values, ctx: Context): Promise<number> {
  if (args.length < 1 || args.length > 2) throw new UsageError(`usage: ${command.usage}`);
  const [name, given] = args as [string, string | undefined];
  if (!values.watch && (values.timeout !== undefined || values.interval !== undefined)) throw new UsageError('--timeout and --interval need --watch');
  const timeoutS = secondsFlag(values.timeout, '--timeout', 0);
  const intervalS = secondsFlag(values.interval, '--interval', 2);
  const deadline = timeoutS ? Date.now() + timeoutS * 1000 : Infinity;
  const columns = ctx.json ? undefined : ctx.io.terminalColumns;
  // With --watch, the coordinator's deployments stream says when to read again (polling without one).
  // Opened after the first read, so the first line comes as soon as without it; its snapshot then
  // wakes the watch at once, so nothing changed in between is missed.
  let changes: DeploymentChanges | undefined;
  const untilNextPoll = async () => {
    changes ??= await DeploymentChanges.open(ctx.backend(), name);
    await changes.wait(intervalS * 1000, deadline - Date.now());
  };
  try {
    return await watchDeployment();
  } finally {
    changes?.close();
  }
  async function watchDeployment(): Promise<number> {
    let id = given;
    let last = '';
    let reportedFailure: string | undefined;
    let status: RolloutStatus | undefined;
    for (;;) {
      let deployment: DeploymentView;
      try {
        const env = await ctx.backend().getEnvironment(name);
        id ??= env.activeDeployment?.id;
        if (!id) throw new BloxError('NotFound', `environment ${name} has no deployment`);
        deployment = await ctx.backend().getDeployment(name, id);
        status = rolloutStatus(env, deployment);
      } catch (error) {
        // The agents carry a rollout on without the coordinator: once a watch has read the deployment,
        // it outlives a coordinator that restarts or fails for a while (a wrong endpoint still fails at once).
        if (!values.watch || status === undefined || !isTransient(error)) throw error;
        // Said once per kind of failure (a 500's message differs by its request id every time).
        const kind = (error as BloxError).code;
        if (kind !== reportedFailure) {
          if (columns !== undefined) ctx.io.stdout('\r\x1b[2K');
          ctx.io.stderr(`blox: ${errorMessage(error)}; still watching\n`);
        }
        reportedFailure = kind;
        last = '';
        if (Date.now() >= deadline) return timedOutWatch(ctx, status, timeoutS, columns);
        await untilNextPoll();
        continue;
      }
      reportedFailure = undefined;
      if (!values.watch) {
        ctx.print(status, () => `${(status as RolloutStatus).line}\n`);
        return EXIT.ok;
      }
      const finished = FINISHED.includes(deployment.status);
      const timedOut = !finished && Date.now() >= deadline;
      if (columns !== undefined) ctx.io.stdout(`\r\x1b[2K${out.progressBar(deployment, columns)}${finished || timedOut ? '\n' : ''}`);
      else if (!ctx.json && status.line !== last) ctx.io.stdout(`${status.line}\n`);
      last = status.line;
      if (timedOut) return timedOutWatch(ctx, status, timeoutS);
      if (finished) {
        if (ctx.json) ctx.print(status, () => '');
        if (deployment.status === 'completed') return EXIT.ok;
        // A CI log should say why without another command.
        ctx.io.stderr(`blox: deployment ${id} ended ${deployment.status}${deployment.rolledBackBy ? ` (rolled back by ${deployment.rolledBackBy})` : ''}\n`);
        for (const f of deployment.failures) ctx.io.stderr(`  ${f.containerInstanceArn}: ${f.reason} (${f.at})\n`);
        return EXIT.deploymentUnsuccessful;
      }
      await untilNextPoll();
    }
  }
}

/** Errors a later poll may not meet again: the coordinator unreachable, failing or unable to answer. */
function isTransient(error: unknown): boolean {
  return error instanceof BloxError && (error.code === 'Unavailable' || error.code === 'Internal');
}

/** Exit 9, with the last status read (in JSON, or as the last line when the poll that failed had cleared the bar). */
function timedOutWatch(ctx: Context, status: RolloutStatus, timeoutS: number, redrawColumns?: number): number {
  if (ctx.json) ctx.print(status, () => '');
  else if (redrawColumns !== undefined) ctx.io.stdout(`${status.line}\n`);
  ctx.io.stderr(`blox: deployment ${status.deployment} is still ${status.status} after ${timeoutS} s\n`);
  return EXIT.timedOut;
}

/** Every revision, newest first, with the deployments that targeted it (newest first). */
export async function revisionHistory(ctx: Context, name: string): Promise<Page<out.RevisionHistoryEntry>> {
  const env = await ctx.backend().getEnvironment(name);
  // History is whole or misleading: every page of both lists, whatever the flags.
  const revisions = await everyPage((request) => ctx.backend().listRevisions(name, request));
  const deployments = await everyPage((request) => ctx.backend().listDeployments(name, request));
  const items = revisions.items.map((r): out.RevisionHistoryEntry => {
    const targeting = deployments.items.filter((d) => d.targetRevision === r.revision);
    const entry: out.RevisionHistoryEntry = {
      revision: r.revision,
      taskDefinition: r.taskDefinition,
      current: r.revision === env.currentRevision,
      completed: targeting.some((d) => d.status === 'completed'),
      deployments: targeting.map((d) => {
        const summary: out.RevisionHistoryEntry['deployments'][number] = { id: d.id, status: d.status, createdAt: d.createdAt };
        if (d.finishedAt !== undefined) summary.finishedAt = d.finishedAt;
        return summary;
      }),
      createdAt: r.createdAt,
    };
    if (r.copiedFrom !== undefined) entry.copiedFrom = r.copiedFrom;
    return entry;
  });
  const invalid = [...(revisions.invalid ?? []), ...(deployments.invalid ?? [])];
  return invalid.length ? { items, invalid } : { items };
}
