// Validates real responses against the checked-in OpenAPI document (coordinator/openapi.json):
// the operation must exist, the status must be documented (or fall to `default`), and the body
// must match the documented schema. Paths that match no operation may only answer an Error.
//
// Two ways to have responses checked, each counting what it checked so that a suite can assert that
// every response it caused was checked (a validator that silently checks nothing must fail a run):
// - OpenApiClient: the test's own calls, fetch then check; a response off the document throws.
// - startValidatingProxy: for clients the test does not hold (the blox CLI, a spawned bundle),
//   a proxy in front of the coordinator that checks every response passing through.
import { readFileSync } from 'node:fs';
import { boundPort, listen } from '../../core/net.js';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

type Json = Record<string, unknown>;

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export class OpenApiValidator {
  readonly doc: Json;
  private readonly ajv: Ajv2020;
  private readonly templates: { template: string; regex: RegExp; literal: number }[];
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(path = new URL('../../coordinator/openapi.json', import.meta.url)) {
    const text = readFileSync(path, 'utf8').replaceAll('"#/components/schemas/', '"blox-openapi#/$defs/');
    this.doc = JSON.parse(text) as Json;
    this.ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormats(this.ajv);
    const components = this.doc.components as Json;
    this.ajv.addSchema({ $id: 'blox-openapi', $defs: components.schemas as Json });
    const paths = this.doc.paths as Json;
    this.templates = Object.keys(paths).map((template) => ({
      template,
      regex: new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
      literal: template.split('/').filter((s) => s && !s.startsWith('{')).length,
    }));
  }

  /** Throws with a readable message when the response breaks the document. */
  check(method: string, path: string, status: number, body: string, contentType: string | null): void {
    const pathname = path.split('?')[0] as string;
    const matches = this.templates.filter((t) => t.regex.test(pathname)).sort((a, b) => b.literal - a.literal);
    const where = `${method} ${pathname} -> ${status}`;
    if (matches.length === 0) {
      // 401: the coordinator checks the bearer token before it looks for a route (coordinator/auth.ts).
      if (status !== 401 && status !== 404 && status !== 405) throw new Error(`${where}: path is not in the OpenAPI document`);
      this.validateJson(where, { $ref: 'blox-openapi#/$defs/Error' }, body, contentType);
      return;
    }
    const item = (this.doc.paths as Json)[(matches[0] as { template: string }).template] as Json;
    const operation = item[method.toLowerCase()] as Json | undefined;
    if (!operation) {
      if (status !== 401 && status !== 405) throw new Error(`${where}: method is not in the OpenAPI document`);
      this.validateJson(where, { $ref: 'blox-openapi#/$defs/Error' }, body, contentType);
      return;
    }
    const responses = operation.responses as Json;
    const response = (responses[String(status)] ?? responses.default) as Json | undefined;
    if (!response) throw new Error(`${where}: status is not documented`);
    const content = response.content as Json | undefined;
    if (!content) {
      if (body.length > 0) throw new Error(`${where}: documented without a body but answered ${body.slice(0, 200)}`);
      return;
    }
    const json = content['application/json'] as Json | undefined;
    if (!json) {
      const documented = Object.keys(content);
      if (!documented.some((type) => contentType?.startsWith(type)))
        throw new Error(`${where}: content-type ${contentType} is not one of ${documented.join(', ')}`);
      return;
    }
    this.validateJson(where, json.schema as Json, body, contentType);
  }

  private validateJson(where: string, schema: Json, body: string, contentType: string | null): void {
    if (!contentType?.startsWith('application/json')) throw new Error(`${where}: content-type ${contentType} is not JSON`);
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      throw new Error(`${where}: body is not JSON: ${body.slice(0, 200)}`);
    }
    const key = JSON.stringify(schema);
    let validate = this.cache.get(key);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.cache.set(key, validate);
    }
    if (!validate(value)) {
      throw new Error(
        `${where}: body does not match the OpenAPI document: ${this.ajv.errorsText(validate.errors, { separator: '; ' })}\n${body.slice(0, 500)}`,
      );
    }
  }
}

