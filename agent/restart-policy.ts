// Restarting a stopped daemon, and retrying a failed StartTask: exponential backoff with jitter and
// a cap, plus crash-loop detection. Pure: the caller passes the time and the randomness.
import type { RestartPolicy } from '../core/records.js';

export interface BackoffShape {
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
}

/**
 * The delay before retry number `attempt` (1-based): initial * multiplier^(attempt-1), capped, then
 * "equal jitter": half the delay is fixed, half is random. The fixed half keeps a crash loop from
 * turning into a tight loop; the random half spreads a fleet's retries after a shared failure.
 */
export function backoffDelay(attempt: number, shape: BackoffShape, random: number): number {
  const n = Math.max(1, Math.floor(attempt));
  const raw = shape.initialDelayMs * Math.pow(Math.max(1, shape.multiplier), n - 1);
  const capped = Math.min(shape.maxDelayMs, Number.isFinite(raw) ? raw : shape.maxDelayMs);
  const r = Math.min(1, Math.max(0, random));
  return Math.round(capped / 2 + (capped / 2) * r);
}

/** What the agent remembers about one environment's daemon stopping on this instance. */
export interface RestartState {
  /** Restarts done since the agent started (reported). */
  restarts: number;
  /** Monotonic times of the daemon's recent stops, inside the crash-loop window. */
  recentStops: number[];
  /** Monotonic time before which no restart is attempted. */
  notBeforeMono: number;
  crashLoop: boolean;
  /** The daemon stopped by itself and has not been started again: the next start is a restart. */
  restartDue: boolean;
}

export const initialRestartState = (): RestartState => ({ restarts: 0, recentStops: [], notBeforeMono: 0, crashLoop: false, restartDue: false });

/**
 * The daemon stopped at `nowMono`: the next restart waits backoffDelay(n) where n counts the stops
 * inside the crash-loop window (a daemon that ran longer than the window starts over at the
 * initial delay). `crashLoopRestarts` stops inside the window is a crash loop: reported, and the
 * delay stays at the cap while it lasts.
 */
export function onDaemonStopped(state: RestartState, policy: RestartPolicy, nowMono: number, random: number): RestartState {
  const windowMs = policy.crashLoopWindowSeconds * 1000;
  const recentStops = [...state.recentStops.filter((t) => nowMono - t < windowMs), nowMono];
  const crashLoop = recentStops.length >= policy.crashLoopRestarts;
  const delay = crashLoop ? backoffDelay(Number.MAX_SAFE_INTEGER, policy, random) : backoffDelay(recentStops.length, policy, random);
  return { restarts: state.restarts, recentStops, notBeforeMono: nowMono + delay, crashLoop, restartDue: true };
}

/** A start was issued: a restart (counted) when the daemon had stopped by itself. */
export function onStartIssued(state: RestartState): RestartState {
  return state.restartDue ? { ...state, restarts: state.restarts + 1, restartDue: false } : state;
}

/** Time passes: stops age out of the window, and a crash loop ends when they do. */
export function ageRestartState(state: RestartState, policy: RestartPolicy, nowMono: number): RestartState {
  const windowMs = policy.crashLoopWindowSeconds * 1000;
  const recentStops = state.recentStops.filter((t) => nowMono - t < windowMs);
  if (recentStops.length === state.recentStops.length) return state;
  return { ...state, recentStops, crashLoop: recentStops.length >= policy.crashLoopRestarts };
}

/** StartTask failures and throttling: the same curve with its own defaults. */
export const START_RETRY: BackoffShape = { initialDelayMs: 1_000, maxDelayMs: 60_000, multiplier: 2 };
