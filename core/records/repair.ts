// The repair budget of an environment, `ENV#<name>/REPAIR` (docs/contract.md "Repair budget"): a
// fleet-wide semaphore that caps how many instances repair at once (drain or replace) because of a
// failing critical daemon of that environment, so a bad daemon revision can never drain the fleet.
//
// Holders are keyed by container instance id. Every write replaces the whole item, conditional on
// its absence or on exactly the `recordVersion` read (a taker and a releaser that race: one loses
// and reads again). A holder is freed by its own agent (its instance is ACTIVE again and the
// daemon no longer failing), or by the next taker on evidence that its instance is gone: the
// instance heartbeat record (`INSTANCE#<id>/HEARTBEAT`) is absent or past its `validUntil` by the
// stale margin. A draining instance whose agent lives keeps its slot: it is still repairing.
import { nestedReader, recordName, recordReader, TIMESTAMP } from './reader.js';
import type { InstanceHeartbeat } from './instance.js';

export const REPAIR_BUDGET_KIND = 'RepairBudget';

export interface RepairHolder {
  owner: string;
  /** The EC2 instance (for the operator). */
  ec2InstanceId?: string;
  action: 'drain' | 'replace';
  /** The revision whose daemon failed. */
  revision: number;
  reason: string;
  since: string;
}

export interface RepairBudgetRecord {
  kind: 'RepairBudget';
  schemaVersion: number;
  environment: string;
  holders: Record<string, RepairHolder>;
  /** Random; changes on every write. */
  recordVersion: string;
  updatedAt: string;
}

/** A heartbeat this long past its validUntil is evidence its agent is gone (clocks differ by less). */
export const HOLDER_STALE_MARGIN_SECONDS = 30;

export function parseRepairBudget(item: unknown): RepairBudgetRecord {
  const reader = recordReader(item, recordName(item), REPAIR_BUDGET_KIND);
  const record: RepairBudgetRecord = {
    kind: 'RepairBudget',
    schemaVersion: reader.integer('schemaVersion'),
    environment: reader.string('environment'),
    holders: {},
    recordVersion: reader.string('recordVersion'),
    updatedAt: reader.string('updatedAt', { pattern: TIMESTAMP }),
  };
  const holders = reader.object('holders');
  for (const id of holders.keys()) {
    const h = nestedReader(holders, id, holders.raw(id));
    const holder: RepairHolder = {
      owner: h.string('owner'),
      action: h.oneOf('action', ['drain', 'replace'] as const),
      revision: h.integer('revision', { min: 1 }),
      reason: h.string('reason', { minLength: 0, maxLength: 1_000 }),
      since: h.string('since', { pattern: TIMESTAMP }),
    };
    const ec2 = h.optionalString('ec2InstanceId', { maxLength: 64 });
    if (ec2 !== undefined) holder.ec2InstanceId = ec2;
    h.noUnknownFields();
    record.holders[id] = holder;
  }
  holders.noUnknownFields();
  reader.noUnknownFields();
  return record;
}

/** Whether a holder's heartbeat (null: none) shows its instance gone at `nowWallMs`. */
export function holderGone(heartbeat: InstanceHeartbeat | null, nowWallMs: number): boolean {
  if (!heartbeat) return true;
  return heartbeat.validUntil + HOLDER_STALE_MARGIN_SECONDS < nowWallMs / 1000;
}

export type TakeOutcome = { taken: true; holders: Record<string, RepairHolder>; freed: string[] } | { taken: false; reason: string };

/**
 * The holders after `id` takes a slot of `limit`, freeing first the holders `gone` proves gone
 * (only those: a holder without evidence keeps its slot). Already holding: taken, unchanged.
 */
export function takeSlot(current: Record<string, RepairHolder>, id: string, holder: RepairHolder, limit: number, gone: ReadonlySet<string>): TakeOutcome {
  if (current[id]) return { taken: true, holders: current, freed: [] };
  const freed = Object.keys(current).filter((h) => gone.has(h));
  const holders = Object.fromEntries(Object.entries(current).filter(([h]) => !gone.has(h)));
  const held = Object.keys(holders).length;
  if (held >= limit) return { taken: false, reason: `repair budget of ${limit} in use by ${Object.keys(holders).sort().join(', ')}` };
  return { taken: true, holders: { ...holders, [id]: holder }, freed };
}
