// `blox`: the command line of blox-edge. Talks to the coordinator's API (--endpoint) or, with
// --direct, to DynamoDB through the same store library. Exit codes: see EXIT and docs/cli.md.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BloxError, errorMessage } from '../../core/errors.js';
import { DEFAULT_TABLE_NAME } from '../../core/dynamo-table.js';
import { DynamoTable } from '../../core/store/dynamo.js';
import { EnvironmentStore, INSTANCE_STATUS_FILTERS, type InstanceStatusFilter } from '../../core/store/environments.js';
import type { Page } from '../../core/store/paging.js';
import { DEPLOYMENT_STRATEGIES } from '../../core/records.js';
import { commit, version } from '../../core/version.js';
import { DirectBackend, HttpBackend, UnreachableError, type Backend, type DeploymentAction } from './backend.js';
import * as out from './output.js';
import { everyPage, EXIT, UsageError } from './common.js';
import { deploymentStatus, revisionHistory } from './rollout.js';
import { parseTokenFile } from '../auth.js';

export { EXIT } from './common.js';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:7070';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** Stops `blox coordinator` (besides SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Called once `blox coordinator` listens. */
  onListening?: (url: string) => void;
  /** Set when stdout is a terminal: `deploy status --watch` then redraws a progress bar in place, no wider than this. */
  terminalColumns?: number;
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  endpoint: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  direct: { type: 'boolean' },
  table: { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
  region: { type: 'string' },
  // environments
  cluster: { type: 'string' },
  'task-definition': { type: 'string' },
  expression: { type: 'string' },
  'clear-expression': { type: 'boolean' },
  'max-unavailable': { type: 'string' },
  'max-surge': { type: 'string' },
  'min-healthy-seconds': { type: 'string' },
  'healthy-deadline-seconds': { type: 'string' },
  'auto-rollback': { type: 'boolean' },
  'no-auto-rollback': { type: 'boolean' },
  'progress-deadline-seconds': { type: 'string' },
  'failure-threshold': { type: 'string' },
  canary: { type: 'string' },
  'auto-promote': { type: 'boolean' },
  'no-auto-promote': { type: 'boolean' },
  strategy: { type: 'string' },
  critical: { type: 'boolean' },
  'no-critical': { type: 'boolean' },
  order: { type: 'string' },
  repair: { type: 'string' },
  'repair-budget': { type: 'string' },
  file: { type: 'string', short: 'f' },
  'no-deploy': { type: 'boolean' },
  'deployment-token': { type: 'string' },
  // lists
  limit: { type: 'string' },
  'next-token': { type: 'string' },
  all: { type: 'boolean' },
  // deployments
  revision: { type: 'string' },
  watch: { type: 'boolean', short: 'w' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  // instances and tasks
  status: { type: 'string' },
  environment: { type: 'string' },
  // coordinator
  listen: { type: 'string' },
  'check-ecs': { type: 'boolean' },
  'ecs-endpoint': { type: 'string' },
  'require-token-for-reads': { type: 'boolean' },
  'insecure-no-auth': { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

export type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

const CONNECTION = ['output', 'endpoint', 'token', 'token-file', 'direct', 'table', 'dynamodb-endpoint', 'region', 'help'];
const DEFINITION = [
  'cluster',
  'task-definition',
  'expression',
  'max-unavailable',
  'max-surge',
  'min-healthy-seconds',
  'healthy-deadline-seconds',
  'auto-rollback',
  'no-auto-rollback',
  'progress-deadline-seconds',
  'failure-threshold',
  'canary',
  'auto-promote',
  'no-auto-promote',
  'strategy',
  'critical',
  'no-critical',
  'order',
  'repair',
  'repair-budget',
  'file',
];
const PAGING = ['limit', 'next-token', 'all'];

export interface Command {
  usage: string;
  flags: string[];
  run(args: string[], values: Values, ctx: Context): Promise<number>;
}

export interface Context {
  io: CliIo;
  json: boolean;
  backend(): Backend;
  print(value: unknown, human: () => string): void;
}

export const USAGE = `usage: blox <command> [options]

Environments
  blox env create NAME --cluster C --task-definition TD [--expression CQL] [definition options]
  blox env update NAME [--task-definition TD] [--expression CQL | --clear-expression] [--no-deploy] [definition options]
  blox env get NAME
  blox env list [--cluster C] [--all | --limit N --next-token T]
  blox env delete NAME
  blox env revisions NAME [REVISION]
  blox env history NAME                        revisions, newest first, with their deployments and whether one completed
  blox env instances NAME [--revision N]       which instances it selects, and their daemons (needs --check-ecs)
  blox env preview --cluster C [--expression CQL]   try an instance group before using it
Deployments
  blox deploy start ENV [--revision N]        deploy a revision (default: the latest)
  blox deploy list ENV
  blox deploy get ENV ID
  blox deploy status ENV [ID] [--watch [--timeout S] [--interval S]]  rollout progress (alias: blox rollout status)
  blox deploy stop|pause|resume ENV ID
  blox deploy promote ENV ID                  a canary deployment awaiting promotion goes on to the rest of the fleet
  blox deploy rollback ENV ID [--revision N]  roll forward to a copy of the previous (or given) revision
What the agents report
  blox instances [--cluster C] [--status ready|not_ready|degraded] [--environment E] [--all]
  blox tasks [--cluster C] [--status RUNNING] [--environment E] [--all]
Running things
  blox coordinator [--listen HOST:PORT] [--token-file FILE] [--require-token-for-reads]
                   [--tls-cert FILE --tls-key FILE] [--insecure-no-auth] [--check-ecs [--ecs-endpoint URL]]
  blox table create                            create the DynamoDB table, or add its stream (idempotent)
  blox local ...                               the local sandbox (blox local --help)
  blox --version

Definition options: --max-unavailable N|N% --max-surge N|N% --min-healthy-seconds S
  --healthy-deadline-seconds S --progress-deadline-seconds S --failure-threshold N|N%
  --canary N|N% --auto-promote|--no-auto-promote --strategy rolling|on-delete
  --auto-rollback|--no-auto-rollback --critical|--no-critical --order N
  --repair none|drain|replace --repair-budget N|N%
  -f FILE (a JSON request body; flags override it). Updates need the environment's token:
  --deployment-token T, or blox reads the current one first.
Connection: --endpoint URL (default ${DEFAULT_ENDPOINT}, env BLOX_ENDPOINT) --token-file FILE (the
  bearer token, env BLOX_TOKEN_FILE) or --token T (env BLOX_TOKEN) | --direct --table NAME (env
  BLOX_TABLE, default ${DEFAULT_TABLE_NAME}) --dynamodb-endpoint URL (env BLOX_DYNAMODB_ENDPOINT) --region R
Output: -o table (default) | -o json
Exit codes: 0 ok, 1 error, 2 usage or invalid input, 3 not found, 4 conflict (name taken, stale
  token), 5 unauthorized, 6 malformed stored record, 7 coordinator unreachable, 8 the watched
  deployment failed, stopped or was rolled back, 9 --timeout ran out (deploy status --watch).
`;

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  if (argv[0] === 'local') {
    const { localCommand } = await import('../../local/sandbox/cli.js');
    return localCommand(argv.slice(1));
  }
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }) as { values: Values; positionals: string[] };
  } catch (error) {
    io.stderr(`blox: ${argumentError(error)}\n${usageOf(argv)}\n`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.stdout(`blox ${version} (${commit})\n`);
    return EXIT.ok;
  }
  const [group, sub, ...rest] = positionals;
  const command = findCommand(group, sub);
  if (!command) {
    if (values.help || group === undefined || group === 'help') {
      io.stdout(USAGE);
      return group === undefined && !values.help ? EXIT.usage : EXIT.ok;
    }
    io.stderr(`blox: unknown command: ${positionals.slice(0, 2).join(' ')}\n${USAGE}`);
    return EXIT.usage;
  }
  const args = command.grouped ? rest : [sub, ...rest].filter((a): a is string => a !== undefined);
  if (values.help) {
    io.stdout(`usage: ${command.command.usage}\n`);
    return EXIT.ok;
  }
  const allowed = new Set([...CONNECTION, ...command.command.flags]);
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && !allowed.has(name)) {
      io.stderr(`blox: --${name} does not apply to this command\nusage: ${command.command.usage}\n`);
      return EXIT.usage;
    }
  }
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json') {
    io.stderr('blox: -o must be table or json\n');
    return EXIT.usage;
  }
  let backend: Backend | undefined;
  const ctx: Context = {
    io,
    json: output === 'json',
    backend: () => (backend ??= makeBackend(values, io.env)),
    print: (value, human) => io.stdout(output === 'json' ? `${JSON.stringify(value, null, 2)}\n` : human()),
  };
  try {
    return await command.command.run(args, values, ctx);
  } catch (error) {
    return report(error, io);
  } finally {
    await backend?.close();
  }
}

