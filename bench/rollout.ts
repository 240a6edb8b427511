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
//     [--rollout-poll-ms 1000] [--rollout-idle-poll-ms 60000] [--marker-poll-ms 5000]
//     [--steward-interval-ms 10000] [--tick-ms 1000] [--rollout-ecs-rate 20]
// bench/rollout-realtime.ts checks this simulation against real agent processes.
import { simulateBlox } from './rollout/blox-v03.js';
import { simulateOurs } from './rollout/ours.js';
import { LIMITS, P, SIZES } from './rollout/params.js';
import type { Figures } from './rollout/sim-kit.js';

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
