// The ECS API emulator: an HTTP server speaking ECS's own wire protocol (AWS JSON 1.1: POST /,
// `X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>`, content type
// application/x-amz-json-1.1), so the unmodified @aws-sdk/client-ecs and `aws ecs --endpoint-url`
// work against it. SigV4 signatures are accepted without checking (any credentials do).
//
// Requests are validated against the official service model when a copy is installed (see
// model-validator.ts), and answered with ECS's error shapes: HTTP 400 `{"__type","message"}`
// (500 for ServerException). Fault injection (`faults`) adds latency, errors, throttling and a
// frozen endpoint; terminateInstance/drainInstance model what happens to hosts.
//
// The same endpoint serves the Auto Scaling API (form-encoded Query protocol, XML answers) once a
// handler is attached with serveQueryApi: requests without X-Amz-Target and with a form body go
// there, as the Auto Scaling SDK client and `aws autoscaling` send them.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type pino from 'pino';
import type { TaskRuntime } from '../runtime/types.js';
import { boundPort, listen } from '../../core/net.js';
import { EcsBackend, type RegisterInstanceInput } from './backend.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { EcsError } from './errors.js';
import { Faults, type FaultInjector } from './faults.js';
import { formatViolations, loadServiceModel, ModelValidator } from './model-validator.js';
import type { EmulatedInstance, EmulatedTask, TaskStateChange } from './types.js';

export type { RegisterInstanceInput } from './backend.js';
export type { Clock } from '../../core/clock.js';
export type { FaultInjector, ThrottleSettings } from './faults.js';
export type { EmulatedContainer, EmulatedInstance, EmulatedTask, TaskStateChange } from './types.js';

export const TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113';

export interface EcsEmulatorOptions {
  host?: string;
  /** 0 = any free port; the sandbox uses 7071. */
  port?: number;
  region?: string;
  accountId?: string;
  runtime: TaskRuntime;
  clock?: Clock;
  logger?: pino.Logger;
  /** How long STOPPED tasks stay describable, in clock milliseconds (default one hour, as ECS). */
  stoppedTaskRetentionMs?: number;
  /**
   * Validate requests against the ECS service model and answer InvalidParameterException /
   * SerializationException for malformed ones. Default: on when the model is installed.
   */
  validateRequests?: boolean;
  /** Randomness for placement and fault injection (default Math.random). */
  rng?: () => number;
}

/** One request and its answer, for conformance tests (see onExchange). */
export interface Exchange {
  operation: string;
  request: unknown;
  status: number;
  response: unknown;
}

