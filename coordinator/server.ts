// The coordinator's HTTP(S) transport (node:http, no framework): where it may listen, the one token
// check before routing, the routing itself and the writing of replies and errors. The routes and
// their handlers are coordinator/routes.ts; shapes: coordinator/openapi.json. Thin: it validates,
// calls the store and answers JSON; it never starts a task.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { BloxError, ConflictError, InvalidInputError, InvalidRecordError, errorMessage } from '../core/errors.js';
import { listen } from '../core/net.js';
import type { EnvironmentStore } from '../core/store/environments.js';
import type { EcsChecker } from './ecs-check.js';
import { apiRoutes, type Reply } from './routes.js';
import { CoordinatorAuth, checkExposure, refuseCrossSiteChange, refuseForeignHost } from './auth.js';
import { readTls, watchTls, type TlsFiles } from './tls.js';
import type { LiveFeeds } from './streams/feeds.js';

export const DEFAULT_LISTEN = '127.0.0.1:7070';
export const DEFAULT_BODY_LIMIT = 64 * 1024;

export interface CoordinatorOptions {
  store: EnvironmentStore;
  logger?: Logger;
  /** The valid bearer tokens and what needs one (coordinator/auth.ts); none by default. */
  auth?: CoordinatorAuth;
  /** Checks clusters and task definitions with ECS before storing them. */
  ecsCheck?: EcsChecker;
  bodyLimit?: number;
  /** The live feeds (/v1/stream/*); without them those routes answer 503. Closed with the coordinator. */
  streams?: LiveFeeds;
  /** Only requests whose Host names this machine are served (on loopback without tokens: coordinator/auth.ts refuseForeignHost). */
  loopbackHostsOnly?: boolean;
}

class MethodNotAllowed extends Error {
  constructor(readonly allowed: string[]) {
    super('method not allowed');
  }
}

export function createCoordinatorHandler(options: CoordinatorOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { store } = options;
  const logger = options.logger ?? pino({ base: undefined });
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const check = options.ecsCheck;
  const auth = options.auth ?? CoordinatorAuth.none();

  const routes = apiRoutes({ store, bodyLimit, auth, ...(check ? { ecsCheck: check } : {}), ...(options.streams ? { streams: options.streams } : {}) });

  const dispatch = async (req: IncomingMessage, id: string): Promise<Reply> => {
    const method = (req.method ?? 'GET').toUpperCase();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://coordinator');
    } catch {
      throw new InvalidInputError('(url)', 'is not a valid request target');
    }
    const path = routingPath(url);
    if (options.loopbackHostsOnly) refuseForeignHost(req.headers.host);
    // The one token check, before any route is looked for, on the path routing uses: every route,
    // those added later included, is covered, and an unknown path tells nothing without a token.
    auth.check(method, path, req.headers.authorization);
    refuseCrossSiteChange(method, req.headers);
    for (const route of routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      const entry = route.methods[method === 'HEAD' ? 'GET' : method];
      if (!entry) throw new MethodNotAllowed(Object.keys(route.methods));
      const params = match.slice(1).map((segment, i) => decodeSegment(segment, i === 0 ? 'name' : 'id'));
      checkQuery(url.searchParams, entry.query);
      return entry.handler({ method, path, query: url.searchParams, params, raw: req, id });
    }
    throw new BloxError('NotFound', `no route for ${method} ${path}`);
  };

  return (req, res) => {
    const started = process.hrtime.bigint();
    const id = randomUUID();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const finish = (reply: Reply, extraHeaders: Record<string, string> = {}) => {
      const headers: Record<string, string> = { 'x-request-id': id, ...extraHeaders };
      if (reply.stream) {
        // A stream outlives the check made when it began: it is cut once its token is rotated out.
        // (Checked on the path routing used: the URL parsed when the request was dispatched.)
        const routed = routingPath(new URL(req.url ?? '/', 'http://coordinator'));
        const stopRecheck = auth.onReload(() => {
          try {
            auth.check((req.method ?? 'GET').toUpperCase(), routed, req.headers.authorization);
          } catch {
            logger.info({ requestId: id, path }, 'stream closed: its bearer token is no longer valid');
            res.destroy();
          }
        });
        res.once('close', () => {
          stopRecheck();
          logger.info({ requestId: id, method: req.method, path, status: 200, stream: true }, 'request');
        });
        reply.stream(req, res, headers);
        // Gone before its stream began (during the snapshot read): its 'close' has passed already.
        if (res.destroyed) stopRecheck();
        return;
      }
      let payload: string | undefined;
      if (reply.raw) {
        payload = reply.raw.text;
        headers['content-type'] = reply.raw.contentType;
        headers['content-length'] = String(Buffer.byteLength(payload));
        headers['content-security-policy'] = "default-src 'self'; frame-ancestors 'none'";
        headers['x-content-type-options'] = 'nosniff';
        // The page's files change with the coordinator's version: the browser asks again each time.
        headers['cache-control'] = 'no-cache';
      } else if (reply.body !== undefined && reply.status !== 204) {
        payload = JSON.stringify(reply.body);
        headers['content-type'] = 'application/json; charset=utf-8';
        headers['content-length'] = String(Buffer.byteLength(payload));
      }
      if (!res.headersSent) res.writeHead(reply.status, headers);
      res.end(req.method === 'HEAD' ? undefined : payload);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info({ requestId: id, method: req.method, path, status: reply.status, ms: Math.round(ms * 10) / 10 }, 'request');
    };
    dispatch(req, id).then(
      (reply) => finish(reply),
      (error: unknown) => {
        if (error instanceof MethodNotAllowed) {
          finish(
            {
              status: 405,
              body: { code: 'MethodNotAllowed', message: `${req.method} is not allowed here; allowed: ${error.allowed.join(', ')}`, requestId: id },
            },
            { allow: error.allowed.join(', ') },
          );
          return;
        }
        if (error instanceof BloxError) {
          const body: Record<string, unknown> = { ...error.toJSON(), requestId: id };
          if (error instanceof InvalidRecordError) body.record = error.record;
          if (error instanceof ConflictError && isTokenHolder(error.current)) {
            body.token = error.current.token;
            body.deploymentToken = error.current.token;
          }
          if (error.cause !== undefined) logger.warn({ requestId: id, err: error.cause }, error.message);
          const headers: Record<string, string> = {};
          if (error.code === 'Unauthorized') headers['www-authenticate'] = 'Bearer realm="blox"';
          if (error.code === 'PayloadTooLarge') headers.connection = 'close';
          finish({ status: error.httpStatus, body }, headers);
          return;
        }
        logger.error({ requestId: id, err: error }, `unexpected error: ${errorMessage(error)}`);
        finish({ status: 500, body: { code: 'Internal', message: `internal error (request id ${id})`, requestId: id } });
      },
    );
  };
}

