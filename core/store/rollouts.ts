// What the agents' steward of a rollout reads and writes, through the same store code as the
// coordinator (core/store/deployments.ts, fleet.ts): its lease in the rollout control, the fleet's
// live status records, and each judgement written to the control and the deployment in one
// transaction. Every write is conditional: on the control's deployment and on the steward's lease
// (owner and renewal count), and on the deployment's status as read, so a deposed steward, a
// superseded deployment or an operator's action in between makes the write lose, never overwrite.
import type { Clock } from '../clock.js';
import { randomUUID } from 'node:crypto';
import { containerInstanceIdOf, keys } from '../keys.js';
import { parseOrSkip } from './records-io.js';
import {
  parseClaimRecord,
  parseDeployment,
  parseRolloutControl,
  type Deployment,
  type InstanceStatus,
  type RolloutControl,
  type StewardLease,
} from '../records.js';
import { Deployments } from './deployments.js';
import { TransactionCancelled, type Condition, type TableAccess, type TransactOp } from './dynamo.js';
import { Fleet } from './fleet.js';

/** The control's fields the steward sets. */
export type ControlJudgement = Partial<Pick<RolloutControl, 'phase' | 'cap' | 'desired' | 'spreadMs' | 'unlimited' | 'outcome' | 'canary' | 'rollingAt'>>;
export type DeploymentJudgement = Partial<
  Pick<Deployment, 'status' | 'counts' | 'phase' | 'failedInstances' | 'reasons' | 'startedAt' | 'progressAt' | 'finishedAt' | 'rolledBackBy'>
>;

/** One judgement of the steward: what it sets on the control and the deployment, conditional on its lease and the status it read. */
export interface StewardRecord {
  environment: string;
  deploymentId: string;
  lease: StewardLease;
  control: ControlJudgement;
  deployment: DeploymentJudgement | undefined;
  expectedStatus: Deployment['status'];
  now: string;
}

export class Rollouts {
  private readonly table: TableAccess;
  private readonly fleet: Fleet;
  private readonly gone = new Map<string, InstanceStatus[]>();
  private readonly deployments: Deployments;

  constructor(options: { table: TableAccess; clock?: Clock }) {
    this.table = options.table;
    this.fleet = new Fleet(options);
    this.deployments = new Deployments(options);
  }

  async control(environment: string): Promise<RolloutControl | undefined> {
    const item = await this.table.get(keys.rolloutControl(environment));
    return item ? parseRolloutControl(item) : undefined;
  }

  async deployment(environment: string, id: string): Promise<Deployment | undefined> {
    const item = await this.table.get(keys.deployment(environment, id));
    return item ? parseDeployment(item) : undefined;
  }

  /** The cluster's live status records (the steward's one read of the fleet per count); the gone ones are kept for freeAbandoned. */
  async statuses(cluster: string): Promise<InstanceStatus[]> {
    const { live, gone } = await this.fleet.clusterLiveAndGone(cluster, Number.POSITIVE_INFINITY);
    this.gone.set(cluster, gone);
    return live;
  }

  /**
   * Frees the admissions of instances whose agent is gone (status no longer live, no successor):
   * the claim's part becomes abandoned with a new record version (so a late write of its old
   * content loses) in one transaction with inFlight - 1. Read from the last `statuses` of the cluster.
   */
  async freeAbandoned(environment: string, deploymentId: string, cluster: string, now: string): Promise<number> {
    let freed = 0;
    for (const status of this.gone.get(cluster) ?? []) {
      const part = status.daemons.find((d) => d.environment === environment)?.rollout;
      if (part?.deploymentId !== deploymentId || (part.state !== 'admitted' && part.state !== 'failed')) continue;
      const key = keys.claim(environment, containerInstanceIdOf(status.containerInstanceArn));
      const item = await this.table.get(key);
      const claim = item ? parseOrSkip(item, parseClaimRecord) : undefined;
      const rollout = claim?.rollout;
      if (!claim || !rollout || rollout.deploymentId !== deploymentId || !rollout.counted || (rollout.state !== 'admitted' && rollout.state !== 'failed'))
        continue;
      const ok = await this.attempt([
        {
          kind: 'update',
          key: keys.rolloutControl(environment),
          add: { inFlight: -1 },
          condition: { expression: '#c_dep = :c_dep', names: { '#c_dep': 'deploymentId' }, values: { ':c_dep': deploymentId } },
        },
        {
          kind: 'update',
          key,
          set: { rollout: { ...rollout, state: 'abandoned', at: now, reason: 'its agent is gone' }, recordVersion: randomUUID().replace(/-/g, '') },
          condition: { expression: '#c_rv = :c_rv', names: { '#c_rv': 'recordVersion' }, values: { ':c_rv': claim.recordVersion } },
        },
      ]);
      if (ok) freed++;
    }
    return freed;
  }

