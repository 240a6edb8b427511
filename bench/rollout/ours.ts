// blox-edge's rollout in the simulated world: every agent runs the real gate and follow-ups, one the
// real steward's judgement, against the simulated control item and ECS buckets. As the real agent
// does (checked against agent processes by bench/rollout-realtime.ts): it steps once a tick, reads
// the control when its jittered interval is due (so in whole ticks), asks the gate again in every
// new window of its draw with the control as last read, watches the steward's lease on each read,
// and the first agent to read the new control becomes the steward and counts at once.
import { activePollMs, admission, counterDelta, followUp, nextWindowAt, windowDraw, type ControlView } from '../../agent/decide/rollout.js';
import type { Report } from '../../agent/model.js';
import { judge, writesOf } from '../../agent/steward/judge.js';
import { heldLease, leaseExpired, observeLease, type LeaseWatch } from '../../agent/steward/lease-watch.js';
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
import { HORIZON_MS, P, T0, type Params } from './params.js';
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
  /** This agent's jitter of its control reads (0.8 to 1.2), drawn once per deployment as RolloutSource draws it. */
  jitter: number;
  /** Its watch of the steward's lease (agent/steward/lease-watch.ts, as agent/steward/steward.ts keeps it) and its last attempt to take it. */
  lease: LeaseWatch | undefined;
  stewardAttemptAt: number | undefined;
  /** The schedule of its next read (a read brought forward cancels the steps scheduled before). */
  pollSeq: number;
  /** An admission was refused by the counter's condition: the next step reads the control again. */
  invalidated: boolean;
}