/** A command-line parse error in one line, with a suggestion for a mistyped option. */
function argumentError(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const option = /'(-{1,2}[^'\s]+)'/.exec(message ?? '')?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) {
    const suggestion = closestOption(option.replace(/^-+/, ''));
    return `unknown option ${option}${suggestion ? ` (did you mean --${suggestion}?)` : ''}`;
  }
  return (message ?? errorMessage(error)).split('\n')[0] ?? 'invalid arguments';
}

function closestOption(given: string): string | undefined {
  const names = Object.keys(OPTIONS);
  const prefixed = names.filter((n) => n.startsWith(given));
  if (prefixed.length === 1) return prefixed[0];
  const scored = names.map((n) => [n, editDistance(given, n)] as const).sort((a, b) => a[1] - b[1]);
  return scored[0] && scored[0][1] <= 2 ? scored[0][0] : undefined;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The usage line of the command the arguments name, else a pointer to the full help. */
function usageOf(argv: string[]): string {
  const { positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: false });
  const command = findCommand(positionals[0], positionals[1]);
  return command ? `usage: ${command.command.usage}` : 'see blox --help';
}

function report(error: unknown, io: CliIo): number {
  if (error instanceof UsageError) {
    io.stderr(`blox: ${error.message}\n`);
    return EXIT.usage;
  }
  if (error instanceof UnreachableError) {
    io.stderr(`blox: ${error.message}\n`);
    return EXIT.unreachable;
  }
  if (error instanceof BloxError) {
    io.stderr(`blox: ${error.message}\n`);
    switch (error.code) {
      case 'InvalidInput':
      case 'PayloadTooLarge':
        return EXIT.usage;
      case 'NotFound':
        return EXIT.notFound;
      case 'Conflict':
        return EXIT.conflict;
      case 'Unauthorized':
        return EXIT.unauthorized;
      case 'InvalidRecord':
        return EXIT.invalidRecord;
      default:
        return EXIT.error;
    }
  }
  io.stderr(`blox: ${errorMessage(error)}\n`);
  return EXIT.error;
}

