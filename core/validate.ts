// A small reader for untrusted objects (API bodies, records written by hand into DynamoDB).
// Each accessor names the full dotted path of the field it rejects, so every error says where.

export type FieldErrorFactory = (field: string, message: string) => Error;

export class ObjectReader {
  private readonly seen = new Set<string>();
  constructor(
    private readonly value: Record<string, unknown>,
    private readonly path: string,
    private readonly fail: FieldErrorFactory,
  ) {}

  static of(value: unknown, path: string, fail: FieldErrorFactory): ObjectReader {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(path || '(body)', 'must be an object');
    return new ObjectReader(value as Record<string, unknown>, path, fail);
  }

  field(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }

  has(name: string): boolean {
    return this.value[name] !== undefined && this.value[name] !== null;
  }

  /** The object's own field names (for maps keyed by data, such as counts per revision). */
  keys(): string[] {
    return Object.keys(this.value);
  }

  raw(name: string): unknown {
    this.seen.add(name);
    return this.value[name];
  }

  error(name: string, message: string): Error {
    return this.fail(this.field(name), message);
  }

  string(name: string, options: { pattern?: RegExp; patternText?: string; maxLength?: number; minLength?: number } = {}): string {
    const value = this.raw(name);
    if (typeof value !== 'string') throw this.error(name, value === undefined ? 'is required' : 'must be a string');
    const minLength = options.minLength ?? 1;
    if (value.length < minLength) throw this.error(name, minLength === 1 ? 'must not be empty' : `must be at least ${minLength} characters`);
    if (options.maxLength !== undefined && value.length > options.maxLength) throw this.error(name, `must be at most ${options.maxLength} characters`);
    if (options.pattern && !options.pattern.test(value)) throw this.error(name, `must match ${options.patternText ?? options.pattern.source}`);
    return value;
  }

  optionalString(name: string, options: Parameters<ObjectReader['string']>[1] = {}): string | undefined {
    return this.has(name) ? this.string(name, options) : (this.raw(name), undefined);
  }

  integer(name: string, options: { min?: number; max?: number } = {}): number {
    const value = this.raw(name);
    if (typeof value !== 'number' || !Number.isInteger(value)) throw this.error(name, value === undefined ? 'is required' : 'must be an integer');
    if (options.min !== undefined && value < options.min) throw this.error(name, `must be at least ${options.min}`);
    if (options.max !== undefined && value > options.max) throw this.error(name, `must be at most ${options.max}`);
    return value;
  }

  optionalInteger(name: string, fallback: number, options: { min?: number; max?: number } = {}): number {
    return this.has(name) ? this.integer(name, options) : (this.raw(name), fallback);
  }

  boolean(name: string): boolean {
    const value = this.raw(name);
    if (typeof value !== 'boolean') throw this.error(name, value === undefined ? 'is required' : 'must be true or false');
    return value;
  }

  optionalBoolean(name: string, fallback: boolean): boolean {
    return this.has(name) ? this.boolean(name) : (this.raw(name), fallback);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T {
    const value = this.raw(name);
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      throw this.error(name, `must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  object(name: string): ObjectReader {
    const value = this.raw(name);
    if (value === undefined) throw this.error(name, 'is required');
    return ObjectReader.of(value, this.field(name), this.fail);
  }

  optionalObject(name: string): ObjectReader | undefined {
    return this.has(name) ? this.object(name) : (this.raw(name), undefined);
  }

  array(name: string, options: { maxItems?: number } = {}): unknown[] {
    const value = this.raw(name);
    if (!Array.isArray(value)) throw this.error(name, value === undefined ? 'is required' : 'must be an array');
    if (options.maxItems !== undefined && value.length > options.maxItems) throw this.error(name, `must have at most ${options.maxItems} items`);
    return value;
  }

  /** Rejects fields this reader never asked about: typos must not be silently ignored. */
  noUnknownFields(): void {
    for (const key of Object.keys(this.value)) {
      if (!this.seen.has(key)) throw this.fail(this.field(key), 'is not a known field');
    }
  }

  /** Marks fields as known without reading them (e.g. bookkeeping attributes of stored records). */
  allow(...names: string[]): void {
    for (const name of names) this.seen.add(name);
  }
}
