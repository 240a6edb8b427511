// Daemons last (pure): what a DRAINING instance does with its daemons. While any task this system
// did not start (a service's replica, anything else) is still on the instance, as the ECS agent's
// local /v1/tasks shows it, the daemons keep running and restarting: the log shipper outlives the
// tasks whose logs it ships. Once none is left (or the drain bound has passed), the daemons stop
// in reverse `order`: the highest order present first, the next only once every daemon above it
// has stopped; an environment with no live task releases its claim; nothing starts. `drained`:
// every daemon of this system on the instance stopped and every claim released. An instance set
// ACTIVE again is `none`: everything starts again (in order).
// Invariants (property-tested in test/unit/agent-decide-properties.test.ts):
// - no daemon is stopped for the drain while another task runs on the instance, unless the bound
//   has passed, nor before the daemons-first attribute is `pending` (closed to new work);
// - no daemon stops while a daemon of higher order is live (running or still stopping);
// - while stopping or drained, nothing is started or replaced;
// - the stops go through decide's own "not wanted here" path (the environment is marked not
//   matching, for the drain's reason), so attempts are resolved before a claim is released.
import type { DrainPhase, InstanceDrain } from '../../core/records.js';
import type { ClaimView, Decision, Desired, EnvDecision, Intent, ObservedTask } from '../model.js';

export type { DrainPhase };

/** The drain as the Reconciler, the status record and `repair` see it (the contract between `drain` and `repair`). */
export type DrainView = InstanceDrain;

export interface DrainInput {
  /** The instance's ECS status as last read (ACTIVE, DRAINING...). */
  ecsStatus: string | undefined;
  /** How long the instance has been seen DRAINING (monotonic ms; 0 when not). */
  drainingForMs: number;
  /** Past this, daemons stop even though other tasks still run (agent config `drainDaemonsTimeoutMs`). */
  boundMs: number;
  tasks: ObservedTask[] | undefined;
  /** The ECS agent's /v1/tasks answered in this step (the drain waits for nothing else). */
  localView: boolean;
  desired: Desired;
  claims: Readonly<Record<string, ClaimView>>;
  /** The daemons-first attribute is `pending` (or the feature is off): no new work lands here. */
  closed: boolean;
}

export interface DrainPlan {
  view: DrainView;
  /** Environments whose daemons stop now (or whose claim is released): marked not matching for decide. */
  stop: ReadonlyMap<string, string>;
  /** Environments that start and replace nothing now (their daemons wait for higher orders to stop). */
  hold: ReadonlyMap<string, string>;
}

const NONE: DrainPlan = { view: { phase: 'none', reason: '' }, stop: new Map(), hold: new Map() };

