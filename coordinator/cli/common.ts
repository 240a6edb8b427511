// What every CLI command module shares: exit codes, the usage error, and reading every page of a listing.
import type { Page } from '../../core/store/paging.js';

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  unauthorized: 5,
  invalidRecord: 6,
  unreachable: 7,
  /** `deploy status --watch`: the deployment ended failed, stopped or rolled_back. */
  deploymentUnsuccessful: 8,
  /** `deploy status --watch --timeout`: still unfinished when the time ran out. */
  timedOut: 9,
} as const;

/** Bad usage (exit 2): the message says what to type instead. */
export class UsageError extends Error {}

/** Every page of a listing, from the first (its invalid records gathered too). */
export async function everyPage<T>(fetchPage: (request: { limit?: number; nextToken?: string }) => Promise<Page<T>>): Promise<Page<T>> {
  const first = await fetchPage({});
  const items = [...first.items];
  const invalid = [...(first.invalid ?? [])];
  let next = first.nextToken;
  while (next) {
    const page = await fetchPage({ limit: 100, nextToken: next });
    items.push(...page.items);
    invalid.push(...(page.invalid ?? []));
    next = page.nextToken;
  }
  return invalid.length ? { items, invalid } : { items };
}