export function simulateOurs(n: number, maxUnavailable: string, p: Params = P): Figures {
  const began = performance.now();
  const random = seeded(p.seed * 7919 + n + maxUnavailable.length);
  const q = new EventQueue();
  const meter = new Meter();
  const stopBucket = new TokenBucket(p.ecsBurst, p.ecsRatePerSecond);
  const startBucket = new TokenBucket(p.ecsBurst, p.ecsRatePerSecond);
  const config: DeploymentConfiguration = { ...DEFAULT_DEPLOYMENT_CONFIGURATION, maxUnavailable, maxSurge: '0', minHealthySeconds: p.bakeSeconds };
  const limit = resolveCountOrPercent(maxUnavailable, n);

  // The control item: every version with the time it was written, for reads up to lagMs old.
  const versions: { t: number; control: RolloutControl }[] = [];
  const writeControl = (t: number, control: RolloutControl) => versions.push({ t, control });
  const current = (): RolloutControl => versions[versions.length - 1]!.control;
  /** `consistent`: a strongly consistent read (an agent's first read of a deployment's control, 1 RCU). */
  const readControl = (t: number, who: string, consistent = false): ControlView => {
    meter.request(t, `GetItem control (${who})`, PK_ENV, ['ROLLOUT'], consistent ? 1 : 0.5, 0);
    const asOf = consistent ? t : t - random() * p.lagMs;
    let lo = 0;
    let hi = versions.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (versions[mid]!.t <= asOf) lo = mid;
      else hi = mid - 1;
    }
    return { state: 'read', control: versions[lo]!.control };
  };
  // The control exactly as the store writes it with a new deployment: pending, no steward yet (the
  // first agent that reads it takes the lease). The previous deployment counted all n instances: the store carries that over.
  const deployment = { ...newDeployment(DEPLOYMENT, ENV, TARGET, 1, new Date(T0).toISOString(), []), stableRevision: 1 };
  writeControl(-1, newRolloutControl(deployment, new Date(T0).toISOString(), n));

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
      markerPhase: random() * p.markerPollMs,
      jitter: 0.8 + 0.4 * random(),
      lease: undefined,
      stewardAttemptAt: undefined,
      pollSeq: 0,
      invalidated: false,
    };
    a.status = a.prevStatus = statusOf(a, -60_000);
    agents.push(a);
  }

  // An agent reads the control in its step when the read is due (its interval x its jitter since
  // the last read), and steps once a tick: the interval in effect is rounded up to whole ticks
  // (at rolloutPollMs = tickMs, an agent whose jitter is above 1 reads every second tick).
  const onTicks = (ms: number) => Math.max(1, Math.ceil(ms / p.tickMs - 1e-9)) * p.tickMs;

  const poll = (a: Agent, seq: number) => {
    if (done || seq !== a.pollSeq) return;
    const t = q.now;
    const first = a.phase === 'unaware';
    a.view = readControl(t, stewardAgent === a ? 'steward' : a.phase === 'released' ? 'idle' : a.phase === 'waiting' || first ? 'waiting' : 'in flight', first);
    if (first) a.phase = 'waiting';
    if (a.phase === 'waiting') tryAdmission(a, t);
    watchSteward(a, t);
    const active = activePollMs(p.rolloutPollMs, a.view.state === 'read' ? a.view.control.desired : 0);
    // The steward's own interest stays active (it reads as often as a waiting instance).
    const interval = a.phase === 'released' && stewardAgent !== a ? Math.max(active, p.rolloutIdlePollMs) : active;
    const next = a.invalidated ? t + p.tickMs : t + onTicks(interval * a.jitter);
    a.invalidated = false;
    schedulePoll(a, next);
    if (a.phase === 'waiting') drawSteps(a, t, next);
  };
  const schedulePoll = (a: Agent, at: number) => {
    const seq = ++a.pollSeq;
    q.at(at, () => poll(a, seq));
  };
  /** The agent's first step at or after `at`: its steps are a tick apart from its read at `t`. */
  const stepAt = (t: number, at: number) => t + Math.max(0, Math.ceil((at - t) / p.tickMs - 1e-9)) * p.tickMs;
  // A waiting agent's steps between two reads ask the gate again with the control as last read
  // (possibly stale: its admission may then be refused by the counter's condition). Only a step in
  // a new window of the draw can change the verdict, so only those steps are events.
  const drawSteps = (a: Agent, t: number, next: number) => {
    const w = windowOf(a);
    const seq = a.pollSeq;
    for (let boundary = nextWindowAt(a.id, T0 + t, w) - T0; boundary < next; boundary += w) {
      const step = stepAt(t, boundary);
      if (step >= next) break;
      q.at(step, () => {
        if (done || seq !== a.pollSeq || a.phase !== 'waiting') return;
        tryAdmission(a, q.now);
        if (a.invalidated) {
          a.invalidated = false;
          schedulePoll(a, q.now + p.tickMs);
        }
      });
    }
  };

  // The steward's lease (agent/steward/steward.ts), watched by every agent on each read of the
  // control: taken when there is none, or when its reads showed the renewal count unchanged for
  // the lease's duration (three steward intervals) on its own clock (lease-watch.ts); not tried
  // again on the same read, nor before a steward interval. Judged on reads only, so an agent that
  // reads at the idle interval (a minute, longer than the lease) never takes a renewing steward's
  // lease for expired. The first agent that reads the new control takes the lease and counts the
  // fleet in the same step.
  let stewardAgent: Agent | undefined;
  const watchSteward = (a: Agent, t: number) => {
    if (a.view.state !== 'read' || a.view.control.phase === 'done' || a.view.control.steward?.owner === a.id) return;
    a.lease = observeLease(a.lease, a.view.control, t);
    if (!leaseExpired(a.lease, a.view.control)) return;
    if (a.stewardAttemptAt !== undefined && t - a.stewardAttemptAt < p.stewardIntervalMs) return;
    takeLease(a, t);
  };
  const takeLease = (a: Agent, t: number) => {
    if (a.view.state !== 'read') return;
    a.stewardAttemptAt = t;
    const seen = a.view.control.steward;
    const c = current();
    const won =
      c.deploymentId === DEPLOYMENT && c.phase !== 'done' && (c.steward === undefined || (seen !== undefined && c.steward.renewals === seen.renewals));
    meter.request(t, won ? 'TransactWriteItems steward lease' : 'TransactWriteItems steward lease (cancelled)', PK_ENV, ['ROLLOUT'], 0, 2, 1, !won);
    if (!won) return;
    const lease = { owner: a.id, containerInstanceId: a.id, renewals: (seen?.renewals ?? 0) + 1, leaseMs: 3 * p.stewardIntervalMs };
    writeControl(t, { ...c, steward: lease, updatedAt: iso(t) });
    a.lease = heldLease(DEPLOYMENT, lease.renewals, t);
    const first = stewardAgent === undefined;
    stewardAgent = a;
    // A take-over (never seen here: the steward renews every interval) carries on the one steward loop.
    if (first) steward();
  };

  const windowOf = (a: Agent) => activePollMs(p.rolloutPollMs, a.view.state === 'read' ? a.view.control.desired : 0);
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
          a.invalidated = true;
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
      q.at(t + Number(m[1]) + random() * p.tickMs, () => due(a));
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
    q.at(t + config.healthyDeadlineSeconds * 1000 + random() * p.tickMs, () => {
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
    q.at(t + p.stopMs, () => {
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
    q.at(t + p.startMs + p.readyMs, () => {
      a.ready = true;
      a.readyAt = q.now;
      a.phase = 'baking';
      unavailable--;
      readyOnTarget++;
      if (readyOnTarget === n) allReadyMs = q.now;
      writeStatus(a, q.now);
      q.at(q.now + p.bakeSeconds * 1000 + random() * p.tickMs, () => bakeCheck(a));
    });
  };
  const bakeCheck = (a: Agent) => {
    if (done) return;
    const t = q.now;
    const next = follow(a, t);
    if (next?.state === 'released') release(a, next);
    else if (a.claim) q.at(t + p.tickMs, () => bakeCheck(a));
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

  // The steward (the agent elected above): its reads of the control and the deployment, a Query of
  // the cluster's status records, judge(), one conditional write.
  let progressAtMs = T0;
  let stored = deployment;
  let lastAvailable = 0;
  const stewardSk = `DEPLOYMENT#${DEPLOYMENT}`;
  const steward = () => {
    if (done) return;
    const t = q.now;
    const asOf = t - random() * p.lagMs;
    const statuses = agents.map((a) => (a.statusAt <= asOf ? a.status : a.prevStatus));
    const pages = Math.max(1, Math.ceil(n / 1000)); // 1 KB status records, 1 MB per Query page
    meter.request(t, 'Query statuses', PK_CLUSTER, ['(status records)'], (n * 1) / 4 / 2, 0, pages);
    const view = readControl(t, 'steward');
    if (view.state !== 'read') return;
    meter.request(t, 'GetItem deployment (steward)', PK_ENV, [stewardSk], 0.5, 0);
    const j = judge({
      environment: ENV,
      control: view.control,
      config,
      sameAsTarget: new Set([TARGET]),
      statuses,
      progressAtMs,
      nowWallMs: T0 + t,
      ecsRatePerSecond: p.rolloutEcsRatePerSecond,
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
    // The next count runs at the steward's first step at or after the interval: steps are a tick
    // apart plus the step's own duration, and events wake them in between.
    q.at(t + p.stewardIntervalMs + random() * p.tickMs, steward);
  };

  // t = 0: the deployment is written (control pending, marker moved). Each agent sees the marker at its next poll.
  for (const a of agents) schedulePoll(a, a.markerPhase);
  const events = q.run(() => done, HORIZON_MS);
  const endMs = completedMs ?? q.now;
  const seconds = Math.ceil(endMs / 1000);
  // The change marker every agent polls every markerPollMs (not events: counted per second from each agent's phase).
  const bins = new Array<number>(p.markerPollMs / 1000).fill(0);
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
