// How the CLI reaches what it manages: the coordinator's API (--endpoint, with the bearer token
// from --token, --token-file, BLOX_TOKEN or BLOX_TOKEN_FILE) or, with --direct, the table itself.
import { readFileSync } from 'node:fs';
import { errorMessage } from '../../core/errors.js';
import { DEFAULT_TABLE_NAME } from '../../core/dynamo-table.js';
import { DynamoTable } from '../../core/store/dynamo.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { parseTokenFile } from '../auth.js';
import { DirectBackend, HttpBackend, type Backend } from './backend.js';
import type { CliIo, Values } from './options.js';
import { UsageError } from './common.js';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:7070';

export function makeBackend(values: Values, env: CliIo['env']): Backend {
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

export function directTable(values: Values, env: CliIo['env']): DynamoTable {
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
