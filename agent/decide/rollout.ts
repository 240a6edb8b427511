// The rollout gate: whether this instance may replace its daemon now, and when its part in the
// deployment ends (released) or fails. Pure: the environment's RolloutControl as last read, the
// instance's claim, its daemon's report, and the time. The writes it asks for go into the claim
// write that leads the environment's chain, together with the control's counter (one transaction),
// so an admission and the claim that records it exist together or not at all.
//
// Invariants, each kept by the branch below it:
// - an instance takes its daemon down for the rollout only once admitted: its claim records an
//   admission for the control's deployment, made while `inFlight < cap` (the condition of the
//   counter's write, not of this read);
// - an instance whose old daemon is already not ready is not counted and does not wait: it has
//   nothing left to lose (the steward counts it among the unavailable, which lowers `cap`);
// - nothing new is admitted while the deployment is pending, paused, awaiting promotion or done;
//   instances already admitted carry on to the end;
// - an unread control holds every replacement; a missing one (a deployment stored by a version
//   before rollouts, or a hand edit) leaves replacements unpaced, as they were then.
import { resolveCountOrPercent, type ClaimRollout, type DeploymentConfiguration, type RolloutControl } from '../../core/records.js';
import type { Report } from '../model.js';

export type ControlView = { state: 'unread' } | { state: 'absent' } | { state: 'read'; control: RolloutControl };

export type Admission =
  | { verdict: 'go'; reason: string }
  | { verdict: 'admit'; rollout: ClaimRollout; reason: string }
  /** `rollout`: record this admission now, replace later (an unlimited rollout's spread). */
  | { verdict: 'hold'; reason: string; rollout?: ClaimRollout };

export interface GateInput {
  /** The deployment the environment's head names (activeDeploymentId). */
  deploymentId: string | undefined;
  control: ControlView;
  config: DeploymentConfiguration;
  /** The instance's part as its claim records it. */
  claimRollout: ClaimRollout | undefined;
  /** The old daemon is ready (RUNNING, and HEALTHY where checked). */
  oldReady: boolean;
  /** The replacement starts the new task beside the old one. */
  surge: boolean;
  /** This container instance's id (its fixed place in an unlimited rollout's spread). */
  instanceId: string;
  /** A random draw in [0, 1) of this step (whether it tries for a free place now). */
  draw: number;
  nowWallMs: number;
}

/** Whether a `replace` of this environment's daemon may go now. */
export function admission(input: GateInput): Admission {
  const { control, claimRollout } = input;
  if (input.deploymentId === undefined) return { verdict: 'go', reason: 'no deployment: unpaced' };
  if (control.state === 'unread') return { verdict: 'hold', reason: 'reading the rollout' };
  if (control.state === 'absent') return { verdict: 'go', reason: 'no rollout record for this deployment: unpaced' };
  const c = control.control;
  if (c.deploymentId !== input.deploymentId)
    return { verdict: 'hold', reason: `the rollout read is of deployment ${c.deploymentId}, not ${input.deploymentId}` };
  // Admitted before (by this agent or a predecessor on this instance): carry on, whatever the phase.
  // Uncounted admissions of an unlimited rollout wait for their own offset into the spread.
  if (claimRollout?.deploymentId === c.deploymentId && claimRollout.state !== 'abandoned') {
    // An unlimited rollout's admission is recorded at the moment it is due (its `at`), so its healthy deadline runs from there.
    const due = Date.parse(claimRollout.at);
    if (!claimRollout.counted && c.unlimited && input.nowWallMs < due)
      return { verdict: 'hold', reason: `spread over ${c.spreadMs} ms: due in ${due - input.nowWallMs} ms` };
    return { verdict: 'go', reason: `admitted (${claimRollout.state})` };
  }
  if (c.phase === 'done') {
    return c.outcome === 'completed' || c.outcome === 'rolled_back'
      ? { verdict: 'go', reason: `deployment ${c.outcome}: a straggler is replaced at once` }
      : { verdict: 'hold', reason: `deployment ${c.outcome ?? 'finished'}: nothing new begins` };
  }
  if (!input.oldReady) return { verdict: 'go', reason: 'the old daemon is not ready: replaced first, not counted' };
  if (input.config.strategy === 'on-delete') return { verdict: 'hold', reason: 'strategy on-delete: replaced when the old task stops by itself' };
  if (c.paused) return { verdict: 'hold', reason: 'deployment paused' };
  if (c.phase === 'pending') return { verdict: 'hold', reason: "waiting for the rollout's first count" };
  if (c.phase === 'awaiting_promotion') return { verdict: 'hold', reason: 'canaries baked: awaiting promotion' };
  if (c.phase === 'canary' && c.admitted >= c.canary) return { verdict: 'hold', reason: `canary phase: ${c.canary} canary instance(s) admitted` };
  const at = new Date(input.nowWallMs).toISOString();
  if (c.unlimited) {
    const offset = spreadOffset(input.instanceId, c.spreadMs);
    const rollout: ClaimRollout = { deploymentId: c.deploymentId, state: 'admitted', at: new Date(input.nowWallMs + offset).toISOString(), counted: false };
    return offset < 1
      ? { verdict: 'admit', rollout, reason: 'every instance may go' }
      : { verdict: 'hold', rollout, reason: `every instance may go, spread over ${c.spreadMs} ms: this one in ${Math.round(offset)} ms` };
  }
  if (c.inFlight >= c.cap) return { verdict: 'hold', reason: `${c.inFlight} of ${c.cap} admitted instance(s) in flight` };
  // Room for r more among w waiting instances: each tries with probability 4r/w, so a freed place
  // draws a few conditional writes, not one from every waiting agent of a 10,000-instance fleet.
  const waiting = Math.max(1, c.desired - c.admitted);
  const chance = Math.min(1, (4 * (c.cap - c.inFlight)) / waiting);
  if (input.draw >= chance) return { verdict: 'hold', reason: `room for ${c.cap - c.inFlight}; ${waiting} instance(s) waiting try their chance in turn` };
  return {
    verdict: 'admit',
    rollout: { deploymentId: c.deploymentId, state: 'admitted', at, counted: true },
    reason: `admitted: ${c.inFlight + 1} of ${c.cap} in flight${input.surge ? ' (surge)' : ''}`,
  };
}

