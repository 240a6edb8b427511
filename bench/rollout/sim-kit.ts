// What the simulated world is made of: an event queue in simulated time, ECS's token buckets, and
// a meter of DynamoDB requests and units per item and partition key per second.
import { P, type Params } from './params.js';

// ---- the event queue: a binary heap on (time, sequence) ----

export class EventQueue {
  private times: number[] = [];
  private seqs: number[] = [];
  private fns: (() => void)[] = [];
  private seq = 0;
  now = 0;
  at(t: number, fn: () => void): void {
    const times = this.times;
    const seqs = this.seqs;
    const fns = this.fns;
    let i = times.length;
    const s = this.seq++;
    times.push(t);
    seqs.push(s);
    fns.push(fn);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (times[p]! < t || (times[p] === t && seqs[p]! < s)) break;
      times[i] = times[p]!;
      seqs[i] = seqs[p]!;
      fns[i] = fns[p]!;
      i = p;
    }
    times[i] = t;
    seqs[i] = s;
    fns[i] = fn;
  }
  /** Runs events until `stop()` or the horizon; returns the events run. */
  run(stop: () => boolean, horizon: number): number {
    let n = 0;
    while (this.times.length > 0 && !stop()) {
      const t = this.times[0]!;
      const fn = this.fns[0]!;
      this.pop();
      if (t > horizon) break;
      this.now = t;
      fn();
      n++;
    }
    return n;
  }
  private pop(): void {
    const times = this.times;
    const seqs = this.seqs;
    const fns = this.fns;
    const lastT = times.pop()!;
    const lastS = seqs.pop()!;
    const lastF = fns.pop()!;
    const n = times.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (times[r]! < times[l]! || (times[r] === times[l] && seqs[r]! < seqs[l]!))) c = r;
      if (lastT < times[c]! || (lastT === times[c] && lastS < seqs[c]!)) break;
      times[i] = times[c]!;
      seqs[i] = seqs[c]!;
      fns[i] = fns[c]!;
      i = c;
    }
    times[i] = lastT;
    seqs[i] = lastS;
    fns[i] = lastF;
  }
}

// ---- ECS: a token bucket per API (StopTask, StartTask) ----

export class TokenBucket {
  private tokens: number;
  private last = 0;
  calls = 0;
  throttled = 0;
  constructor(
    private readonly burst: number,
    private readonly ratePerSecond: number,
  ) {
    this.tokens = burst;
  }
  take(t: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    this.calls++;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.throttled++;
    return false;
  }
}

export const peak = (xs: (number | undefined)[]): number => xs.reduce<number>((m, x) => (x !== undefined && x > m ? x : m), 0);

// ---- DynamoDB: requests and units per item key and per partition key, in 1-second buckets ----

