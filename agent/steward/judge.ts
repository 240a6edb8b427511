// The steward's judgement of a deployment: from the fleet's live status records, the rollout
// control and the deployment's configuration to the control's next phase and cap and the
// deployment's status and counts. Pure, table-tested (test/unit/agent-steward.test.ts), modelled
// on the Kubernetes DaemonSet controller's status counting and on Nomad's deployment watcher
// (healthy deadline per instance, progress deadline per deployment, auto-revert).
import { withReason } from '../../core/store/deployments.js';
import type { ControlJudgement, DeploymentJudgement } from '../../core/store/rollouts.js';
import {
  resolveCountOrPercent,
  type Deployment,
  type DeploymentConfiguration,
  type DeploymentCounts,
  type DeploymentStatus,
  type FailedInstance,
  type InstanceStatus,
  type RolloutControl,
  type RolloutPhase,
} from '../../core/records.js';

export interface JudgeInput {
  environment: string;
  control: RolloutControl;
  config: DeploymentConfiguration;
  /** Revisions that run the same daemon as the target (a rollback's copy and its source). */
  sameAsTarget: ReadonlySet<number>;
  /** Live status records of the environment's cluster. */
  statuses: readonly InstanceStatus[];
  /** Wall time of the last progress (an instance completed), or of the rollout's start. */
  progressAtMs: number;
  nowWallMs: number;
  /** ECS calls per second the rollout may spend (StopTask and StartTask each). */
  ecsRatePerSecond: number;
}

export interface Judgement {
  phase: RolloutPhase;
  cap: number;
  canary: number;
  desired: number;
  spreadMs: number;
  unlimited: boolean;
  /** Set when the phase becomes rolling by this judgement. */
  rollingAt?: string;
  counts: DeploymentCounts;
  failed: FailedInstance[];
  /** The deployment's status now. */
  status: DeploymentStatus;
  outcome?: RolloutControl['outcome'];
  /** Why the status or phase changed, when it did. */
  reason?: string;
}

