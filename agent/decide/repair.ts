// Critical-daemon repair (docs/deploying.md "Critical-daemon repair"). Pure: what the instance
// does about a critical daemon that crash-loops (the restart policy's threshold) or stays not ready
// past its healthy deadline.
//
// - Such a daemon marks the instance degraded (`blox-edge.daemons = degraded`), whatever `repair` says.
// - With `repair: drain` or `replace`, the instance repairs only once it holds a slot of the
//   environment's repair budget (core/records/repair.ts), and never while the environment is in
//   the middle of its own rollout (an unfinished rollout control for its active deployment, or
//   one not read yet): the rollout's failure handling owns that case.
// - Holding a slot: drain the instance; `replace` also sets it Unhealthy in its Auto Scaling group.
// - The slot is given back once the instance is ACTIVE and no daemon repairs it any more (an
//   operator put it back, or a new revision fixed the daemon); a draining instance keeps its slot.
// - On a DRAINING instance a stopped daemon is not a failure (daemons stop last on purpose); a
//   crash loop still is.
import type { RepairAction } from '../../core/records.js';

export interface RepairEnvInput {
  environment: string;
  critical: boolean;
  matching: boolean;
  revision: number;
  order: number;
  repair: RepairAction;
  crashLoop: boolean;
  /** How long its daemon has been not ready without a break (0: ready now). */
  notReadyForMs: number;
  healthyDeadlineMs: number;
  /** The environment's active deployment: rolling out (an unfinished control), done, or not known yet. */
  rollout: 'none' | 'unfinished' | 'unknown';
  /** This instance holds a slot of the environment's repair budget; undefined: not read yet. */
  holding: boolean | undefined;
}

export interface RepairInput {
  environments: readonly RepairEnvInput[];
  /** The instance's ECS status; undefined: not known yet. */
  ecsStatus: string | undefined;
  /** SetInstanceHealth Unhealthy answered already. */
  markedUnhealthy: boolean;
}

export type RepairIntent =
  | { type: 'read-budget'; environment: string; reason: string }
  | { type: 'take-budget'; environment: string; action: 'drain' | 'replace'; revision: number; reason: string }
  | { type: 'drain-self'; environment: string; reason: string }
  | { type: 'set-unhealthy'; environment: string; reason: string }
  | { type: 'release-budget'; environment: string; reason: string };

export interface RepairDecision {
  /** The failing critical daemons (the instance is degraded while there is one). */
  degraded: { environment: string; reason: string }[];
  intents: RepairIntent[];
  /** Why nothing repairs, when a daemon is degraded and nothing does (for the log and status). */
  held?: string;
}

export function failing(env: RepairEnvInput, draining: boolean): string | undefined {
  if (!env.critical || !env.matching) return undefined;
  if (env.crashLoop) return 'critical daemon crash-looping (restart policy threshold)';
  if (!draining && env.notReadyForMs >= env.healthyDeadlineMs)
    return `critical daemon not ready for ${Math.round(env.notReadyForMs / 1000)} s (healthy deadline ${Math.round(env.healthyDeadlineMs / 1000)} s)`;
  return undefined;
}

export function decideRepair(input: RepairInput): RepairDecision {
  const draining = input.ecsStatus === 'DRAINING';
  const degraded: RepairDecision['degraded'] = [];
  for (const env of input.environments) {
    const reason = failing(env, draining);
    if (reason) degraded.push({ environment: env.environment, reason });
  }
  const intents: RepairIntent[] = [];
  const failingNames = new Set(degraded.map((d) => d.environment));
  // One environment repairs the instance: the first by order, then name, whose revision asks for it.
  const candidates = input.environments
    .filter((e) => failingNames.has(e.environment) && e.repair !== 'none')
    .sort((a, b) => a.order - b.order || a.environment.localeCompare(b.environment));
  let held: string | undefined;
  const repairing = candidates.find((e) => e.holding === true) ?? candidates[0];
  if (repairing && input.ecsStatus !== undefined) {
    const why = degraded.find((d) => d.environment === repairing.environment)?.reason ?? '';
    const action = repairing.repair as 'drain' | 'replace';
    if (repairing.holding === undefined)
      intents.push({ type: 'read-budget', environment: repairing.environment, reason: 'is this instance holding the repair budget?' });
    else if (!repairing.holding && repairing.rollout !== 'none')
      held = `${repairing.environment}: ${why}; no repair while the environment ${repairing.rollout === 'unknown' ? 'may be' : 'is'} in its own rollout (its failure handling owns it)`;
    else if (!repairing.holding)
      intents.push({ type: 'take-budget', environment: repairing.environment, action, revision: repairing.revision, reason: `${why}: repair (${action})` });
    else {
      if (!draining) intents.push({ type: 'drain-self', environment: repairing.environment, reason: `${why}: repair (${action}): draining the instance` });
      if (action === 'replace' && !input.markedUnhealthy)
        intents.push({
          type: 'set-unhealthy',
          environment: repairing.environment,
          reason: `${why}: repair (replace): instance set Unhealthy in its Auto Scaling group`,
        });
    }
  } else if (degraded.length > 0) held = `${degraded.map((d) => `${d.environment}: ${d.reason}`).join('; ')} (repair: none)`;
  if (input.ecsStatus === 'ACTIVE')
    for (const env of input.environments)
      if (env.holding === true && env !== repairing && !(failingNames.has(env.environment) && env.repair !== 'none'))
        intents.push({ type: 'release-budget', environment: env.environment, reason: 'instance ACTIVE and its daemon repairs it no more' });
  return held === undefined ? { degraded, intents } : { degraded, intents, held };
}
