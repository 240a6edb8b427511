// Ordered start (pure), a gate after decide like pace: a daemon starts only after every daemon of
// lower `order` that should run on this instance is ready, or once that daemon's healthy deadline
// (its revision's `deploymentConfiguration.healthyDeadlineSeconds`) has passed since it was first
// seen wanted and not ready here; then it starts anyway and its report names the blocker.
// Invariants:
// - the gate only ever turns a `start` intent into a `wait` (it never adds a start or a stop), so
//   every safety rule of decide and plan still holds after it;
// - equal orders do not wait for each other; replacements (rollouts) are not ordered, only starts;
// - a blocker is an environment whose report says it should run here (matching) and is not ready;
// - a daemon held here is not a blocker's clock yet: `heldByOrder` tells the agent's memory to
//   start its deadline only once it may start (else the third of three would not wait for the
//   second after a long wait for the first).
import type { Decision, Desired, EnvDecision, Intent } from '../model.js';

export interface OrderInput {
  /** The desired state the decision was made on (orders and deadlines of its revisions). */
  desired: Desired;
  /** Monotonic time since which each environment has been wanted here and not ready (the agent's memory). */
  notReadySince: Readonly<Record<string, number>>;
  nowMono: number;
}

interface Blocker {
  environment: string;
  order: number;
  /** When its healthy deadline passes (monotonic). */
  deadlineMono: number;
}

/** The decision with every start that a lower-order daemon still holds turned into a wait that says why. */
export function orderStarts(decision: Decision, input: OrderInput): Decision {
  const orders = new Map<string, { order: number; deadlineMs: number }>();
  for (const env of input.desired.environments ?? [])
    if (env.kind === 'valid')
      orders.set(env.name, { order: env.revision.order, deadlineMs: env.revision.deploymentConfiguration.healthyDeadlineSeconds * 1000 });
  const notReady: Blocker[] = [];
  for (const env of decision.environments) {
    const known = orders.get(env.environment);
    if (!known || !env.report.matching || env.report.ready) continue;
    const since = input.notReadySince[env.environment] ?? input.nowMono;
    notReady.push({ environment: env.environment, order: known.order, deadlineMono: since + known.deadlineMs });
  }
  if (notReady.length === 0) return decision;
  const environments = decision.environments.map((env) => gate(env, orders.get(env.environment)?.order, notReady, input.nowMono));
  const heldByOrder = environments
    .filter((env, i) => env !== decision.environments[i] && env.intents.some((x) => x.type === 'wait' && x.reason.startsWith(HOLD)))
    .map((env) => env.environment);
  return { ...decision, environments, ...(heldByOrder.length > 0 ? { heldByOrder } : {}) };
}

const HOLD = 'ordered start:';

function gate(env: EnvDecision, order: number | undefined, notReady: Blocker[], nowMono: number): EnvDecision {
  if (order === undefined || !env.report.matching) return env;
  const lower = notReady.filter((b) => b.order < order);
  if (lower.length === 0) return env;
  const holding = lower.filter((b) => b.deadlineMono > nowMono);
  const passed = lower.filter((b) => b.deadlineMono <= nowMono);
  const starts = env.intents.some((i) => i.type === 'start');
  if (holding.length > 0 && starts) {
    const until = Math.min(...holding.map((b) => b.deadlineMono));
    const why = `${HOLD} waiting for ${names(holding)} to be ready (starts anyway in ${until - nowMono} ms)`;
    const intents = env.intents.map((i): Intent => (i.type === 'start' ? { type: 'wait', untilMono: until, reason: why } : i));
    // Nothing is started, so nothing needs recording: the claim stays as it is.
    return { ...env, intents, claim: undefined, report: { ...env.report, state: 'starting', reason: why } };
  }
  if (passed.length === 0 || (!starts && env.report.taskArn === undefined)) return env;
  // Started (or running) without the blockers: said in the start's reason and, while it lasts, in the report.
  const why = `${names(passed)} not ready after ${passed.length > 1 ? 'their' : 'its'} healthy deadline: started without waiting`;
  const intents = env.intents.map((i): Intent => (i.type === 'start' ? { ...i, reason: `${i.reason} (${why})` } : i));
  return { ...env, intents, report: { ...env.report, reason: `${env.report.reason} (${why})` } };
}

const names = (blockers: Blocker[]): string => blockers.map((b) => `${b.environment} (order ${b.order})`).join(', ');