export function planDrain(input: DrainInput): DrainPlan {
  if (input.ecsStatus !== 'DRAINING') return NONE;
  const waiting = (reason: string): DrainPlan => ({ view: { phase: 'waiting-for-tasks', reason }, stop: new Map(), hold: new Map() });
  if (!input.tasks || !input.localView) return waiting("the instance's tasks cannot be read from the ECS agent (/v1/tasks): daemons keep running");
  if (!input.desired.environments || !input.desired.fresh) return waiting('desired state not read or stale: daemons keep running');
  // A task of an environment is a daemon of ours whatever else its tags say (decide counts it so too).
  const ofOurs = (t: ObservedTask): boolean => t.ours || t.environment !== undefined;
  const others = input.tasks.filter((t) => !ofOurs(t) && t.lastStatus !== 'STOPPED');
  const overdue = input.drainingForMs >= input.boundMs;
  const bound = formatMs(input.boundMs);
  if (others.length > 0 && !overdue)
    return waiting(`${others.length} other task${others.length > 1 ? 's' : ''} still on the instance: daemons keep running (stopped anyway after ${bound})`);
  if (!input.closed && !overdue) return waiting('closing the instance to new work first (daemons-first attribute to pending)');
  const why =
    others.length > 0 ? `drain bound of ${bound} passed with ${others.length} other task(s) still running: daemons stopped anyway` : 'no other task left';

  const orders = new Map<string, number>();
  for (const env of input.desired.environments) if (env.kind === 'valid') orders.set(env.name, env.revision.order);
  const live = input.tasks.filter((t) => ofOurs(t) && t.lastStatus !== 'STOPPED');
  const liveEnvs = new Set(live.map((t) => t.environment).filter((e): e is string => e !== undefined));
  // A start in flight (an attempt in the claim) or a recorded task not seen stopped may be a live
  // daemon the views do not show yet: it keeps its order's place until decide has resolved it.
  for (const [name, view] of Object.entries(input.claims)) {
    const item = view.item;
    if (!item) continue;
    const recorded = [item.current, item.next].some((r) => r !== undefined && !input.tasks!.some((t) => t.taskArn === r.taskArn && t.lastStatus === 'STOPPED'));
    if (item.attempts.length > 0 || recorded) liveEnvs.add(name);
  }
  const ordered = [...liveEnvs].filter((e) => orders.has(e));
  const top = ordered.length > 0 ? Math.max(...ordered.map((e) => orders.get(e)!)) : undefined;
  const stop = new Map<string, string>();
  const hold = new Map<string, string>();
  const first = ordered.filter((e) => orders.get(e) === top).sort();
  for (const [name, order] of orders) {
    if (!liveEnvs.has(name)) stop.set(name, `instance draining (${why}): daemon stopped, claim released`);
    else if (order === top) stop.set(name, `instance draining (${why}): stopping daemons in reverse order, order ${order} now`);
    else hold.set(name, `instance draining: waits for ${first.join(', ')} (order ${top}) to stop first`);
  }
  const left = live.filter((t) => t.environment === undefined || !orders.has(t.environment));
  const held = Object.entries(input.claims).filter(([, c]) => c.item !== undefined);
  if (live.length === 0 && held.length === 0) return { view: { phase: 'drained', reason: `every daemon stopped and its claim released (${why})` }, stop, hold };
  const parts = [
    first.length > 0 ? `stopping ${first.join(', ')} (order ${top})` : undefined,
    hold.size > 0 ? `then ${[...hold.keys()].sort().join(', ')}` : undefined,
    left.length > 0 ? `${left.length} task(s) of no valid environment left (stopped as orphans or left alone with an invalid record)` : undefined,
    live.length === 0 ? `releasing the claims of ${held.map(([e]) => e).join(', ')}` : undefined,
  ].filter((p): p is string => p !== undefined);
  return { view: { phase: 'stopping-daemons', reason: `${why}: ${parts.join('; ')}` }, stop, hold };
}

/** The desired state decide works on: every environment the drain stops is not wanted here, for the drain's reason. */
export function applyDrain(desired: Desired, plan: DrainPlan): Desired {
  if (plan.stop.size === 0 || !desired.environments) return desired;
  return {
    ...desired,
    environments: desired.environments.map((env) => {
      const reason = plan.stop.get(env.name);
      return env.kind === 'valid' && reason !== undefined ? { ...env, matches: false, matchReason: reason } : env;
    }),
  };
}

/** Held environments start and replace nothing: those intents become waits that say why. */
export function holdForDrain(decision: Decision, plan: DrainPlan): Decision {
  if (plan.hold.size === 0) return decision;
  return { ...decision, environments: decision.environments.map((env) => holdEnvironment(env, plan.hold.get(env.environment))) };
}

function holdEnvironment(env: EnvDecision, reason: string | undefined): EnvDecision {
  if (reason === undefined) return env;
  const held = env.intents.some((i) => i.type === 'start' || i.type === 'replace');
  const intents = env.intents.map((i): Intent => (i.type === 'start' || i.type === 'replace' ? { type: 'wait', reason } : i));
  return { ...env, intents, claim: held ? undefined : env.claim, report: { ...env.report, reason } };
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}
