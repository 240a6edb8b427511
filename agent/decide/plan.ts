// Plan: paced intents -> ordered chains of actions, one chain per environment (plus the instance
// heartbeat's and one per orphan). Pure. The shape of every chain, and why it is safe:
// - the instance chain (acquire or renew the heartbeat, instanceActions) runs before the claims are
//   read and before anything is decided; the actuator runs no other chain unless this agent then
//   acts for the instance;
// - an environment's chain begins with at most one claim write, conditional on the version its
//   decision was made on (or on the claim's absence), that records everything the chain's ECS
//   calls need: the start attempt's token before StartTask, the tasks kept, a take-over;
// - a chain holds at most one start and never a start and a stop together;
// - stops and look-ups of an environment whose last such ECS call failed wait out its backoff.
import { claimRefreshDue } from '../claims.js';
import { counterDelta } from './rollout.js';
import { attemptToken } from '../lease.js';
import type { Action, Chain, ClaimContent, ClaimView, Decision, EnvDecision, InstanceLeaseView, Now, Observed } from '../model.js';

export interface PlanInput {
  decision: Decision;
  observed: Observed;
  now: Now;
}

/** The environments' chains (and orphans'); the instance's own chain is instanceActions', run first. */
export function plan(input: PlanInput): Chain[] {
  const chains: Chain[] = [];
  for (const env of input.decision.environments) {
    const actions = environmentActions(env, input);
    if (actions.length) chains.push({ key: env.environment, actions });
  }
  for (const orphan of input.decision.orphanStops) {
    const stop: Action = {
      type: 'stop',
      taskArn: orphan.taskArn,
      reason: orphan.reason,
      ...(orphan.environment !== undefined ? { environment: orphan.environment } : {}),
    };
    chains.push({ key: `task:${orphan.taskArn}`, actions: [holdDuringBackoff(stop, input)] });
  }
  return chains;
}

/** The heartbeat: acquired when free or watched expire (conditional on exactly what was seen), renewed when due. */
export function instanceActions(view: InstanceLeaseView, renewDue: boolean): Action[] {
  switch (view.state) {
    case 'free':
      return [{ type: 'acquire-instance', expectedRecordVersion: view.item?.recordVersion, reason: `instance lease ${view.reason}: acquire` }];
    case 'expired':
      return [{ type: 'acquire-instance', expectedRecordVersion: view.item?.recordVersion, reason: `instance lease expired: ${view.reason}` }];
    case 'mine':
      return renewDue ? [{ type: 'renew-instance', reason: 'heartbeat' }] : [];
    case 'unknown':
      // Not read: acquiring on its absence either takes it or returns what is there (then judged).
      return [{ type: 'acquire-instance', expectedRecordVersion: undefined, reason: 'instance lease not known: acquire (conditional on none existing)' }];
    default:
      return []; // other: watched
  }
}

function environmentActions(env: EnvDecision, input: PlanInput): Action[] {
  const name = env.environment;
  const view = input.observed.claims[name];
  if (!view || (view.state !== 'absent' && view.state !== 'mine' && view.state !== 'takeable')) return []; // decide gave no intents
  const content: ClaimContent = env.claim ? copyContent(env.claim) : contentOf(view);
  const calls: Action[] = [];
  let release: string | undefined;
  for (const intent of env.intents) {
    switch (intent.type) {
      case 'start':
        recordAttempt(content, intent.token, intent.revision, intent.role, input.now);
        calls.push({
          type: 'start',
          environment: name,
          role: intent.role,
          token: intent.token,
          revision: intent.revision,
          taskDefinition: intent.taskDefinition,
          reason: intent.reason,
        });
        break;
      case 'replace':
        if (intent.surge) {
          const token = attemptToken(input.now.nonce, name);
          recordAttempt(content, token, intent.revision, 'next', input.now);
          calls.push({
            type: 'start',
            environment: name,
            role: 'next',
            token,
            revision: intent.revision,
            taskDefinition: intent.taskDefinition,
            reason: intent.reason,
          });
        } else calls.push(holdDuringBackoff({ type: 'stop', environment: name, taskArn: intent.old.taskArn, reason: intent.reason }, input));
        break;
      case 'stop':
        calls.push(holdDuringBackoff({ type: 'stop', environment: name, taskArn: intent.taskArn, reason: intent.reason }, input));
        break;
      case 'lookup':
        calls.push(holdDuringBackoff({ type: 'lookup-attempt', environment: name, token: intent.token, reason: intent.reason }, input));
        break;
      case 'release':
        release = intent.reason;
        break;
      case 'wait':
        calls.push({ type: 'wait', environment: name, ...(intent.untilMono !== undefined ? { untilMono: intent.untilMono } : {}), reason: intent.reason });
        break;
    }
  }
  if (release !== undefined) {
    // Deleting is conditional on the version read: it also takes the claim over, and a claim written since survives.
    return view.item ? [...calls, { type: 'delete-claim', environment: name, expectedRecordVersion: view.item.recordVersion, reason: release }] : calls;
  }
  const event = writeEvent(view, content, calls, input.now, env.claim !== undefined);
  if (event === undefined) return calls;
  const delta = counterDelta(view.item?.rollout, content.rollout);
  const counter = delta === 0 || !content.rollout ? undefined : { environment: name, deploymentId: content.rollout.deploymentId, delta };
  const write: Action = {
    type: 'write-claim',
    environment: name,
    write: { environment: name, content, expectedRecordVersion: view.item?.recordVersion, event, ...(counter ? { counter } : {}) },
    reason: `claim ${event}`,
  };
  return [write, ...calls];
}

