// The decision of one reconcile step: desired + observed + now -> intents per environment, each
// with a reason. Pure (no I/O, no clock, no randomness of its own), modelled on the Kubernetes
// DaemonSet controller: should a daemon run on this node, which of the tasks found to keep, and
// whether an earlier start is still expected (then wait, never start a second one). Replacing a
// superseded revision is an intent of its own (`replace`) that a pacing step may hold; stops and
// starts then go through the same plan as every other intent.
//
// Safety rules, each property-tested (test/unit/agent-decide-properties.test.ts and the seeded world):
// - nothing is decided unless this agent acts for the instance (holds its heartbeat) and can
//   write the environment's claim;
// - a start only for a valid ACTIVE environment whose expression matches this instance, never
//   while a task of that revision is live or a start is expected or unresolved; at most one start
//   per environment and step;
// - at most one live task per (environment, instance, revision), at most two per (environment,
//   instance), the second only while surging (the new revision's `next` task beside the current);
// - a stop only on fresh, positive information (environment deleted or no longer matching, a
//   duplicate, a superseded revision, an orphan past its grace), never because something is
//   unknown, unreadable or invalid.
import type { ClaimRole, ClaimTask } from '../../core/records.js';
import { attemptToken } from '../lease.js';
import type {
  ClaimContent,
  ClaimView,
  Decision,
  DecideOptions,
  Desired,
  DesiredEnvironment,
  EnvDecision,
  EnvMemoryView,
  Intent,
  Now,
  Observed,
  ObservedTask,
} from '../model.js';
import { DEFAULT_DECIDE_OPTIONS } from '../model.js';
import { resolveAttempts, type FoundTask } from './attempts.js';
import { isActive, isReady, isStopping, reportOf, reportTask } from './report.js';

interface EnvContext {
  name: string;
  desired: DesiredEnvironment | undefined;
  loaded: boolean;
  /** Desired state of the cluster is loaded and fresh. */
  fresh: boolean;
  claim: ClaimView | undefined;
  tasks: ObservedTask[] | undefined;
  allTasks: ObservedTask[] | undefined;
  memory: EnvMemoryView | undefined;
  observed: Observed;
  now: Now;
  options: DecideOptions;
}

export function decide(desired: Desired, observed: Observed, now: Now, options: DecideOptions = DEFAULT_DECIDE_OPTIONS): Decision {
  const byName = new Map<string, DesiredEnvironment>();
  for (const env of desired.environments ?? []) if (!byName.has(env.name)) byName.set(env.name, env);
  const loaded = desired.environments !== undefined;
  const fresh = loaded && desired.fresh;

  const names = new Set<string>(byName.keys());
  for (const name of Object.keys(observed.claims)) names.add(name);
  for (const [name, memory] of Object.entries(observed.memory)) if (name !== '' && memory.expectations.length > 0) names.add(name);
  for (const task of observed.tasks ?? []) if (task.environment !== undefined) names.add(task.environment);

  const environments: EnvDecision[] = [];
  for (const name of [...names].sort()) {
    environments.push(
      decideEnvironment({
        name,
        desired: byName.get(name),
        loaded,
        fresh,
        claim: observed.claims[name],
        tasks: observed.tasks?.filter((t) => t.environment === name),
        allTasks: observed.tasks,
        memory: observed.memory[name],
        observed,
        now,
        options,
      }),
    );
  }

  // Tasks this system started that no environment claims: stopped after a grace period, only when
  // the list of environments is fresh (an unreadable table claims nothing and stops nothing) and
  // only by the agent acting for the instance.
  const orphanStops: Decision['orphanStops'] = [];
  const unclaimed: string[] = [];
  if (fresh && observed.tasks !== undefined) {
    for (const task of observed.tasks) {
      if (!task.ours || !isActive(task)) continue;
      if (task.environment !== undefined && byName.has(task.environment)) continue;
      unclaimed.push(task.taskArn);
      const since = observed.orphanSince[task.taskArn];
      if (observed.instance.acting && since !== undefined && now.monoMs - since >= options.orphanGraceMs) {
        orphanStops.push({
          taskArn: task.taskArn,
          ...(task.environment !== undefined ? { environment: task.environment } : {}),
          reason: `orphan: no environment claims it (${task.environment ?? 'unknown environment'}) for ${now.monoMs - since} ms`,
        });
      }
    }
  }
  return { environments, orphanStops, unclaimed: fresh && observed.tasks !== undefined ? unclaimed : undefined };
}

