// An in-memory fake of the agent's table ports (agent/ports.ts): DynamoDB's conditional write
// semantics over items stored as plain attributes and read through the real record parsers. Time is
// the caller's clock; nothing here sleeps.
import { InvalidRecordError } from '../../core/errors.js';
import { keys, lastArnSegment } from '../../core/keys.js';
import {
  counterAllows,
  parseRepairBudget,
  parseRolloutControl,
  parseStoredRevision,
  type EnvironmentRevision,
  type RolloutControl,
  claimAttributes,
  parseClaimRecord,
  parseInstanceHeartbeat,
  type ChangeMarker,
  type Claim,
  type ClaimRecord,
  type InstanceHeartbeat,
  type InstanceStatus,
  type RepairBudgetRecord,
} from '../../core/records.js';
import type { ClaimPort, DesiredStatePort, EnvironmentEntry, RepairPort, RolloutPort, StatusPort } from '../../agent/ports.js';
import { RolloutRefusedError, WriteConflictError } from '../../agent/ports.js';
import type { RolloutCounterMove } from '../../agent/model.js';

type Item = Record<string, unknown>;
const keyOf = (k: { pk: string; sk: string }): string => `${k.pk}\u0000${k.sk}`;

/** A failure a fake injects: thrown like the SDK throws it. */
export class InjectedError extends Error {
  constructor(name: string, message = `injected ${name}`) {
    super(message);
    this.name = name;
  }
}

// ---------------------------------------------------------------------------------------------
// DynamoDB

export class FakeTable implements DesiredStatePort, ClaimPort, StatusPort, RolloutPort, RepairPort {
  readonly items = new Map<string, Item>();
  environments: EnvironmentEntry[] = [];
  marker: ChangeMarker | undefined;
  readonly calls = { reads: 0, writes: 0, conflicts: 0 };
  /** Throws (the table is unreachable or throttling) while it returns an error. */
  fault: (() => Error | undefined) | undefined;

  /** Replaces the environments and moves the marker, as the coordinator's transactions do. */
  setEnvironments(entries: EnvironmentEntry[], cluster = 'sim'): void {
    this.environments = entries;
    this.marker = { kind: 'ChangeMarker', schemaVersion: 1, cluster, version: (this.marker?.version ?? 0) + 1, updatedAt: '2026-01-01T00:00:00.000Z' };
  }

  raw(pk: string, sk: string): Item | undefined {
    return this.items.get(keyOf({ pk, sk }));
  }

  putRaw(item: Item): void {
    this.items.set(keyOf(item as { pk: string; sk: string }), structuredClone(item));
  }

  async getMarker(): Promise<ChangeMarker | undefined> {
    this.touch(false);
    return this.marker;
  }

  async loadEnvironments(): Promise<EnvironmentEntry[]> {
    this.touch(false);
    return structuredClone(this.environments);
  }

  async getHeartbeat(containerInstanceId: string): Promise<InstanceHeartbeat | null> {
    this.touch(false);
    const item = this.items.get(keyOf(keys.heartbeat(containerInstanceId)));
    return item ? parseInstanceHeartbeat(item) : null;
  }

  async putHeartbeat(heartbeat: InstanceHeartbeat, expected: string | undefined): Promise<void> {
    this.conditionalPut(keys.heartbeat(heartbeat.containerInstanceId), { ...heartbeat }, expected, parseInstanceHeartbeat);
  }

  async getRepairBudget(environment: string): Promise<RepairBudgetRecord | null> {
    this.touch(false);
    const item = this.items.get(keyOf(keys.repairBudget(environment)));
    return item ? parseRepairBudget(item) : null;
  }

  async putRepairBudget(record: RepairBudgetRecord, expected: string | undefined): Promise<void> {
    this.conditionalPut(keys.repairBudget(record.environment), { ...structuredClone(record) }, expected, parseRepairBudget);
  }

