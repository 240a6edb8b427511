// What every resource module of the emulator works with: the state, the task lifecycle, the
// clock and the randomness placement breaks ties with.
import type { Clock } from '../../core/clock.js';
import type { Log, TaskLifecycle } from './lifecycle.js';
import type { EcsState, Json } from './state.js';

export interface EcsContext {
  state: EcsState;
  lifecycle: TaskLifecycle;
  clock: Clock;
  rng: () => number;
  log: Log;
}

/** ECS operations by name, each from a request to its answer (or an EcsError thrown). */
export type Operations = Record<string, (input: Json) => Json>;