const none = (ctx: EnvContext, report: EnvDecision['report']): EnvDecision => ({ environment: ctx.name, intents: [], claim: undefined, report });

function decideEnvironment(ctx: EnvContext): EnvDecision {
  const { name, desired } = ctx;
  const live = ctx.tasks?.find(isActive);
  if (!ctx.loaded) return none(ctx, reportTask(name, undefined, live, 'blocked', false, 'desired state not read yet'));
  if (desired?.kind === 'invalid')
    return none(ctx, reportTask(name, undefined, live, 'invalid', false, `invalid record: ${desired.error}; its daemon is left as it is`));
  const shouldRun = desired !== undefined && desired.environment.status === 'ACTIVE' && desired.matches === true;
  if (!ctx.observed.instance.acting) return none(ctx, reportTask(name, desired, live, 'blocked', shouldRun, ctx.observed.instance.reason));
  const claim = ctx.claim;
  if (!claim || claim.state === 'unread') return none(ctx, reportTask(name, desired, live, 'blocked', shouldRun, 'reading its claim'));
  if (claim.state === 'invalid' || claim.state === 'watching')
    return none(ctx, reportTask(name, desired, live, 'blocked', shouldRun, `claim ${claim.reason}; nothing is done for it here`));

  if (desired === undefined) {
    if (!ctx.fresh)
      return none(ctx, reportTask(name, undefined, live, 'blocked', false, 'environment not in the last known list and the list is stale; nothing is stopped'));
    // Gone from a fresh list: its tasks are orphans (stopped after the grace period by decide()).
    // Once none is left, the claim goes too.
    const left = ctx.tasks === undefined || ctx.tasks.some((t) => isActive(t) || isStopping(t)) || (ctx.memory?.expectations.length ?? 0) > 0;
    const intents: Intent[] = !left && claim.item ? [{ type: 'release', reason: 'environment no longer exists and no task of it is left' }] : [];
    return { environment: name, intents, claim: undefined, report: reportTask(name, undefined, live, 'stopped', false, 'environment no longer exists') };
  }

  const { environment } = desired;
  const mustNotRun = ctx.fresh && (environment.status !== 'ACTIVE' || desired.matches === false);
  const why = environment.status !== 'ACTIVE' ? `environment ${environment.status}` : desired.matchReason;
  if (!shouldRun && !mustNotRun)
    return none(
      ctx,
      reportTask(name, desired, live, 'blocked', false, `cannot decide: ${why}${ctx.fresh ? '' : ' (desired state stale)'}; nothing is started or stopped`),
    );
  if (ctx.tasks === undefined || ctx.allTasks === undefined)
    return none(ctx, reportOf(name, desired, undefined, 'blocked', shouldRun, 'tasks of this instance cannot be seen; nothing is started or stopped'));

  const recorded = [claim.item?.current, claim.item?.next].filter((t): t is ClaimTask => t !== undefined);
  const resolution = resolveAttempts({
    environment: name,
    attempts: claim.item?.attempts ?? [],
    recorded,
    tasks: ctx.tasks,
    allTasks: ctx.allTasks,
    memory: ctx.memory,
    now: ctx.now,
    options: ctx.options,
  });
  if (resolution.kind === 'blocked')
    return {
      environment: name,
      intents: [resolution.intent],
      claim: undefined,
      report: reportOf(name, desired, undefined, 'starting', shouldRun, resolution.reason),
    };

  const stopping = ctx.tasks.filter(isStopping);
  const candidates = candidatesOf(ctx, resolution.found);
  if (mustNotRun) {
    const intents: Intent[] = candidates.map((t) => ({ type: 'stop', taskArn: t.taskArn, reason: `${why}: daemon not wanted on this instance` }));
    if (candidates.length === 0 && stopping.length === 0 && claim.item) intents.push({ type: 'release', reason: `${why}: no task left` });
    const shown = candidates[0] ?? stopping[0];
    return { environment: name, intents, claim: undefined, report: reportOf(name, desired, shown, shown ? 'stopping' : 'stopped', false, why) };
  }
  return decideRunning(ctx, desired, candidates, stopping, claim);
}

