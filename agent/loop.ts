// The step cadence of one agent: run a step, sleep for as long as it asks (or until woken by an
// event), and tell waiters and /healthz that the loop is alive. Time comes from the agent's clock;
// timers are the platform's.
import type { Clock } from '../core/clock.js';

export type LoopPhase = 'starting' | 'waiting-for-ecs-agent' | 'running' | 'stopping' | 'stopped';

export class Loop {
  private phaseNow: LoopPhase = 'starting';
  private running = false;
  private done: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private waiters: Array<() => void> = [];
  private stepsDone = 0;
  private lastProgressMono = 0;

  constructor(
    private readonly clock: Clock,
    /** How long to sleep after a step that failed. */
    private readonly tickMs: number,
    private readonly onStepFailed: (error: unknown) => void,
    private readonly onStepDone: (durationMs: number) => void,
  ) {}

  get phase(): LoopPhase {
    return this.phaseNow;
  }

  get steps(): number {
    return this.stepsDone;
  }

  get isRunning(): boolean {
    return this.running;
  }

  setPhase(phase: LoopPhase): void {
    this.phaseNow = phase;
  }

  /** Monotonic milliseconds since the loop last showed it is alive. */
  sinceProgress(): number {
    return this.clock.monoMs() - this.lastProgressMono;
  }

  /** The loop is alive (waiting with backoff counts). */
  alive(): void {
    this.lastProgressMono = this.clock.monoMs();
  }

  /** Runs `prepare` once, then `step` until stopped; `step` returns how long to sleep. */
  start(prepare: () => Promise<boolean>, step: () => Promise<number>, onFatal: (error: unknown) => void): void {
    if (this.running) return;
    this.running = true;
    this.alive();
    this.done = this.run(prepare, step).catch((error: unknown) => {
      onFatal(error);
      throw error;
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.phaseNow = 'stopping';
    this.wake();
    await this.done?.catch(() => undefined);
    this.phaseNow = 'stopped';
    for (const w of this.waiters.splice(0)) w();
  }

  /** Ends the current sleep at once (an event arrived). */
  wake(): void {
    const resolve = this.wakeUp;
    this.wakeUp = undefined;
    resolve?.();
  }

  /** Resolves after the next completed step (tests). */
  nextStep(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Sleeps `ms`, or less when woken or stopped. */
  sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.wakeUp = undefined;
          resolve();
        },
        Math.max(0, ms),
      );
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(prepare: () => Promise<boolean>, step: () => Promise<number>): Promise<void> {
    if (!(await prepare())) return;
    this.phaseNow = 'running';
    while (this.running) {
      const started = this.clock.monoMs();
      let wakeIn: number | undefined;
      try {
        wakeIn = await step();
      } catch (error) {
        this.onStepFailed(error);
      }
      this.onStepDone(this.clock.monoMs() - started);
      this.stepsDone++;
      this.alive();
      for (const w of this.waiters.splice(0)) w();
      if (!this.running) break;
      await this.sleep(wakeIn ?? this.tickMs);
    }
  }
}
