// Request checks ECS makes beyond what its service model says (the model's own checks run in
// model-validator.ts before an operation): names, tags, page sizes and tokens, startedBy, the
// task-level cpu and memory notations. Each answers the value to use or throws ECS's error.
import { invalidParameter } from './errors.js';
import type { Json } from './state.js';
import type { Tag } from './types.js';

export const CLUSTER_NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
export const FAMILY_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
export const CONTAINER_NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
export const ATTRIBUTE_NAME_PATTERN = /^[A-Za-z0-9_./\\-]{1,128}$/;
export const ATTRIBUTE_VALUE_PATTERN = /^[A-Za-z0-9_.@/\\: -]{1,128}$/;
const STARTED_BY_PATTERN = /^[A-Za-z0-9_/-]{1,36}$/;
const MAX_TAGS = 50;

export function tagsOf(value: unknown, field = 'tags'): Tag[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidParameter(`${field} must be a list.`);
  if (value.length > MAX_TAGS) throw invalidParameter('Tags can contain at most 50 tags.');
  const tags: Tag[] = [];
  for (const item of value as Array<{ key?: unknown; value?: unknown }>) {
    if (typeof item?.key !== 'string' || item.key.length === 0) throw invalidParameter('Tag keys must not be empty.');
    if (item.key.toLowerCase().startsWith('aws:')) throw invalidParameter('Tag keys may not start with the reserved prefix "aws:".');
    tags.push({ key: item.key, value: typeof item.value === 'string' ? item.value : '' });
  }
  return tags;
}

/** `added` over `existing`, by key. */
export function mergeTags(existing: Tag[], added: Tag[]): Tag[] {
  const byKey = new Map(existing.map((tag) => [tag.key, tag.value]));
  for (const tag of added) byKey.set(tag.key, tag.value);
  if (byKey.size > MAX_TAGS) throw invalidParameter('A resource can have at most 50 tags.');
  return [...byKey].map(([key, value]) => ({ key, value }));
}

function maxResultsOf(value: unknown, limit: number): number {
  if (value === undefined || value === null) return limit;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > limit) {
    throw invalidParameter(`maxResults must be between 1 and ${limit}.`);
  }
  return value;
}

/**
 * Pages a list sorted by sequence number. The token names the last item served, so items added
 * or removed between pages never shift the rest (ECS tokens are opaque; ours are too).
 */
export function paginate<T>(items: Iterable<T>, seqOf: (item: T) => number, input: Json, max = 100): { page: T[]; nextToken: string | undefined } {
  const limit = maxResultsOf(input.maxResults, max);
  let after = -1;
  if (input.nextToken !== undefined && input.nextToken !== null) {
    const decoded = typeof input.nextToken === 'string' ? /^v1:(\d+)$/.exec(Buffer.from(input.nextToken, 'base64url').toString('utf8')) : null;
    if (!decoded) throw invalidParameter('Invalid nextToken.');
    after = Number(decoded[1]);
  }
  const page: T[] = [];
  let more = false;
  for (const item of items) {
    if (seqOf(item) <= after) continue;
    if (page.length === limit) {
      more = true;
      break;
    }
    page.push(item);
  }
  const last = page[page.length - 1];
  const nextToken = more && last !== undefined ? Buffer.from(`v1:${seqOf(last)}`, 'utf8').toString('base64url') : undefined;
  return { page, nextToken };
}

export function startedByOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !STARTED_BY_PATTERN.test(value)) {
    throw invalidParameter('startedBy can contain up to 36 letters (uppercase and lowercase), numbers, hyphens, forward slashes, and underscores.');
  }
  return value;
}

/** A list of references (`tasks`, `containerInstances`, ...): present, not empty, at most `max`. */
export function referencesOf(value: unknown, what: string, max: number): string[] {
  if (!Array.isArray(value) || value.length === 0) throw invalidParameter(`${what} cannot be empty.`);
  if (value.length > max) throw invalidParameter(`${what} can contain at most ${max} entries.`);
  return value as string[];
}

export function includeOf(input: Json): string[] {
  return Array.isArray(input.include) ? (input.include as string[]) : [];
}

/** Task-level cpu: "1024" or "1 vCPU" / "0.25 vcpu". */
export function parseCpu(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const vcpu = /^\s*([\d.]+)\s*vcpu\s*$/i.exec(value);
  if (vcpu) return Math.round(Number(vcpu[1]) * 1024);
  const units = Number(value);
  return Number.isInteger(units) && units >= 0 ? units : undefined;
}

/** Task-level memory: "512" (MiB) or "1 GB" / "0.5gb". */
export function parseMemory(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const gb = /^\s*([\d.]+)\s*gb\s*$/i.exec(value);
  if (gb) return Math.round(Number(gb[1]) * 1024);
  const mib = Number(value);
  return Number.isInteger(mib) && mib >= 0 ? mib : undefined;
}
