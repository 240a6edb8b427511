// What every stored record shares: `kind`, `schemaVersion`, and a reader that turns a record that
// breaks the contract into an InvalidRecordError naming the record (pk/sk) and the field.
import { InvalidRecordError } from '../errors.js';
import { SCHEMA_VERSION } from '../keys.js';
import { ObjectReader } from '../validate.js';

export const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** A reader of one stored record of `kind`, refusing a schemaVersion newer than `newest`. */
export function recordReader(item: unknown, record: string, kind: string, newest = SCHEMA_VERSION): ObjectReader {
  const fail = (field: string, message: string) => new InvalidRecordError(record, field, message);
  const reader = ObjectReader.of(item, '', fail);
  reader.allow('pk', 'sk', 'expiresAt');
  const actualKind = reader.raw('kind');
  if (actualKind !== kind) throw fail('kind', `expected ${kind}, found ${JSON.stringify(actualKind)}`);
  const schemaVersion = reader.integer('schemaVersion', { min: 1 });
  if (schemaVersion > newest) throw fail('schemaVersion', `${schemaVersion} is newer than this software understands (${newest}); upgrade it`);
  return reader;
}

/** `pk/sk` of an item, even a malformed one. */
export function recordName(item: unknown): string {
  const o = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
  return `${String(o.pk ?? '?')}/${String(o.sk ?? '?')}`;
}

/** A reader of a nested object at `field` of a record whose errors name the record. */
export function nestedReader(parent: ObjectReader, field: string, value: unknown): ObjectReader {
  return ObjectReader.of(value, parent.field(field), (name, message) => parent.error(name.slice(parent.field('').length), message));
}
