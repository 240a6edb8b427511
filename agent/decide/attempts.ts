// Start attempts: StartTask is not idempotent, so its `startedBy` token is written into the claim
// before the call, and any later decision must account for it before starting anything else.
// Pure: resolves each attempt of a claim to the task(s) it started, to "void" (proven to have
// started nothing, or its task already stopped), or to what must happen first (wait, look up).
import type { ClaimAttempt, ClaimTask } from '../../core/records.js';
import type { DecideOptions, EnvMemoryView, Expectation, Intent, Now, ObservedTask } from '../model.js';
import { isActive, isStopping } from './report.js';

export interface FoundTask {
  taskArn: string;
  attempt: ClaimAttempt;
}

export type AttemptResolution =
  /** Every attempt is accounted for: `found` tasks become claim tasks; every attempt leaves the claim. */
  { kind: 'resolved'; found: FoundTask[] } | { kind: 'blocked'; intent: Intent; reason: string };

/** An expectation is live while its start may still show up: issued within the window and not seen yet. */
function expectationLive(expectation: Expectation, tasks: readonly ObservedTask[], now: Now, options: DecideOptions): boolean {
  return now.monoMs - expectation.issuedMono < options.expectationTimeoutMs && !tasks.some((t) => t.startedBy === expectation.token);
}

export interface AttemptInput {
  environment: string;
  attempts: readonly ClaimAttempt[];
  /** The tasks the claim records (current, next). */
  recorded: readonly ClaimTask[];
  /** This environment's tasks on the instance. */
  tasks: readonly ObservedTask[];
  /** Every task on the instance (a task found by look-up may be known as another's). */
  allTasks: readonly ObservedTask[];
  memory: EnvMemoryView | undefined;
  now: Now;
  options: DecideOptions;
}

export function resolveAttempts(input: AttemptInput): AttemptResolution {
  const { tasks, now, options } = input;
  // A start this process issued and has not seen yet, whether or not the claim shows its attempt
  // (a conflict may have refreshed the claim view): never start anything while one is expected.
  const expected = (input.memory?.expectations ?? []).find((e) => expectationLive(e, tasks, now, options));
  if (expected) {
    const untilMono = expected.issuedMono + options.expectationTimeoutMs;
    return {
      kind: 'blocked',
      intent: { type: 'wait', untilMono, reason: `start ${expected.token} issued ${now.monoMs - expected.issuedMono} ms ago, not observed yet (expectation)` },
      reason: `waiting for task started by ${expected.token}`,
    };
  }
  const found: FoundTask[] = [];
  for (const attempt of input.attempts) {
    const seen = tasks.filter((t) => t.startedBy === attempt.token && (isActive(t) || isStopping(t)));
    if (seen.length > 0) {
      found.push(...seen.map((t) => ({ taskArn: t.taskArn, attempt })));
      continue;
    }
    if (tasks.some((t) => t.startedBy === attempt.token && t.lastStatus === 'STOPPED')) continue; // it ran and stopped: over
    const memo = input.memory?.attempts[attempt.token];
    const lookup = memo?.lookup;
    const here = lookup?.taskArns.filter((arn) => belongsHere(input, arn)) ?? [];
    if (here.length > 0) {
      found.push(...here.map((taskArn) => ({ taskArn, attempt })));
      continue;
    }
    const voidAfter = voidAfterMono(attempt, memo?.firstSeenMono ?? now.monoMs, now, options);
    if (lookup && (lookup.taskArns.length > 0 || lookup.conclusive || lookup.atMono >= voidAfter)) continue; // stopped since, or proven never started
    if (!lookup || now.monoMs >= voidAfter) {
      return {
        kind: 'blocked',
        intent: {
          type: 'lookup',
          token: attempt.token,
          reason: `attempt ${attempt.token} has no recorded task: look it up (ListTasks startedBy) before starting anything`,
        },
        reason: `resolving attempt ${attempt.token}`,
      };
    }
    return {
      kind: 'blocked',
      intent: {
        type: 'wait',
        untilMono: voidAfter,
        reason: `attempt ${attempt.token} not found yet; its StartTask may still be in flight or ECS may lag: look again in ${Math.round(voidAfter - now.monoMs)} ms`,
      },
      reason: `resolving attempt ${attempt.token}`,
    };
  }
  // A task the claim records that this agent cannot see at all may be one ECS does not show yet
  // (started moments ago, by a predecessor): it counts until its window has passed.
  for (const task of input.recorded) {
    if (tasks.some((t) => t.taskArn === task.taskArn) || found.some((f) => f.taskArn === task.taskArn)) continue;
    const sinceWall = task.since === undefined ? NaN : Date.parse(task.since);
    const left = Number.isFinite(sinceWall) ? sinceWall + options.expectationTimeoutMs - now.wallMs : 0;
    if (left > 0)
      return {
        kind: 'blocked',
        intent: {
          type: 'wait',
          untilMono: now.monoMs + left,
          reason: `task ${task.taskArn} recorded in the claim is not visible yet (ECS's reads may lag): wait up to ${Math.round(left)} ms before anything is started`,
        },
        reason: `waiting to see task ${task.taskArn}`,
      };
  }
  return { kind: 'resolved', found };
}

/**
 * When finding nothing proves an attempt void: a settle time after it was first seen here (ECS's
 * reads lag), and not before its expectation window ends, since a start this process did not issue
 * (it restarted, or another agent wrote it) may still be in flight. `issuedAt` comes from this
 * instance's own clock (claims are per instance); the wait is capped at one window after the
 * attempt was first seen.
 */
function voidAfterMono(attempt: ClaimAttempt, firstSeenMono: number, now: Now, options: DecideOptions): number {
  const issuedWall = Date.parse(attempt.issuedAt);
  const windowEndsMono = Number.isFinite(issuedWall)
    ? Math.min(now.monoMs + (issuedWall + options.expectationTimeoutMs - now.wallMs), firstSeenMono + options.expectationTimeoutMs)
    : firstSeenMono;
  return Math.max(firstSeenMono + options.attemptSettleMs, windowEndsMono);
}

/** A task found by look-up, unless the agent knows it as another environment's or stopped. */
function belongsHere(input: AttemptInput, arn: string): boolean {
  const known = input.allTasks.find((t) => t.taskArn === arn);
  return !known || (known.environment === input.environment && known.lastStatus !== 'STOPPED');
}