export interface EcsEmulator {
  /** http://HOST:PORT */
  readonly url: string;
  readonly region: string;
  readonly accountId: string;
  /** What the ECS agent does at boot: RegisterContainerInstance with resources and built-in attributes. */
  registerInstance(input: RegisterInstanceInput): Promise<{ containerInstanceArn: string }>;
  /** The instance vanishes without a goodbye: tasks STOPPED ("Host EC2 (instance i-...) terminated."), containers removed, instance INACTIVE. */
  terminateInstance(containerInstanceArn: string): Promise<void>;
  /** Same as UpdateContainerInstancesState DRAINING. */
  drainInstance(containerInstanceArn: string): Promise<void>;
  /** The instance's agent loses (false) or regains (true) its connection: StartTask answers AGENT. */
  setAgentConnected(containerInstanceArn: string, connected: boolean): void;
  readonly faults: FaultInjector;
  /** The instance's tasks, recently STOPPED ones included. */
  tasksOnInstance(containerInstanceArn: string): EmulatedTask[];
  task(taskArn: string): EmulatedTask | undefined;
  instance(containerInstanceArn: string): EmulatedInstance | undefined;
  /** ARNs of registered (ACTIVE or DRAINING) instances, of one cluster or all. */
  instanceArns(cluster?: string): string[];
  /** Task state changes (like ECS's task state change events); returns the unsubscribe function. */
  onTaskStateChange(listener: (change: TaskStateChange) => void): () => void;
  /** Every request and answer, after it is sent; returns the unsubscribe function. */
  onExchange(listener: (exchange: Exchange) => void): () => void;
  /** Serves a Query-protocol API (Auto Scaling) on this endpoint: form body in, status and XML out. */
  serveQueryApi(handler: (body: string) => { status: number; xml: string }): void;
  /** Call counts by operation (every request received, errors included). */
  callCounts(): Record<string, number>;
  resetCallCounts(): void;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export async function startEcsEmulator(options: EcsEmulatorOptions): Promise<EcsEmulator> {
  const clock = options.clock ?? systemClock;
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const logger = options.logger;
  const rng = options.rng ?? Math.random;
  const model = options.validateRequests === false ? undefined : loadServiceModel();
  if (options.validateRequests === true && !model) throw new Error('validateRequests needs the ECS service model (install awscli) but none was found');
  if (!model) logger?.warn('ECS service model not found (install awscli); requests are not validated against it');
  const validator = model ? new ModelValidator(model) : undefined;
  const backend = new EcsBackend({
    region,
    accountId,
    runtime: options.runtime,
    clock,
    rng,
    ...(options.stoppedTaskRetentionMs !== undefined ? { stoppedTaskRetentionMs: options.stoppedTaskRetentionMs } : {}),
    log: (level, message, details) => logger?.[level](details ?? {}, message),
  });
  const faults = new Faults(clock, rng);
  const counts = new Map<string, number>();
  const exchangeListeners = new Set<(exchange: Exchange) => void>();
  let queryApi: ((body: string) => { status: number; xml: string }) | undefined;

  const send = (res: ServerResponse, operation: string, request: unknown, status: number, body: unknown, errorType?: string): void => {
    const text = JSON.stringify(body);
    const headers: Record<string, string | number> = {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
    };
    if (errorType) headers['x-amzn-errortype'] = errorType;
    res.writeHead(status, headers);
    res.end(text);
    for (const listener of exchangeListeners) {
      try {
        listener({ operation, request, status, response: body });
      } catch (error) {
        logger?.warn({ error: String(error) }, 'exchange listener failed');
      }
    }
  };

  const sendError = (res: ServerResponse, operation: string, request: unknown, error: EcsError): void => {
    send(res, operation, request, error.status, error.body(), error.type);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        sendError(res, '', undefined, new EcsError('SerializationException', 'Request body too large.'));
        return;
      }
      chunks.push(chunk as Buffer);
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'POST' }).end('The ECS API is POST / with X-Amz-Target.\n');
      return;
    }
    if (queryApi && req.headers['x-amz-target'] === undefined && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      const answer = queryApi(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(answer.status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(answer.xml), 'x-amzn-requestid': randomUUID() });
      res.end(answer.xml);
      return;
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    const dot = target.lastIndexOf('.');
    const operation = dot >= 0 ? target.slice(dot + 1) : target;
    counts.set(operation || '(none)', (counts.get(operation || '(none)') ?? 0) + 1);
    const text = Buffer.concat(chunks).toString('utf8');
    let request: unknown;
    try {
      request = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      sendError(res, operation, text, new EcsError('SerializationException', 'Start of structure or map found where not expected.'));
      return;
    }
    const handler = backend.operations[operation];
    if (target.slice(0, dot) !== TARGET_PREFIX || !handler) {
      sendError(res, operation, request, new EcsError('UnknownOperationException', `Unknown operation ${target}`));
      return;
    }
    await faults.whileFrozen();
    const latency = faults.latencyOf(operation);
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
    try {
      faults.check(operation);
      if (typeof request !== 'object' || request === null || Array.isArray(request)) {
        throw new EcsError('SerializationException', 'The request body must be a JSON object.');
      }
      if (validator) {
        const violations = validator.validateInput(operation, request, { reportUnknown: false });
        if (violations.length > 0) {
          const type = violations.some((violation) => violation.kind === 'type') ? 'SerializationException' : 'InvalidParameterException';
          throw new EcsError(type, formatViolations(violations));
        }
      }
      backend.expire();
      const output = handler(request as Record<string, unknown>);
      send(res, operation, request, 200, output);
    } catch (error) {
      if (error instanceof EcsError) {
        sendError(res, operation, request, error);
      } else {
        logger?.error({ operation, error: error instanceof Error ? error.stack : String(error) }, 'emulator operation failed');
        sendError(res, operation, request, new EcsError('ServerException', 'Service Unavailable. Please try again later.'));
      }
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger?.error({ error: String(error) }, 'emulator request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' }).end('{"__type":"ServerException","message":"internal error"}');
    });
  });
  server.keepAliveTimeout = 60_000;
  const host = options.host ?? '127.0.0.1';
  await listen(server, { port: options.port ?? 0, host });
  const port = boundPort(server);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger?.info({ url, runtime: options.runtime.kind, modelValidation: !!validator }, 'ECS emulator listening');

  let closed = false;
  return {
    url,
    region,
    accountId,
    registerInstance: async (input) => backend.registerInstance(input),
    terminateInstance: async (arn) => backend.terminateInstance(arn),
    drainInstance: async (arn) => backend.drainInstance(arn),
    setAgentConnected: (arn, connected) => backend.setAgentConnected(arn, connected),
    faults,
    tasksOnInstance: (arn) => backend.tasksOnInstance(arn),
    task: (arn) => backend.task(arn),
    instance: (arn) => backend.instance(arn),
    instanceArns: (cluster) => backend.instanceArns(cluster),
    onTaskStateChange: (listener) => backend.onTaskChange(listener),
    onExchange: (listener) => {
      exchangeListeners.add(listener);
      return () => exchangeListeners.delete(listener);
    },
    serveQueryApi: (handler) => void (queryApi = handler),
    callCounts: () => Object.fromEntries(counts),
    resetCallCounts: () => counts.clear(),
    close: async () => {
      if (closed) return;
      closed = true;
      faults.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
