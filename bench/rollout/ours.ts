// blox-edge's rollout in the simulated world: every agent runs the real gate and follow-ups, one the
// real steward's judgement, against the simulated control item and ECS buckets.
import { activePollMs, admission, counterDelta, followUp, windowDraw, type ControlView } from '../../agent/decide/rollout.js';
import type { Report } from '../../agent/model.js';
import { judge, writesOf } from '../../agent/steward/judge.js';
import {
  counterAllows,
  DEFAULT_DEPLOYMENT_CONFIGURATION,
  resolveCountOrPercent,
  type ClaimRollout,
  type DeploymentConfiguration,
  type InstanceStatus,
  type RolloutControl,
} from '../../core/records.js';
import { newDeployment, newRolloutControl } from '../../core/store/deployments.js';
import { seeded } from '../../test/support/prng.js';
import { HORIZON_MS, P, T0 } from './params.js';
import { backoffMs, CLUSTER, DEPLOYMENT, ENV, EventQueue, lowerBound, Meter, peak, PK_CLUSTER, PK_ENV, TARGET, TokenBucket, type Figures } from './sim-kit.js';

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
  // The control exactly as the store writes it with a new deployment, with the steward already elected.
  const deployment = { ...newDeployment(DEPLOYMENT, ENV, TARGET, 1, new Date(T0).toISOString(), []), stableRevision: 1 };
  writeControl(-1, {
    // The previous deployment counted all n instances: the store carries that over.
    ...newRolloutControl(deployment, new Date(T0).toISOString(), n),
    steward: { owner: 'agent-0', containerInstanceId: 'ci-00000', renewals: 0, leaseMs: 3 * P.stewardIntervalMs },
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
    const active = activePollMs(P.rolloutPollMs, a.view.state === 'read' ? a.view.control.desired : 0);
    if (a.phase === 'released') q.at(t + jittered(Math.max(active, P.rolloutIdlePollMs)), () => poll(a));
    else q.at(t + jittered(active), () => poll(a));
  };

  const windowOf = (a: Agent) => activePollMs(P.rolloutPollMs, a.view.state === 'read' ? a.view.control.desired : 0);
  /** The agent's rollout gate, as its step asks it. */
  const gate = (a: Agent, t: number) =>
    admission({
      deploymentId: DEPLOYMENT,
      control: a.view,
      config,
      claimRollout: a.claim,
      oldReady: a.ready,
      surge: false,
      instanceId: a.id,
      draw: windowDraw(a.id, DEPLOYMENT, T0 + t, windowOf(a)),
      windowMs: windowOf(a),
      nowWallMs: T0 + t,
    });

  const tryAdmission = (a: Agent, t: number) => {
    const verdict = gate(a, t);
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
    // An unlimited rollout's spread: nothing written until the instance's moment, then admitted as above.
    const m = /due in ([\d.]+) ms/.exec(verdict.reason);
    if (m && a.phase === 'waiting') {
      a.phase = 'held';
      // The agent's step runs on its local tick: the next one after the due moment.
      q.at(t + Number(m[1]) + random() * P.tickMs, () => due(a));
    }
  };

  const due = (a: Agent) => {
    if (a.phase !== 'held') return;
    a.phase = 'waiting';
    tryAdmission(a, q.now);
  };

  /** The agent's follow-up of its part (release after the bake, failure after the deadline), as its step asks it. */
  const follow = (a: Agent, t: number) =>
    followUp({
      control: a.view,
      config,
      claimRollout: a.claim,
      targetRevision: TARGET,
      report: report(a),
      readyForMs: a.ready ? t - a.readyAt : 0,
      nowWallMs: T0 + t,
    });

  // followUp() on the agent's tick once the healthy deadline has passed (it fails a part not ready by then).
  const scheduleDeadline = (a: Agent, t: number) =>
    q.at(t + config.healthyDeadlineSeconds * 1000 + random() * P.tickMs, () => {
      if (done || !a.claim || a.claim.state !== 'admitted') return;
      const next = follow(a, q.now);
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
    const next = follow(a, t);
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
  let stored = deployment;
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
    const writes = writesOf(j, stored, config, { progressed: false, startedAt: iso(0), nowIso: iso(t) });
    stored = { ...stored, status: writes.deployment.status ?? stored.status };
    writeControl(t, { ...c, ...writes.control, ...(lease ? { steward: lease } : {}), updatedAt: iso(t) });
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
