// The decision of one reconcile step: desired + observed + now -> plan, with a reason for every
// action. Pure (no I/O, no clock, no randomness of its own), modelled on the Kubernetes DaemonSet
// controller: for each environment, should a daemon run on this node, which of the tasks found to
// keep, and whether an earlier start is still expected (then wait, never start a second one).
//
// Safety rules, each property-tested (test/unit/agent-decide.test.ts):
// - at most one start per (environment, instance), and none while a task of that environment is
//   running, stopping or expected;
// - a start only for a valid ACTIVE environment whose expression matches this instance, always
//   right after writing its attempt token into a lease this agent holds or is acquiring;
// - a stop only on fresh, positive information (environment deleted or no longer matching, a
//   duplicate, a superseded revision, an orphan past its grace), never because something is
//   unknown, unreadable or invalid.
import type { Action, Backoff, Desired, DesiredEnvironment, DecideOptions, Now, Observed, ObservedTask, Plan, Report } from './model.js';
import { DEFAULT_DECIDE_OPTIONS } from './model.js';
import { TOKEN_MAX_LENGTH, type LeaseView } from './lease.js';

export const GROUP_PREFIX = 'blox:';
export const TOKEN_PREFIX = 'bx-';

const isActive = (t: ObservedTask) => t.lastStatus !== 'STOPPED' && t.desiredStatus !== 'STOPPED';
const isStopping = (t: ObservedTask) => t.lastStatus !== 'STOPPED' && t.desiredStatus === 'STOPPED';