  async getClaims(environments: readonly string[], containerInstanceId: string): Promise<Map<string, ClaimRecord | null | InvalidRecordError>> {
    this.touch(false);
    const result = new Map<string, ClaimRecord | null | InvalidRecordError>();
    for (const env of environments) {
      const item = this.items.get(keyOf(keys.claim(env, containerInstanceId)));
      try {
        result.set(env, item ? parseClaimRecord(item) : null);
      } catch (error) {
        if (!(error instanceof InvalidRecordError)) throw error;
        result.set(env, error);
      }
    }
    return result;
  }

  async putClaim(claim: Claim, expected: string | undefined, counter?: RolloutCounterMove): Promise<void> {
    const key = keys.claim(claim.environment, claim.containerInstanceId);
    if (!counter) return this.conditionalPut(key, claimAttributes(claim), expected, parseClaimRecord);
    // One transaction: the claim's condition and the counter's, then both writes or neither.
    this.touch(true);
    const current = this.items.get(keyOf(key));
    if (expected === undefined ? current !== undefined : current?.recordVersion !== expected) throw this.conflict(key, current, parseClaimRecord);
    const controlKey = keys.rolloutControl(counter.environment);
    const controlItem = this.items.get(keyOf(controlKey));
    const control = controlItem ? parseRolloutControl(controlItem) : undefined;
    if (!counterAllows(control, counter.deploymentId, counter.delta)) {
      this.calls.conflicts++;
      throw new RolloutRefusedError(`rollout of ${counter.environment} refused ${counter.delta > 0 ? 'an admission' : 'a release'}`);
    }
    controlItem!.inFlight = (controlItem!.inFlight as number) + counter.delta;
    if (counter.delta > 0) controlItem!.admitted = (controlItem!.admitted as number) + 1;
    this.items.set(keyOf(key), structuredClone({ ...key, ...claimAttributes(claim) }));
  }

  async getRevision(environment: string, revision: number): Promise<EnvironmentRevision | undefined> {
    this.touch(false);
    const item = this.items.get(keyOf(keys.revision(environment, revision)));
    return item ? parseStoredRevision(item) : undefined;
  }

  async getControl(environment: string): Promise<RolloutControl | null> {
    this.touch(false);
    const item = this.items.get(keyOf(keys.rolloutControl(environment)));
    return item ? parseRolloutControl(item) : null;
  }

  async deleteClaim(environment: string, containerInstanceId: string, expected: string): Promise<void> {
    this.touch(true);
    const key = keys.claim(environment, containerInstanceId);
    const current = this.items.get(keyOf(key));
    if (current?.recordVersion !== expected) throw this.conflict(key, current, parseClaimRecord);
    this.items.delete(keyOf(key));
  }

  async putInstanceStatus(status: InstanceStatus): Promise<void> {
    this.touch(true);
    const key = keys.instanceStatus(status.cluster, lastArnSegment(status.containerInstanceArn));
    this.items.set(keyOf(key), structuredClone({ ...key, ...status }));
  }

  /** Counts a read or write, or throws the injected fault (every fake port of the table calls it). */
  touch(write: boolean): void {
    const error = this.fault?.();
    if (error) throw error;
    if (write) this.calls.writes++;
    else this.calls.reads++;
  }

  /** DynamoDB's PutItem with `attribute_not_exists(pk)` or `recordVersion = :expected`, ALL_OLD on failure. */
  private conditionalPut<T>(key: { pk: string; sk: string }, attributes: Item, expected: string | undefined, parse: (item: unknown) => T): void {
    this.touch(true);
    const current = this.items.get(keyOf(key));
    const ok = expected === undefined ? current === undefined : current?.recordVersion === expected;
    if (!ok) throw this.conflict(key, current, parse);
    this.items.set(keyOf(key), structuredClone({ ...key, ...attributes }));
  }

  private conflict<T>(key: { pk: string; sk: string }, current: Item | undefined, parse: (item: unknown) => T): Error {
    this.calls.conflicts++;
    let parsed: T | null = null;
    if (current) {
      try {
        parsed = parse(current);
      } catch (error) {
        if (error instanceof InvalidRecordError) return error;
        throw error;
      }
    }
    return new WriteConflictError(`${key.pk}/${key.sk}: condition failed`, parsed);
  }
}
