// A small validator for the official ECS service model (botocore's `ecs/2014-11-13/service-2.json`,
// shipped by Debian's awscli). It checks what the model says about a JSON value: required members,
// types, enums, min/max lengths and sizes, patterns, lists, maps and structures. The emulator uses it
// to reject malformed requests as ECS does; the conformance tests use it on every request and response.
import { existsSync, readFileSync } from 'node:fs';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface ShapeRef {
  shape: string;
}

export interface Shape {
  type: 'structure' | 'list' | 'map' | 'string' | 'integer' | 'long' | 'double' | 'float' | 'boolean' | 'timestamp' | 'blob';
  members?: Record<string, ShapeRef>;
  required?: string[];
  member?: ShapeRef;
  key?: ShapeRef;
  value?: ShapeRef;
  enum?: string[];
  min?: number;
  max?: number;
  pattern?: string;
  exception?: boolean;
  fault?: boolean;
}

export interface Operation {
  name: string;
  input?: ShapeRef;
  output?: ShapeRef;
  errors?: ShapeRef[];
}

export interface ServiceModel {
  metadata: { targetPrefix: string; jsonVersion: string; protocol: string; apiVersion: string };
  operations: Record<string, Operation>;
  shapes: Record<string, Shape>;
}

const MODEL_TAIL = join('ecs', '2014-11-13');
/** The Auto Scaling API's model, beside ECS's in the same botocore data directory. */
export const AUTOSCALING_MODEL_TAIL = join('autoscaling', '2011-01-01');

/**
 * Where awscli / botocore keep their data on the systems we run on (Debian first), for the ECS
 * model or another service's (`tail`). BLOX_ECS_SERVICE_MODEL overrides the ECS model's path; the
 * other models are looked for beside it too.
 */
export function candidateModelPaths(tail = MODEL_TAIL): string[] {
  const ecsOverride = process.env.BLOX_ECS_SERVICE_MODEL;
  const fromEnv = tail === MODEL_TAIL ? ecsOverride : ecsOverride?.includes(MODEL_TAIL) ? ecsOverride.replace(MODEL_TAIL, tail) : undefined;
  const dataDirs = [
    '/usr/lib/python3/dist-packages/awscli/botocore/data', // Debian awscli (v2 bundles botocore)
    '/usr/lib/python3/dist-packages/botocore/data', // Debian python3-botocore (awscli v1)
    '/usr/share/awscli/botocore/data',
    '/usr/local/aws-cli/v2/current/dist/awscli/botocore/data', // AWS's own v2 installer
  ];
  for (const root of ['/usr/lib', '/usr/local/lib']) {
    let entries: string[] = [];
    try {
      entries = readdirSync(root).filter((name) => /^python3(\.\d+)?$/.test(name));
    } catch {
      continue;
    }
    for (const python of entries) {
      for (const packages of ['dist-packages', 'site-packages']) {
        dataDirs.push(join(root, python, packages, 'awscli', 'botocore', 'data'));
        dataDirs.push(join(root, python, packages, 'botocore', 'data'));
      }
    }
  }
  const paths: string[] = fromEnv ? [fromEnv] : [];
  for (const dir of dataDirs) {
    paths.push(join(dir, tail, 'service-2.json'), join(dir, tail, 'service-2.json.gz'));
  }
  return paths;
}

export function findServiceModelPath(tail = MODEL_TAIL): string | undefined {
  return candidateModelPaths(tail).find((path) => existsSync(path));
}

const cached = new Map<string, ServiceModel>();

/** Loads a service model (the ECS one by default), or returns undefined when no copy is installed. */
export function loadServiceModel(path = findServiceModelPath()): ServiceModel | undefined {
  if (!path) return undefined;
  const known = cached.get(path);
  if (known) return known;
  const raw = readFileSync(path);
  const text = path.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  const model = JSON.parse(text) as ServiceModel;
  cached.set(path, model);
  return model;
}

export interface Violation {
  /** Dotted path of the offending value, e.g. `containerDefinitions[0].name`. */
  path: string;
  message: string;
  /** `type` for a JSON type mismatch (ECS answers SerializationException), else `constraint`. */
  kind: 'type' | 'constraint' | 'unknown';
}

export interface ValidateOptions {
  /** Report members the model does not define (the SDK and CLI never send any). Default true. */
  reportUnknown?: boolean;
}

const patternCache = new Map<string, RegExp>();

export class ModelValidator {
  constructor(readonly model: ServiceModel) {}

  hasOperation(name: string): boolean {
    return Object.hasOwn(this.model.operations, name);
  }

  inputShape(operation: string): string | undefined {
    return this.model.operations[operation]?.input?.shape;
  }

  outputShape(operation: string): string | undefined {
    return this.model.operations[operation]?.output?.shape;
  }

  validateInput(operation: string, value: unknown, options?: ValidateOptions): Violation[] {
    const shape = this.inputShape(operation);
    if (!shape) return [{ path: '', message: `unknown operation ${operation}`, kind: 'unknown' }];
    return this.validate(shape, value, options);
  }

  validateOutput(operation: string, value: unknown, options?: ValidateOptions): Violation[] {
    const shape = this.outputShape(operation);
    if (!shape) return [{ path: '', message: `unknown operation ${operation}`, kind: 'unknown' }];
    return this.validate(shape, value, options);
  }

