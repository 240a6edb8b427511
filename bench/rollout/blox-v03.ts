// A model of Blox v0.3's central scheduler doing the same replacement, for the side-by-side figures.
import { seeded } from '../../test/support/prng.js';
import { HORIZON_MS, P } from './params.js';
import { EventQueue, lowerBound, TokenBucket, type Figures } from './sim-kit.js';

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
