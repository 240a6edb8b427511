// A rollout across N instances in SIMULATED time: a discrete-event simulation (a priority queue of
// events, no real sleeping) that runs the real pure decision code of every agent — admission(),
// followUp(), counterDelta() (agent/decide/rollout.ts), counterAllows() for the conditional counter
// write (core/records/rollout.ts) and the steward's judge() (agent/steward/judge.ts) — against a
// model of DynamoDB (the control item with conditional writes, eventually consistent reads up to
// `lagMs` old, units and requests per key per second) and of ECS (StopTask and StartTask token
// buckets). Beside it, in the same run, a model of Blox v0.3's central scheduler doing the same
// replacement with no pacing. Seeded: `--seed 1` reproduces a run. Nothing is written to disk.
//
//   npx tsx bench/rollout.ts [--seed 1] [--sizes 100,1000,10000] [--lag-ms 100] [--stop-ms 2000]
//     [--start-ms 5000] [--ready-ms 5000] [--bake-s 10] [--ecs-burst 100] [--ecs-rate 40]
import { counterAllows, type ClaimRollout, type DeploymentConfiguration, type InstanceStatus, type RolloutControl } from '../core/records.js';
import { DEFAULT_DEPLOYMENT_CONFIGURATION, resolveCountOrPercent } from '../core/records.js';
import { admission, counterDelta, followUp, type ControlView } from '../agent/decide/rollout.js';
import { judge } from '../agent/steward/judge.js';
import type { Report } from '../agent/model.js';
import { seeded } from '../test/support/prng.js';

const arg = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : Number.NaN;
  return Number.isFinite(value) ? value : fallback;
};
const listArg = (name: string, fallback: number[]): number[] => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0
    ? String(process.argv[index + 1])
        .split(',')
        .map(Number)
    : fallback;
};

export interface Params {
  seed: number;
  lagMs: number;
  stopMs: number;
  startMs: number;
  readyMs: number;
  bakeSeconds: number;
  ecsBurst: number;
  ecsRatePerSecond: number;
  rolloutPollMs: number;
  rolloutIdlePollMs: number;
  markerPollMs: number;
  stewardIntervalMs: number;
  tickMs: number;
  rolloutEcsRatePerSecond: number;
  bloxTickMs: number;
}

const P: Params = {
  seed: arg('seed', 1),
  lagMs: arg('lag-ms', 100),
  stopMs: arg('stop-ms', 2_000),
  startMs: arg('start-ms', 5_000),
  readyMs: arg('ready-ms', 5_000),
  bakeSeconds: arg('bake-s', 10),
  ecsBurst: arg('ecs-burst', 100),
  ecsRatePerSecond: arg('ecs-rate', 40),
  rolloutPollMs: 5_000,
  rolloutIdlePollMs: 60_000,
  markerPollMs: 5_000,
  stewardIntervalMs: 10_000,
  tickMs: 1_000,
  rolloutEcsRatePerSecond: 20,
  bloxTickMs: 10_000,
};
const SIZES = listArg('sizes', [100, 1_000, 10_000]);
const LIMITS = { wcu: 1_000, rcu: 3_000 };
const T0 = Date.parse('2026-12-01T12:00:00.000Z');
const HORIZON_MS = 6 * 3_600_000;

// ---- the event queue: a binary heap on (time, sequence) ----

