// The decision of one step before pacing (pure): the drain marks what it stops as not wanted here,
// decide decides per environment, then the ordered start and the drain's hold may turn starts into
// waits. The Reconciler and the property tests run exactly this composition.
import type { DecideOptions, Decision, Desired, Now, Observed } from '../model.js';
import { decide } from './decide.js';
import { applyDrain, holdForDrain, type DrainPlan } from './drain.js';
import { orderStarts } from './order.js';

export interface StepInput {
  desired: Desired;
  observed: Observed;
  now: Now;
  options: DecideOptions;
  drain: DrainPlan;
  /** Since when each environment has been wanted here and not ready (monotonic ms). */
  notReadySince: Readonly<Record<string, number>>;
}

export function decideStep(input: StepInput): Decision {
  const decided = decide(applyDrain(input.desired, input.drain), input.observed, input.now, input.options);
  const ordered = orderStarts(decided, { desired: input.desired, notReadySince: input.notReadySince, nowMono: input.now.monoMs });
  return holdForDrain(ordered, input.drain);
}
