// Pagination tokens: opaque base64url JSON of DynamoDB's LastEvaluatedKey, checked on the way back
// in so that a token can only continue the listing it came from (never read another partition).
import { InvalidInputError } from '../errors.js';
import type { ItemKey } from '../keys.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;

export interface PageRequest {
  limit?: number;
  nextToken?: string;
}

export interface Page<T> {
  items: T[];
  nextToken?: string;
  /** Records that did not parse; they never stop the listing of the others. */
  invalid?: InvalidItem[];
}

export interface InvalidItem {
  record: string;
  code: string;
  message: string;
  field?: string;
  /** The environment it belongs to, when known. */
  name?: string;
}

export function encodeToken(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function decodeJson(token: string, field: string): Record<string, unknown> {
  if (token.length === 0 || token.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(token)) throw new InvalidInputError(field, 'is not a token this API issued');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidInputError(field, 'is not a token this API issued');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidInputError(field, 'is not a token this API issued');
  return value as Record<string, unknown>;
}

/** A token for a listing of partition `pk` whose sort keys start with `prefix`. */
/** DynamoDB's key size limit: a forged token must be refused here, not by DynamoDB (a 500). */
const fitsSortKey = (key: string): boolean => Buffer.byteLength(key, 'utf8') <= 1024;

export function decodeKeyToken(token: string, pk: string, prefix: string, field = 'nextToken'): ItemKey {
  const value = decodeJson(token, field);
  if (value.pk !== pk || typeof value.sk !== 'string' || !value.sk.startsWith(prefix) || !fitsSortKey(value.sk) || Object.keys(value).length !== 2) {
    throw new InvalidInputError(field, 'does not belong to this listing');
  }
  return { pk, sk: value.sk };
}

export function keyToken(key: ItemKey | undefined): string | undefined {
  return key ? encodeToken({ pk: key.pk, sk: key.sk }) : undefined;
}

/** Tokens that walk several partitions (e.g. instances of every cluster): `{p: partition, s?: sortKey}`. */
export function decodeMultiToken(token: string, field = 'nextToken'): { partition: string; sk?: string } {
  const value = decodeJson(token, field);
  if (typeof value.p !== 'string' || !fitsSortKey(value.p) || (value.s !== undefined && (typeof value.s !== 'string' || !fitsSortKey(value.s))))
    throw new InvalidInputError(field, 'does not belong to this listing');
  return value.s === undefined ? { partition: value.p } : { partition: value.p, sk: value.s as string };
}

export function pageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new InvalidInputError('limit', `must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  return limit;
}

/** A page that continues after `lastKey`; nextToken and invalid only when there are any. */
export function pageOf<T>(items: T[], lastKey: ItemKey | undefined, invalid: InvalidItem[]): Page<T> {
  return pageWithToken(items, keyToken(lastKey), invalid);
}

/** nextToken and invalid only when there are any. */
export function pageWithToken<T>(items: T[], nextToken: string | undefined, invalid: InvalidItem[]): Page<T> {
  const page: Page<T> = { items };
  if (nextToken) page.nextToken = nextToken;
  if (invalid.length) page.invalid = invalid;
  return page;
}
