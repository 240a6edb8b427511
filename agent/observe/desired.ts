// Desired state for one instance: the cluster's environments (valid, or invalid with the error)
// and whether each one's instance group matches this instance, by the shared CQL evaluator.
// Pure: the DynamoDB adapter supplies the records, the identity supplies the facts.
import { matches, type InstanceFacts } from '../../core/cql.js';
import { errorMessage } from '../../core/errors.js';
import { ENV_SK_PREFIX } from '../../core/keys.js';
import type { EnvironmentRevision } from '../../core/records.js';
import type { Desired, DesiredEnvironment } from '../model.js';
import type { EnvironmentEntry } from '../ports.js';

/** The environment name of a head item, even a malformed one (from its sort key). */
export function nameOfHead(item: unknown): string {
  const o = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
  if (typeof o.name === 'string' && o.name) return o.name;
  const sk = typeof o.sk === 'string' ? o.sk : '';
  return sk.startsWith(ENV_SK_PREFIX) ? sk.slice(ENV_SK_PREFIX.length) : sk || '?';
}

export function matchInstance(revision: EnvironmentRevision, facts: InstanceFacts | undefined): { matches: boolean | undefined; reason: string } {
  const expression = revision.instanceGroup.expression;
  if (expression === undefined) return { matches: true, reason: 'no expression: every instance' };
  if (!facts) return { matches: undefined, reason: 'instance attributes not read yet' };
  try {
    const result = matches(expression, facts);
    return { matches: result, reason: result ? `matches ${expression}` : `does not match ${expression}` };
  } catch (error) {
    return { matches: undefined, reason: `expression cannot be evaluated: ${errorMessage(error)}` };
  }
}

export function buildDesired(entries: EnvironmentEntry[] | undefined, facts: InstanceFacts | undefined, fresh: boolean): Desired {
  if (entries === undefined) return { environments: undefined, fresh: false };
  const environments: DesiredEnvironment[] = entries.map((entry) => {
    if (entry.kind === 'invalid') return entry;
    const m = matchInstance(entry.revision, facts);
    return { ...entry, matches: m.matches, matchReason: m.reason };
  });
  return { environments, fresh };
}
