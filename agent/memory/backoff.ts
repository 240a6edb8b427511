// One retry curve's state: how many times in a row something failed and until when the next try
// waits. Every kind of backoff in the agent (StartTask, ECS stops and look-ups, DynamoDB, the
// status record, attribute writes, identity) is one of these with its own shape.
import { backoffDelay, type BackoffShape } from '../restart-policy.js';
import type { BackoffView } from '../model.js';

export class Backoff {
  private state: BackoffView | undefined;

  constructor(
    private readonly shape: BackoffShape,
    private readonly random: () => number,
  ) {}

  /** Records a failure at `nowMono`; returns the delay before the next try. */
  fail(reason: string, nowMono: number): number {
    const attempts = (this.state?.attempts ?? 0) + 1;
    const delay = backoffDelay(attempts, this.shape, this.random());
    this.state = { untilMono: nowMono + delay, attempts, reason: reason.slice(0, 300) };
    return delay;
  }

  /** A success: the next failure starts over at the initial delay. */
  clear(): void {
    this.state = undefined;
  }

  /** The backoff in force at `nowMono`, if any. */
  active(nowMono: number): BackoffView | undefined {
    return this.state && this.state.untilMono > nowMono ? this.state : undefined;
  }

  /** The last failure's backoff, elapsed or not (cleared only by a success). */
  view(): BackoffView | undefined {
    return this.state;
  }
}
