// Whether the steward's lease, as this agent has read it, has run out. Pure; the agents and the
// rollout bench judge it with this one rule.
//
// Invariant: a lease is judged expired only on what reads showed — its renewal count stood still
// across reads at least a lease apart — never on the time since the last read. An agent that reads
// the control once a minute (it has nothing left to replace) would otherwise take a lease of 30 s
// for expired between its reads, while the steward renews it every 10 s, and try a take-over
// conditional on a count long gone: refused every time, a wasted write on the control's partition
// from every such agent of the fleet every steward interval.
import type { RolloutControl } from '../../core/records.js';

export interface LeaseWatch {
  deploymentId: string;
  /** The renewal count seen (undefined: no steward). */
  renewals: number | undefined;
  /** When a read first showed this count (monotonic ms). */
  sinceMono: number;
  /** When the latest read still showed it. */
  confirmedMono: number;
}

/** The watch after a read of `control` at `nowMono`. */
export function observeLease(watch: LeaseWatch | undefined, control: RolloutControl, nowMono: number): LeaseWatch {
  const renewals = control.steward?.renewals;
  if (watch === undefined || watch.deploymentId !== control.deploymentId || watch.renewals !== renewals)
    return { deploymentId: control.deploymentId, renewals, sinceMono: nowMono, confirmedMono: nowMono };
  return { ...watch, confirmedMono: nowMono };
}

/** The watch once this agent holds the lease with `renewals` (taken or renewed by its own write). */
export function heldLease(deploymentId: string, renewals: number, nowMono: number): LeaseWatch {
  return { deploymentId, renewals, sinceMono: nowMono, confirmedMono: nowMono };
}

/** No steward, or its count unchanged across reads at least its lease apart. */
export function leaseExpired(watch: LeaseWatch, control: RolloutControl): boolean {
  if (control.steward === undefined) return true;
  return watch.renewals === control.steward.renewals && watch.confirmedMono - watch.sinceMono >= control.steward.leaseMs;
}