let shared: OpenApiValidator | undefined;

/** One validator per process (compiling the document's schemas is the slow part). */
export function openApiValidator(): OpenApiValidator {
  shared ??= new OpenApiValidator();
  return shared;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface ApiCallOptions {
  body?: unknown;
  /** Sent as is (for malformed JSON and similar). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

/** Calls the API at `baseUrl` and checks every response against the OpenAPI document. */
export class OpenApiClient {
  /** Calls made. */
  calls = 0;
  /** Responses that passed the check. */
  validated = 0;

  constructor(
    readonly baseUrl: string,
    private readonly validator: OpenApiValidator = openApiValidator(),
  ) {}

  async call(method: string, path: string, options: ApiCallOptions = {}): Promise<ApiResponse> {
    this.calls++;
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    let payload: string | Buffer | undefined = options.raw;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${this.baseUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await response.text();
    this.validator.check(method, path, response.status, text, response.headers.get('content-type'));
    this.validated++;
    const json = text && response.headers.get('content-type')?.startsWith('application/json');
    return { status: response.status, headers: response.headers, text, body: json ? (JSON.parse(text) as unknown) : undefined };
  }
}

export interface ValidatingProxy {
  url: string;
  /** Responses that passed the check (each was passed on to the client). */
  readonly validated: number;
  /** Responses that failed it, each answered to the client as 502 OpenApiViolation instead. */
  readonly violations: string[];
  /** Resolves once no request is in flight. */
  idle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of `targetUrl` (a coordinator) that checks every response
 * against the OpenAPI document before passing it on. The response reaches the client unchanged
 * (headers, status, bytes), or as a 502 naming the violation.
 */
export async function startValidatingProxy(targetUrl: string, validator: OpenApiValidator = openApiValidator()): Promise<ValidatingProxy> {
  const target = new URL(targetUrl);
  const violations: string[] = [];
  let validated = 0;
  let inFlight = 0;
  const server: Server = createServer((req, res) => {
    inFlight++;
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        inFlight--;
      }
    };
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const body: Buffer[] = [];
    let forwarded = false;
    req.on('data', (chunk: Buffer) => body.push(chunk));
    // A client gone before its request was whole: nothing reaches the coordinator.
    req.on('close', () => forwarded || finish());
    req.on('end', () => {
      forwarded = true;
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, method, path, headers: { ...endToEnd(req.headers), host: target.host } },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('error', finish);
          answer.on('end', () => {
            const bytes = Buffer.concat(parts);
            const status = answer.statusCode ?? 0;
            try {
              validator.check(method, path, status, bytes.toString('utf8'), answer.headers['content-type'] ?? null);
              validated++;
              res.writeHead(status, { ...endToEnd(answer.headers), 'content-length': String(bytes.length) });
              res.end(method === 'HEAD' ? undefined : bytes);
            } catch (error) {
              const message = error instanceof Error ? error.message : String(error);
              violations.push(message);
              res.writeHead(502, { 'content-type': 'application/json' });
              res.end(JSON.stringify({ code: 'OpenApiViolation', message }));
            }
            finish();
          });
        },
      );
      upstream.on('error', (error) => {
        // After a complete answer (a coordinator closing early, as on 413) there is nothing to add.
        if (done) return;
        violations.push(`${method} ${path}: the proxy could not reach the coordinator: ${String(error)}`);
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'ProxyError', message: String(error) }));
        finish();
      });
      upstream.end(Buffer.concat(body));
    });
  });
  await listen(server, { port: 0, host: '127.0.0.1' });
  const port = boundPort(server);
  return {
    url: `http://127.0.0.1:${port}`,
    get validated() {
      return validated;
    },
    violations,
    async idle(timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (inFlight > 0) {
        if (Date.now() > deadline) throw new Error(`${inFlight} request(s) still in flight through the validating proxy after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
