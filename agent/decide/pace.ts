// Pacing: the one place that may hold a `replace` intent, between decide (what each environment
// needs) and plan (how to carry it out). Kept separate, as Nomad keeps its limit apart from its
// reconciler: decide never needs to know how many other instances are replacing at the moment.
import type { ClaimRollout } from '../../core/records.js';
import type { Decision, EnvDecision, Intent } from '../model.js';

type Replace = Extract<Intent, { type: 'replace' }>;

/** Whether this instance may replace its daemon of an environment now. */
export interface ReplacementBudget {
  /** Admitted with `rollout`: the instance's part to record in its claim (with the counter) before the replacement. */
  admit(environment: string, replace: Replace): { admitted: true; rollout?: ClaimRollout } | { admitted: false; reason: string };
}

/** Every replacement may go now: the instance replaces its daemon as soon as it reads a new revision. */
export const UNPACED: ReplacementBudget = { admit: () => ({ admitted: true }) };

/** The decision with every replacement the budget does not admit turned into a wait that says why. */
export function pace(decision: Decision, budget: ReplacementBudget): Decision {
  return { ...decision, environments: decision.environments.map((env) => paceEnvironment(env, budget)) };
}

function paceEnvironment(env: EnvDecision, budget: ReplacementBudget): EnvDecision {
  if (!env.intents.some((i) => i.type === 'replace')) return env;
  let held: string | undefined;
  let rollout: ClaimRollout | undefined;
  const intents = env.intents.map((intent): Intent => {
    if (intent.type !== 'replace') return intent;
    const verdict = budget.admit(env.environment, intent);
    if (verdict.admitted) {
      rollout = verdict.rollout;
      return intent;
    }
    held = verdict.reason;
    return { type: 'wait', reason: `replacement of ${intent.old.taskArn} held: ${verdict.reason}` };
  });
  const claim = rollout && env.claim ? { ...env.claim, rollout } : env.claim;
  return held === undefined
    ? { ...env, intents, claim }
    : { ...env, intents, claim, report: { ...env.report, reason: `${env.report.reason} (held: ${held})` } };
}