class EventQueue {
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

class TokenBucket {
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

const peak = (xs: (number | undefined)[]): number => xs.reduce<number>((m, x) => (x !== undefined && x > m ? x : m), 0);

// ---- DynamoDB: requests and units per item key and per partition key, in 1-second buckets ----

class Meter {
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

// ---- ours: agents, the control, the steward ----

type Phase = 'unaware' | 'waiting' | 'held' | 'stopping' | 'starting' | 'booting' | 'baking' | 'released';

interface Agent {
  index: number;
  id: string;
  phase: Phase;
  claim: ClaimRollout | undefined;
  view: ControlView;
  revision: number;
  ready: boolean;
  hasTask: boolean;
  readyAt: number;
  status: InstanceStatus;
  prevStatus: InstanceStatus;
  statusAt: number;
  markerPhase: number;
}

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

const ENV = 'logs';
const CLUSTER = 'fleet';
const PK_ENV = `ENV#${ENV}`;
const PK_CLUSTER = `CLUSTER#${CLUSTER}`;
const DEPLOYMENT = 'dep-2';
const TARGET = 2;

function lowerBound(n: number, limit: number): number {
  return Math.ceil(n / limit) * (P.stopMs + P.startMs + P.readyMs + P.bakeSeconds * 1000);
}

function backoffMs(attempt: number, random: () => number): number {
  const cap = Math.min(60_000, 1_000 * 2 ** attempt);
  return cap / 2 + random() * (cap / 2);
}

export function simulateOurs(n: number, maxUnavailable: string): Figures {
  const began = performance.now();
  const random = seeded(P.seed * 7919 + n + maxUnavailable.length);
  const q = new EventQueue();
  const meter = new Meter();
  const stopBucket = new TokenBucket(P.ecsBurst, P.ecsRatePerSecond);
  const startBucket = new TokenBucket(P.ecsBurst, P.ecsRatePerSecond);
  const config: DeploymentConfiguration = { ...DEFAULT_DEPLOYMENT_CONFIGURATION, maxUnavailable, maxSurge: '0', minHealthySeconds: P.bakeSeconds };
  const limit = resolveCountOrPercent(maxUnavailable, n);

  // The control item: every version with the time it was written, for reads up to lagMs old.
  const versions: { t: number; control: RolloutControl }[] = [];
  const writeControl = (t: number, control: RolloutControl) => versions.push({ t, control });
  const current = (): RolloutControl => versions[versions.length - 1]!.control;
  const readControl = (t: number, who: string): ControlView => {
    meter.request(t, `GetItem control (${who})`, PK_ENV, ['ROLLOUT'], 0.5, 0);
    const asOf = t - random() * P.lagMs;
    let lo = 0;
    let hi = versions.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (versions[mid]!.t <= asOf) lo = mid;
      else hi = mid - 1;
    }
    return { state: 'read', control: versions[lo]!.control };
  };
  writeControl(-1, {
    kind: 'RolloutControl',
    schemaVersion: 1,
    environment: ENV,
    deploymentId: DEPLOYMENT,
    targetRevision: TARGET,
    stableRevision: 1,
    phase: 'pending',
    paused: false,
    cap: 0,
    inFlight: 0,
    admitted: 0,
    canary: 0,
    desired: 0,
    spreadMs: 0,
    unlimited: false,
    steward: { owner: 'agent-0', containerInstanceId: 'ci-00000', renewals: 0, leaseMs: 3 * P.stewardIntervalMs },
    updatedAt: new Date(T0).toISOString(),
  });