export function judge(input: JudgeInput): Judgement {
  const { control, config, environment } = input;
  const counts: DeploymentCounts = { desired: 0, current: 0, updated: 0, ready: 0, available: 0, unavailable: 0, misscheduled: 0, revisions: {} };
  const failed: FailedInstance[] = [];
  let readyAny = 0;
  let otherUnavailable = 0;
  let released = 0;
  for (const status of input.statuses) {
    const daemon = status.daemons.find((d) => d.environment === environment);
    if (!daemon) continue;
    const matching = daemon.matching ?? daemon.state !== 'stopped';
    if (!matching) {
      if (daemon.taskArn !== undefined) counts.misscheduled++;
      continue;
    }
    counts.desired++;
    const part = daemon.rollout?.deploymentId === control.deploymentId ? daemon.rollout : undefined;
    if (daemon.taskArn !== undefined) {
      counts.current++;
      counts.revisions[String(daemon.revision)] = (counts.revisions[String(daemon.revision)] ?? 0) + 1;
    }
    const onTarget = daemon.taskArn !== undefined && input.sameAsTarget.has(daemon.revision);
    if (onTarget) counts.updated++;
    if (daemon.ready) {
      counts.ready++;
      readyAny++;
      // Available: ready on the target and past its bake (the agent releases its part only then; a new instance has none).
      if (onTarget && (part === undefined || part.state === 'released' || config.minHealthySeconds === 0)) counts.available++;
    } else if (part?.state !== 'admitted' && part?.state !== 'failed') otherUnavailable++;
    if (part?.state === 'released') released++;
    if (part?.state === 'failed')
      failed.push({ containerInstanceArn: status.containerInstanceArn, reason: part.reason ?? daemon.reason ?? 'not ready', at: status.updatedAt });
  }
  counts.unavailable = Math.max(0, counts.desired - readyAny);

  const unavailableBudget = resolveCountOrPercent(config.maxUnavailable, counts.desired);
  const surgeBudget = resolveCountOrPercent(config.maxSurge, counts.desired);
  const unlimited = surgeBudget === 0 && config.maxUnavailable === '100%';
  // Surging instances keep their old daemon until the new one is ready: maxSurge paces them. Else
  // maxUnavailable less what is unavailable for other reasons (counted as Kubernetes counts).
  const cap = surgeBudget > 0 ? surgeBudget : Math.max(0, unavailableBudget - otherUnavailable);
  // The canary's size is fixed at the first count, of the instances matching then.
  const canary = control.phase === 'pending' ? Math.min(counts.desired, resolveCountOrPercent(config.canary, counts.desired)) : control.canary;
  // The fleet's replacements spend no more than ecsRatePerSecond StopTask and StartTask calls a second.
  const spreadMs = Math.ceil((counts.desired / Math.max(1, input.ecsRatePerSecond)) * 1000);
  const base = { cap, canary, desired: counts.desired, spreadMs, unlimited, counts, failed };

  const threshold = Math.max(1, resolveCountOrPercent(config.failureThreshold, Math.max(1, counts.desired)));
  if (failed.length >= threshold)
    return { ...base, phase: 'done', status: 'failed', outcome: 'failed', reason: `${failed.length} instance(s) failed (threshold ${threshold})` };
  const complete = counts.desired > 0 && counts.updated === counts.desired && counts.available === counts.desired && control.inFlight <= 0;
  if (complete) return { ...base, phase: 'done', status: 'completed', outcome: 'completed', reason: `${counts.desired} instance(s) updated and available` };
  if (input.nowWallMs - input.progressAtMs >= config.progressDeadlineSeconds * 1000 && control.phase !== 'awaiting_promotion' && !control.paused)
    return {
      ...base,
      phase: 'done',
      status: 'failed',
      outcome: 'failed',
      reason: `stuck: no instance completed for ${config.progressDeadlineSeconds} s (progress deadline)`,
    };

  let phase: RolloutPhase = control.phase;
  let reason: string | undefined;
  if (phase === 'pending') {
    phase = canary > 0 ? 'canary' : 'rolling';
    reason = `rollout begins: ${counts.desired} matching instance(s), ${cap} at a time${canary > 0 ? `, ${canary} canary instance(s) first` : ''}`;
  } else if (phase === 'canary' && control.admitted >= canary && released >= canary) {
    phase = config.autoPromote ? 'rolling' : 'awaiting_promotion';
    reason = config.autoPromote ? `${canary} canary instance(s) baked: promoted by itself` : `${canary} canary instance(s) baked: awaiting promotion`;
  }
  const status: DeploymentStatus = phase === 'awaiting_promotion' ? 'awaiting_promotion' : 'in_progress';
  const rollingAt = phase === 'rolling' && control.phase !== 'rolling' ? new Date(input.nowWallMs).toISOString() : undefined;
  return { ...base, phase, status, ...(reason ? { reason } : {}), ...(rollingAt ? { rollingAt } : {}) };
}

/**
 * What a judgement writes: the control's fields and the deployment's, and whether the steward then
 * rolls back. A failure that rolls back leaves the control's phase as it is until the rollback
 * replaces the control, so a steward that dies in between leaves a successor the same judgement.
 */
export function writesOf(
  j: Judgement,
  deployment: Deployment,
  config: DeploymentConfiguration,
  at: { progressed: boolean; startedAt: string; nowIso: string },
): { control: ControlJudgement; deployment: DeploymentJudgement; rollingBack: boolean } {
  const rollingBack = j.outcome === 'failed' && config.autoRollback && deployment.stableRevision !== undefined;
  const fields: DeploymentJudgement = { counts: j.counts, phase: j.phase, failedInstances: j.failed, startedAt: at.startedAt };
  if (at.progressed) fields.progressAt = at.nowIso;
  if (j.status !== deployment.status) fields.status = j.status;
  // A canary promoted by itself changes the phase only (the status stays in_progress): its reason is kept too.
  if (j.reason && (j.status !== deployment.status || j.phase !== deployment.phase)) fields.reasons = withReason(deployment.reasons, j.reason);
  if (j.outcome) fields.finishedAt = at.nowIso;
  const control: ControlJudgement = rollingBack
    ? { desired: j.desired }
    : {
        phase: j.phase,
        cap: j.cap,
        canary: j.canary,
        desired: j.desired,
        spreadMs: j.spreadMs,
        unlimited: j.unlimited,
        ...(j.rollingAt ? { rollingAt: j.rollingAt } : {}),
        ...(j.outcome ? { outcome: j.outcome } : {}),
      };
  return { control, deployment: fields, rollingBack };
}