  /** Validates an error body: its __type must be an error the operation declares (or a common one). */
  validateError(operation: string, body: unknown): Violation[] {
    const violations: Violation[] = [];
    if (typeof body !== 'object' || body === null) return [{ path: '', message: 'error body must be an object', kind: 'type' }];
    const type = (body as Record<string, unknown>).__type;
    const message = (body as Record<string, unknown>).message;
    if (typeof type !== 'string') violations.push({ path: '__type', message: 'missing __type', kind: 'constraint' });
    if (typeof message !== 'string') violations.push({ path: 'message', message: 'missing message', kind: 'constraint' });
    if (typeof type === 'string') {
      // Errors every AWS JSON service may send besides the ones an operation declares.
      const common = ['ThrottlingException', 'ValidationException', 'SerializationException', 'UnknownOperationException', 'AccessDeniedException'];
      const declared = (this.model.operations[operation]?.errors ?? []).map((ref) => ref.shape);
      if (!common.includes(type) && !declared.includes(type)) {
        violations.push({ path: '__type', message: `${type} is not an error ${operation} declares (${declared.join(', ')})`, kind: 'constraint' });
      }
    }
    return violations;
  }

  validate(shapeName: string, value: unknown, options: ValidateOptions = {}): Violation[] {
    const violations: Violation[] = [];
    this.visit(shapeName, value, '', violations, options.reportUnknown ?? true);
    return violations;
  }

  private visit(shapeName: string, value: unknown, path: string, out: Violation[], reportUnknown: boolean): void {
    const shape = this.model.shapes[shapeName];
    if (!shape) {
      out.push({ path, message: `model has no shape ${shapeName}`, kind: 'unknown' });
      return;
    }
    const at = path || '(root)';
    const typeError = (expected: string): void =>
      void out.push({ path: at, message: `expected ${expected} (${shapeName}), got ${describe(value)}`, kind: 'type' });
    switch (shape.type) {
      case 'structure': {
        if (!isPlainObject(value)) return typeError('an object');
        const members = shape.members ?? {};
        for (const name of shape.required ?? []) {
          if (value[name] === undefined || value[name] === null)
            out.push({ path: join2(path, name), message: `required member ${name} is missing`, kind: 'constraint' });
        }
        for (const [name, member] of Object.entries(value)) {
          const ref = members[name];
          if (!ref) {
            if (reportUnknown) out.push({ path: join2(path, name), message: `member ${name} is not in ${shapeName}`, kind: 'unknown' });
            continue;
          }
          if (member === null || member === undefined) continue;
          this.visit(ref.shape, member, join2(path, name), out, reportUnknown);
        }
        return;
      }
      case 'list': {
        if (!Array.isArray(value)) return typeError('a list');
        this.checkSize(shape, shapeName, value.length, at, out, 'items');
        value.forEach((item, index) => this.visit((shape.member as ShapeRef).shape, item, `${path}[${index}]`, out, reportUnknown));
        return;
      }
      case 'map': {
        if (!isPlainObject(value)) return typeError('a map');
        const entries = Object.entries(value);
        this.checkSize(shape, shapeName, entries.length, at, out, 'entries');
        for (const [key, item] of entries) {
          this.visit((shape.key as ShapeRef).shape, key, `${path}{key ${key}}`, out, reportUnknown);
          this.visit((shape.value as ShapeRef).shape, item, `${path}.${key}`, out, reportUnknown);
        }
        return;
      }
      case 'string': {
        if (typeof value !== 'string') return typeError('a string');
        if (shape.enum && !shape.enum.includes(value)) {
          out.push({ path: at, message: `${JSON.stringify(value)} is not one of ${shape.enum.join(', ')} (${shapeName})`, kind: 'constraint' });
        }
        this.checkSize(shape, shapeName, [...value].length, at, out, 'characters');
        if (shape.pattern) {
          let regex = patternCache.get(shape.pattern);
          if (!regex) {
            regex = new RegExp(shape.pattern, 'u');
            patternCache.set(shape.pattern, regex);
          }
          if (!regex.test(value))
            out.push({ path: at, message: `${JSON.stringify(value)} does not match ${shape.pattern} (${shapeName})`, kind: 'constraint' });
        }
        return;
      }
      case 'integer':
      case 'long':
        if (typeof value !== 'number' || !Number.isInteger(value)) return typeError('an integer');
        if (shape.type === 'integer' && (value > 2 ** 31 - 1 || value < -(2 ** 31)))
          out.push({ path: at, message: `${value} does not fit a 32-bit integer`, kind: 'constraint' });
        this.checkSize(shape, shapeName, value, at, out, 'value');
        return;
      case 'double':
      case 'float':
        if (typeof value !== 'number' || !Number.isFinite(value)) return typeError('a number');
        return;
      case 'boolean':
        if (typeof value !== 'boolean') return typeError('a boolean');
        return;
      case 'timestamp':
        // JSON 1.1 sends timestamps as epoch seconds (fractions allowed).
        if (typeof value !== 'number' || !Number.isFinite(value)) return typeError('epoch seconds');
        return;
      case 'blob':
        if (typeof value !== 'string') return typeError('base64 text');
        return;
      default:
        out.push({ path: at, message: `unsupported shape type ${String((shape as Shape).type)}`, kind: 'unknown' });
    }
  }

  private checkSize(shape: Shape, shapeName: string, size: number, at: string, out: Violation[], unit: string): void {
    if (shape.min !== undefined && size < shape.min)
      out.push({ path: at, message: `${size} ${unit}, fewer than the minimum ${shape.min} (${shapeName})`, kind: 'constraint' });
    if (shape.max !== undefined && size > shape.max)
      out.push({ path: at, message: `${size} ${unit}, more than the maximum ${shape.max} (${shapeName})`, kind: 'constraint' });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function join2(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/** Formats violations one per line, for error messages and test failures. */
export function formatViolations(violations: Violation[]): string {
  return violations.map((violation) => `${violation.path}: ${violation.message}`).join('\n');
}
