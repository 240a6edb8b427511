// A small evaluator of the CloudFormation intrinsic functions the blox-edge template uses, so that
// tests can look at the template as AWS would resolve it for given parameter values.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../deploy/render.js';

export type Template = {
  Parameters: Record<string, { Type: string; Default?: string | number; AllowedPattern?: string; AllowedValues?: string[] }>;
  Conditions: Record<string, unknown>;
  Resources: Record<
    string,
    {
      Type: string;
      Condition?: string;
      Properties?: Record<string, unknown>;
      DependsOn?: string[];
      DeletionPolicy?: string;
      UpdateReplacePolicy?: string;
      Metadata?: unknown;
    }
  >;
  Outputs: Record<string, { Value: unknown }>;
  Rules?: Record<string, unknown>;
  [key: string]: unknown;
};

export const PSEUDO: Record<string, string> = {
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
  'AWS::Partition': 'aws',
  'AWS::StackName': 'blox-edge',
};
const NO_VALUE = Symbol('AWS::NoValue');

export function loadTemplate(): Template {
  return JSON.parse(readFileSync(join(repoRoot, 'deploy/cloudformation/blox-edge.json'), 'utf8')) as Template;
}

/** The placeholder a resource's Ref or GetAtt resolves to. */
export const refOf = (resource: string): string => `ref:${resource}`;
export const attOf = (resource: string, attribute: string): string => `att:${resource}.${attribute}`;

export class Resolver {
  constructor(
    readonly template: Template,
    readonly params: Record<string, string | string[]>,
  ) {}

  param(name: string): string | string[] {
    const definition = this.template.Parameters[name];
    if (!definition) throw new Error(`no parameter ${name}`);
    const value = this.params[name] ?? String(definition.Default ?? '');
    if (definition.Type.startsWith('List<') || definition.Type === 'CommaDelimitedList')
      return Array.isArray(value) ? value : value === '' ? [] : value.split(',');
    return value;
  }

  condition(name: string): boolean {
    const definition = this.template.Conditions[name];
    if (definition === undefined) throw new Error(`no condition ${name}`);
    return this.resolve(definition) as boolean;
  }

  private ref(name: string): unknown {
    if (name === 'AWS::NoValue') return NO_VALUE;
    if (name in PSEUDO) return PSEUDO[name];
    if (name in this.template.Parameters) return this.param(name);
    if (name in this.template.Resources) return refOf(name);
    throw new Error(`Ref to unknown ${name}`);
  }

  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v)).filter((v) => v !== NO_VALUE);
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [key, arg] = entries[0]!;
      switch (key) {
        case 'Ref':
          return this.ref(arg as string);
        case 'Fn::Sub':
          return (arg as string).replace(/\$\{(!?)([\w:.]+)\}/g, (_m, bang: string, name: string) => {
            if (bang) return `\${${name}}`;
            const [resource, attribute] = name.split('.');
            return attribute ? attOf(resource!, attribute) : String(this.ref(name));
          });
        case 'Fn::GetAtt': {
          const [resource, attribute] = arg as [string, string];
          if (!(resource in this.template.Resources)) throw new Error(`GetAtt of unknown ${resource}`);
          return attOf(resource, attribute);
        }
        case 'Fn::Join': {
          const [sep, list] = arg as [string, unknown];
          return (this.resolve(list) as unknown[]).map(String).join(sep);
        }
        case 'Fn::Base64':
          return Buffer.from(String(this.resolve(arg))).toString('base64');
        case 'Fn::If': {
          const [name, whenTrue, whenFalse] = arg as [string, unknown, unknown];
          return this.condition(name) ? this.resolve(whenTrue) : this.resolve(whenFalse);
        }
        case 'Fn::Equals': {
          const [a, b] = (arg as unknown[]).map((v) => this.resolve(v));
          return JSON.stringify(a) === JSON.stringify(b);
        }
        case 'Fn::Not':
          return !this.resolve((arg as unknown[])[0]);
        case 'Fn::And':
          return (arg as unknown[]).every((v) => this.resolve(v));
        case 'Fn::Or':
          return (arg as unknown[]).some((v) => this.resolve(v));
        case 'Condition':
          return this.condition(arg as string);
      }
      if (key.startsWith('Fn::')) throw new Error(`intrinsic ${key} is not supported by the test resolver`);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      const resolved = this.resolve(v);
      if (resolved !== NO_VALUE) out[k] = resolved;
    }
    return out;
  }

  /** Resources that exist under these parameters, resolved. */
  resources(): Record<string, { Type: string; Properties: Record<string, unknown> }> {
    const out: Record<string, { Type: string; Properties: Record<string, unknown> }> = {};
    for (const [name, resource] of Object.entries(this.template.Resources)) {
      if (resource.Condition && !this.condition(resource.Condition)) continue;
      out[name] = { Type: resource.Type, Properties: this.resolve(resource.Properties ?? {}) as Record<string, unknown> };
    }
    return out;
  }
}

export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The Allow statements of every policy attached (inline AWS::IAM::Policy) to a role resource. */
export function statementsOf(resources: ReturnType<Resolver['resources']>, role: string): Statement[] {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && asList(r.Properties.Roles as string[]).includes(refOf(role)))
    .flatMap((r) => asList((r.Properties.PolicyDocument as { Statement: Statement | Statement[] }).Statement));
}