/**
 * Why the claim must be written before this chain's calls, or undefined when it need not be.
 * `decided`: the decision asked for a claim content (else only its calls may need the claim).
 */
function writeEvent(view: ClaimView, content: ClaimContent, calls: Action[], now: Now, decided: boolean): string | undefined {
  const acts = calls.some((a) => a.type === 'start' || a.type === 'stop' || a.type === 'lookup-attempt');
  if (!decided && !acts) return undefined;
  if (view.state === 'takeable') return view.takeOver ?? 'taken-over';
  if (view.state === 'absent') return acts || !contentEmpty(content) ? (calls.some((a) => a.type === 'start') ? 'attempt-recorded' : 'acquired') : undefined;
  const item = view.item!;
  if (content.attempts.some((a) => !item.attempts.some((b) => sameAttempt(a, b)))) return 'attempt-recorded';
  if (!sameRollout(content.rollout, item.rollout)) return `rollout-${content.rollout?.state ?? 'cleared'}`;
  if (!sameContent(content, contentOf(view))) return 'task-recorded';
  return claimRefreshDue(item, now.wallMs) ? 'refreshed' : undefined;
}

function recordAttempt(content: ClaimContent, token: string, revision: number, role: 'current' | 'next', now: Now): void {
  content.attempts = [...content.attempts.filter((a) => a.role !== role), { token, revision, issuedAt: new Date(now.wallMs).toISOString(), role }];
}

function holdDuringBackoff(action: Action & { type: 'stop' | 'lookup-attempt' }, input: PlanInput): Action {
  const key = action.environment ?? '';
  const held = input.observed.memory[key]?.ecsBackoff;
  if (!held || held.untilMono <= input.now.monoMs) return action;
  return {
    type: 'wait',
    environment: key,
    untilMono: held.untilMono,
    reason: `${action.type} held ${held.untilMono - input.now.monoMs} ms: ECS backoff after ${held.reason}`,
  };
}

function contentOf(view: ClaimView): ClaimContent {
  const item = view.item;
  return copyContent({
    ...(item?.current ? { current: item.current } : {}),
    ...(item?.next ? { next: item.next } : {}),
    attempts: item?.attempts ?? [],
    ...(item?.rollout ? { rollout: item.rollout } : {}),
  });
}

function copyContent(c: ClaimContent): ClaimContent {
  return {
    ...(c.current ? { current: { ...c.current } } : {}),
    ...(c.next ? { next: { ...c.next } } : {}),
    attempts: c.attempts.map((a) => ({ ...a })),
    ...(c.rollout ? { rollout: { ...c.rollout } } : {}),
  };
}

const sameRollout = (a: ClaimContent['rollout'], b: ClaimContent['rollout']): boolean =>
  a?.deploymentId === b?.deploymentId && a?.state === b?.state && a?.at === b?.at && a?.counted === b?.counted;

const contentEmpty = (c: ClaimContent): boolean => !c.current && !c.next && c.attempts.length === 0;
const sameTask = (a: ClaimContent['current'], b: ClaimContent['current']): boolean => a?.taskArn === b?.taskArn && a?.revision === b?.revision;
const sameAttempt = (a: ClaimContent['attempts'][number], b: ClaimContent['attempts'][number]): boolean =>
  a.token === b.token && a.role === b.role && a.revision === b.revision && a.issuedAt === b.issuedAt;

function sameContent(a: ClaimContent, b: ClaimContent): boolean {
  return (
    sameTask(a.current, b.current) &&
    sameTask(a.next, b.next) &&
    sameRollout(a.rollout, b.rollout) &&
    a.attempts.length === b.attempts.length &&
    a.attempts.every((x) => b.attempts.some((y) => sameAttempt(x, y)))
  );
}
