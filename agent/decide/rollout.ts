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
//   before rollouts, or a hand edit) leaves replacements unpaced, as they were then;
// - the fleet's tries stay under desired / spreadMs a second (the steward's ECS budget), so neither
//   ECS's throttle nor the control item's write limit meets 10,000 agents at once: an unlimited
//   rollout writes nothing before its instance's moment; a paced one draws once per window.
import { resolveCountOrPercent, type ClaimRollout, type DeploymentConfiguration, type RolloutControl } from '../../core/records.js';
import type { Report } from '../model.js';

export type ControlView = { state: 'unread' } | { state: 'absent' } | { state: 'read'; control: RolloutControl };

export type Admission = { verdict: 'go'; reason: string } | { verdict: 'admit'; rollout: ClaimRollout; reason: string } | { verdict: 'hold'; reason: string };

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
  /** A random draw in [0, 1), one per window (whether it tries for a free place in this window). */
  draw: number;
  /** How often a waiting instance draws (its rollout poll): the window the chance is for. */
  windowMs: number;
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
  if (claimRollout?.deploymentId === c.deploymentId && claimRollout.state !== 'abandoned') return { verdict: 'go', reason: `admitted (${claimRollout.state})` };
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
  // Canaries are counted even when the rest of the fleet is not: the canary phase needs its count.
  if (c.unlimited && c.phase === 'rolling') {
    // Nothing is written before the instance's moment, so its claim and status writes spread too
    // (a control without rollingAt, from an older steward, has no spread).
    const due = c.rollingAt === undefined ? 0 : Date.parse(c.rollingAt) + spreadOffset(input.instanceId, c.spreadMs);
    if (input.nowWallMs < due)
      return { verdict: 'hold', reason: `every instance may go, spread over ${c.spreadMs} ms: due in ${Math.ceil(due - input.nowWallMs)} ms` };
    return { verdict: 'admit', rollout: { deploymentId: c.deploymentId, state: 'admitted', at, counted: false }, reason: 'every instance may go' };
  }
  if (c.inFlight >= c.cap) return { verdict: 'hold', reason: `${c.inFlight} of ${c.cap} admitted instance(s) in flight` };
  // Room for r more among w waiting instances: each tries in a window with probability 4r/w, so a
  // freed place draws a few conditional writes, not one from every waiting agent of a
  // 10,000-instance fleet; and no more than desired / spreadMs a second try, whatever r.
  const room = c.phase === 'canary' ? Math.min(c.cap - c.inFlight, c.canary - c.admitted) : c.cap - c.inFlight;
  const waiting = Math.max(1, c.desired - c.admitted);
  const perWindow = c.spreadMs > 0 ? (c.desired * input.windowMs) / c.spreadMs : Number.POSITIVE_INFINITY;
  const chance = Math.min(1, (4 * room) / waiting, Math.max(1, perWindow) / waiting);
  if (input.draw >= chance) return { verdict: 'hold', reason: `room for ${room}; ${waiting} instance(s) waiting try their chance in turn` };
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
 * An abandoned part (the steward counted it out while the agent was away) is released the same
 * way once its instance, back, is ready on the target: else the steward, which counts only
 * released parts as available, would wait for it until the progress deadline. Its release moves
 * no counter (counterDelta), the steward having counted it out already.
 */
export function followUp(input: FollowUpInput): ClaimRollout | undefined {
  const part = input.claimRollout;
  if (!part || (part.state !== 'admitted' && part.state !== 'failed' && part.state !== 'abandoned')) return undefined;
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

/** Reads of one control a second the whole fleet may make: 500 RCU, a sixth of what one item serves. */
export const CONTROL_READS_PER_SECOND = 1_000;

/**
 * How often an instance waiting for or admitted to a rollout reads its control: `pollMs` (the
 * agent's rolloutPollMs), or less often in a fleet so large that its reads would pass
 * CONTROL_READS_PER_SECOND (10,000 instances: every 10 s). Also the window of the admission's draw.
 */
export function activePollMs(pollMs: number, desired: number): number {
  return Math.max(pollMs, Math.ceil((desired * 1000) / CONTROL_READS_PER_SECOND));
}

/** The instance's draw for the window holding `nowWallMs`: one per window however many steps run in it (wake-ups must not multiply the fleet's tries). */
export function windowDraw(instanceId: string, deploymentId: string, nowWallMs: number, windowMs: number): number {
  return spreadOffset(`${instanceId}:${deploymentId}:${windowIndex(instanceId, nowWallMs, windowMs)}`, 1);
}

/**
 * The instance's window holding `nowWallMs`. Each instance's windows begin at an offset of their
 * own: windows aligned to the clock would turn every waiting agent's draw over in the same second,
 * and a fleet's tries (and StartTasks) would bunch at each window's start.
 */
export function windowIndex(instanceId: string, nowWallMs: number, windowMs: number): number {
  return Math.floor((nowWallMs + spreadOffset(instanceId, windowMs)) / windowMs);
}

/** When the instance's next window after the one holding `nowWallMs` begins (wall ms). */
export function nextWindowAt(instanceId: string, nowWallMs: number, windowMs: number): number {
  return (windowIndex(instanceId, nowWallMs, windowMs) + 1) * windowMs - spreadOffset(instanceId, windowMs);
}

/**
 * A fixed offset in [0, spreadMs) from the instance id: every instance its own moment, no
 * coordination. FNV-1a, then murmur3's finaliser: FNV alone moves keys that differ in their last
 * character (i-0001, i-0002; window 41, 42) by small steps, which bunches neighbours together.
 */
export function spreadOffset(key: string, spreadMs: number): number {
  if (spreadMs <= 0) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  hash = (hash ^ (hash >>> 16)) >>> 0;
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
