// What changed between two revisions of an environment: the definition's fields, flattened to
// dotted names (deploymentConfiguration.maxUnavailable), compared one by one.
const NOT_DEFINITION = new Set(['revision', 'createdAt', 'environmentName', 'copiedFrom']);

function flatten(value, prefix, out) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) out.set(prefix, value);
  return out;
}

function fieldsOf(revision) {
  const out = new Map();
  for (const [key, value] of Object.entries(revision)) if (!NOT_DEFINITION.has(key)) flatten(value, key, out);
  return out;
}

/** `[{field, before, after}]` from `older` to `newer`, fields sorted; absent values are undefined. */
export function revisionDiff(older, newer) {
  const before = fieldsOf(older);
  const after = fieldsOf(newer);
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  return names
    .filter((name) => JSON.stringify(before.get(name)) !== JSON.stringify(after.get(name)))
    .map((name) => ({ field: name, before: before.get(name), after: after.get(name) }));
}

export function shown(value) {
  if (value === undefined) return '(none)';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
