// Starts this process issued and has not seen yet, in the manner of the Kubernetes controller's
// ControllerExpectations: expect when StartTask is sent, observed when a task with its token shows
// up, expired once the window passes (then the claim's attempt is resolved by a look-up instead).
import type { ClaimRole } from '../../core/records.js';
import type { Expectation, ObservedTask } from '../model.js';

export class Expectations {
  private items: Expectation[] = [];

  expect(token: string, role: ClaimRole, revision: number, issuedMono: number): void {
    this.items = [...this.items.filter((e) => e.role !== role), { token, role, revision, issuedMono }];
  }

  /** A start that answered with failures and no task: nothing is expected of it. */
  withdraw(token: string): void {
    this.items = this.items.filter((e) => e.token !== token);
  }

  /** Forgets the expectations whose task was seen (satisfied) or whose window ended (expired). */
  observe(tasks: readonly ObservedTask[], nowMono: number, windowMs: number): void {
    this.items = this.items.filter((e) => nowMono - e.issuedMono < windowMs && !tasks.some((t) => t.startedBy === e.token));
  }

  list(): Expectation[] {
    return [...this.items];
  }

  get size(): number {
    return this.items.length;
  }
}
