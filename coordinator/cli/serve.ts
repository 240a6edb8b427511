// `blox coordinator`: starts the coordinator on the table (tokens, TLS, the live feeds, the ECS
// check) and serves until SIGINT/SIGTERM; everything it opened is closed again, also when it never
// started listening (a refused address).
import { EnvironmentStore } from '../../core/store/environments.js';
import { version } from '../../core/version.js';
import type { Context, Values } from './options.js';
import { EXIT, UsageError } from './common.js';
import { directTable } from './connection.js';

export async function serveCoordinator(values: Values, ctx: Context): Promise<number> {
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