  const iso = (t: number) => new Date(T0 + t).toISOString();
  const statusOf = (a: Agent, t: number): InstanceStatus => ({
    kind: 'InstanceStatus',
    schemaVersion: 1,
    cluster: CLUSTER,
    containerInstanceArn: `arn:aws:ecs:us-east-1:123456789012:container-instance/${CLUSTER}/${a.id}`,
    agentVersion: '0.1.0',
    ready: a.ready,
    degraded: false,
    daemons: [
      {
        environment: ENV,
        revision: a.revision,
        taskDefinition: `${ENV}:${a.revision}`,
        state: a.ready ? 'running' : a.hasTask ? 'starting' : 'stopping',
        ...(a.hasTask ? { taskArn: `arn:aws:ecs:us-east-1:123456789012:task/${CLUSTER}/${a.id}-${a.revision}` } : {}),
        ready: a.ready,
        matching: true,
        restarts: 0,
        ...(a.claim ? { rollout: { deploymentId: a.claim.deploymentId, state: a.claim.state } } : {}),
        since: iso(t),
      },
    ],
    updatedAt: iso(t),
    expiresAt: Math.floor((T0 + t) / 1000) + 1800,
  });
  const writeStatus = (a: Agent, t: number) => {
    a.prevStatus = a.status;
    a.status = statusOf(a, t);
    a.statusAt = t;
    meter.request(t, 'PutItem status', PK_CLUSTER, [`INSTANCE#${a.id}`], 0, 1);
  };
  const writeClaim = (a: Agent, t: number, rollout: ClaimRollout) => {
    a.claim = rollout;
    meter.request(t, 'PutItem claim', PK_ENV, [`CLAIM#${a.id}`], 0, 1);
  };
  const report = (a: Agent): Report => ({
    environment: ENV,
    state: a.ready ? 'running' : 'starting',
    revision: a.revision,
    taskDefinition: `${ENV}:${a.revision}`,
    matching: true,
    ready: a.ready,
    reason: a.ready ? 'running' : 'replacing',
  });

  let unavailable = 0;
  let maxUnavailableSeen = 0;
  let readyOnTarget = 0;
  let allReadyMs: number | undefined;
  let completedMs: number | undefined;
  let outcome = 'unfinished';
  let reason = '';
  let failedInstances = 0;
  let done = false;

  const agents: Agent[] = [];
  for (let i = 0; i < n; i++) {
    const a: Agent = {
      index: i,
      id: `ci-${String(i).padStart(5, '0')}`,
      phase: 'unaware',
      claim: undefined,
      view: { state: 'unread' },
      revision: 1,
      ready: true,
      hasTask: true,
      readyAt: -1e9,
      status: undefined as unknown as InstanceStatus,
      prevStatus: undefined as unknown as InstanceStatus,
      statusAt: -1e9,
      markerPhase: random() * P.markerPollMs,
    };
    a.status = a.prevStatus = statusOf(a, -60_000);
    agents.push(a);
  }

  const jittered = (ms: number) => ms * (0.8 + 0.4 * random());

  const poll = (a: Agent) => {
    if (done) return;
    const t = q.now;
    a.view = readControl(t, a.phase === 'released' ? 'idle' : a.phase === 'waiting' || a.phase === 'unaware' ? 'waiting' : 'in flight');
    if (a.phase === 'unaware') a.phase = 'waiting';
    if (a.phase === 'waiting') tryAdmission(a, t);
    if (a.phase === 'released') q.at(t + jittered(P.rolloutIdlePollMs), () => poll(a));
    else q.at(t + jittered(P.rolloutPollMs), () => poll(a));
  };

  const tryAdmission = (a: Agent, t: number) => {
    const verdict = admission({
      deploymentId: DEPLOYMENT,
      control: a.view,
      config,
      claimRollout: a.claim,
      oldReady: a.ready,
      surge: false,
      instanceId: a.id,
      draw: random(),
      nowWallMs: T0 + t,
    });
    if (verdict.verdict === 'go') return beginReplace(a, t);
    if (verdict.verdict === 'admit') {
      const delta = counterDelta(a.claim, verdict.rollout);
      if (delta === 1) {
        // TransactWriteItems: the control's counter (conditional) and the claim, 2 WCU each.
        const ok = counterAllows(current(), DEPLOYMENT, 1);
        meter.request(t, ok ? 'TransactWriteItems admit' : 'TransactWriteItems admit (cancelled)', PK_ENV, ['ROLLOUT', `CLAIM#${a.id}`], 0, 4, 1, !ok);
        if (!ok) {
          meter.failedTransactions++;
          return;
        }
        const c = current();
        writeControl(t, { ...c, inFlight: c.inFlight + 1, admitted: c.admitted + 1, updatedAt: iso(t) });
        a.claim = verdict.rollout;
      } else writeClaim(a, t, verdict.rollout);
      scheduleDeadline(a, t);
      return beginReplace(a, t);
    }
    if (verdict.rollout) {
      // An unlimited rollout's spread: the admission recorded now, the replacement at its offset.
      writeClaim(a, t, verdict.rollout);
      a.phase = 'held';
      writeStatus(a, t);
      scheduleDeadline(a, t);
      q.at(t + 1, () => due(a));
    }
  };

