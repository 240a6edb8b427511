// Every `blox` command but `local`: its usage, the flags it takes beyond the connection's, and what
// it runs against the backend (the coordinator's API or, with --direct, the table).
import { readFileSync } from 'node:fs';
import { errorMessage } from '../../core/errors.js';
import { INSTANCE_STATUS_FILTERS, type InstanceStatusFilter } from '../../core/store/environments.js';
import type { Page } from '../../core/store/paging.js';
import { DEPLOYMENT_STRATEGIES } from '../../core/records.js';
import { type DeploymentAction } from './backend.js';
import * as out from './output.js';
import { everyPage, EXIT, UsageError } from './common.js';
import { deploymentStatus, revisionHistory } from './rollout.js';
import { directTable } from './connection.js';

import { DEFINITION, PAGING, type Command, type Context, type Values } from './options.js';
import { serveCoordinator } from './serve.js';

// ---------------------------------------------------------------- argument helpers

function exactly(args: string[], names: string[], usage: string): string[] {
  if (args.length !== names.length)
    throw new UsageError(
      `expected ${names.join(' ')}${args.length > names.length ? `, got extra ${args.slice(names.length).join(' ')}` : ''}\nusage: ${usage}`,
    );
  return args;
}

function integerFlag(values: Values, name: keyof Values, min: number, max: number): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  if (typeof text !== 'string' || !/^-?\d+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return Number(text);
}

