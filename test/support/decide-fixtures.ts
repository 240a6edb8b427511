// Builders of decide's inputs for the decide and plan tests (examples and properties).
import { DEFAULT_DEPLOYMENT_CONFIGURATION, DEFAULT_RESTART_POLICY, type ClaimRecord, type Environment, type EnvironmentRevision } from '../../core/records.js';
import { decide } from '../../agent/decide/decide.js';
import { pace, type ReplacementBudget } from '../../agent/decide/pace.js';
import { instanceActions, plan } from '../../agent/decide/plan.js';
import type {
  Action,
  Chain,
  ClaimView,
  Decision,
  Desired,
  DesiredEnvironment,
  EnvMemoryView,
  InstanceLeaseView,
  Now,
  Observed,
  ObservedTask,
} from '../../agent/model.js';

export const ME = 'agent-000000000001';
export const options = { orphanGraceMs: 10_000, attemptSettleMs: 5_000, expectationTimeoutMs: 30_000 };
export const WALL0 = 1_700_000_000_000;

export function env(name: string, over: Partial<Environment> = {}, rev = 1, surge = '0'): DesiredEnvironment & { kind: 'valid' } {
  const environment: Environment = {
    kind: 'Environment',
    schemaVersion: 1,
    name,
    cluster: 'c',
    status: 'ACTIVE',
    health: 'unknown',
    currentRevision: rev,
    latestRevision: rev,
    token: 't',
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    ...over,
  };
  const revision: EnvironmentRevision = {
    kind: 'EnvironmentRevision',
    schemaVersion: 1,
    environment: name,
    revision: rev,
    taskDefinition: `${name}:${rev}`,
    instanceGroup: { cluster: 'c' },
    deploymentConfiguration: { ...DEFAULT_DEPLOYMENT_CONFIGURATION, maxSurge: surge },
    restartPolicy: DEFAULT_RESTART_POLICY,
    critical: false,
    order: 0,
    repair: 'none',
    repairBudget: '1',
    createdAt: '2026-01-01T00:00:00Z',
  };
  return { name, kind: 'valid', environment, revision, matches: true, matchReason: 'matches' };
}
export const acting = { acting: true, reason: 'acting' };
export const observed = (over: Partial<Observed> = {}): Observed => ({ instance: acting, claims: {}, tasks: [], memory: {}, orphanSince: {}, ...over });
export const now = (monoMs = 100_000): Now => ({ wallMs: WALL0 + monoMs, monoMs, nonce: 'n0nce0000000000x' });
export const claimItem = (over: Partial<ClaimRecord> = {}): ClaimRecord => ({
  kind: 'Claim',
  schemaVersion: 1,
  environment: 'logs',
  containerInstanceId: 'ci',
  owner: ME,
  recordVersion: 'v1',
  attempts: [],
  updatedAt: '2026-01-01T00:00:00Z',
  ...over,
});
export const mine = (over: Partial<ClaimRecord> = {}): ClaimView => ({ state: 'mine', item: claimItem(over), reason: 'mine' });
export const absent: ClaimView = { state: 'absent', reason: 'none' };
export const task = (arn: string, over: Partial<ObservedTask> = {}): ObservedTask => ({
  taskArn: arn,
  environment: 'logs',
  revision: 1,
  lastStatus: 'RUNNING',
  desiredStatus: 'RUNNING',
  hasHealthCheck: false,
  ours: true,
  ...over,
});
export const memory = (over: Partial<EnvMemoryView> = {}): EnvMemoryView => ({ expectations: [], attempts: {}, ...over });
export const attempt = (token: string, over: Partial<ClaimRecord['attempts'][number]> = {}) => ({
  token,
  revision: 1,
  issuedAt: new Date(WALL0 + 99_000).toISOString(),
  role: 'current' as const,
  ...over,
});
export const heldInstance: InstanceLeaseView = { state: 'mine', reason: 'mine' };

/** decide, then plan, as the reconciler does (unpaced unless a budget is given). */
export function step(
  desired: Desired,
  o: Observed,
  t: Now = now(),
  budget?: ReplacementBudget,
  instance: { view: InstanceLeaseView; renewDue: boolean } = { view: heldInstance, renewDue: false },
): { decision: Decision; chains: Chain[] } {
  const decision = budget ? pace(decide(desired, o, t, options), budget) : decide(desired, o, t, options);
  const own = instanceActions(instance.view, instance.renewDue);
  return { decision, chains: [...(own.length ? [{ key: '#instance', actions: own }] : []), ...plan({ decision, observed: o, now: t })] };
}
export const actionsOf = (chains: Chain[], key = 'logs'): Action[] => chains.find((c) => c.key === key)?.actions ?? [];
export const types = (actions: Action[]) => actions.map((a) => a.type);
export const one = (e: DesiredEnvironment): Desired => ({ environments: [e], fresh: true });