  const due = (a: Agent) => {
    if (a.phase !== 'held') return;
    const t = q.now;
    const verdict = admission({
      deploymentId: DEPLOYMENT,
      control: a.view,
      config,
      claimRollout: a.claim,
      oldReady: a.ready,
      surge: false,
      instanceId: a.id,
      draw: random(),
      nowWallMs: T0 + t,
    });
    if (verdict.verdict === 'go') return beginReplace(a, t);
    const m = /due in ([\d.]+) ms/.exec(verdict.reason);
    // The agent's step runs on its local tick: the next one after the due moment.
    q.at(t + (m ? Number(m[1]) : 0) + random() * P.tickMs, () => due(a));
  };

  // followUp() on the agent's tick once the healthy deadline has passed (it fails a part not ready by then).
  const scheduleDeadline = (a: Agent, t: number) =>
    q.at(t + config.healthyDeadlineSeconds * 1000 + random() * P.tickMs, () => {
      if (done || !a.claim || a.claim.state !== 'admitted') return;
      const next = followUp({
        control: a.view,
        config,
        claimRollout: a.claim,
        targetRevision: TARGET,
        report: report(a),
        readyForMs: a.ready ? q.now - a.readyAt : 0,
        nowWallMs: T0 + q.now,
      });
      if (next?.state === 'failed') {
        failedInstances++;
        writeClaim(a, q.now, next);
        writeStatus(a, q.now);
      } else if (next?.state === 'released') release(a, next);
    });

  const beginReplace = (a: Agent, t: number) => {
    a.phase = 'stopping';
    stop(a, 0, t);
  };
  const stop = (a: Agent, attempt: number, t: number) => {
    if (!stopBucket.take(t)) return void q.at(t + backoffMs(attempt, random), () => stop(a, attempt + 1, q.now));
    if (a.ready) {
      a.ready = false;
      unavailable++;
      if (unavailable > maxUnavailableSeen) maxUnavailableSeen = unavailable;
    }
    writeStatus(a, t);
    q.at(t + P.stopMs, () => {
      a.hasTask = false;
      a.phase = 'starting';
      start(a, 0, q.now);
    });
  };
  const start = (a: Agent, attempt: number, t: number) => {
    if (!startBucket.take(t)) return void q.at(t + backoffMs(attempt, random), () => start(a, attempt + 1, q.now));
    a.hasTask = true;
    a.revision = TARGET;
    a.phase = 'booting';
    writeStatus(a, t);
    q.at(t + P.startMs + P.readyMs, () => {
      a.ready = true;
      a.readyAt = q.now;
      a.phase = 'baking';
      unavailable--;
      readyOnTarget++;
      if (readyOnTarget === n) allReadyMs = q.now;
      writeStatus(a, q.now);
      q.at(q.now + P.bakeSeconds * 1000 + random() * P.tickMs, () => bakeCheck(a));
    });
  };
  const bakeCheck = (a: Agent) => {
    if (done) return;
    const t = q.now;
    const next = followUp({
      control: a.view,
      config,
      claimRollout: a.claim,
      targetRevision: TARGET,
      report: report(a),
      readyForMs: t - a.readyAt,
      nowWallMs: T0 + t,
    });
    if (next?.state === 'released') release(a, next);
    else if (a.claim) q.at(t + P.tickMs, () => bakeCheck(a));
    else a.phase = 'released';
  };
  const release = (a: Agent, next: ClaimRollout) => {
    const t = q.now;
    const delta = counterDelta(a.claim, next);
    if (delta === -1) {
      const ok = counterAllows(current(), DEPLOYMENT, -1);
      meter.request(t, 'TransactWriteItems release', PK_ENV, ['ROLLOUT', `CLAIM#${a.id}`], 0, 4);
      if (ok) writeControl(t, { ...current(), inFlight: current().inFlight - 1, updatedAt: iso(t) });
      a.claim = next;
    } else writeClaim(a, t, next);
    a.phase = 'released';
    writeStatus(a, t);
  };

