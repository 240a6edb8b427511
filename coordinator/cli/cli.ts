// `blox`: the command line of blox-edge. Talks to the coordinator's API (--endpoint) or, with
// --direct, to DynamoDB through the same store library. Exit codes: see EXIT and docs/cli.md.
import { parseArgs } from 'node:util';
import { BloxError, errorMessage } from '../../core/errors.js';
import { DEFAULT_TABLE_NAME } from '../../core/dynamo-table.js';
import { commit, version } from '../../core/version.js';
import { UnreachableError, type Backend } from './backend.js';
import { EXIT, UsageError } from './common.js';
import { DEFAULT_ENDPOINT, makeBackend } from './connection.js';
import { findCommand } from './commands.js';
import { CONNECTION, OPTIONS, type CliIo, type Context, type Values } from './options.js';

export { EXIT } from './common.js';

export { DEFAULT_ENDPOINT } from './connection.js';
export type { CliIo, Command, Context, Values } from './options.js';

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
