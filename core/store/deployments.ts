// Deployments (ENV#<name> / DEP#<id>): starting one, the operator's actions on one (stop, pause,
// resume, rollback) and reading them. Invariants kept here:
// - The head names the newest deployment (activeDeploymentId) and its target (currentRevision);
//   a new deployment is written in the same transaction as that head, and stops the unfinished one
//   it replaces (supersede), so at most one deployment of an environment is unfinished.
// - Every change to a deployment is conditioned on the status (and paused flag) it was read with,
//   so an agent's concurrent rollout progress is never overwritten: the loser reads again.
// - Every action also rewrites the head with a new token and bumps the change marker, so agents
//   look and a client holding the old token learns that something changed.
// Usable on its own with a table and a clock (the coordinator's store and the agents).
import { systemClock, type Clock } from '../clock.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import { clusterNameOf, DEPLOYMENT_SK_PREFIX, keys, SCHEMA_VERSION } from '../keys.js';
import {
  FINISHED_DEPLOYMENT_STATUSES,
  parseDeployment,
  type Deployment,
  type DeploymentStatus,
  type Environment,
  type EnvironmentRevision,
  type RolloutControl,
  rolloutControlAttributes,
} from '../records.js';
import type { Condition, TableAccess, TransactOp } from './dynamo.js';
import type { DeploymentActionInput, RollbackInput, StartDeploymentInput } from './inputs.js';
import { validateDeploymentId, validateEnvironmentName } from './inputs.js';
import { pageOf, type InvalidItem, type Page, type PageRequest } from './paging.js';
import { parseOrSkip, Records, tryParse } from './records-io.js';
import { attempt, checkToken, headPut, markerOp, newDeploymentId, newToken, nowIso, putNew, Retry, run } from './transactions.js';
import { deploymentView, type DeploymentView } from './views.js';

const UNFINISHED: DeploymentStatus[] = ['pending', 'in_progress', 'awaiting_promotion'];
/** Deployment reasons keep the latest MAX_REASONS (an item must stay far below DynamoDB's 400 KB). */
const MAX_REASONS = 50;

type DeploymentChange = Partial<Pick<Deployment, 'status' | 'paused' | 'reasons' | 'finishedAt'>>;

export class Deployments {
  private readonly table: TableAccess;
  private readonly clock: Clock;
  private readonly records: Records;

  constructor(options: { table: TableAccess; clock?: Clock }) {
    this.table = options.table;
    this.clock = options.clock ?? systemClock;
    this.records = new Records(options.table);
  }

  async startDeployment(name: string, input: StartDeploymentInput): Promise<DeploymentView> {
    validateEnvironmentName(name);
    return attempt(async () => {
      const now = nowIso(this.clock);
      const head = await this.records.loadHead(name);
      checkToken(head, input.token, true);
      const target = input.revision ?? head.latestRevision;
      if (target > head.latestRevision) throw new NotFoundError(`revision ${target} of environment ${name} not found (latest is ${head.latestRevision})`);
      const revision = await this.records.loadRevision(name, target);
      checkRevisionCluster(revision, head);
      const { deployment, ops } = await this.replace(head, target, `deployment of revision ${target} requested`, now);
      const newHead: Environment = { ...head, currentRevision: target, activeDeploymentId: deployment.id, token: newToken(), updatedAt: now };
      ops.push(headPut(newHead, head.token), markerOp(head.cluster, now));
      await run(this.table, ops, () => new Retry());
      return deploymentView(deployment, revision.taskDefinition);
    });
  }

  async getDeployment(name: string, id: string): Promise<DeploymentView> {
    validateEnvironmentName(name);
    validateDeploymentId(id);
    await this.records.loadHead(name);
    const deployment = await this.records.loadDeployment(name, id);
    const revision = await this.records.loadRevision(name, deployment.targetRevision);
    return deploymentView(deployment, revision.taskDefinition);
  }

