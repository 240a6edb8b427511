// The coordinator's HTTP API (node:http, no framework). Thin: it validates, calls the store and
// answers JSON; it never starts a task. Routes and shapes: coordinator/openapi.json.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { BloxError, ConflictError, InvalidInputError, InvalidRecordError, errorMessage } from '../core/errors.js';
import { version } from '../core/version.js';
import { listen } from '../core/net.js';
import type { EnvironmentStore, InstanceQuery } from '../core/store/environments.js';
import { parseCreateEnvironment, parseDeploymentAction, parseRollback, parseStartDeployment, parseUpdateEnvironment } from '../core/store/inputs.js';
import openapi from './openapi.json' with { type: 'json' };
import type { EcsChecker } from './ecs-check.js';
import { buildPreview } from './preview.js';
import { PAGE_FILES } from './ui/files.js';
import { validateExpression } from '../core/cql.js';
import { validateCluster } from '../core/store/environments.js';
import { CoordinatorAuth, checkExposure, refuseCrossSiteChange, refuseForeignHost } from './auth.js';
import { readTls, watchTls, type TlsFiles } from './tls.js';
import type { LiveFeeds, StreamWriter } from './streams/feeds.js';
import { streamRoutes } from './streams/routes.js';

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

interface Request {
  method: string;
  path: string;
  query: URLSearchParams;
  params: string[];
  raw: IncomingMessage;
  id: string;
}

interface Reply {
  status: number;
  body?: unknown;
  /** A non-JSON answer (the fleet page's files). */
  raw?: { contentType: string; text: string };
  /** A Server-Sent Events stream that writes the response itself. */
  stream?: StreamWriter;
}

type Handler = (request: Request) => Promise<Reply>;

interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, { handler: Handler; query: string[] }>>;
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

  const page = (q: URLSearchParams) => {
    const request: { limit?: number; nextToken?: string } = {};
    const limit = q.get('limit');
    if (limit !== null) {
      if (!/^\d{1,4}$/.test(limit)) throw new InvalidInputError('limit', 'must be an integer from 1 to 100');
      request.limit = Number(limit);
    }
    const nextToken = q.get('nextToken');
    // An empty nextToken (a client loop's first call) means the first page.
    if (nextToken !== null && nextToken !== '') request.nextToken = nextToken;
    return request;
  };
  const optional = (q: URLSearchParams, name: string): string | undefined => {
    const value = q.get(name);
    if (value === null) return undefined;
    if (value === '') throw new InvalidInputError(name, 'must not be empty');
    return value;
  };
  /** Paging plus the cluster, status and environment filters given, as /v1/instances and /v1/tasks take them. */
  const listFilters = (q: URLSearchParams) => {
    const cluster = optional(q, 'cluster');
    const status = optional(q, 'status');
    const environment = optional(q, 'environment');
    return {
      ...page(q),
      ...(cluster !== undefined ? { cluster } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(environment !== undefined ? { environment } : {}),
    };
  };
  const queryToken = (q: URLSearchParams): string | undefined => {
    const a = q.get('deploymentToken');
    const b = q.get('token');
    if (a === '' || b === '') throw new InvalidInputError('token', 'must not be empty');
    if (a !== null && b !== null && a !== b) throw new InvalidInputError('token', 'token and deploymentToken disagree');
    return a ?? b ?? undefined;
  };
  const ok = (body: unknown): Reply => ({ status: 200, body });
  /** One of the fleet page's static files (coordinator/ui/). */
  const pageFile = (name: string): Reply => {
    const file = PAGE_FILES.get(name);
    if (!file) throw new BloxError('NotFound', `no page file ${name}`);
    return { status: 200, raw: { contentType: file.contentType, text: file.text } };
  };
  const ecs = (): EcsChecker => {
    if (!check) throw new BloxError('Unavailable', 'instance previews need ECS: start the coordinator with --check-ecs');
    return check;
  };

  const routes: Route[] = [
    { pattern: /^\/$/, methods: { GET: { query: [], handler: async () => pageFile('index.html') } } },
    { pattern: /^\/ui\/([^/]+)$/, methods: { GET: { query: [], handler: async ({ params }) => pageFile(params[0] as string) } } },
    { pattern: /^\/v1\/ping$/, methods: { GET: { query: [], handler: async () => ok({ status: 'ok', version, auth: auth.mode }) } } },
    { pattern: /^\/v1\/openapi\.json$/, methods: { GET: { query: [], handler: async () => ok(openapi) } } },
    {
      pattern: /^\/v1\/environments$/,
      methods: {
        GET: {
          query: ['cluster', 'nextToken', 'limit'],
          handler: async ({ query }) => {
            const cluster = optional(query, 'cluster');
            return ok(await store.listEnvironments({ ...page(query), ...(cluster !== undefined ? { cluster } : {}) }));
          },
        },
        POST: {
          query: [],
          handler: async (request) => {
            const input = parseCreateEnvironment(await readJson(request.raw, bodyLimit, true));
            if (check) {
              await check.checkCluster(input.instanceGroup.cluster);
              await check.checkTaskDefinition(input.taskDefinition);
            }
            return ok(await store.createEnvironment(input));
          },
        },
      },
    },
    {
      pattern: /^\/v1\/environments\/([^/]+)$/,
      methods: {
        GET: { query: [], handler: async ({ params }) => ok(await store.getEnvironment(params[0] as string)) },
        PUT: {
          query: ['token', 'deploymentToken'],
          handler: async (request) => {
            const name = request.params[0] as string;
            const input = parseUpdateEnvironment(await readJson(request.raw, bodyLimit, true), name, queryToken(request.query));
            if (check && input.taskDefinition) await check.checkTaskDefinition(input.taskDefinition);
            return ok((await store.updateEnvironment(name, input)).environment);
          },
        },
        DELETE: {
          query: ['token', 'deploymentToken'],
          handler: async ({ params, query }) => {
            const deleted = await store.deleteEnvironment(params[0] as string, queryToken(query));
            return deleted ? ok(deleted) : { status: 204 };
          },
        },
      },
    },
    {
      pattern: /^\/v1\/environments\/([^/]+)\/revisions$/,
      methods: {
        GET: { query: ['nextToken', 'limit'], handler: async ({ params, query }) => ok(await store.listRevisions(params[0] as string, page(query))) },
      },
    },
    {
      pattern: /^\/v1\/environments\/([^/]+)\/revisions\/([^/]+)$/,
      methods: {
        GET: {
          query: [],
          handler: async ({ params }) => {
            const text = params[1] as string;
            if (!/^[1-9]\d{0,9}$/.test(text)) throw new InvalidInputError('revision', 'must be a positive integer');
            return ok(await store.getRevision(params[0] as string, Number(text)));
          },
        },
      },
    },
    {
      pattern: /^\/v1\/environments\/([^/]+)\/deployments$/,
      methods: {
        GET: {
          query: ['nextToken', 'limit', 'deploymentToken', 'token'],
          handler: async ({ params, query }) => ok(await store.listDeployments(params[0] as string, page(query))),
        },
        POST: {
          query: ['deploymentToken', 'token'],
          handler: async (request) => {
            const input = parseStartDeployment(await readJson(request.raw, bodyLimit, false), queryToken(request.query));
            return ok(await store.startDeployment(request.params[0] as string, input));
          },
        },
      },
    },
    {
      pattern: /^\/v1\/environments\/([^/]+)\/deployments\/([^/]+)$/,
      methods: { GET: { query: [], handler: async ({ params }) => ok(await store.getDeployment(params[0] as string, params[1] as string)) } },
    },
    {
      pattern: /^\/v1\/environments\/([^/]+)\/deployments\/([^/]+)\/(stop|pause|resume|promote|rollback)$/,
      methods: {
        POST: {
          query: ['deploymentToken', 'token'],
          handler: async (request) => {
            const [name, id, action] = request.params as [string, string, string];
            const body = await readJson(request.raw, bodyLimit, false);
            const token = queryToken(request.query);
            if (action === 'rollback') return ok(await store.rollbackDeployment(name, id, parseRollback(body, token)));
            const input = parseDeploymentAction(body, token);
            if (action === 'stop') return ok(await store.stopDeployment(name, id, input));
            if (action === 'pause') return ok(await store.pauseDeployment(name, id, input));
            if (action === 'promote') return ok(await store.promoteDeployment(name, id, input));
            return ok(await store.resumeDeployment(name, id, input));
          },
        },
      },
    },
    {
      pattern: /^\/v1\/environments\/([^/]+)\/instances$/,
      methods: {
        GET: {
          query: ['revision'],
          handler: async ({ params, query }) => {
            const text = optional(query, 'revision');
            if (text !== undefined && !/^[1-9]\d{0,9}$/.test(text)) throw new InvalidInputError('revision', 'must be a positive integer');
            const name = params[0] as string;
            const { revision, statuses } = await store.previewTarget(name, text === undefined ? undefined : Number(text));
            const instances = await ecs().listContainerInstances(revision.instanceGroup.cluster);
            return ok(buildPreview(instances, revision.instanceGroup, statuses, { environment: name, revision: revision.revision }));
          },
        },
      },
    },
    {
      pattern: /^\/v1\/preview$/,
      methods: {
        GET: {
          query: ['cluster', 'expression'],
          handler: async ({ query }) => {
            const clusterText = optional(query, 'cluster');
            if (clusterText === undefined) throw new InvalidInputError('cluster', 'is required');
            const cluster = validateCluster(clusterText);
            const expression = optional(query, 'expression');
            if (expression !== undefined) {
              if (expression.length > 2_000) throw new InvalidInputError('expression', 'must be at most 2000 characters');
              validateExpression(expression, 'expression');
            }
            const instances = await ecs().listContainerInstances(cluster);
            const statuses = await store.clusterStatuses(cluster);
            return ok(buildPreview(instances, expression === undefined ? { cluster } : { cluster, expression }, statuses));
          },
        },
      },
    },
    {
      pattern: /^\/v1\/instances$/,
      methods: {
        GET: {
          query: ['cluster', 'status', 'environment', 'nextToken', 'limit'],
          // The store checks status against its filters.
          handler: async ({ query }) => ok(await store.listInstances(listFilters(query) as InstanceQuery)),
        },
      },
    },
    {
      pattern: /^\/v1\/tasks$/,
      methods: {
        GET: {
          query: ['cluster', 'status', 'environment', 'nextToken', 'limit'],
          handler: async ({ query }) => ok(await store.listTasks(listFilters(query))),
        },
      },
    },
    ...streamRoutes(options.streams),
  ];

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

/**
 * A body over the limit is still read, and thrown away, up to this many bytes before the 413 is
 * sent: a server that answers and closes while the client is still sending makes the client see a
 * broken pipe or a reset instead of the 413. Past it the connection is cut (the answer may be lost).
 */
export const DISCARD_LIMIT = 8 * 1024 * 1024;

/** The body, up to `limit` bytes; over it, PayloadTooLarge once the body was read (and discarded) or passed DISCARD_LIMIT. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new BloxError('PayloadTooLarge', `the request body is larger than ${limit} bytes`);
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > DISCARD_LIMIT) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > DISCARD_LIMIT) {
        req.off('data', onData);
        req.resume();
        reject(tooLarge());
      }
    };
    req.on('data', onData);
    req.on('end', () => (size > limit ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

/** Reads and parses a JSON body; `required` false lets an empty body be `undefined`. */
async function readJson(req: IncomingMessage, limit: number, required: boolean): Promise<unknown> {
  const text = (await readBody(req, limit)).toString('utf8');
  if (text.trim() === '') {
    if (required) throw new InvalidInputError('(body)', 'is required: a JSON object');
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidInputError('(body)', `is not valid JSON: ${errorMessage(error)}`);
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
