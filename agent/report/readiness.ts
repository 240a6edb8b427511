// Daemons first: the instance carries a custom ECS attribute (default `blox-edge.daemons`) that
// user-data registers as `pending`; the agent sets it to `ready` once every matching *critical*
// daemon is RUNNING (and HEALTHY where it has a health check), and back to `pending` while one is
// not; `degraded` while a critical daemon fails past repair's thresholds (decide/repair.ts: the
// instance keeps no new work, whatever its repair setting). Services that must wait for the daemons use the placement constraint
// `memberOf(attribute:blox-edge.daemons == ready)`. ECS applies constraints only when it places a
// task, so flipping back never moves work that already runs; it only keeps new work away. A
// DRAINING instance is `pending` from the moment the agent sees it drain (before any daemon
// stops: agent/decide/drain.ts waits for it), so an instance set ACTIVE again opens only once its
// daemons are back.
import type { Report } from '../model.js';

export type ReadinessValue = 'ready' | 'pending' | 'degraded';

export interface ReadinessInput {
  /** The attribute's name; '' turns the feature off. */
  attribute: string;
  /** The instance's attributes as last read from ECS; undefined when not read yet. */
  attributes: Record<string, string | undefined> | undefined;
  /** The last reconcile step's reports; undefined before the first step with desired state. */
  reports: readonly Report[] | undefined;
  /** Environments whose current revision is marked critical. */
  critical: ReadonlySet<string>;
  /** The instance drains: closed whatever the daemons do. */
  draining?: boolean;
  /** A critical daemon crash-loops or stays not ready past its deadline. */
  degraded?: boolean;
}

/** The value to write, or undefined when the attribute is right already or nothing is known yet. */
export function readinessAttributeChange(input: ReadinessInput): ReadinessValue | undefined {
  if (!input.attribute || !input.attributes || !input.reports) return undefined;
  const gating = input.reports.filter((r) => r.matching && input.critical.has(r.environment));
  const wanted: ReadinessValue = input.degraded ? 'degraded' : !input.draining && gating.every((r) => r.ready) ? 'ready' : 'pending';
  return input.attributes[input.attribute] === wanted ? undefined : wanted;
}
