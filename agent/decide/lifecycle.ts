// Scale-in and Spot, node-local (docs/agent.md "Scale-in and Spot"): what the agent does when its
// own instance is about to go. Pure: the caller passes what IMDS, ECS, Auto Scaling and the drain
// said, what it remembers of the lifecycle action, and the time.
//
// - The instance is leaving when IMDS `autoscaling/target-lifecycle-state` is Terminated (scale-in
//   opt-in) or a Spot interruption notice `spot/instance-action` is out (Spot opt-in).
// - Leaving, it drains itself (UpdateContainerInstancesState DRAINING) unless ECS shows it DRAINING
//   already: a restarted agent finds it DRAINING and goes on from there.
// - Under a termination lifecycle hook it heartbeats the action (before the hook's timeout) while
//   the drain runs, and completes it (CONTINUE) once the drain is done (daemons stopped last,
//   claims released) or at the bound. Spot has no hook: it drains at once and the two minutes run.
// - The action is over once completed, or once Auto Scaling says there is no open action (it
//   completed, the timeout ran out, or a predecessor completed it): nothing more is sent.
import type { DrainPhase } from './drain.js';

export interface LifecycleSettings {
  scaleIn: boolean;
  spot: boolean;
  /** The lifecycle hook's name; undefined: the group's termination hook (DescribeLifecycleHooks). */
  hookName: string | undefined;
  /** The action is completed at the latest this long after termination began (also capped by the hook's global timeout). */
  completeBoundMs: number;
}

/** What IMDS shows; undefined fields are absent (404). */
export interface LifecycleObservation {
  targetLifecycleState?: string;
  spotAction?: { action: string; time: string };
}

/** The Auto Scaling side, as looked up once termination began. */
export interface LifecycleHookInfo {
  groupName: string;
  /** Undefined: the group has no termination hook (nothing to heartbeat or complete). */
  hookName?: string;
  heartbeatTimeoutMs: number;
  globalTimeoutMs: number;
}

/** What the agent remembers of its instance's termination (agent/act/lifecycle-control.ts owns it). */
export interface LifecycleMemory {
  /** When this agent first saw the instance leaving (monotonic). */
  leavingSinceMono?: number;
  /** Undefined: not looked up yet; null: the instance is in no Auto Scaling group. */
  hook?: LifecycleHookInfo | null;
  lastHeartbeatMono?: number;
  /** CompleteLifecycleAction answered, or Auto Scaling has no open action for the instance. */
  actionOver?: boolean;
}

export interface LifecycleInput {
  settings: LifecycleSettings;
  /** Undefined: IMDS not read yet (nothing is done). */
  observed: LifecycleObservation | undefined;
  /** The container instance's ECS status (ACTIVE, DRAINING...); undefined: not known yet. */
  ecsStatus: string | undefined;
  drain: { phase: DrainPhase; reason: string };
  memory: LifecycleMemory;
  nowMono: number;
}

export type LifecycleIntent =
  { type: 'drain-self'; reason: string } | { type: 'find-hook'; reason: string } | { type: 'heartbeat'; reason: string } | { type: 'complete'; reason: string };

export interface LifecycleDecision {
  /** Why the instance is leaving (undefined: it is not). */
  leaving: 'scale-in' | 'spot' | undefined;
  intents: LifecycleIntent[];
  reason: string;
}

/** Heartbeats go out at a third of the hook's timeout: two may be lost before it runs out. */
export const HEARTBEAT_FRACTION = 1 / 3;

export function leavingReason(settings: LifecycleSettings, observed: LifecycleObservation | undefined): 'scale-in' | 'spot' | undefined {
  if (!observed) return undefined;
  if (settings.scaleIn && observed.targetLifecycleState === 'Terminated') return 'scale-in';
  if (settings.spot && observed.spotAction !== undefined) return 'spot';
  return undefined;
}

export function decideLifecycle(input: LifecycleInput): LifecycleDecision {
  const { settings, memory, nowMono } = input;
  const leaving = leavingReason(settings, input.observed);
  if (!leaving) return { leaving, intents: [], reason: 'instance not leaving' };
  const intents: LifecycleIntent[] = [];
  const what =
    leaving === 'spot'
      ? `Spot interruption notice (${input.observed?.spotAction?.action} at ${input.observed?.spotAction?.time})`
      : 'scale-in (target lifecycle state Terminated)';
  if (input.ecsStatus === undefined) return { leaving, intents, reason: `${what}: waiting for the instance's ECS status` };
  if (input.ecsStatus !== 'DRAINING') intents.push({ type: 'drain-self', reason: `${what}: draining the instance` });
  // Spot: no lifecycle action; the drain runs until EC2 takes the instance.
  if (leaving === 'spot') return { leaving, intents, reason: `${what}: drain ${input.drain.phase}` };
  if (memory.actionOver) return { leaving, intents, reason: `${what}: lifecycle action over; drain ${input.drain.phase}` };
  if (memory.hook === undefined) {
    intents.push({ type: 'find-hook', reason: `${what}: looking up the Auto Scaling group and its termination hook` });
    return { leaving, intents, reason: `${what}: hook not known yet` };
  }
  if (memory.hook === null || memory.hook.hookName === undefined)
    return { leaving, intents, reason: `${what}: no termination lifecycle hook (nothing holds the instance); drain ${input.drain.phase}` };
  const since = memory.leavingSinceMono ?? nowMono;
  const bound = Math.min(settings.completeBoundMs, memory.hook.globalTimeoutMs);
  if (input.drain.phase === 'drained') {
    intents.push({ type: 'complete', reason: `${what}: drain done (${input.drain.reason}): completing the lifecycle action` });
    return { leaving, intents, reason: 'drained' };
  }
  if (nowMono - since >= bound) {
    intents.push({
      type: 'complete',
      reason: `${what}: the drain did not finish within ${Math.round(bound / 1000)} s (${input.drain.reason}): completing the lifecycle action`,
    });
    return { leaving, intents, reason: 'bound reached' };
  }
  const every = memory.hook.heartbeatTimeoutMs * HEARTBEAT_FRACTION;
  if (memory.lastHeartbeatMono === undefined || nowMono - memory.lastHeartbeatMono >= every)
    intents.push({ type: 'heartbeat', reason: `${what}: drain ${input.drain.phase} (${input.drain.reason}): keeping the lifecycle action open` });
  return { leaving, intents, reason: `${what}: drain ${input.drain.phase}` };
}

/** When the next step is due for the lifecycle (a heartbeat or the bound), or undefined. */
export function lifecycleWakeAt(input: LifecycleInput): number | undefined {
  const hook = input.memory.hook;
  if (!leavingReason(input.settings, input.observed) || !hook?.hookName || input.memory.actionOver) return undefined;
  const nextBeat = (input.memory.lastHeartbeatMono ?? input.nowMono) + hook.heartbeatTimeoutMs * HEARTBEAT_FRACTION;
  const bound = (input.memory.leavingSinceMono ?? input.nowMono) + Math.min(input.settings.completeBoundMs, hook.globalTimeoutMs);
  return Math.min(nextBeat, bound);
}