function makeBackend(values: Values, env: CliIo['env']): Backend {
  if (values.direct) {
    const table = directTable(values, env);
    return new DirectBackend(new EnvironmentStore({ table }), () => table.destroy());
  }
  if (values.table || values['dynamodb-endpoint']) throw new UsageError('--table and --dynamodb-endpoint need --direct');
  const endpoint = values.endpoint ?? env.BLOX_ENDPOINT ?? DEFAULT_ENDPOINT;
  try {
    new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint ${endpoint} is not a URL`);
  }
  return new HttpBackend(endpoint, clientToken(values, env));
}

/**
 * The bearer token the CLI sends: --token, else --token-file, else BLOX_TOKEN, else BLOX_TOKEN_FILE.
 * A file holds the token on its first line that is not blank or a `#` comment (the coordinator's
 * own token file works: its first token is sent).
 */
function clientToken(values: Values, env: CliIo['env']): string | undefined {
  if (values.token !== undefined && values['token-file'] !== undefined) throw new UsageError('give --token or --token-file, not both');
  if (values.token) return values.token;
  const [file, field] =
    values['token-file'] !== undefined ? [values['token-file'], '--token-file'] : env.BLOX_TOKEN ? [] : [env.BLOX_TOKEN_FILE, 'BLOX_TOKEN_FILE'];
  if (!file || !field) return env.BLOX_TOKEN || undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${field} ${file} cannot be read: ${(error as { code?: string }).code ?? errorMessage(error)}`);
  }
  const [token] = parseTokenFile(text, `${field} ${file}`);
  if (token === undefined) throw new UsageError(`${field} ${file} holds no token`);
  return token;
}

function directTable(values: Values, env: CliIo['env']): DynamoTable {
  const endpoint = values['dynamodb-endpoint'] ?? env.BLOX_DYNAMODB_ENDPOINT;
  const region = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  return new DynamoTable({
    tableName: values.table ?? env.BLOX_TABLE ?? DEFAULT_TABLE_NAME,
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    // DynamoDB Local accepts any credentials; give it some when none are configured.
    ...(endpoint && !env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
}

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

function findCommand(group: string | undefined, sub: string | undefined): { command: Command; grouped: boolean } | undefined {
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

async function serveCoordinator(values: Values, ctx: Context): Promise<number> {
  const { io } = ctx;
  if (values.direct || values.endpoint)
    throw new UsageError('blox coordinator always uses DynamoDB directly; it takes --table/--dynamodb-endpoint, not --direct/--endpoint');
  if (values['ecs-endpoint'] && !values['check-ecs']) throw new UsageError('--ecs-endpoint needs --check-ecs');
  const { startCoordinator, DEFAULT_LISTEN } = await import('../server.js');
  const { CoordinatorAuth, parseToken, parseTokenList } = await import('../auth.js');
  const { tlsFiles } = await import('../tls.js');
  const { AwsEcsChecker } = await import('../ecs-check.js');
  const { pino } = await import('pino');
  const tls = tlsFiles(values['tls-cert'], values['tls-key']);
  const listen = values.listen ?? io.env.BLOX_COORDINATOR_LISTEN ?? DEFAULT_LISTEN;
  const region = values.region ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION;
  const logger = pino({ base: undefined, name: 'blox-coordinator' }, { write: (line: string) => io.stdout(line) });
  const tokenFile = values['token-file'] ?? (io.env.BLOX_COORDINATOR_TOKEN_FILE || undefined);
  const auth = CoordinatorAuth.load(
    {
      ...(tokenFile !== undefined ? { file: tokenFile } : {}),
      environment: [
        ...parseTokenList(io.env.BLOX_COORDINATOR_TOKENS ?? '', 'BLOX_COORDINATOR_TOKENS'),
        ...parseToken(io.env.BLOX_COORDINATOR_TOKEN ?? '', 'BLOX_COORDINATOR_TOKEN'),
      ],
      ...(values.token !== undefined ? { argv: values.token } : {}),
      requireForReads: values['require-token-for-reads'] === true,
    },
    { logger },
  );
  const table = directTable(values, io.env);
  const checker = values['check-ecs']
    ? new AwsEcsChecker({
        ...(values['ecs-endpoint'] ? { endpoint: values['ecs-endpoint'] } : {}),
        ...(region ? { region } : {}),
        ...(values['ecs-endpoint'] && !io.env.AWS_ACCESS_KEY_ID && !io.env.AWS_PROFILE
          ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
          : {}),
      })
    : undefined;
  const store = new EnvironmentStore({ table });
  const { startTableFeeds } = await import('../streams/start.js');
  let streams: Awaited<ReturnType<typeof startTableFeeds>> | undefined;
  try {
    streams = await startTableFeeds({ table, store, logger });
    const running = await startCoordinator({
      store,
      logger,
      streams,
      listen,
      auth,
      ...(tls ? { tls } : {}),
      insecureNoAuth: values['insecure-no-auth'] === true,
      ...(checker ? { ecsCheck: checker } : {}),
    });
    logger.info(
      { url: running.url, table: table.tableName, auth: auth.mode, tls: Boolean(tls), checkEcs: Boolean(checker), version },
      `coordinator listening on ${running.url}`,
    );
    io.onListening?.(running.url);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        io.signal?.removeEventListener('abort', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      io.signal?.addEventListener('abort', stop);
      if (io.signal?.aborted) stop();
    });
    await running.close();
    logger.info('coordinator stopped');
    return EXIT.ok;
  } finally {
    // Closed with the coordinator; here too when it never started (a refused address).
    await streams?.close();
    auth.close();
    checker?.destroy();
    table.destroy();
  }
}