  // The steward (instance 0's agent): Query of the cluster's status records, judge(), one conditional write.
  let progressAtMs = T0;
  let lastAvailable = 0;
  const stewardSk = `DEPLOYMENT#${DEPLOYMENT}`;
  const steward = () => {
    if (done) return;
    const t = q.now;
    const asOf = t - random() * P.lagMs;
    const statuses = agents.map((a) => (a.statusAt <= asOf ? a.status : a.prevStatus));
    const pages = Math.max(1, Math.ceil(n / 1000)); // 1 KB status records, 1 MB per Query page
    meter.request(t, 'Query statuses', PK_CLUSTER, ['(status records)'], (n * 1) / 4 / 2, 0, pages);
    const view = readControl(t, 'steward');
    if (view.state !== 'read') return;
    const j = judge({
      environment: ENV,
      control: view.control,
      config,
      sameAsTarget: new Set([TARGET]),
      statuses,
      progressAtMs,
      nowWallMs: T0 + t,
      ecsRatePerSecond: P.rolloutEcsRatePerSecond,
    });
    // As the agents' steward judges progress: more instances available than at its last count.
    if (j.counts.available > lastAvailable) progressAtMs = T0 + t;
    lastAvailable = j.counts.available;
    // UpdateItem of the control's phase/cap (not inFlight) and the deployment record: one transaction, 2 items.
    meter.request(t, 'TransactWriteItems steward', PK_ENV, ['ROLLOUT', stewardSk], 0, 4);
    const c = current();
    const lease = c.steward ? { ...c.steward, renewals: c.steward.renewals + 1 } : undefined;
    writeControl(t, {
      ...c,
      phase: j.phase,
      cap: j.cap,
      desired: j.desired,
      spreadMs: j.spreadMs,
      unlimited: j.unlimited,
      ...(j.outcome ? { outcome: j.outcome } : {}),
      ...(lease ? { steward: lease } : {}),
      updatedAt: iso(t),
    });
    if (j.phase === 'done') {
      done = true;
      completedMs = t;
      outcome = j.outcome ?? j.status;
      reason = j.reason ?? '';
      return;
    }
    q.at(t + P.stewardIntervalMs, steward);
  };