  /**
   * Takes the steward's lease of an unfinished rollout: when there is none, or when its renewal
   * count is still `seenRenewals` (watched expire). A finished one has nothing left to steward.
   */
  async acquire(environment: string, deploymentId: string, lease: StewardLease, seenRenewals: number | undefined): Promise<boolean> {
    const condition: Condition = {
      expression:
        seenRenewals === undefined
          ? '#c_dep = :c_dep AND #c_ph <> :c_done AND attribute_not_exists(#c_st)'
          : '#c_dep = :c_dep AND #c_ph <> :c_done AND (attribute_not_exists(#c_st) OR #c_st.#c_ren = :c_ren)',
      names: { '#c_dep': 'deploymentId', '#c_ph': 'phase', '#c_st': 'steward', ...(seenRenewals === undefined ? {} : { '#c_ren': 'renewals' }) },
      values: { ':c_dep': deploymentId, ':c_done': 'done', ...(seenRenewals === undefined ? {} : { ':c_ren': seenRenewals }) },
    };
    return this.attempt([{ kind: 'update', key: keys.rolloutControl(environment), set: { steward: { ...lease } }, condition }]);
  }

  /**
   * Writes a judgement (and renews the lease: renewals + 1) if this agent still holds the lease as
   * `lease` says and the deployment still has `expectedStatus`. False when either changed.
   */
  async record(rec: StewardRecord): Promise<boolean> {
    const { environment, deploymentId, lease, control, deployment, expectedStatus, now } = rec;
    const ops: TransactOp[] = [
      {
        kind: 'update',
        key: keys.rolloutControl(environment),
        set: { ...control, steward: { ...lease, renewals: lease.renewals + 1 }, updatedAt: now },
        condition: {
          expression: '#c_dep = :c_dep AND #c_st.#c_owner = :c_owner AND #c_st.#c_ren = :c_ren',
          names: { '#c_dep': 'deploymentId', '#c_st': 'steward', '#c_owner': 'owner', '#c_ren': 'renewals' },
          values: { ':c_dep': deploymentId, ':c_owner': lease.owner, ':c_ren': lease.renewals },
        },
      },
    ];
    if (deployment && Object.keys(deployment).length > 0)
      ops.push({
        kind: 'update',
        key: keys.deployment(environment, deploymentId),
        set: { ...deployment, updatedAt: now },
        condition: { expression: '#c_status = :c_status', names: { '#c_status': 'status' }, values: { ':c_status': expectedStatus } },
      });
    return this.attempt(ops);
  }

  /** Rolls the failed deployment back to `revision` (the store's rollback: a new deployment of a copy of it). */
  async rollback(environment: string, failedDeploymentId: string, revision: number): Promise<void> {
    await this.deployments.rollbackDeployment(environment, failedDeploymentId, { revision });
  }

  private async attempt(ops: TransactOp[]): Promise<boolean> {
    try {
      await this.table.transact(ops);
      return true;
    } catch (error) {
      if (error instanceof TransactionCancelled && !error.contended) return false;
      throw error;
    }
  }
}
