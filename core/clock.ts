// The project's one notion of time. Everything that ages (leases, backoff, retention, throttling
// buckets, start latency, tombstones) reads an injected clock, so tests and simulations move time
// by hand instead of sleeping.
//   wallMs: epoch milliseconds, for records people read and for TTLs; never compared across hosts
//           for safety.
//   monoMs: a monotonic clock in whole milliseconds (every logged or reported duration is then an
//           integer), for every duration the agent judges (lease expiry, expectations, backoff).

export interface Clock {
  wallMs(): number;
  monoMs(): number;
}

export interface Timer {
  cancel(): void;
}

/** A clock that can also schedule callbacks on its own time line. */
export interface TimerClock extends Clock {
  setTimer(callback: () => void, delayMs: number): Timer;
}

export const systemClock: TimerClock = {
  wallMs: () => Date.now(),
  monoMs: () => Math.round(performance.now()),
  setTimer(callback, delayMs) {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(handle) };
  },
};

function hasTimers(clock: Clock): clock is TimerClock {
  return typeof (clock as Partial<TimerClock>).setTimer === 'function';
}

/** Schedules on the clock's own time line when it has one, else on the real one. */
export function setTimer(clock: Clock, callback: () => void, delayMs: number): Timer {
  return hasTimers(clock) ? clock.setTimer(callback, delayMs) : systemClock.setTimer(callback, delayMs);
}

interface PendingTimer {
  due: number;
  seq: number;
  callback: () => void;
  cancelled: boolean;
}

/**
 * A clock for tests and simulations: time moves only through advance() or set(); due timers run in
 * order, synchronously. The monotonic reading counts from the clock's creation.
 */
export class ManualClock implements TimerClock {
  private current: number;
  private readonly origin: number;
  private seq = 0;
  private pending: PendingTimer[] = [];

  constructor(start = Date.UTC(2026, 0, 1, 0, 0, 0)) {
    this.current = start;
    this.origin = start;
  }

  wallMs(): number {
    return this.current;
  }

  monoMs(): number {
    return this.current - this.origin;
  }

  setTimer(callback: () => void, delayMs: number): Timer {
    const timer: PendingTimer = { due: this.current + Math.max(0, delayMs), seq: this.seq++, callback, cancelled: false };
    this.pending.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** Moves time forward by `ms`, running every timer that falls due (timers they set included). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      this.pending = this.pending.filter((timer) => !timer.cancelled);
      let next: PendingTimer | undefined;
      for (const timer of this.pending) {
        if (timer.due <= target && (!next || timer.due < next.due || (timer.due === next.due && timer.seq < next.seq))) next = timer;
      }
      if (!next) break;
      next.cancelled = true;
      this.current = Math.max(this.current, next.due);
      next.callback();
    }
    this.current = target;
  }

  /** Timers not yet run. */
  pendingTimers(): number {
    return this.pending.filter((timer) => !timer.cancelled).length;
  }
}