/** The path routing and the token check use: the URL's path without trailing slashes. */
function routingPath(url: URL): string {
  return url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
}

function isTokenHolder(value: unknown): value is { token: string } {
  return typeof value === 'object' && value !== null && typeof (value as { token?: unknown }).token === 'string';
}

function decodeSegment(segment: string, field: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InvalidInputError(field, 'is not valid percent-encoding');
  }
}

function checkQuery(query: URLSearchParams, allowed: string[]): void {
  const seen = new Set<string>();
  for (const name of query.keys()) {
    if (!allowed.includes(name))
      throw new InvalidInputError(name, allowed.length ? `is not a known query parameter (known: ${allowed.join(', ')})` : 'is not a known query parameter');
    if (seen.has(name)) throw new InvalidInputError(name, 'must be given at most once');
    seen.add(name);
  }
}

export interface RunningCoordinator {
  server: Server | HttpsServer;
  url: string;
  close(graceMs?: number): Promise<void>;
}

/** `host:port`, `:port` or `port`; IPv6 hosts in brackets. */
export function parseListen(text: string, field = '--listen'): { host: string; port: number } {
  const match = /^(?:(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65_535) throw new InvalidInputError(field, 'must be host:port, e.g. 127.0.0.1:7070');
  const host = (match[1] ?? '').replace(/^\[|\]$/g, '') || '127.0.0.1';
  return { host, port };
}

export interface ServeOptions {
  listen?: string;
  /** `--tls-cert`/`--tls-key`: serve HTTPS; the files are re-read when they change. */
  tls?: TlsFiles;
  /** `--insecure-no-auth`: allow a non-loopback address without tokens (coordinator/auth.ts checkExposure). */
  insecureNoAuth?: boolean;
  /** How often the TLS files are checked for a change. */
  watchIntervalMs?: number;
}

/**
 * Listens, after checking that the address may be listened on with the auth given (it throws
 * InvalidInputError saying what to do otherwise, before binding anything).
 */
export async function startCoordinator(options: CoordinatorOptions & ServeOptions): Promise<RunningCoordinator> {
  const { host, port } = parseListen(options.listen ?? DEFAULT_LISTEN);
  const logger = options.logger ?? pino({ base: undefined });
  const auth = options.auth ?? CoordinatorAuth.none();
  const warnings = await checkExposure({ host, port, auth: auth.mode, tls: options.tls !== undefined, insecureNoAuth: options.insecureNoAuth === true });
  // Past checkExposure, no tokens and no --insecure-no-auth means a loopback address.
  const loopbackHostsOnly = !auth.mode.writes && options.insecureNoAuth !== true;
  const handler = createCoordinatorHandler({ ...options, logger, auth, loopbackHostsOnly });
  const server = options.tls ? createHttpsServer(readTls(options.tls), handler) : createServer(handler);
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await listen(server, { port, host });
  for (const warning of warnings) logger.warn(warning);
  const tlsWatch = options.tls && watchTls(server as HttpsServer, options.tls, logger, options.watchIntervalMs);
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `${options.tls ? 'https' : 'http'}://${shownHost}:${address.port}`,
    /** Stops accepting, lets requests in flight finish (up to `graceMs`), then closes what is left. */
    close: async (graceMs = 5_000) => {
      await options.streams?.close();
      await new Promise<void>((resolve, reject) => {
        tlsWatch?.close();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close((error) => {
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
