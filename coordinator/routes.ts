// The coordinator's API: each route's pattern, the methods it answers, the query parameters it
// takes and its handler (validate, call the store, answer). coordinator/server.ts is the transport
// that routes a request here (after the one token check) and writes the reply. Shapes:
// coordinator/openapi.json.
import type { IncomingMessage } from 'node:http';
import { BloxError, InvalidInputError } from '../core/errors.js';
import { version } from '../core/version.js';
import type { EnvironmentStore, InstanceQuery } from '../core/store/environments.js';
import { parseCreateEnvironment, parseDeploymentAction, parseRollback, parseStartDeployment, parseUpdateEnvironment } from '../core/store/inputs.js';
import openapi from './openapi.json' with { type: 'json' };
import type { EcsChecker } from './ecs-check.js';
import { buildPreview } from './preview.js';
import { PAGE_FILES } from './ui/files.js';
import { validateExpression } from '../core/cql.js';
import { validateCluster } from '../core/store/environments.js';
import type { CoordinatorAuth } from './auth.js';
import type { LiveFeeds, StreamWriter } from './streams/feeds.js';
import { streamRoutes } from './streams/routes.js';
import { readJson } from './body.js';

export interface Request {
  method: string;
  path: string;
  query: URLSearchParams;
  params: string[];
  raw: IncomingMessage;
  id: string;
}

export interface Reply {
  status: number;
  body?: unknown;
  /** A non-JSON answer (the fleet page's files). */
  raw?: { contentType: string; text: string };
  /** A Server-Sent Events stream that writes the response itself. */
  stream?: StreamWriter;
}

export type Handler = (request: Request) => Promise<Reply>;

export interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, { handler: Handler; query: string[] }>>;
}

export interface RouteOptions {
  store: EnvironmentStore;
  /** Checks clusters and task definitions with ECS before storing them. */
  ecsCheck?: EcsChecker;
  bodyLimit: number;
  /** What ping reports of what needs a token. */
  auth: CoordinatorAuth;
  /** The live feeds (/v1/stream/*); without them those routes answer 503. */
  streams?: LiveFeeds;
}

export function apiRoutes(options: RouteOptions): Route[] {
  const { store, bodyLimit, auth } = options;
  const check = options.ecsCheck;

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

  return [
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
}
