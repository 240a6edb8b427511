// Reading the environment's records through core/records.ts, so that a hand-written malformed
// record becomes an InvalidRecordError naming the record and the field. A read of one record lets
// that error through (the answer is a 422); listings use tryParse/parseAll, which report such a
// record per item in `invalid` and go on with the others.
import { InvalidRecordError, NotFoundError } from '../errors.js';
import { clusterNameOf, ENV_SK_PREFIX, environmentPk, keys } from '../keys.js';
import {
  parseDeployment,
  parseEnvironment,
  parseEnvironmentIndex,
  parseStoredRevision,
  type Deployment,
  type Environment,
  type EnvironmentRevision,
} from '../records.js';
import type { Item, QueryPage, TableAccess } from './dynamo.js';
import { validateEnvironmentName } from './inputs.js';
import { decodeKeyToken, pageSize, type InvalidItem, type PageRequest } from './paging.js';

export class Records {
  constructor(private readonly table: TableAccess) {}

  /** The live head of `name`, found through the index (names are global); a deleted one is not found. */
  async loadHead(name: string): Promise<Environment> {
    const indexItem = await this.table.get(keys.environmentIndex(name));
    if (!indexItem) throw new NotFoundError(`environment ${name} not found`);
    const index = parseEnvironmentIndex(indexItem);
    const headItem = await this.table.get(keys.environment(clusterNameOf(index.cluster), name));
    if (!headItem) throw new NotFoundError(`environment ${name} not found`);
    const head = parseEnvironment(headItem);
    if (head.status === 'DELETING') throw new NotFoundError(`environment ${name} not found (it is being deleted)`);
    return head;
  }

  /** A revision the head names must exist: a missing one is a malformed environment, not a 404. */
  async loadRevision(name: string, number: number): Promise<EnvironmentRevision> {
    const key = keys.revision(name, number);
    const item = await this.table.get(key);
    if (!item) throw new InvalidRecordError(`${key.pk}/${key.sk}`, 'revision', `revision ${number} of environment ${name} is missing`);
    return parseStoredRevision(item);
  }

  async loadDeployment(name: string, id: string): Promise<Deployment> {
    const item = await this.table.get(keys.deployment(name, id));
    if (!item) throw new NotFoundError(`deployment ${id} of environment ${name} not found`);
    return parseDeployment(item);
  }

  async activeDeployment(head: Environment): Promise<Deployment | undefined> {
    if (!head.activeDeploymentId) return undefined;
    const item = await this.table.get(keys.deployment(head.name, head.activeDeploymentId));
    return item ? parseDeployment(item) : undefined;
  }

  /** The revisions `numbers` of one environment in one BatchGetItem; a malformed or missing one goes to `invalid`. */
  async revisionsByNumber(name: string, numbers: number[], invalid: InvalidItem[]): Promise<Map<number, EnvironmentRevision>> {
    const items = await this.table.batchGet([...new Set(numbers)].map((n) => keys.revision(name, n)));
    const map = new Map<number, EnvironmentRevision>();
    for (const item of items) {
      const revision = tryParse(item, (i) => parseStoredRevision(i), invalid, name);
      if (revision) map.set(revision.revision, revision);
    }
    for (const n of new Set(numbers)) {
      if (!map.has(n) && !invalid.some((i) => i.record === `${environmentPk(name)}/${keys.revision(name, n).sk}`)) {
        const key = keys.revision(name, n);
        invalid.push({
          record: `${key.pk}/${key.sk}`,
          code: 'InvalidRecord',
          message: `record ${key.pk}/${key.sk}: revision ${n} of environment ${name} is missing`,
          field: 'revision',
          name,
        });
      }
    }
    return map;
  }

  /** One page of an existing environment's items under `prefix` (revisions, deployments), newest first. */
  async newestFirst(name: string, prefix: string, request: PageRequest): Promise<QueryPage> {
    validateEnvironmentName(name);
    const limit = pageSize(request.limit);
    await this.loadHead(name);
    const pk = environmentPk(name);
    const startKey = request.nextToken !== undefined ? decodeKeyToken(request.nextToken, pk, prefix) : undefined;
    return this.table.query(pk, { prefix, limit, forward: false, ...(startKey ? { startKey } : {}) });
  }
}

export function parseAll<T>(items: Item[], parse: (item: unknown) => T, invalid: InvalidItem[]): T[] {
  return items.map((item) => tryParse(item, parse, invalid)).filter((x): x is T => x !== undefined);
}

/** `parse(item)`, or undefined with the item reported in `invalid` (named `name`, or after its ENV# sort key). */
export function tryParse<T>(item: Item, parse: (item: unknown) => T, invalid: InvalidItem[], name?: string): T | undefined {
  try {
    return parse(item);
  } catch (error) {
    if (!(error instanceof InvalidRecordError)) throw error;
    const sk = typeof item.sk === 'string' ? item.sk : '';
    const inferred = name ?? (sk.startsWith(ENV_SK_PREFIX) ? sk.slice(ENV_SK_PREFIX.length) : undefined);
    invalid.push(invalidItem(error, inferred));
    return undefined;
  }
}

export function invalidItem(error: InvalidRecordError, name: string | undefined): InvalidItem {
  const entry: InvalidItem = { record: error.record, code: error.code, message: error.message };
  if (error.field !== undefined) entry.field = error.field;
  if (name !== undefined) entry.name = name;
  return entry;
}

/** For `.catch`: a malformed record gives `fallback`; any other error stays an error. */
export function unlessInvalid<T>(fallback: T): (error: unknown) => T {
  return (error) => {
    if (error instanceof InvalidRecordError) return fallback;
    throw error;
  };
}

/** `parse(item)`, or undefined for a malformed record where nothing is to be reported (it is skipped). */
export function parseOrSkip<T>(item: Item, parse: (item: unknown) => T): T | undefined {
  try {
    return parse(item);
  } catch (error) {
    if (!(error instanceof InvalidRecordError)) throw error;
    return undefined;
  }
}