  /** Newest first. */
  async listDeployments(name: string, request: PageRequest = {}): Promise<Page<DeploymentView>> {
    const page = await this.records.newestFirst(name, DEPLOYMENT_SK_PREFIX, request);
    const invalid: InvalidItem[] = [];
    const deployments = page.items.map((item) => tryParse(item, parseDeployment, invalid, name)).filter((d): d is Deployment => d !== undefined);
    const revisions = await this.records.revisionsByNumber(
      name,
      deployments.map((d) => d.targetRevision),
      invalid,
    );
    const items: DeploymentView[] = [];
    for (const deployment of deployments) {
      const revision = revisions.get(deployment.targetRevision);
      if (revision) items.push(deploymentView(deployment, revision.taskDefinition));
    }
    return pageOf(items, page.lastKey, invalid);
  }

  async stopDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.changeDeployment(name, id, input, (d) => {
      if (!UNFINISHED.includes(d.status)) throw new ConflictError(`deployment ${id} is already ${d.status}`);
      return { status: 'stopped', finishedAt: nowIso(this.clock), reasons: withReason(d.reasons, 'stopped by request') };
    });
  }

  async pauseDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.changeDeployment(name, id, input, (d) => {
      if (!UNFINISHED.includes(d.status)) throw new ConflictError(`deployment ${id} is ${d.status}; only a pending or in_progress deployment can be paused`);
      return d.paused ? undefined : { paused: true, reasons: withReason(d.reasons, 'paused by request') };
    });
  }

  async resumeDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.changeDeployment(name, id, input, (d) => {
      if (!UNFINISHED.includes(d.status)) throw new ConflictError(`deployment ${id} is ${d.status}; only a pending or in_progress deployment can be resumed`);
      return d.paused ? { paused: false, reasons: withReason(d.reasons, 'resumed by request') } : undefined;
    });
  }

  /**
   * Rolls forward to a new revision that copies an old one (the rolled-back deployment's previous
   * revision unless `revision` names another), deploys it, and marks the rolled-back deployment
   * rolled_back. An unfinished active deployment other than the rolled-back one is superseded.
   */
  async rollbackDeployment(name: string, id: string, input: RollbackInput = {}): Promise<DeploymentView> {
    return this.actOn(name, id, input.token, async (head, rolledBack, now) => {
      if (rolledBack.status === 'rolled_back') throw new ConflictError(`deployment ${id} was already rolled back`);
      const source = input.revision ?? rolledBack.previousRevision;
      if (source === undefined) throw new InvalidInputError('revision', `deployment ${id} has no previous revision to roll back to; name one with revision`);
      if (source > head.latestRevision) throw new NotFoundError(`revision ${source} of environment ${name} not found (latest is ${head.latestRevision})`);
      const from = await this.records.loadRevision(name, source);
      checkRevisionCluster(from, head);
      const number = head.latestRevision + 1;
      const revision: EnvironmentRevision = { ...from, revision: number, copiedFrom: source, createdAt: now };
      // The rolled-back deployment gets its own update below; a second op on it would void the transaction.
      const supersede = head.activeDeploymentId !== id;
      const { deployment, ops } = await this.replace(head, number, `rollback of deployment ${id} to revision ${source}`, now, supersede);
      const newHead: Environment = {
        ...head,
        latestRevision: number,
        currentRevision: number,
        activeDeploymentId: deployment.id,
        token: newToken(),
        updatedAt: now,
      };
      ops.push(putNew(keys.revision(name, number), revision), headPut(newHead, head.token), markerOp(head.cluster, now), {
        kind: 'update',
        key: keys.deployment(name, id),
        set: {
          status: 'rolled_back',
          updatedAt: now,
          finishedAt: rolledBack.finishedAt ?? now,
          reasons: withReason(rolledBack.reasons, `rolled back by ${deployment.id}`),
        },
        condition: statusIs(rolledBack.status),
      });
      await run(this.table, ops, () => new Retry());
      return deploymentView(deployment, revision.taskDefinition);
    });
  }

  /**
   * A new deployment of revision `target` that replaces the head's active one, and the ops that
   * write it and (unless `supersede` is false) stop the active one if it is unfinished. The caller
   * adds the head that names it (headPut) and the marker to the same transaction.
   */
  async replace(head: Environment, target: number, reason: string, now: string, supersede = true): Promise<{ deployment: Deployment; ops: TransactOp[] }> {
    const deployment = newDeployment(newDeploymentId(new Date(this.clock.wallMs())), head.name, target, head.currentRevision, now, [reason]);
    const active = await this.readActive(head);
    // What new instances get while the target is untrusted: the last completed deployment's target.
    const stable = active?.status === 'completed' ? active.targetRevision : (active?.stableRevision ?? (active ? undefined : head.currentRevision));
    if (stable !== undefined) deployment.stableRevision = stable;
    // The last count of the fleet until the steward's first: how often a large fleet reads the control (agent/decide/rollout.ts activePollMs).
    const ops = [putNew(keys.deployment(head.name, deployment.id), deployment), controlPut(deployment, now, active?.counts?.desired ?? 0)];
    const stop = supersede ? finishOp(active, 'stopped', `superseded by ${deployment.id}`, now) : undefined;
    if (stop) ops.push(stop);
    return { deployment, ops };
  }

  /** canary: awaiting_promotion -> in_progress; the agents admit the rest of the fleet. */
  async promoteDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.changeDeployment(name, id, input, (d) => {
      if (d.status !== 'awaiting_promotion') throw new ConflictError(`deployment ${id} is ${d.status}; only a deployment awaiting promotion can be promoted`);
      return { status: 'in_progress', reasons: withReason(d.reasons, 'promoted by request') };
    });
  }

  /** The op that finishes the head's active deployment as `status`, or undefined when there is nothing unfinished to finish. */
  async finishActiveOp(head: Environment, status: DeploymentStatus, reason: string, now: string): Promise<TransactOp | undefined> {
    return finishOp(await this.readActive(head), status, reason, now);
  }

  /** The head's active deployment; undefined when there is none or it is malformed (left as it is: it must not block changes to its environment). */
  private async readActive(head: Environment): Promise<Deployment | undefined> {
    if (!head.activeDeploymentId) return undefined;
    const item = await this.table.get(keys.deployment(head.name, head.activeDeploymentId));
    return item ? parseOrSkip(item, parseDeployment) : undefined;
  }

  /** An operator's action on one deployment: `change` says what to set (undefined: nothing to do) or throws. */
  private async changeDeployment(
    name: string,
    id: string,
    input: DeploymentActionInput,
    change: (d: Deployment) => DeploymentChange | undefined,
  ): Promise<DeploymentView> {
    return this.actOn(name, id, input.token, async (head, deployment, now) => {
      const revision = await this.records.loadRevision(name, deployment.targetRevision);
      const fields = change(deployment);
      if (!fields) return deploymentView(deployment, revision.taskDefinition);
      const updated: Deployment = { ...deployment, ...fields, updatedAt: now };
      const ops: TransactOp[] = [
        {
          kind: 'update',
          key: keys.deployment(name, id),
          set: { ...fields, updatedAt: now },
          condition: {
            // A record written before `paused` existed has no such attribute: it counts as not paused.
            expression: deployment.paused
              ? '#c_status = :c_status AND #c_paused = :c_paused'
              : '#c_status = :c_status AND (attribute_not_exists(#c_paused) OR #c_paused = :c_paused)',
            names: { '#c_status': 'status', '#c_paused': 'paused' },
            values: { ':c_status': deployment.status, ':c_paused': deployment.paused },
          },
        },
        headPut({ ...head, token: newToken(), updatedAt: now }, head.token),
        markerOp(head.cluster, now),
      ];
      const control = controlChange(fields, now);
      // Only the control of this deployment (a newer one has its own; an old deployment has none).
      if (control && head.activeDeploymentId === id && (await this.table.get(keys.rolloutControl(name))))
        ops.push({ kind: 'update', key: keys.rolloutControl(name), set: { ...control, updatedAt: now }, condition: controlOf(id) });
      await run(this.table, ops, () => new Retry());
      return deploymentView(updated, revision.taskDefinition);
    });
  }

  /**
   * One attempt of an action on deployment `id`: reads the head (a token, if given, must be its
   * current one) and the deployment, then `body` builds and commits the change. A deployment action
   * may omit the token: it acts on the deployment as read, which its own condition guards.
   */
  private async actOn<T>(
    name: string,
    id: string,
    token: string | undefined,
    body: (head: Environment, deployment: Deployment, now: string) => Promise<T>,
  ): Promise<T> {
    validateEnvironmentName(name);
    validateDeploymentId(id);
    return attempt(async () => {
      const now = nowIso(this.clock);
      const head = await this.records.loadHead(name);
      checkToken(head, token, false);
      return body(head, await this.records.loadDeployment(name, id), now);
    });
  }
}

