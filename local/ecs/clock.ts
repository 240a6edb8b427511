// Time for the emulator and the simulated runtime. Everything that ages (stopped-task retention,
// throttling buckets, start latency, health start periods, crash schedules) reads an injected
// clock, so tests can move time by hand instead of sleeping.

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export interface Timer {
  cancel(): void;
}

/** A clock that can also schedule callbacks on its own time line. */
export interface TimerClock extends Clock {
  setTimer(callback: () => void, delayMs: number): Timer;
}

export const systemClock: TimerClock = {
  now: () => Date.now(),
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

/** A clock for tests: time moves only through advance(); due timers run in order, synchronously. */
export class ManualClock implements TimerClock {
  private current: number;
  private seq = 0;
  private pending: PendingTimer[] = [];

  constructor(start = Date.UTC(2026, 0, 1, 0, 0, 0)) {
    this.current = start;
  }

  now(): number {
    return this.current;
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
