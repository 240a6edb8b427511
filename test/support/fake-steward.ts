// The steward's port on a FakeTable: the same conditions as core/store/rollouts.ts, on the table's
// plain items (faults and call counts are the table's).
import type { StewardPort } from '../../agent/ports.js';
import { keys } from '../../core/keys.js';
import { parseDeployment, parseInstanceStatus, type Deployment, type InstanceStatus, type RolloutControl, type StewardLease } from '../../core/records.js';
import type { StewardRecord } from '../../core/store/rollouts.js';
import type { FakeTable } from './fake-ports.js';

export class FakeSteward implements StewardPort {
  constructor(private readonly table: FakeTable) {}

  /** The stored item itself (writes change it in place, as the table's own writes do). */
  private item(key: { pk: string; sk: string }): Record<string, unknown> | undefined {
    return this.table.raw(key.pk, key.sk);
  }

  async control(environment: string): Promise<RolloutControl | undefined> {
    return (await this.table.getControl(environment)) ?? undefined;
  }

  async deployment(environment: string, id: string): Promise<Deployment | undefined> {
    this.table.touch(false);
    const item = this.item(keys.deployment(environment, id));
    return item ? parseDeployment(item) : undefined;
  }

  async statuses(cluster: string): Promise<InstanceStatus[]> {
    this.table.touch(false);
    return [...this.table.items.values()].filter((i) => i.pk === `CLUSTER#${cluster}` && i.kind === 'InstanceStatus').map((i) => parseInstanceStatus(i));
  }

  async acquire(environment: string, deploymentId: string, lease: StewardLease, seenRenewals: number | undefined): Promise<boolean> {
    this.table.touch(true);
    const item = this.item(keys.rolloutControl(environment));
    const steward = item?.steward as StewardLease | undefined;
    if (!item || item.deploymentId !== deploymentId || (steward && steward.renewals !== seenRenewals)) return false;
    item.steward = { ...lease };
    return true;
  }

  async record(rec: StewardRecord): Promise<boolean> {
    const { environment, deploymentId, lease, control, deployment, expectedStatus, now } = rec;
    this.table.touch(true);
    const item = this.item(keys.rolloutControl(environment));
    const steward = item?.steward as StewardLease | undefined;
    const dep = this.item(keys.deployment(environment, deploymentId));
    if (!item || item.deploymentId !== deploymentId || steward?.owner !== lease.owner || steward.renewals !== lease.renewals) return false;
    if (deployment && dep?.status !== expectedStatus) return false;
    Object.assign(item, structuredClone(control), { steward: { ...lease, renewals: lease.renewals + 1 }, updatedAt: now });
    if (deployment && dep) Object.assign(dep, structuredClone(deployment), { updatedAt: now });
    return true;
  }

  async freeAbandoned(): Promise<number> {
    return 0; // the fake's statuses are all live
  }

  async rollback(): Promise<void> {
    throw new Error('the fake table does not model rollback deployments (the integration tests run the store)');
  }
}