/** The rollout control of a new deployment: pending until the steward's first count (core/records/rollout.ts); `desired` the fleet's size as last counted. */
export function newRolloutControl(deployment: Deployment, now: string, desired = 0): RolloutControl {
  const control: RolloutControl = {
    kind: 'RolloutControl',
    schemaVersion: SCHEMA_VERSION,
    environment: deployment.environment,
    deploymentId: deployment.id,
    targetRevision: deployment.targetRevision,
    phase: 'pending',
    paused: false,
    cap: 0,
    inFlight: 0,
    admitted: 0,
    canary: 0,
    desired,
    spreadMs: 0,
    unlimited: false,
    updatedAt: now,
  };
  if (deployment.stableRevision !== undefined) control.stableRevision = deployment.stableRevision;
  return control;
}

/** Replaces the environment's control whole: every counter of an older deployment is gone with it. */
export function controlPut(deployment: Deployment, now: string, desired = 0): TransactOp {
  return { kind: 'put', item: { ...keys.rolloutControl(deployment.environment), ...rolloutControlAttributes(newRolloutControl(deployment, now, desired)) } };
}

function controlOf(id: string): Condition {
  return { expression: '#c_dep = :c_dep', names: { '#c_dep': 'deploymentId' }, values: { ':c_dep': id } };
}

