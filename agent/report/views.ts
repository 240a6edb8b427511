// What the node-local health endpoint shows (agent/health-server.ts): /healthz (the loop is alive),
// /readyz (every matching daemon ready) and /status (everything the agent knows and why).
import { commit, version } from '../../core/version.js';
import type { AgentIdentity } from '../context.js';
import type { Loop } from '../loop.js';
import type { DrainView } from '../decide/drain.js';
import type { Expectation, ObservedTask, Report } from '../model.js';
import type { Reconciler } from '../reconciler.js';
import type { AgentErrorRecord, Troubles } from './degraded.js';

export interface ClaimStatusView {
  state: string;
  reason: string;
  owner?: string;
  recordVersion?: string;
  /** The current daemon task the claim records. */
  taskArn?: string;
  next?: string;
  attempts?: string[];
}

export interface AgentStatusView {
  agent: { version: string; commit: string; owner: string; startedAt: string; steps: number; phase: string };
  identity: AgentIdentity | undefined;
  attributes: Record<string, string | undefined> | undefined;
  ready: boolean;
  /** The instance's ECS status as last read, and the drain (daemons last). */
  ecsStatus: string | undefined;
  drain: DrainView;
  /** Scale-in and Spot: why the instance is leaving (undefined: it is not), and where it stands. */
  lifecycle: { leaving?: 'scale-in' | 'spot'; reason: string };
  /** Critical-daemon repair: the failing critical daemons, and why nothing repairs (when so). */
  repair: { failing: { environment: string; reason: string }[]; held?: string };
  degraded: boolean;
  degradedReasons: string[];
  desired: {
    state: string;
    loaded: boolean;
    fresh: boolean;
    markerVersion: number | undefined;
    environments: { name: string; valid: boolean; matches?: boolean | undefined; reason: string; revision?: number; taskDefinition?: string }[];
  };
  /** The instance heartbeat: whether this agent acts for the instance. */
  instance: { acting: boolean; state: string; reason: string; owner?: string; recordVersion?: string };
  daemons: (Report & { restarts: number; crashLoop: boolean; claim: { state: string; reason: string } | undefined })[];
  claims: Record<string, ClaimStatusView>;
  tasks: ObservedTask[] | undefined;
  expectations: Record<string, Expectation[]>;
  lastErrors: AgentErrorRecord[];
}

export interface ViewSources {
  owner: string;
  startedAt: string;
  loop: Loop;
  tickMs: number;
  identity: () => AgentIdentity | undefined;
  reconciler: () => Reconciler | undefined;
  troubles: Troubles;
  monoMs: () => number;
}

export function healthz(s: ViewSources): { ok: boolean; reason: string } {
  if (!s.loop.isRunning) return { ok: false, reason: 'stopped' };
  const age = s.loop.sinceProgress();
  const limit = Math.max(30_000, s.tickMs * 10);
  if (age > limit) return { ok: false, reason: `no loop progress for ${Math.round(age)} ms` };
  return { ok: true, reason: `${s.loop.phase}; last step ${Math.round(age)} ms ago` };
}

export function readyz(s: ViewSources): { ok: boolean; reason: string } {
  const r = s.reconciler();
  if (!r || r.desired.entries === undefined) return { ok: false, reason: 'desired state not read yet' };
  const decision = r.lastDecision;
  if (!decision) return { ok: false, reason: 'no reconcile step yet' };
  if (!r.ready() && (r.drain.phase === 'stopping-daemons' || r.drain.phase === 'drained'))
    return { ok: false, reason: `instance draining (${r.drain.phase}): ${r.drain.reason}` };
  const matching = decision.environments.map((e) => e.report).filter((report) => report.matching);
  const notReady = matching.filter((report) => !report.ready);
  if (notReady.length)
    return { ok: false, reason: notReady.map((report) => `${report.environment}: ${report.state}${report.health ? ` ${report.health}` : ''}`).join('; ') };
  return { ok: true, reason: `${matching.length} matching daemon(s) ready` };
}

export function statusView(s: ViewSources): AgentStatusView {
  const r = s.reconciler();
  const claims: Record<string, ClaimStatusView> = {};
  for (const [env, view] of Object.entries(r?.claims.claimViews() ?? {})) {
    const item = view.item;
    claims[env] = {
      state: view.state,
      reason: view.reason,
      ...(item
        ? {
            owner: item.owner,
            recordVersion: item.recordVersion,
            ...(item.current ? { taskArn: item.current.taskArn } : {}),
            ...(item.next ? { next: item.next.taskArn } : {}),
            ...(item.attempts.length ? { attempts: item.attempts.map((a) => `${a.role}:${a.token}`) } : {}),
          }
        : {}),
    };
  }
  const instance = r?.claims.instanceView;
  const standing = r?.claims.standing(s.monoMs());
  const expectations: Record<string, Expectation[]> = {};
  for (const [env, memory] of r?.memories.entries() ?? []) if (memory.expectations.size) expectations[env] = memory.expectations.list();
  const desired = r?.desiredView();
  return {
    agent: { version, commit, owner: s.owner, startedAt: s.startedAt, steps: s.loop.steps, phase: s.loop.phase },
    identity: s.identity(),
    attributes: r?.facts.facts?.attributes,
    ready: r?.ready() ?? false,
    ecsStatus: r?.facts.status,
    drain: r?.drain ?? { phase: 'none', reason: '' },
    lifecycle: lifecycleView(r),
    repair: repairView(r),
    degraded: s.troubles.degraded,
    degradedReasons: s.troubles.reasons(),
    desired: {
      state: r?.desired.state.freshness ?? 'unread',
      loaded: r?.desired.entries !== undefined,
      fresh: r?.desired.fresh ?? false,
      markerVersion: r?.desired.state.markerVersion,
      environments: (desired?.environments ?? []).map((e) =>
        e.kind === 'valid'
          ? { name: e.name, valid: true, matches: e.matches, reason: e.matchReason, revision: e.revision.revision, taskDefinition: e.revision.taskDefinition }
          : { name: e.name, valid: false, reason: e.error },
      ),
    },
    instance: {
      acting: standing?.acting ?? false,
      state: instance?.state ?? 'unknown',
      reason: standing?.reason ?? 'identity not read yet',
      ...(instance?.item ? { owner: instance.item.owner, recordVersion: instance.item.recordVersion } : {}),
    },
    daemons: (r?.lastDecision?.environments ?? []).map(({ environment, report }) => {
      const restart = r?.memories.peek(environment)?.restart;
      const claim = claims[environment];
      return {
        ...report,
        restarts: restart?.restarts ?? 0,
        crashLoop: restart?.crashLoop ?? false,
        claim: claim ? { state: claim.state, reason: claim.reason } : undefined,
      };
    }),
    claims,
    tasks: r?.catalog.tasks,
    expectations,
    lastErrors: s.troubles.recentErrors(),
  };
}

function lifecycleView(r: Reconciler | undefined): AgentStatusView['lifecycle'] {
  const last = r?.life.lifecycle.last;
  if (!last) return { reason: r?.life.lifecycle.enabled ? 'not read yet' : 'scale-in and Spot handling off' };
  return last.leaving ? { leaving: last.leaving, reason: last.reason } : { reason: last.reason };
}

function repairView(r: Reconciler | undefined): AgentStatusView['repair'] {
  const last = r?.life.repair.last;
  return { failing: last?.degraded ?? [], ...(last?.held ? { held: last.held } : {}) };
}