export interface FollowUpInput {
  control: ControlView;
  config: DeploymentConfiguration;
  claimRollout: ClaimRollout | undefined;
  targetRevision: number;
  report: Report;
  /** How long the daemon on the target has been ready without a break (0 when not ready). */
  readyForMs: number;
  nowWallMs: number;
}

/**
 * What an admitted instance's part becomes: released once its daemon on the target has been ready
 * for minHealthySeconds; failed when it is not ready by healthyDeadlineSeconds after admission
 * (it stays counted: the instance is unavailable). Undefined: nothing to record.
 */
export function followUp(input: FollowUpInput): ClaimRollout | undefined {
  const part = input.claimRollout;
  if (!part || (part.state !== 'admitted' && part.state !== 'failed')) return undefined;
  const at = new Date(input.nowWallMs).toISOString();
  const onTarget = input.report.revision === input.targetRevision && input.report.next === undefined;
  if (onTarget && input.report.ready && input.readyForMs >= input.config.minHealthySeconds * 1000) {
    return { ...part, state: 'released', at, reason: `ready on revision ${input.targetRevision}` };
  }
  if (part.state === 'admitted' && input.nowWallMs - Date.parse(part.at) >= input.config.healthyDeadlineSeconds * 1000) {
    return { ...part, state: 'failed', at, reason: `not ready within ${input.config.healthyDeadlineSeconds} s: ${input.report.reason}` };
  }
  return undefined;
}

/** A fixed offset in [0, spreadMs) from the instance id (FNV-1a): every instance its own moment, no coordination. */
export function spreadOffset(instanceId: string, spreadMs: number): number {
  if (spreadMs <= 0) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < instanceId.length; i++) hash = Math.imul(hash ^ instanceId.charCodeAt(i), 0x01000193) >>> 0;
  return (hash / 0x1_0000_0000) * spreadMs;
}

/** The counter move a claim write carries: +1 on an admission that counts, -1 when a counted part is released. */
export function counterDelta(before: ClaimRollout | undefined, after: ClaimRollout | undefined): 1 | -1 | 0 {
  if (!after || !after.counted) return 0;
  if (after.state === 'admitted' && (before?.deploymentId !== after.deploymentId || before.state === 'abandoned')) return 1;
  if (after.state === 'released' && before?.deploymentId === after.deploymentId && (before.state === 'admitted' || before.state === 'failed')) return -1;
  return 0;
}

/** maxUnavailable (or maxSurge when surging) of `desired` instances, as the steward sets `cap`. */
export function budgetOf(config: DeploymentConfiguration, desired: number): { unavailable: number; surge: number } {
  return { unavailable: resolveCountOrPercent(config.maxUnavailable, desired), surge: resolveCountOrPercent(config.maxSurge, desired) };
}

/** The target is not trusted yet (canary phases) or was found bad (failed): new instances get the stable revision. */
export function untrusted(control: RolloutControl): boolean {
  return control.phase === 'canary' || control.phase === 'awaiting_promotion' || (control.phase === 'done' && control.outcome === 'failed');
}

/**
 * Whether this instance keeps to the stable revision instead of the target: the target is
 * untrusted and the instance has no part in its deployment, except that while canary places are
 * left an instance with a daemon to replace may become a canary (the gate admits it); a new one may
 * not. (Undefined control: not read, nothing is known to distrust.)
 */
export function keepsStable(input: {
  control: RolloutControl | undefined;
  deploymentId: string | undefined;
  claimRollout: ClaimRollout | undefined;
  hasDaemon: boolean;
}): boolean {
  const { control, claimRollout: part } = input;
  if (!control || control.deploymentId !== input.deploymentId || !untrusted(control)) return false;
  if (part !== undefined && part.deploymentId === input.deploymentId && part.state !== 'abandoned') return false;
  return !(control.phase === 'canary' && control.admitted < control.canary && input.hasDaemon);
}