/** What an operator's action sets on the control: pause, resume, stop (nothing new begins), promote. */
function controlChange(fields: DeploymentChange, now: string): Record<string, unknown> | undefined {
  if (fields.status === 'stopped') return { phase: 'done', outcome: 'stopped' };
  if (fields.status === 'in_progress') return { phase: 'rolling', rollingAt: now };
  if (fields.paused !== undefined) return { paused: fields.paused };
  return undefined;
}

export function newDeployment(id: string, environment: string, target: number, previous: number | undefined, now: string, reasons: string[]): Deployment {
  const deployment: Deployment = {
    kind: 'Deployment',
    schemaVersion: SCHEMA_VERSION,
    id,
    environment,
    targetRevision: target,
    status: 'pending',
    paused: false,
    reasons,
    failedInstances: [],
    createdAt: now,
    updatedAt: now,
  };
  if (previous !== undefined) deployment.previousRevision = previous;
  return deployment;
}

/** The op that finishes `active` as `status`, or undefined when it is already finished (or absent). */
function finishOp(active: Deployment | undefined, status: DeploymentStatus, reason: string, now: string): TransactOp | undefined {
  if (!active || FINISHED_DEPLOYMENT_STATUSES.includes(active.status)) return undefined;
  return {
    kind: 'update',
    key: keys.deployment(active.environment, active.id),
    set: { status, updatedAt: now, finishedAt: now, reasons: withReason(active.reasons, reason) },
    condition: statusIs(active.status),
  };
}

/** The deployment still has the status it was read with (an agent may have moved it on since). */
function statusIs(status: DeploymentStatus): Condition {
  return { expression: '#c_status = :c_status', names: { '#c_status': 'status' }, values: { ':c_status': status } };
}

/** The reasons with one more, the latest MAX_REASONS kept (the store's actions and the agents' steward alike). */
export function withReason(reasons: readonly string[], reason: string): string[] {
  return [...reasons, reason].slice(-MAX_REASONS);
}

/** A revision of an earlier life of the name may name another cluster: it cannot be deployed here. */
function checkRevisionCluster(revision: EnvironmentRevision, head: Environment): void {
  if (clusterNameOf(revision.instanceGroup.cluster) !== head.cluster) {
    throw new InvalidInputError(
      'revision',
      `revision ${revision.revision} belongs to cluster ${revision.instanceGroup.cluster} (an earlier environment of this name); this one is in ${head.cluster}`,
    );
  }
}