function readFileBody(values: Values): Record<string, unknown> {
  if (!values.file) return {};
  let text: string;
  try {
    text = readFileSync(values.file === '-' ? 0 : values.file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${values.file}: ${errorMessage(error)}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${values.file} is not valid JSON: ${errorMessage(error)}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new UsageError(`${values.file} must hold a JSON object`);
  return body as Record<string, unknown>;
}

/** Definition flags over a base body (from --file). */
function definitionBody(values: Values, base: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = { ...base };
  if (values['task-definition'] !== undefined) body.taskDefinition = values['task-definition'];
  const config: Record<string, unknown> =
    typeof body.deploymentConfiguration === 'object' && body.deploymentConfiguration !== null
      ? { ...(body.deploymentConfiguration as Record<string, unknown>) }
      : {};
  if (values['max-unavailable'] !== undefined) config.maxUnavailable = values['max-unavailable'];
  if (values['max-surge'] !== undefined) config.maxSurge = values['max-surge'];
  const minHealthy = integerFlag(values, 'min-healthy-seconds', 0, 86_400);
  if (minHealthy !== undefined) config.minHealthySeconds = minHealthy;
  const deadline = integerFlag(values, 'healthy-deadline-seconds', 1, 86_400);
  if (deadline !== undefined) config.healthyDeadlineSeconds = deadline;
  const progressDeadline = integerFlag(values, 'progress-deadline-seconds', 1, 7 * 86_400);
  if (progressDeadline !== undefined) config.progressDeadlineSeconds = progressDeadline;
  if (values['failure-threshold'] !== undefined) config.failureThreshold = values['failure-threshold'];
  if (values.canary !== undefined) config.canary = values.canary;
  if (values.strategy !== undefined) {
    if (!(DEPLOYMENT_STRATEGIES as readonly string[]).includes(values.strategy))
      throw new UsageError(`--strategy must be one of ${DEPLOYMENT_STRATEGIES.join(', ')}`);
    config.strategy = values.strategy;
  }
  const autoRollback = switchFlag(values, 'auto-rollback');
  if (autoRollback !== undefined) config.autoRollback = autoRollback;
  const autoPromote = switchFlag(values, 'auto-promote');
  if (autoPromote !== undefined) config.autoPromote = autoPromote;
  if (Object.keys(config).length) body.deploymentConfiguration = config;
  const critical = switchFlag(values, 'critical');
  if (critical !== undefined) body.critical = critical;
  const order = integerFlag(values, 'order', -1000, 1000);
  if (order !== undefined) body.order = order;
  // Checked by the store (the field named in its 400), as every other definition field.
  if (values.repair !== undefined) body.repair = values.repair;
  if (values['repair-budget'] !== undefined) body.repairBudget = values['repair-budget'];
  return body;
}

/** --NAME / --no-NAME: true, false, or undefined when neither is given. */
function switchFlag(values: Values, name: 'auto-rollback' | 'auto-promote' | 'critical'): boolean | undefined {
  const on = values[name];
  const off = values[`no-${name}`];
  if (on && off) throw new UsageError(`--${name} and --no-${name} exclude each other`);
  return on ? true : off ? false : undefined;
}

/** --cluster, --status and --environment, those given, as the filters of a list query (the caller has checked --status). */
function listFilters<Status extends string = string>(values: Values): { cluster?: string; status?: Status; environment?: string } {
  return {
    ...(values.cluster !== undefined ? { cluster: values.cluster } : {}),
    ...(values.status !== undefined ? { status: values.status as Status } : {}),
    ...(values.environment !== undefined ? { environment: values.environment } : {}),
  };
}

async function allPages<T>(values: Values, fetchPage: (request: { limit?: number; nextToken?: string }) => Promise<Page<T>>): Promise<Page<T>> {
  const limit = integerFlag(values, 'limit', 1, 100);
  if (values.all && (limit !== undefined || values['next-token'] !== undefined))
    throw new UsageError('--all reads every page; it does not take --limit or --next-token');
  if (values.all) return everyPage(fetchPage);
  return fetchPage({ ...(limit !== undefined ? { limit } : {}), ...(values['next-token'] ? { nextToken: values['next-token'] } : {}) });
}

function printPage<T>(ctx: Context, page: Page<T>, render: (items: T[]) => string): void {
  ctx.print(page, () => render(page.items));
  if (!ctx.json) {
    ctx.io.stderr(out.invalidWarnings(page.invalid));
    if (page.nextToken) ctx.io.stderr(`more: --next-token ${page.nextToken} (or --all)\n`);
  }
}

async function currentToken(ctx: Context, values: Values, name: string): Promise<string> {
  return values['deployment-token'] ?? (await ctx.backend().getEnvironment(name)).token;
}

const DEPLOY_STATUS: Command = {
  usage: 'blox deploy status ENV [ID] [--watch [--timeout S] [--interval S]]',
  flags: ['watch', 'timeout', 'interval'],
  run(args, values, ctx) {
    return deploymentStatus(this, args, values, ctx);
  },
};

// ---------------------------------------------------------------- commands

const commands: Record<string, Record<string, Command> | Command> = {
  env: {
    create: {
      usage: 'blox env create NAME --cluster C --task-definition TD [--expression CQL] [definition options]',
      flags: [...DEFINITION],
      async run(args, values, ctx) {
        const fileBody = readFileBody(values);
        if (args.length > 1) throw new UsageError(`unexpected ${args.slice(1).join(' ')}\nusage: ${this.usage}`);
        const body = definitionBody(values, fileBody);
        const name = args[0] ?? (typeof fileBody.name === 'string' ? fileBody.name : undefined);
        if (name === undefined) throw new UsageError(`NAME is required\nusage: ${this.usage}`);
        body.name = name;
        const group: Record<string, unknown> =
          typeof body.instanceGroup === 'object' && body.instanceGroup !== null ? { ...(body.instanceGroup as Record<string, unknown>) } : {};
        if (values.cluster !== undefined) group.cluster = values.cluster;
        if (values.expression !== undefined) group.expression = values.expression;
        if (group.cluster === undefined) throw new UsageError(`--cluster is required\nusage: ${this.usage}`);
        body.instanceGroup = group;
        if (body.taskDefinition === undefined) throw new UsageError(`--task-definition is required\nusage: ${this.usage}`);
        const env = await ctx.backend().createEnvironment(body);
        ctx.print(env, () => out.environmentDetails(env));
        return EXIT.ok;
      },
    },
    update: {
      usage: 'blox env update NAME [--task-definition TD] [--expression CQL | --clear-expression] [--no-deploy] [--deployment-token T] [definition options]',
      flags: [...DEFINITION.filter((f) => f !== 'cluster'), 'clear-expression', 'no-deploy', 'deployment-token'],
      async run(args, values, ctx) {
        const [name] = exactly(args, ['NAME'], this.usage) as [string];
        const body = definitionBody(values, readFileBody(values));
        if (values.expression !== undefined && values['clear-expression']) throw new UsageError('--expression and --clear-expression exclude each other');
        let current;
        if (values.expression !== undefined || values['clear-expression'] || values['deployment-token'] === undefined)
          current = await ctx.backend().getEnvironment(name);
        if (values.expression !== undefined) body.instanceGroup = { cluster: current?.cluster, expression: values.expression };
        if (values['clear-expression']) body.instanceGroup = { cluster: current?.cluster };
        if (values['no-deploy']) body.deploy = false;
        body.token = values['deployment-token'] ?? current?.token;
        delete body.deploymentToken;
        const env = await ctx.backend().updateEnvironment(name, body);
        ctx.print(env, () => out.environmentDetails(env));
        return EXIT.ok;
      },
    },
    get: {
      usage: 'blox env get NAME',
      flags: [],
      async run(args, _values, ctx) {
        const [name] = exactly(args, ['NAME'], this.usage) as [string];
        const env = await ctx.backend().getEnvironment(name);
        ctx.print(env, () => out.environmentDetails(env));
        return EXIT.ok;
      },
    },
    list: {
      usage: 'blox env list [--cluster C] [--all | --limit N --next-token T]',
      flags: ['cluster', ...PAGING],
      async run(args, values, ctx) {
        exactly(args, [], this.usage);
        const page = await allPages(values, (request) =>
          ctx.backend().listEnvironments({ ...request, ...(values.cluster !== undefined ? { cluster: values.cluster } : {}) }),
        );
        printPage(ctx, page, out.environmentsTable);
        return EXIT.ok;
      },
    },
    delete: {
      usage: 'blox env delete NAME',
      flags: [],
      async run(args, _values, ctx) {
        const [name] = exactly(args, ['NAME'], this.usage) as [string];
        const deleted = await ctx.backend().deleteEnvironment(name);
        ctx.print(deleted ?? null, () =>
          deleted ? `environment ${name} deleted: agents stop its tasks\n` : `environment ${name} does not exist (nothing to delete)\n`,
        );
        return EXIT.ok;
      },
    },
    instances: {
      usage: 'blox env instances NAME [--revision N]',
      flags: ['revision'],
      async run(args, values, ctx) {
        const [name] = exactly(args, ['NAME'], this.usage) as [string];
        const preview = await ctx.backend().previewEnvironment(name, integerFlag(values, 'revision', 1, 9_999_999_999));
        ctx.print(preview, () => out.previewTable(preview));
        return EXIT.ok;
      },
    },
    preview: {
      usage: 'blox env preview --cluster C [--expression CQL]',
      flags: ['cluster', 'expression'],
      async run(args, values, ctx) {
        exactly(args, [], this.usage);
        if (values.cluster === undefined) throw new UsageError(`--cluster is required\nusage: ${this.usage}`);
        const preview = await ctx.backend().previewInstanceGroup(values.cluster, values.expression);
        ctx.print(preview, () => out.previewTable(preview));
        return EXIT.ok;
      },
    },
    history: {
      usage: 'blox env history NAME',
      flags: [],
      async run(args, _values, ctx) {
        const [name] = exactly(args, ['NAME'], this.usage) as [string];
        printPage(ctx, await revisionHistory(ctx, name), out.historyTable);
        return EXIT.ok;
      },
    },
    revisions: {
      usage: 'blox env revisions NAME [REVISION] [--all | --limit N --next-token T]',
      flags: [...PAGING],
      async run(args, values, ctx) {
        if (args.length < 1 || args.length > 2) throw new UsageError(`usage: ${this.usage}`);
        const [name, number] = args as [string, string | undefined];
        if (number !== undefined) {
          if (!/^[1-9]\d{0,9}$/.test(number)) throw new UsageError('REVISION must be a positive integer');
          const revision = await ctx.backend().getRevision(name, Number(number));
          ctx.print(revision, () => out.revisionDetails(revision));
          return EXIT.ok;
        }
        printPage(ctx, await allPages(values, (request) => ctx.backend().listRevisions(name, request)), out.revisionsTable);
        return EXIT.ok;
      },
    },
  },
  deploy: {
    start: {
      usage: 'blox deploy start ENV [--revision N] [--deployment-token T]',
      flags: ['revision', 'deployment-token'],
      async run(args, values, ctx) {
        const [name] = exactly(args, ['ENV'], this.usage) as [string];
        const revision = integerFlag(values, 'revision', 1, 9_999_999_999);
        const body: Record<string, unknown> = { token: await currentToken(ctx, values, name) };
        if (revision !== undefined) body.revision = revision;
        const deployment = await ctx.backend().startDeployment(name, body);
        ctx.print(deployment, () => out.deploymentDetails(deployment));
        return EXIT.ok;
      },
    },
    list: {
      usage: 'blox deploy list ENV [--all | --limit N --next-token T]',
      flags: [...PAGING],
      async run(args, values, ctx) {
        const [name] = exactly(args, ['ENV'], this.usage) as [string];
        printPage(ctx, await allPages(values, (request) => ctx.backend().listDeployments(name, request)), out.deploymentsTable);
        return EXIT.ok;
      },
    },
    status: DEPLOY_STATUS,
    get: {
      usage: 'blox deploy get ENV ID',
      flags: [],
      async run(args, _values, ctx) {
        const [name, id] = exactly(args, ['ENV', 'ID'], this.usage) as [string, string];
        const deployment = await ctx.backend().getDeployment(name, id);
        ctx.print(deployment, () => out.deploymentDetails(deployment));
        return EXIT.ok;
      },
    },
    ...Object.fromEntries(
      (['stop', 'pause', 'resume', 'promote', 'rollback'] as DeploymentAction[]).map((action): [string, Command] => [
        action,
        {
          usage: `blox deploy ${action} ENV ID${action === 'rollback' ? ' [--revision N]' : ''} [--deployment-token T]`,
          flags: action === 'rollback' ? ['revision', 'deployment-token'] : ['deployment-token'],
          async run(args, values, ctx) {
            const [name, id] = exactly(args, ['ENV', 'ID'], this.usage) as [string, string];
            const body: Record<string, unknown> = {};
            if (values['deployment-token'] !== undefined) body.token = values['deployment-token'];
            const revision = integerFlag(values, 'revision', 1, 9_999_999_999);
            if (revision !== undefined) body.revision = revision;
            const deployment = await ctx.backend().deploymentAction(name, id, action, body);
            ctx.print(deployment, () => out.deploymentDetails(deployment));
            return EXIT.ok;
          },
        },
      ]),
    ),
  },
  rollout: {
    status: { ...DEPLOY_STATUS, usage: 'blox rollout status ENV [ID] [--watch [--timeout S] [--interval S]]   (the same as blox deploy status)' },
  },
  instances: {
    usage: 'blox instances [--cluster C] [--status ready|not_ready|degraded] [--environment E] [--all | --limit N --next-token T]',
    flags: ['cluster', 'status', 'environment', ...PAGING],
    async run(args, values, ctx) {
      exactly(args, [], (this as Command).usage);
      if (values.status !== undefined && !INSTANCE_STATUS_FILTERS.includes(values.status as InstanceStatusFilter))
        throw new UsageError(`--status must be one of ${INSTANCE_STATUS_FILTERS.join(', ')}`);
      const query = listFilters<InstanceStatusFilter>(values);
      printPage(ctx, await allPages(values, (request) => ctx.backend().listInstances({ ...query, ...request })), out.instancesTable);
      return EXIT.ok;
    },
  },
  tasks: {
    usage: 'blox tasks [--cluster C] [--status RUNNING] [--environment E] [--all | --limit N --next-token T]',
    flags: ['cluster', 'status', 'environment', ...PAGING],
    async run(args, values, ctx) {
      exactly(args, [], (this as Command).usage);
      const query = listFilters(values);
      printPage(ctx, await allPages(values, (request) => ctx.backend().listTasks({ ...query, ...request })), out.tasksTable);
      return EXIT.ok;
    },
  },
  table: {
    create: {
      usage: 'blox table create [--table NAME] [--dynamodb-endpoint URL] [--region R]',
      flags: [],
      async run(args, values, ctx) {
        exactly(args, [], this.usage);
        const table = directTable(values, ctx.io.env);
        try {
          const created = await table.createTable();
          ctx.print(
            { table: table.tableName, created },
            () => `table ${table.tableName} ${created ? 'created' : 'already exists'} (TTL on expiresAt, stream of new and old images)\n`,
          );
        } finally {
          table.destroy();
        }
        return EXIT.ok;
      },
    },
  },
  coordinator: {
    usage:
      'blox coordinator [--listen HOST:PORT] [--table NAME] [--dynamodb-endpoint URL] [--region R] [--token-file FILE] [--require-token-for-reads] ' +
      '[--tls-cert FILE --tls-key FILE] [--insecure-no-auth] [--check-ecs [--ecs-endpoint URL]]\n' +
      '  Tokens: --token-file FILE (env BLOX_COORDINATOR_TOKEN_FILE; one per line, # comments; re-read when it changes, so\n' +
      '  rotation is: add the new token, move clients to it, remove the old one), BLOX_COORDINATOR_TOKENS (comma or newline\n' +
      '  separated), BLOX_COORDINATOR_TOKEN, --token T (visible in ps: avoid). With tokens every change needs\n' +
      '  Authorization: Bearer <token>; --require-token-for-reads makes every GET under /v1/ (streams too, not /v1/ping)\n' +
      '  need one. A non-loopback --listen without tokens is refused unless --insecure-no-auth (only behind something\n' +
      '  that authenticates). --tls-cert/--tls-key: HTTPS (PEM; re-read when they change).',
    flags: ['listen', 'check-ecs', 'ecs-endpoint', 'require-token-for-reads', 'insecure-no-auth', 'tls-cert', 'tls-key'],
    async run(args, values, ctx) {
      exactly(args, [], (this as Command).usage);
      return serveCoordinator(values, ctx);
    },
  },
};

export function findCommand(group: string | undefined, sub: string | undefined): { command: Command; grouped: boolean } | undefined {
  if (group === undefined) return undefined;
  const entry = commands[group];
  if (!entry) return undefined;
  if (isCommand(entry)) return { command: entry, grouped: false };
  const command = sub === undefined ? undefined : entry[sub];
  return command ? { command, grouped: true } : undefined;
}

function isCommand(value: Record<string, Command> | Command): value is Command {
  return typeof (value as Command).run === 'function';
}