export class Meter {
  requests = 0;
  failedTransactions = 0;
  readonly requestsByKind = new Map<string, number>();
  private readonly itemBuckets = new Map<string, Map<number, number>>();
  private readonly partitions = new Map<string, { rcu: number[]; wcu: number[] }>();
  /** Units on the control item alone (one item cannot be split across partitions). */
  readonly control = { rcu: [] as number[], wcu: [] as number[] };
  private readonly cancelledWcu = new Map<string, number[]>();
  request(t: number, kind: string, pk: string, items: readonly string[], rcu: number, wcu: number, requests = 1, cancelled = false): void {
    this.requests += requests;
    this.requestsByKind.set(kind, (this.requestsByKind.get(kind) ?? 0) + requests);
    const second = Math.floor(t / 1000);
    if (items[0] === 'ROLLOUT') {
      this.control.rcu[second] = (this.control.rcu[second] ?? 0) + rcu;
      this.control.wcu[second] = (this.control.wcu[second] ?? 0) + wcu / items.length;
    }
    if (cancelled) {
      let series = this.cancelledWcu.get(pk);
      if (!series) this.cancelledWcu.set(pk, (series = []));
      series[second] = (series[second] ?? 0) + wcu;
    }
    for (const sk of items) {
      const key = `${pk}/${sk}`;
      let buckets = this.itemBuckets.get(key);
      if (!buckets) this.itemBuckets.set(key, (buckets = new Map()));
      buckets.set(second, (buckets.get(second) ?? 0) + requests);
    }
    this.units(pk, second, rcu, wcu);
  }
  units(pk: string, second: number, rcu: number, wcu: number): void {
    let p = this.partitions.get(pk);
    if (!p) this.partitions.set(pk, (p = { rcu: [], wcu: [] }));
    p.rcu[second] = (p.rcu[second] ?? 0) + rcu;
    p.wcu[second] = (p.wcu[second] ?? 0) + wcu;
  }
  /** Requests to one item counted in bulk per second (the change marker). */
  bulkItem(pk: string, sk: string, perSecond: (second: number) => number, seconds: number, rcuEach: number): void {
    const key = `${pk}/${sk}`;
    let buckets = this.itemBuckets.get(key);
    if (!buckets) this.itemBuckets.set(key, (buckets = new Map()));
    for (let s = 0; s < seconds; s++) {
      const n = perSecond(s);
      if (n === 0) continue;
      this.requests += n;
      this.requestsByKind.set('GetItem marker', (this.requestsByKind.get('GetItem marker') ?? 0) + n);
      buckets.set(s, (buckets.get(s) ?? 0) + n);
      this.units(pk, s, n * rcuEach, 0);
    }
  }
  busiestItem(): { key: string; peak: number } {
    let best = { key: '-', peak: 0 };
    for (const [key, buckets] of this.itemBuckets) for (const n of buckets.values()) if (n > best.peak) best = { key, peak: n };
    return best;
  }
  /** Peak units per second per partition key; `wcuUncancelled`: without cancelled transactions (if they were free). */
  partitionPeaks(): { pk: string; rcu: number; wcu: number; wcuUncancelled: number }[] {
    return [...this.partitions].map(([pk, p]) => {
      const cancelled = this.cancelledWcu.get(pk) ?? [];
      return { pk, rcu: peak(p.rcu), wcu: peak(p.wcu), wcuUncancelled: peak(p.wcu.map((w, i) => (w ?? 0) - (cancelled[i] ?? 0))) };
    });
  }
}

// ---- what a run reports, and the names and bounds both systems share ----

export interface Figures {
  label: string;
  n: number;
  maxUnavailable: string;
  limit: number;
  completedMs: number | undefined;
  allReadyMs: number | undefined;
  outcome: string;
  reason: string;
  lowerBoundMs: number;
  maxUnavailableSeen: number;
  dynamoRequests: number;
  dynamoRequestsNoMarker: number;
  failedTransactions: number;
  busiest: { key: string; peak: number };
  partitions: { pk: string; rcu: number; wcu: number; wcuUncancelled: number }[];
  controlPeak: { rcu: number; wcu: number };
  requestsByKind: Map<string, number>;
  ecsCalls: number;
  ecsThrottled: number;
  extraEcsCalls: number;
  events: number;
  wallMs: number;
  failedInstances: number;
}

export const ENV = 'logs';
export const CLUSTER = 'fleet';
export const PK_ENV = `ENV#${ENV}`;
export const PK_CLUSTER = `CLUSTER#${CLUSTER}`;
export const DEPLOYMENT = 'dep-2';
export const TARGET = 2;

export function lowerBound(n: number, limit: number, p: Params = P): number {
  return Math.ceil(n / limit) * (p.stopMs + p.startMs + p.readyMs + p.bakeSeconds * 1000);
}

export function backoffMs(attempt: number, random: () => number): number {
  const cap = Math.min(60_000, 1_000 * 2 ** attempt);
  return cap / 2 + random() * (cap / 2);
}
