// The rollout's part of pacing, for one step: a ReplacementBudget that asks the rollout gate for
// every `replace`, and the follow-ups (release after the bake, failure after the healthy deadline)
// of environments whose instance is admitted. Pure; the reconciler gathers the inputs.
import type { ClaimRollout, DeploymentConfiguration } from '../../core/records.js';
import type { ClaimView, Decision, EnvDecision, ObservedTask } from '../model.js';
import type { ReplacementBudget } from './pace.js';
import { isReady } from './report.js';
import { activePollMs, admission, followUp, windowDraw, type ControlView } from './rollout.js';

export interface RolloutEnvInput {
  deploymentId: string | undefined;
  control: ControlView;
  config: DeploymentConfiguration;
  targetRevision: number;
  claim: ClaimView | undefined;
  /** How long the daemon it reports has been ready without a break. */
  readyForMs: number;
}

export interface RolloutStepInput {
  environments: ReadonlyMap<string, RolloutEnvInput>;
  tasks: readonly ObservedTask[] | undefined;
  instanceId: string;
  /** The agent's rolloutPollMs (the window of a waiting instance's draw, stretched in a large fleet). */
  pollMs: number;
  nowWallMs: number;
}

/** The budget that admits replacements through the rollout gate. */
export function rolloutBudget(input: RolloutStepInput): ReplacementBudget {
  return {
    admit(environment, replace) {
      const env = input.environments.get(environment);
      if (!env) return { admitted: true };
      const old = input.tasks?.find((t) => t.taskArn === replace.old.taskArn);
      const windowMs = activePollMs(input.pollMs, env.control.state === 'read' ? env.control.control.desired : 0);
      const verdict = admission({
        deploymentId: env.deploymentId,
        control: env.control,
        config: env.config,
        claimRollout: env.claim?.item?.rollout,
        oldReady: isReady(old),
        surge: replace.surge,
        instanceId: input.instanceId,
        draw: windowDraw(input.instanceId, env.deploymentId ?? '', input.nowWallMs, windowMs),
        windowMs,
        nowWallMs: input.nowWallMs,
      });
      if (verdict.verdict === 'hold') return { admitted: false, reason: verdict.reason };
      return verdict.verdict === 'admit' ? { admitted: true, rollout: verdict.rollout } : { admitted: true };
    },
  };
}

/** The decision with each admitted instance's release or failure recorded, and every report saying its part. */
export function recordRolloutProgress(decision: Decision, input: RolloutStepInput): Decision {
  return { ...decision, environments: decision.environments.map((env) => progressOf(env, input)) };
}

function progressOf(env: EnvDecision, input: RolloutStepInput): EnvDecision {
  const rollout = input.environments.get(env.environment);
  if (!rollout || rollout.control.state !== 'read') return env;
  const item = rollout.claim?.item;
  const recorded = env.claim?.rollout ?? item?.rollout;
  let part: ClaimRollout | undefined = recorded?.deploymentId === rollout.control.control.deploymentId ? recorded : undefined;
  let claim = env.claim;
  const next = followUp({
    control: rollout.control,
    config: rollout.config,
    claimRollout: part,
    targetRevision: rollout.targetRevision,
    report: env.report,
    readyForMs: rollout.readyForMs,
    nowWallMs: input.nowWallMs,
  });
  if (next && item && (rollout.claim?.state === 'mine' || rollout.claim?.state === 'takeable')) {
    const base = claim ?? { ...(item.current ? { current: item.current } : {}), ...(item.next ? { next: item.next } : {}), attempts: item.attempts };
    claim = { ...base, rollout: next };
    part = next;
  }
  if (!part) return claim === env.claim ? env : { ...env, claim };
  const report = { ...env.report, rollout: { deploymentId: part.deploymentId, state: part.state, ...(part.reason ? { reason: part.reason } : {}) } };
  return { ...env, claim, report };
}