  // t = 0: the deployment is written (control pending, marker moved). Each agent sees the marker at its next poll.
  for (const a of agents) q.at(a.markerPhase, () => poll(a));
  q.at(random() * P.stewardIntervalMs, steward);
  const events = q.run(() => done, HORIZON_MS);
  const endMs = completedMs ?? q.now;
  const seconds = Math.ceil(endMs / 1000);
  // The change marker every agent polls every markerPollMs (not events: counted per second from each agent's phase).
  const bins = new Array<number>(P.markerPollMs / 1000).fill(0);
  for (const a of agents) bins[Math.floor(a.markerPhase / 1000)]!++;
  const noMarker = meter.requests;
  meter.bulkItem(PK_CLUSTER, 'MARKER', (s) => bins[s % bins.length]!, seconds, 0.5);
  return {
    label: 'blox-edge',
    n,
    maxUnavailable,
    limit,
    completedMs,
    allReadyMs,
    outcome,
    reason,
    lowerBoundMs: lowerBound(n, limit),
    maxUnavailableSeen,
    dynamoRequests: meter.requests,
    dynamoRequestsNoMarker: noMarker,
    failedTransactions: meter.failedTransactions,
    busiest: meter.busiestItem(),
    partitions: meter.partitionPeaks(),
    controlPeak: { rcu: peak(meter.control.rcu), wcu: peak(meter.control.wcu) },
    requestsByKind: meter.requestsByKind,
    ecsCalls: stopBucket.calls + startBucket.calls,
    ecsThrottled: stopBucket.throttled + startBucket.throttled,
    extraEcsCalls: 0,
    events,
    wallMs: performance.now() - began,
    failedInstances,
  };
}

// ---- Blox v0.3's central scheduler: list, then stop every old task and start every empty instance, each tick ----

export function simulateBlox(n: number): Figures {
  const began = performance.now();
  const random = seeded(P.seed * 104729 + n);
  const q = new EventQueue();
  const stopBucket = new TokenBucket(P.ecsBurst, P.ecsRatePerSecond);
  const startBucket = new TokenBucket(P.ecsBurst, P.ecsRatePerSecond);
  // Per instance: 0 old running, 1 stopping, 2 no task, 3 new task starting, 4 new task ready.
  const state = new Uint8Array(n);
  let unavailable = 0;
  let maxUnavailableSeen = 0;
  let ready = 0;
  let allReadyMs: number | undefined;
  let listCalls = 0;
  const tick = () => {
    const t = q.now;
    const pages = Math.ceil(n / 100);
    listCalls += 4 * pages; // ListContainerInstances, DescribeContainerInstances, ListTasks, DescribeTasks (100 per page)
    const empty: number[] = [];
    for (let i = 0; i < n; i++) {
      if (state[i] === 0) {
        if (!stopBucket.take(t)) continue;
        state[i] = 1;
        unavailable++;
        if (unavailable > maxUnavailableSeen) maxUnavailableSeen = unavailable;
        q.at(t + P.stopMs, () => void (state[i] = 2));
      } else if (state[i] === 2) empty.push(i);
    }
    for (let k = 0; k < empty.length; k += 10) {
      if (!startBucket.take(t)) continue;
      for (const i of empty.slice(k, k + 10)) {
        state[i] = 3;
        q.at(t + P.startMs + P.readyMs, () => {
          state[i] = 4;
          unavailable--;
          if (++ready === n) allReadyMs = q.now;
        });
      }
    }
    if (ready < n) q.at(t + P.bloxTickMs, tick);
  };
  q.at(random() * P.bloxTickMs, tick);
  const events = q.run(() => allReadyMs !== undefined, HORIZON_MS);
  return {
    label: 'Blox v0.3 model',
    n,
    maxUnavailable: 'none',
    limit: n,
    completedMs: allReadyMs,
    allReadyMs,
    outcome: allReadyMs !== undefined ? 'all ready' : 'unfinished',
    reason: '',
    lowerBoundMs: lowerBound(n, n),
    maxUnavailableSeen,
    dynamoRequests: 0,
    dynamoRequestsNoMarker: 0,
    failedTransactions: 0,
    busiest: { key: '-', peak: 0 },
    partitions: [],
    controlPeak: { rcu: 0, wcu: 0 },
    requestsByKind: new Map(),
    ecsCalls: stopBucket.calls + startBucket.calls,
    ecsThrottled: stopBucket.throttled + startBucket.throttled,
    extraEcsCalls: listCalls,
    events,
    wallMs: performance.now() - began,
    failedInstances: 0,
  };
}

// ---- the run ----

const s = (ms: number | undefined) => (ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`);

function main(): void {
  const log = (line: string) => console.log(line);
  log('Rollout pacing, simulated time (discrete events; the real admission/followUp/counterDelta/counterAllows/judge).');
  log(
    `Parameters: seed ${P.seed}; stop ${P.stopMs} ms, start ${P.startMs} ms, ready ${P.readyMs} ms, bake (minHealthySeconds) ${P.bakeSeconds} s; ` +
      `rolloutPollMs ${P.rolloutPollMs} (±20%), idle poll ${P.rolloutIdlePollMs} ms, marker poll ${P.markerPollMs} ms, stewardIntervalMs ${P.stewardIntervalMs}, agent tick ${P.tickMs} ms, ` +
      `rolloutEcsRatePerSecond ${P.rolloutEcsRatePerSecond}; DynamoDB eventually consistent reads up to ${P.lagMs} ms old; Blox v0.3 tick ${P.bloxTickMs} ms.`,
  );
  log(
    `ECS: StopTask and StartTask each a token bucket of burst ${P.ecsBurst}, refill ${P.ecsRatePerSecond}/s — ASSUMED figures from ECS's "request throttling" documentation page, parameters here (--ecs-burst, --ecs-rate); a throttled agent call is retried after 1 s doubling to 60 s, jittered; a throttled Blox call at its next tick.`,
  );
  log(
    `DynamoDB units: 0.5 RCU per eventually consistent GetItem of the control; 2 WCU per item of a TransactWriteItems (admission/release: control + claim; steward: control + deployment), cancelled ones charged too; 1 WCU per status record / claim PutItem; steward Query N x 1 KB / 4 KB x 0.5 RCU; limits per partition key ${LIMITS.wcu} WCU/s, ${LIMITS.rcu} RCU/s.`,
  );
  log('');
  const rows: Figures[] = [];
  for (const n of SIZES) {
    for (const mu of ['10%', '100%']) rows.push(simulateOurs(n, mu));
    rows.push(simulateBlox(n));
  }
  const header = [
    'system',
    'N',
    'maxUnav',
    'outcome',
    'completed',
    'all ready',
    'lower bound',
    'ratio',
    'max unready (limit)',
    'Dynamo req/inst (w/o marker)',
    'busiest item peak req/s',
    'hottest partition peak RCU/s, WCU/s',
    'over limits?',
    'ECS Stop+Start (throttled)',
    'events, wall',
  ];
  log(header.join(' | '));
  for (const r of rows) {
    const ours = r.label === 'blox-edge';
    const hottestR = r.partitions.reduce((m, p) => (p.rcu > m.rcu ? p : m), { pk: '-', rcu: 0, wcu: 0 });
    const hottestW = r.partitions.reduce((m, p) => (p.wcu > m.wcu ? p : m), { pk: '-', rcu: 0, wcu: 0 });
    const over = r.partitions
      .filter((p) => p.rcu > LIMITS.rcu || p.wcu > LIMITS.wcu)
      .map((p) => `${p.pk} (${p.rcu.toFixed(0)} RCU/s, ${p.wcu.toFixed(0)} WCU/s)`);
    log(
      [
        r.label,
        r.n,
        r.maxUnavailable,
        r.outcome + (r.failedInstances ? ` (${r.failedInstances} instance(s) failed)` : ''),
        s(r.completedMs),
        s(r.allReadyMs),
        s(r.lowerBoundMs),
        r.completedMs !== undefined ? (r.completedMs / r.lowerBoundMs).toFixed(2) : '-',
        `${r.maxUnavailableSeen} (${ours ? r.limit : 'unpaced'})${ours && r.maxUnavailableSeen > r.limit ? ' EXCEEDED' : ''}`,
        ours ? `${(r.dynamoRequests / r.n).toFixed(1)} (${(r.dynamoRequestsNoMarker / r.n).toFixed(1)})` : '-',
        ours ? `${r.busiest.peak} ${r.busiest.key}` : '-',
        ours ? `${hottestR.pk} ${hottestR.rcu.toFixed(0)}; ${hottestW.pk} ${hottestW.wcu.toFixed(0)}` : '-',
        ours ? (over.length ? `YES: ${over.join(', ')}` : 'no') : '-',
        `${r.ecsCalls} (${r.ecsThrottled})${r.extraEcsCalls ? ` + ${r.extraEcsCalls} list/describe` : ''}`,
        `${r.events}, ${(r.wallMs / 1000).toFixed(1)} s`,
      ].join(' | '),
    );
  }
  log('');
  log('DynamoDB per partition key (peak units per 1-second bucket; WCU without cancelled transactions in brackets), the control item alone, requests by kind:');
  for (const r of rows.filter((x) => x.label === 'blox-edge')) {
    const parts = r.partitions.map((p) => `${p.pk} ${p.rcu.toFixed(0)} RCU/s, ${p.wcu.toFixed(0)} (${p.wcuUncancelled.toFixed(0)}) WCU/s`).join('; ');
    const kinds = [...r.requestsByKind].map(([k, v]) => `${k} ${v}`).join(', ');
    log(
      `  N ${r.n} ${r.maxUnavailable}: ${parts}; ENV#${'logs'}/ROLLOUT item ${r.controlPeak.rcu.toFixed(0)} RCU/s, ${r.controlPeak.wcu.toFixed(0)} WCU/s; ${r.failedTransactions} admission transaction(s) cancelled by the counter's condition (a read up to ${P.lagMs} ms old showed room)`,
    );
    log(`    requests: ${kinds}`);
  }
  log('');
  log(
    `ECS floor (StopTask and StartTask at ${P.ecsRatePerSecond}/s after a burst of ${P.ecsBurst}, one call per instance each): (N - burst) / rate + one cycle:`,
  );
  for (const n of SIZES)
    log(`  N ${n}: ${s(Math.max(0, (n - P.ecsBurst) / P.ecsRatePerSecond) * 1000 + P.stopMs + P.startMs + P.readyMs + P.bakeSeconds * 1000)}`);
  for (const r of rows.filter((x) => x.reason && x.outcome !== 'completed')) log(`N ${r.n} ${r.maxUnavailable}: steward: ${r.reason}`);
  log('');
  log('Targets:');
  const get = (n: number, mu: string) => rows.find((r) => r.label === 'blox-edge' && r.n === n && r.maxUnavailable === mu);
  const t1 = get(1_000, '10%');
  if (t1) {
    const ratio = (t1.completedMs ?? Infinity) / t1.lowerBoundMs;
    log(`- 1,000 instances at 10% within 1.2x of the lower bound: ${ratio.toFixed(2)}x -> ${ratio <= 1.2 ? 'ok' : 'MISSED'}`);
  }
  for (const n of SIZES) {
    const r = get(n, '100%');
    const b = rows.find((x) => x.label !== 'blox-edge' && x.n === n);
    if (!r || !b) continue;
    const faster = (r.allReadyMs ?? Infinity) < (b.allReadyMs ?? Infinity);
    log(
      `- ${n} at 100% faster than the Blox v0.3 model (every instance ready on the target: ${s(r.allReadyMs)} vs ${s(b.allReadyMs)}; ours completed, after the bake and the steward's count, at ${s(r.completedMs)}): ${faster ? 'ok' : 'MISSED'}`,
    );
  }
  for (const r of rows.filter((x) => x.label === 'blox-edge')) {
    if (r.maxUnavailableSeen > r.limit) log(`- N ${r.n} ${r.maxUnavailable}: max without a ready daemon ${r.maxUnavailableSeen} > ${r.limit}: MISSED`);
  }
  const big = rows.filter((x) => x.label === 'blox-edge' && x.n === Math.max(...SIZES));
  for (const r of big) {
    const over = r.partitions.filter((p) => p.rcu > LIMITS.rcu || p.wcu > LIMITS.wcu);
    log(`- no partition over its limits at ${r.n}, ${r.maxUnavailable}: ${over.length ? `MISSED (${over.map((p) => p.pk).join(', ')})` : 'ok'}`);
  }
}

main();
