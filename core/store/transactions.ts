// How the store commits a change. Every change is one TransactWriteItems that also bumps the
// cluster's change marker (markerOp), so an agent that sees the marker unchanged knows nothing it
// cares about changed; every write of an environment head is conditioned on the token it was read
// with (headPut), so two writers never both win. A command reads, builds its ops and commits inside
// `attempt`, which reads again when another writer got there first.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { BloxError, ConflictError, InvalidInputError } from '../errors.js';
import { keys, SCHEMA_VERSION, type ItemKey } from '../keys.js';
import type { Environment } from '../records.js';
import { TransactionCancelled, type Condition, type Item, type TableAccess, type TransactOp } from './dynamo.js';

const TRANSACTION_ATTEMPTS = 6;

/** Thrown inside an attempt to make the transaction runner read again and retry. */
export class Retry extends Error {}

/**
 * Runs `body` (read, decide, commit) until it commits. Contention (another transaction on the same
 * items) and `Retry` make it read again with a growing random backoff; after TRANSACTION_ATTEMPTS
 * the caller gets a ConflictError. Any other error ends it at once.
 */
export async function attempt<T>(body: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await body();
    } catch (error) {
      const again = error instanceof Retry || (error instanceof TransactionCancelled && error.contended);
      if (!again || attempt >= TRANSACTION_ATTEMPTS) {
        if (again) throw new ConflictError('too many concurrent changes to this environment; try again');
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 20 * attempt));
    }
  }
}

/** Runs a transaction; a failed condition (not contention) becomes `onFailure`'s error. */
export async function run(table: TableAccess, ops: TransactOp[], onFailure: (index: number) => Error): Promise<void> {
  try {
    await table.transact(ops);
  } catch (error) {
    if (error instanceof TransactionCancelled && !error.contended) {
      const index = error.reasons.findIndex((r) => r === 'ConditionalCheckFailed');
      if (index >= 0) throw onFailure(index);
    }
    throw error;
  }
}

/** The time every record of one change carries. */
export function nowIso(clock: Clock): string {
  return new Date(clock.wallMs()).toISOString();
}

/** +1 on the cluster's change marker: part of every change, or agents would not look. */
export function markerOp(cluster: string, now: string): TransactOp {
  return {
    kind: 'update',
    key: keys.changeMarker(cluster),
    set: { kind: 'ChangeMarker', schemaVersion: SCHEMA_VERSION, cluster, updatedAt: now },
    add: { version: 1 },
  };
}

/** Writes the head only if it is still the one read (`expectedToken`) and still ACTIVE. */
export function headPut(head: Environment, expectedToken: string): TransactOp {
  return { kind: 'put', item: { ...keys.environment(head.cluster, head.name), ...head }, condition: tokenCondition(expectedToken) };
}

/** Puts a record that must not exist yet (revisions and deployments are written once). */
export function putNew(key: ItemKey, record: object): TransactOp {
  return { kind: 'put', item: { ...key, ...record } as Item, condition: { expression: 'attribute_not_exists(pk)' } };
}

export function tokenCondition(token: string): Condition {
  return {
    expression: '#c_token = :c_token AND #c_status = :c_active',
    names: { '#c_token': 'token', '#c_status': 'status' },
    values: { ':c_token': token, ':c_active': 'ACTIVE' },
  };
}

/** A head that may be (re)created: none, or the tombstone of a deleted environment. */
export function absentOrDeleting(): Condition {
  return { expression: 'attribute_not_exists(pk) OR #c_status = :c_deleting', names: { '#c_status': 'status' }, values: { ':c_deleting': 'DELETING' } };
}

/**
 * The caller's token against the head it read: a stale one is a ConflictError carrying the current
 * token. `required`: commands that change the definition need one; deployment actions may omit it.
 */
export function checkToken(head: Environment, token: string | undefined, required: boolean): void {
  if (token === undefined) {
    if (required) throw new InvalidInputError('token', 'is required');
    return;
  }
  if (token !== head.token) {
    throw new ConflictError(
      `the token is stale: environment ${head.name} changed since it was read (current token ${head.token})`,
      { token: head.token },
      'token',
    );
  }
}

const DEPLOYMENT_ID = /^[0-9a-z]{9}-[0-9a-z]{8}$/;

/** 9 base36 digits of epoch milliseconds (sorts by creation time), '-', 8 random base36 digits. */
export function newDeploymentId(now: Date): string {
  const time = now.getTime().toString(36).padStart(9, '0');
  const bytes = randomBytes(8);
  let random = '';
  for (const byte of bytes) random += (byte % 36).toString(36);
  const id = `${time}-${random}`;
  if (!DEPLOYMENT_ID.test(id)) throw new BloxError('Internal', `made a malformed deployment id ${id}`);
  return id;
}

/** A head's new optimistic-concurrency token: a new one on every write of the head. */
export function newToken(): string {
  return randomUUID();
}