/** A short stable hash of a string (FNV-1a, 8 hex digits). */
export function hash8(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** `bx-<nonce 16>-<hash of environment 8>`: 28 characters, unique per step and environment. */
export function attemptToken(nonce: string, environment: string): string {
  const token = `${TOKEN_PREFIX}${nonce.replace(/[^a-z0-9]/gi, '').slice(0, 16).padEnd(16, '0')}-${hash8(environment)}`;
  return token.slice(0, TOKEN_MAX_LENGTH);
}

export function isReady(task: ObservedTask | undefined): boolean {
  return !!task && task.lastStatus === 'RUNNING' && (!task.hasHealthCheck || task.health === 'HEALTHY');
}

function stateOf(task: ObservedTask): Report['state'] {
  if (task.desiredStatus === 'STOPPED' && task.lastStatus !== 'STOPPED') return 'stopping';
  if (task.lastStatus === 'STOPPED') return 'stopped';
  if (task.lastStatus !== 'RUNNING') return 'starting';
  if (task.health === 'HEALTHY') return 'healthy';
  if (task.health === 'UNHEALTHY') return 'unhealthy';
  return 'running';
}

interface EnvContext {
  name: string;
  desired: DesiredEnvironment | undefined;
  /** Desired state of the cluster is loaded and fresh. */
  fresh: boolean;
  lease: LeaseView | undefined;
  renewDue: boolean;
  tasks: ObservedTask[] | undefined;
  observed: Observed;
  now: Now;
  options: DecideOptions;
}

export function decide(desired: Desired, observed: Observed, now: Now, options: DecideOptions = DEFAULT_DECIDE_OPTIONS): Plan {
  const actions: Action[] = [];
  const reports: Report[] = [];
  const unclaimed: string[] = [];
  const byName = new Map<string, DesiredEnvironment>();
  for (const env of desired.environments ?? []) if (!byName.has(env.name)) byName.set(env.name, env);
  const loaded = desired.environments !== undefined;
  const fresh = loaded && desired.fresh;

  const names = new Set<string>(byName.keys());
  for (const name of Object.keys(observed.leases)) names.add(name);
  for (const name of Object.keys(observed.pending)) names.add(name);
  for (const task of observed.tasks ?? []) if (task.environment !== undefined) names.add(task.environment);

  for (const name of [...names].sort()) {
    const ctx: EnvContext = {
      name,
      desired: byName.get(name),
      fresh,
      lease: observed.leases[name],
      renewDue: observed.renewDue[name] ?? false,
      tasks: observed.tasks?.filter((t) => t.environment === name),
      observed,
      now,
      options,
    };
    decideEnvironment(ctx, loaded, actions, reports);
  }

  // Tasks this system started that no environment claims: stopped after a grace period, and only
  // when the list of environments is fresh (an unreadable table claims nothing and stops nothing).
  if (fresh) {
    for (const task of observed.tasks ?? []) {
      if (!task.ours || !isActive(task)) continue;
      if (task.environment !== undefined && byName.has(task.environment)) continue;
      unclaimed.push(task.taskArn);
      const since = observed.orphanSince[task.taskArn];
      if (since !== undefined && now.monoMs - since >= options.orphanGraceMs) {
        actions.push({ type: 'stop', ...(task.environment !== undefined ? { environment: task.environment } : {}), taskArn: task.taskArn, reason: `orphan: no environment claims it (${task.environment ?? 'unknown environment'}) for ${now.monoMs - since} ms` });
      }
    }
  }
  return { actions: holdDuringEcsBackoff(actions, observed.ecsBackoff ?? {}, now), reports, unclaimed: fresh && observed.tasks !== undefined ? unclaimed : undefined };
}

/**
 * Stops and look-ups of an environment whose last such ECS call failed wait for its backoff (a
 * throttled fleet must not retry at loop pace); lease writes in the same chain go on.
 */
function holdDuringEcsBackoff(actions: Action[], backoff: Record<string, Backoff>, now: Now): Action[] {
  return actions.map((action) => {
    if (action.type !== 'stop' && action.type !== 'lookup-attempt') return action;
    const key = action.environment ?? '';
    const held = backoff[key];
    if (!held || held.untilMono <= now.monoMs) return action;
    return { type: 'wait', environment: key, untilMono: held.untilMono, reason: `${action.type} held ${held.untilMono - now.monoMs} ms: ECS backoff after ${held.reason}` };
  });
}

function decideEnvironment(ctx: EnvContext, loaded: boolean, actions: Action[], reports: Report[]): void {
  const { name, desired } = ctx;
  if (!loaded) {
    // Nothing read yet: never act on ignorance. Report what is seen.
    const task = ctx.tasks?.find(isActive);
    reports.push(reportOf(name, undefined, task, 'blocked', false, 'desired state not read yet'));
    return;
  }
  if (desired?.kind === 'invalid') {
    const task = ctx.tasks?.find(isActive);
    reports.push(reportOf(name, undefined, task, 'invalid', false, `invalid record: ${desired.error}; its daemon is left as it is`));
    if (ctx.lease?.state === 'mine' && ctx.renewDue) actions.push({ type: 'renew-lease', environment: name, reason: 'heartbeat (environment invalid, keeping the lease)' });
    return;
  }
  if (desired === undefined) {
    if (!ctx.fresh) {
      reports.push(reportOf(name, undefined, ctx.tasks?.find(isActive), 'blocked', false, 'environment not in the last known list and the list is stale; nothing is stopped'));
      if (ctx.lease?.state === 'mine' && ctx.renewDue) actions.push({ type: 'renew-lease', environment: name, reason: 'heartbeat (desired state stale)' });
      return;
    }
    // Gone from a fresh list: its tasks are orphans (stopped after the grace period by decide()).
    // Once none is left, the lease goes too.
    const live = (ctx.tasks ?? []).filter((t) => isActive(t) || isStopping(t));
    if (ctx.lease?.state === 'mine' && ctx.tasks !== undefined && live.length === 0 && !pendingLive(ctx)) {
      actions.push({ type: 'release-lease', environment: name, reason: 'environment no longer exists and no task of it is left' });
    } else if (ctx.lease?.state === 'mine' && ctx.renewDue) {
      actions.push({ type: 'renew-lease', environment: name, reason: 'heartbeat (environment gone, tasks still stopping)' });
    }
    return;
  }

  const { environment, revision } = desired;
  const active = ctx.tasks?.filter(isActive) ?? [];
  const stopping = ctx.tasks?.filter(isStopping) ?? [];
  const shouldRun = environment.status === 'ACTIVE' && desired.matches === true;
  const mustNotRun = ctx.fresh && (environment.status !== 'ACTIVE' || desired.matches === false);
  const why = environment.status !== 'ACTIVE' ? `environment ${environment.status}` : desired.matchReason;

  if (!shouldRun && !mustNotRun) {
    // Matching unknown (attributes not read, expression error) or a stale DELETING/non-matching view.
    const task = active[0];
    reports.push(reportOf(name, desired, task, task ? stateOf(task) : 'blocked', false, `cannot decide: ${why}${ctx.fresh ? '' : ' (desired state stale)'}; nothing is started or stopped`));
    if (ctx.lease?.state === 'mine' && ctx.renewDue) actions.push({ type: 'renew-lease', environment: name, reason: 'heartbeat' });
    return;
  }

  if (ctx.tasks === undefined) {
    reports.push(reportOf(name, desired, undefined, 'blocked', shouldRun, 'tasks of this instance cannot be seen; nothing is started or stopped'));
    if (ctx.lease?.state === 'mine' && ctx.renewDue) actions.push({ type: 'renew-lease', environment: name, reason: 'heartbeat' });
    return;
  }

  const own: Action[] = [];
  const lease = ctx.lease;
  // Take the lease first when it is not ours; every following action runs only if that succeeds.
  if (lease?.state === 'other') {
    const task = active[0];
    reports.push(reportOf(name, desired, task, task ? stateOf(task) : 'blocked', shouldRun, `lease ${lease.reason}; another agent acts for this instance`));
    return;
  }
  if (lease === undefined || lease.state === 'unknown') own.push({ type: 'acquire-lease', environment: name, reason: 'lease not known: acquire (conditional on none existing)' });
  else if (lease.state === 'free') own.push({ type: 'acquire-lease', environment: name, ...(lease.item ? { expectedRecordVersion: lease.item.recordVersion } : {}), reason: `lease ${lease.reason}: acquire` });
  else if (lease.state === 'expired') own.push({ type: 'acquire-lease', environment: name, expectedRecordVersion: lease.item?.recordVersion, reason: `lease expired: ${lease.reason}` });
  const holding = lease?.state === 'mine';
  const item = lease?.item;
  // The heartbeat goes first in the chain: no wait, lookup or failing stop after it can hold it up.
  if (holding && ctx.renewDue) own.push({ type: 'renew-lease', environment: name, reason: 'heartbeat' });

  // An attempt recorded in the lease whose task is not recorded yet: resolve it before anything.
  const attempt = item?.attempt;
  let attemptTasks: string[] = [];
  if (attempt) {
    const seen = ctx.tasks.filter((t) => t.startedBy === attempt.token && (isActive(t) || isStopping(t)));
    const lookup = ctx.observed.lookups[attempt.token];
    const pending = ctx.observed.pending[name];
    const firstSeen = ctx.observed.attemptFirstSeen[attempt.token] ?? ctx.now.monoMs;
    // A start this process did not issue (it restarted, or another agent wrote it) may still be in
    // flight at ECS: finding nothing proves it void only once the attempt is older than the
    // expectation window too. issuedAt comes from this instance's own clock (leases are per
    // instance); the wait is capped at one window after the attempt was first seen here.
    const issuedWall = Date.parse(attempt.issuedAt);
    const windowEndsMono = Number.isFinite(issuedWall) ? Math.min(ctx.now.monoMs + (issuedWall + ctx.options.expectationTimeoutMs - ctx.now.wallMs), firstSeen + ctx.options.expectationTimeoutMs) : firstSeen;
    const voidAfterMono = Math.max(firstSeen + ctx.options.attemptSettleMs, windowEndsMono);
    const expected = pending !== undefined && ctx.now.monoMs - pending.issuedMono < ctx.options.expectationTimeoutMs && !ctx.tasks.some((t) => t.startedBy === pending.token);
    if (seen.length > 0) {
      attemptTasks = seen.map((t) => t.taskArn);
    } else if (expected) {
      own.push({ type: 'wait', environment: name, untilMono: pending!.issuedMono + ctx.options.expectationTimeoutMs, reason: `start ${pending!.token} issued ${ctx.now.monoMs - pending!.issuedMono} ms ago, not observed yet (expectation)` });
      actions.push(...own);
      reports.push(reportOf(name, desired, undefined, 'starting', shouldRun, `waiting for task started by ${pending!.token}`));
      return;
    } else if (ctx.tasks.some((t) => t.startedBy === attempt.token && t.lastStatus === 'STOPPED')) {
      attemptTasks = []; // its task ran and already stopped: the attempt is over, a restart may follow
    } else if (lookup && lookup.taskArns.some((arn) => belongsHere(ctx, arn))) {
      attemptTasks = lookup.taskArns.filter((arn) => belongsHere(ctx, arn));
    } else if (lookup && (lookup.taskArns.length > 0 || lookup.conclusive || lookup.atMono >= voidAfterMono)) {
      attemptTasks = []; // its task already stopped, or proven never started: fall through to a fresh attempt
    } else {
      const due = voidAfterMono;
      if (!lookup || ctx.now.monoMs >= due) own.push({ type: 'lookup-attempt', environment: name, token: attempt.token, reason: `attempt ${attempt.token} has no recorded task: look it up (ListTasks startedBy) before starting anything` });
      else own.push({ type: 'wait', environment: name, untilMono: due, reason: `attempt ${attempt.token} not found yet; its StartTask may still be in flight or ECS may lag: look again in ${Math.round(due - ctx.now.monoMs)} ms` });
      actions.push(...own);
      reports.push(reportOf(name, desired, undefined, 'starting', shouldRun, `resolving attempt ${attempt.token}`));
      return;
    }
  } else if (ctx.observed.pending[name] && ctx.now.monoMs - ctx.observed.pending[name].issuedMono < ctx.options.expectationTimeoutMs && !ctx.tasks.some((t) => t.startedBy === ctx.observed.pending[name]?.token)) {
    // An expectation without an attempt in our view of the lease (e.g. the lease view was refreshed
    // by a conflict): still never start a second task while one is expected.
    const p = ctx.observed.pending[name];
    own.push({ type: 'wait', environment: name, untilMono: p.issuedMono + ctx.options.expectationTimeoutMs, reason: `start ${p.token} issued, not observed yet (expectation)` });
    actions.push(...own);
    reports.push(reportOf(name, desired, undefined, 'starting', shouldRun, `waiting for task started by ${p.token}`));
    return;
  }

  // The candidates: tasks of this environment on this instance, plus an attempt's task found by lookup.
  const candidates = new Map<string, ObservedTask | undefined>();
  for (const t of active) candidates.set(t.taskArn, t);
  for (const arn of attemptTasks) if (!candidates.has(arn) && !stopping.some((t) => t.taskArn === arn)) candidates.set(arn, ctx.tasks.find((t) => t.taskArn === arn) ?? { taskArn: arn, environment: name, revision: attempt?.revision, startedBy: attempt?.token, lastStatus: 'PROVISIONING', desiredStatus: 'RUNNING', hasHealthCheck: false, ours: true });

  if (mustNotRun) {
    for (const arn of candidates.keys()) own.push({ type: 'stop', environment: name, taskArn: arn, reason: `${why}: daemon not wanted on this instance` });
    if (candidates.size === 0 && stopping.length === 0) {
      if (holding || lease?.state === 'expired') own.push({ type: 'release-lease', environment: name, reason: `${why}: no task left` });
      else own.length = 0; // nothing to do; no lease needed to do nothing
    }
    if (own.length > 0 && own.every((a) => a.type === 'acquire-lease')) own.length = 0;
    actions.push(...own);
    reports.push(reportOf(name, desired, active[0] ?? stopping[0], candidates.size + stopping.length > 0 ? 'stopping' : 'stopped', false, `${why}`));
    return;
  }

  if (lease === undefined || lease.state === 'unknown' || (lease.state === 'free' && !lease.item)) {
    // The lease item is not known (or was absent when read, and may have been written since): it
    // may carry a previous holder's attempt (a released lease keeps it) or task. Take the lease and
    // decide again with the item that comes back.
    actions.push(...own);
    const task = active[0];
    reports.push(reportOf(name, desired, task, task ? stateOf(task) : 'starting', true, 'taking the lease before acting'));
    return;
  }

  // shouldRun
  const keepArn = pickKeeper([...candidates.entries()], item?.taskArn, revision.revision);
  if (keepArn !== undefined) {
    const keep = candidates.get(keepArn);
    if (ctx.fresh) for (const arn of candidates.keys()) if (arn !== keepArn) own.push({ type: 'stop', environment: name, taskArn: arn, reason: `duplicate of ${keepArn}: one daemon per instance` });
    if (keep?.revision !== undefined && keep.revision !== revision.revision && ctx.fresh) {
      own.push({ type: 'stop', environment: name, taskArn: keepArn, reason: `revision ${keep.revision} superseded by ${revision.revision}` });
      actions.push(...own);
      reports.push(reportOf(name, desired, keep, 'stopping', true, `replacing revision ${keep.revision} with ${revision.revision}`));
      return;
    }
    if (item?.taskArn !== keepArn || attempt) {
      own.push({ type: 'adopt', environment: name, taskArn: keepArn, ...(keep?.revision !== undefined ? { revision: keep.revision } : attempt ? { revision: attempt.revision } : {}), reason: attempt && attemptTasks.includes(keepArn) ? `task of attempt ${attempt.token} found: adopt it` : `running task found: adopt it` });
    }
    actions.push(...own);
    const r = reportOf(name, desired, keep, keep ? stateOf(keep) : 'starting', true, keep ? 'running' : 'task found by lookup, not seen locally yet');
    if (ctx.observed.restart[name]?.crashLoop) r.reason += ' (crash loop detected recently)';
    reports.push(r);
    return;
  }
  if (stopping.length > 0) {
    actions.push(...own.filter((a) => a.type !== 'acquire-lease'), { type: 'wait', environment: name, reason: `previous task ${stopping[0]?.taskArn} still stopping` });
    reports.push(reportOf(name, desired, stopping[0], 'stopping', true, 'waiting for the previous task to stop'));
    return;
  }
  const restart = ctx.observed.restart[name];
  if (restart && restart.notBeforeMono > ctx.now.monoMs) {
    actions.push(...own.filter((a) => a.type !== 'acquire-lease'), { type: 'wait', environment: name, untilMono: restart.notBeforeMono, reason: `restart backoff${restart.crashLoop ? ' (crash loop)' : ''}: ${restart.notBeforeMono - ctx.now.monoMs} ms left` });
    reports.push(reportOf(name, desired, undefined, restart.crashLoop ? 'crash_loop' : 'backoff', true, `restart in ${restart.notBeforeMono - ctx.now.monoMs} ms`));
    return;
  }
  const backoff = ctx.observed.startBackoff[name];
  if (backoff && backoff.untilMono > ctx.now.monoMs) {
    actions.push(...own.filter((a) => a.type !== 'acquire-lease'), { type: 'wait', environment: name, untilMono: backoff.untilMono, reason: `StartTask retry ${backoff.attempts} backoff: ${backoff.reason}` });
    reports.push(reportOf(name, desired, undefined, 'backoff', true, `StartTask failed (${backoff.reason}); retry in ${backoff.untilMono - ctx.now.monoMs} ms`));
    return;
  }
  const token = attemptToken(ctx.now.nonce, name);
  const restarting = restart?.restartDue === true;
  own.push({ type: 'record-attempt', environment: name, token, revision: revision.revision, reason: `write attempt token before StartTask` });
  own.push({ type: 'start', environment: name, token, revision: revision.revision, taskDefinition: revision.taskDefinition, reason: restarting ? `daemon stopped: restart (revision ${revision.revision})` : `no daemon on this matching instance: start revision ${revision.revision}` });
  actions.push(...own);
  reports.push(reportOf(name, desired, undefined, 'starting', true, restarting ? 'restarting' : 'starting'));
}

/** A task found by an attempt lookup, unless the agent knows it as another environment's or stopped. */
function belongsHere(ctx: EnvContext, arn: string): boolean {
  const known = ctx.observed.tasks?.find((t) => t.taskArn === arn);
  return !known || (known.environment === ctx.name && known.lastStatus !== 'STOPPED');
}

function pendingLive(ctx: EnvContext): boolean {
  const p = ctx.observed.pending[ctx.name];
  return !!p && ctx.now.monoMs - p.issuedMono < ctx.options.expectationTimeoutMs;
}

/** Which task to keep: the one the lease records, else RUNNING on the wanted revision, else the first. */
function pickKeeper(candidates: [string, ObservedTask | undefined][], leaseTaskArn: string | undefined, revision: number): string | undefined {
  if (candidates.length === 0) return undefined;
  const recorded = candidates.find(([arn]) => arn === leaseTaskArn);
  if (recorded && (recorded[1]?.revision === undefined || recorded[1].revision === revision)) return leaseTaskArn;
  const score = (t: ObservedTask | undefined) => (t?.revision === revision ? 2 : 0) + (t?.lastStatus === 'RUNNING' ? 1 : 0);
  const sorted = [...candidates].sort((a, b) => score(b[1]) - score(a[1]) || a[0].localeCompare(b[0]));
  return sorted[0]?.[0];
}

function reportOf(name: string, desired: DesiredEnvironment | undefined, task: ObservedTask | undefined, state: Report['state'], matching: boolean, reason: string): Report {
  const valid = desired?.kind === 'valid' ? desired : undefined;
  const report: Report = {
    environment: name,
    state,
    revision: task?.revision ?? valid?.revision.revision ?? 0,
    taskDefinition: valid?.revision.taskDefinition ?? '',
    matching,
    ready: isReady(task),
    reason,
  };
  if (task) {
    report.taskArn = task.taskArn;
    report.lastStatus = task.lastStatus;
    if (task.health) report.health = task.health;
  }
  return report;
}