/** Live tasks of the environment, plus a task an attempt's look-up found that is not seen yet. */
function candidatesOf(ctx: EnvContext, found: FoundTask[]): ObservedTask[] {
  const tasks = ctx.tasks ?? [];
  const candidates = tasks.filter(isActive);
  for (const { taskArn, attempt } of found) {
    if (candidates.some((t) => t.taskArn === taskArn) || tasks.some((t) => t.taskArn === taskArn && isStopping(t))) continue;
    candidates.push(
      tasks.find((t) => t.taskArn === taskArn) ?? {
        taskArn,
        environment: ctx.name,
        revision: attempt.revision,
        startedBy: attempt.token,
        lastStatus: 'PROVISIONING',
        desiredStatus: 'RUNNING',
        hasHealthCheck: false,
        ours: true,
      },
    );
  }
  return candidates;
}

/** The environment's daemon should run here: keep one task per role, replace a superseded revision, or start one. */
function decideRunning(
  ctx: EnvContext,
  desired: DesiredEnvironment & { kind: 'valid' },
  candidates: ObservedTask[],
  stopping: ObservedTask[],
  claim: ClaimView,
): EnvDecision {
  const { name, now } = ctx;
  const target = desired.revision.revision;
  const item = claim.item;
  const revisionOf = (t: ObservedTask): number | undefined =>
    t.revision ?? (item?.current?.taskArn === t.taskArn ? item.current.revision : item?.next?.taskArn === t.taskArn ? item.next.revision : undefined);
  // Recorded with when it was started (its attempt's time) or first recorded, for a successor that cannot see it yet.
  const nowIso = new Date(now.wallMs).toISOString();
  const taskOf = (t: ObservedTask): ClaimTask => {
    const r = revisionOf(t);
    const since =
      [item?.current, item?.next].find((c) => c?.taskArn === t.taskArn)?.since ?? item?.attempts.find((a) => a.token === t.startedBy)?.issuedAt ?? nowIso;
    return { taskArn: t.taskArn, ...(r === undefined ? {} : { revision: r }), since };
  };
  // A task of unknown revision counts as the target's: nothing is replaced on a guess.
  // A rollback's target copies an older revision: a task of that revision already runs the same daemon and is kept.
  const copiedFrom = desired.revision.copiedFrom;
  const onTarget = candidates.filter((t) => {
    const r = revisionOf(t) ?? target;
    return r === target || (copiedFrom !== undefined && r === copiedFrom);
  });
  const old = candidates.filter((t) => !onTarget.includes(t));
  const intents: Intent[] = [];
  const stop = (t: ObservedTask, reason: string) => {
    if (ctx.fresh) intents.push({ type: 'stop', taskArn: t.taskArn, reason });
  };
  const prefer = (tasks: ObservedTask[], role: ClaimRole) =>
    pickKeeper(tasks, role === 'next' ? [item?.next?.taskArn, item?.current?.taskArn] : [item?.current?.taskArn, item?.next?.taskArn]);
  // The claim records what is kept; every attempt is accounted for by now, so none stays in it.
  // The instance's part in a rollout is carried as it is (the rollout gate changes it, not decide).
  const decision = (content: Omit<ClaimContent, 'attempts'>, report: EnvDecision['report']): EnvDecision => ({
    environment: name,
    intents,
    claim: { ...content, attempts: [], ...(item?.rollout ? { rollout: { ...item.rollout } } : {}) },
    report,
  });
  // Waiting changes nothing worth a write: the claim stays as it is until the next start.
  const waiting = (report: EnvDecision['report']): EnvDecision => ({ environment: name, intents, claim: undefined, report });
  const crashLoop = ctx.memory?.restart?.crashLoop ? ' (crash loop detected recently)' : '';

  if (onTarget.length > 0) {
    const keep = prefer(onTarget, 'next')!;
    for (const t of onTarget) if (t !== keep) stop(t, `duplicate of ${keep.taskArn}: one task per revision`);
    const previous = old.length > 0 ? prefer(old, 'current') : undefined;
    for (const t of old) if (t !== previous) stop(t, `duplicate of ${previous!.taskArn}: one daemon of an older revision at most`);
    if (previous && !isReady(keep) && isActive(previous) && surgeOf(desired)) {
      // Surging: the old daemon keeps running until the new one is ready.
      const report = reportTask(
        name,
        desired,
        previous,
        'running',
        true,
        `surging: revision ${target} starting beside revision ${revisionOf(previous) ?? '?'}`,
      );
      report.next = { taskArn: keep.taskArn, ready: false, ...(revisionOf(keep) !== undefined ? { revision: revisionOf(keep)! } : {}) };
      return decision({ current: taskOf(previous), next: taskOf(keep) }, report);
    }
    if (previous)
      stop(previous, isReady(keep) ? `replaced by ${keep.taskArn} (revision ${target}, ready)` : `revision ${revisionOf(previous)} superseded by ${target}`);
    return decision({ current: taskOf(keep) }, reportTask(name, desired, keep, 'starting', true, `running${crashLoop}`));
  }

  if (old.length > 0) {
    const keep = prefer(old, 'current')!;
    for (const t of old) if (t !== keep) stop(t, `duplicate of ${keep.taskArn}: one daemon per instance`);
    const content = { current: taskOf(keep) };
    if (!ctx.fresh)
      return decision(content, reportTask(name, desired, keep, 'running', true, `revision ${revisionOf(keep)} runs; desired state stale, nothing is replaced`));
    // Surge needs the old task alone: a third live task is never started.
    const surge = surgeOf(desired) && isActive(keep) && stopping.length === 0 && old.length === 1;
    intents.push({
      type: 'replace',
      old: taskOf(keep),
      revision: target,
      taskDefinition: desired.revision.taskDefinition,
      surge,
      reason: `revision ${revisionOf(keep)} superseded by ${target}${surge ? ' (surge: the new task starts first)' : ''}`,
    });
    return decision(content, reportTask(name, desired, keep, 'running', true, `replacing revision ${revisionOf(keep)} with ${target}`));
  }

  if (stopping.length > 0) {
    intents.push({ type: 'wait', reason: `previous task ${stopping[0]!.taskArn} still stopping` });
    return waiting(reportOf(name, desired, stopping[0], 'stopping', true, 'waiting for the previous task to stop'));
  }
  const restart = ctx.memory?.restart;
  if (restart && restart.notBeforeMono > now.monoMs) {
    intents.push({
      type: 'wait',
      untilMono: restart.notBeforeMono,
      reason: `restart backoff${restart.crashLoop ? ' (crash loop)' : ''}: ${restart.notBeforeMono - now.monoMs} ms left`,
    });
    return waiting(
      reportOf(name, desired, undefined, restart.crashLoop ? 'crash_loop' : 'backoff', true, `restart in ${restart.notBeforeMono - now.monoMs} ms`),
    );
  }
  const backoff = ctx.memory?.startBackoff;
  if (backoff && backoff.untilMono > now.monoMs) {
    intents.push({ type: 'wait', untilMono: backoff.untilMono, reason: `StartTask retry ${backoff.attempts} backoff: ${backoff.reason}` });
    return waiting(reportOf(name, desired, undefined, 'backoff', true, `StartTask failed (${backoff.reason}); retry in ${backoff.untilMono - now.monoMs} ms`));
  }
  const restarting = restart?.restartDue === true;
  intents.push({
    type: 'start',
    role: 'current',
    token: attemptToken(now.nonce, name),
    revision: target,
    taskDefinition: desired.revision.taskDefinition,
    reason: restarting ? `daemon stopped: restart (revision ${target})` : `no daemon on this matching instance: start revision ${target}`,
  });
  return decision({}, reportOf(name, desired, undefined, 'starting', true, restarting ? 'restarting' : 'starting'));
}

/** Whether the revision's deployment starts the new task before stopping the old one. */
export function surgeOf(desired: DesiredEnvironment & { kind: 'valid' }): boolean {
  const surge = desired.revision.deploymentConfiguration.maxSurge;
  return surge !== '0' && surge !== '0%';
}

/** Which task to keep: the first of `preferred` the claim records, else RUNNING, else the first by ARN. */
function pickKeeper(tasks: ObservedTask[], preferred: (string | undefined)[]): ObservedTask | undefined {
  for (const arn of preferred) {
    const recorded = arn === undefined ? undefined : tasks.find((t) => t.taskArn === arn);
    if (recorded) return recorded;
  }
  return [...tasks].sort((a, b) => Number(b.lastStatus === 'RUNNING') - Number(a.lastStatus === 'RUNNING') || a.taskArn.localeCompare(b.taskArn))[0];
}
