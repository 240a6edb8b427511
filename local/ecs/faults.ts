// Fault injection for tests and benchmarks: per-operation latency, error rate, a token-bucket
// throttle per operation (ThrottlingException "Rate exceeded", as ECS answers), and a frozen
// endpoint where requests hang until unfrozen. An operation's own setting wins over '*'.
import type { Clock } from '../../core/clock.js';
import { EcsError, type EcsErrorType } from './errors.js';

export interface ThrottleSettings {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size: how many requests may pass at once after a quiet period. */
  burst: number;
}

export interface FaultInjector {
  setLatency(operation: string, ms: number): void;
  /** Fails `rate` (0..1) of the operation's requests with `errorType` (default ServerException). */
  setErrorRate(operation: string, rate: number, errorType?: EcsErrorType): void;
  setThrottle(operation: string, settings: ThrottleSettings | undefined): void;
  /** Requests received while frozen hang (no answer) until unfreeze(); then they run normally. */
  freeze(): void;
  unfreeze(): void;
  readonly frozen: boolean;
  /** Removes every fault and releases frozen requests. */
  clear(): void;
}

interface Bucket {
  settings: ThrottleSettings;
  tokens: number;
  updatedAt: number;
}

/** The injector the emulator consults on every request. */
export class Faults implements FaultInjector {
  private readonly latency = new Map<string, number>();
  private readonly errorRates = new Map<string, { rate: number; type: EcsErrorType }>();
  private readonly throttles = new Map<string, ThrottleSettings>();
  private readonly buckets = new Map<string, Bucket>();
  private waiters: Array<() => void> = [];
  private isFrozen = false;

  constructor(
    private readonly clock: Clock,
    private readonly rng: () => number = Math.random,
  ) {}

  setLatency(operation: string, ms: number): void {
    if (!(ms >= 0)) throw new RangeError('latency must be >= 0');
    // 0 on one operation overrides a '*' setting; 0 on '*' removes it.
    if (ms === 0 && operation === '*') this.latency.delete(operation);
    else this.latency.set(operation, ms);
  }

  setErrorRate(operation: string, rate: number, errorType: EcsErrorType = 'ServerException'): void {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError('error rate must be within 0..1');
    if (rate === 0 && operation === '*') this.errorRates.delete(operation);
    else this.errorRates.set(operation, { rate, type: errorType });
  }

  setThrottle(operation: string, settings: ThrottleSettings | undefined): void {
    this.buckets.clear();
    if (!settings) {
      this.throttles.delete(operation);
      return;
    }
    if (!(settings.ratePerSecond >= 0) || !(settings.burst >= 1)) throw new RangeError('throttle needs ratePerSecond >= 0 and burst >= 1');
    this.throttles.set(operation, { ...settings });
  }

  freeze(): void {
    this.isFrozen = true;
  }

  unfreeze(): void {
    this.isFrozen = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  get frozen(): boolean {
    return this.isFrozen;
  }

  clear(): void {
    this.latency.clear();
    this.errorRates.clear();
    this.throttles.clear();
    this.buckets.clear();
    this.unfreeze();
  }

  /** Waits while frozen. */
  async whileFrozen(): Promise<void> {
    while (this.isFrozen) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  latencyOf(operation: string): number {
    return this.latency.get(operation) ?? this.latency.get('*') ?? 0;
  }

  /** Throws the injected error for this request, if any: throttling first, then the error rate. */
  check(operation: string): void {
    const throttleKey = this.throttles.has(operation) ? operation : this.throttles.has('*') ? '*' : undefined;
    if (throttleKey !== undefined) {
      // '*' is one bucket per operation too: "a token bucket per operation".
      const settings = this.throttles.get(throttleKey) as ThrottleSettings;
      const now = this.clock.wallMs();
      let bucket = this.buckets.get(operation);
      if (!bucket) {
        bucket = { settings, tokens: settings.burst, updatedAt: now };
        this.buckets.set(operation, bucket);
      }
      bucket.tokens = Math.min(settings.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * settings.ratePerSecond);
      bucket.updatedAt = now;
      if (bucket.tokens < 1) throw new EcsError('ThrottlingException', 'Rate exceeded');
      bucket.tokens -= 1;
    }
    const errors = this.errorRates.get(operation) ?? this.errorRates.get('*');
    if (errors && this.rng() < errors.rate) {
      throw new EcsError(errors.type, errors.type === 'ThrottlingException' ? 'Rate exceeded' : `Injected fault: ${errors.type}`);
    }
  }
}
