// A counting HTTP proxy in front of DynamoDB Local: every request is counted by operation (from
// X-Amz-Target) and by the kind of item it touches (from the key in the request), and its
// capacity is taken from the answer. The proxy asks for it by adding ReturnConsumedCapacity=TOTAL
// to requests that do not ask themselves (DynamoDB Local computes capacity as DynamoDB does and
// does not check request signatures); answers pass through byte for byte, so the SDK's CRC32
// check of the body still holds and the client sees nothing but an extra ConsumedCapacity member.
import { createServer, request as httpRequest, Agent, type IncomingHttpHeaders, type Server } from 'node:http';
import { boundPort, listen } from '../../core/net.js';

export interface MeterCounts {
  /** Requests by operation, e.g. GetItem. */
  requests: Record<string, number>;
  /** Requests by operation and item kind, e.g. "GetItem MARKER", "UpdateItem LEASE". */
  byKind: Record<string, number>;
  /** Answers that were errors (HTTP status >= 400), by operation and error type. */
  errors: Record<string, number>;
  readUnits: number;
  writeUnits: number;
  /** Capacity by "operation kind". */
  unitsByKind: Record<string, number>;
  /** Requests whose answer carried no ConsumedCapacity (their units are unknown, not zero). */
  unmetered: number;
}

/** One request through the meter, with performance.now() times of its arrival and of its answer. */
export interface MeteredExchange {
  operation: string;
  kind: string;
  status: number;
  receivedAt: number;
  answeredAt: number;
}

export interface DynamoMeter {
  readonly url: string;
  /** Every exchange once answered; returns the unsubscribe function. */
  onExchange(listener: (exchange: MeteredExchange) => void): () => void;
  counts(): MeterCounts;
  reset(): void;
  close(): Promise<void>;
}

const READ_OPS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const METERED_OPS = new Set([
  'GetItem',
  'BatchGetItem',
  'Query',
  'Scan',
  'TransactGetItems',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);

/** MARKER, ENV, INSTANCE, LEASE, REV, ... from an item's sort key (see core/keys.ts). */
function kindOfKey(key: unknown): string {
  const sk = (key as { sk?: { S?: string } } | undefined)?.sk?.S;
  if (!sk) return '?';
  const hash = sk.indexOf('#');
  return hash >= 0 ? sk.slice(0, hash) : sk;
}

function kindOf(operation: string, body: Record<string, unknown>): string {
  if (operation === 'GetItem' || operation === 'UpdateItem' || operation === 'DeleteItem') return kindOfKey(body.Key);
  if (operation === 'PutItem') return kindOfKey(body.Item);
  if (operation === 'Query') {
    const values = body.ExpressionAttributeValues as Record<string, { S?: string }> | undefined;
    const prefixes = Object.values(values ?? {})
      .map((v) => v.S ?? '')
      .filter((s) => !s.includes('CLUSTER#') && s.endsWith('#'));
    return prefixes.length ? prefixes.map((p) => p.slice(0, -1)).join(',') : 'partition';
  }
  if (operation === 'BatchGetItem') {
    const request = body.RequestItems as Record<string, { Keys?: unknown[] }> | undefined;
    const kinds = new Set<string>();
    for (const table of Object.values(request ?? {})) for (const key of table.Keys ?? []) kinds.add(kindOfKey(key));
    return [...kinds].sort().join(',') || '?';
  }
  return '';
}

function capacityOf(answer: unknown): number | undefined {
  const consumed = (answer as { ConsumedCapacity?: unknown } | undefined)?.ConsumedCapacity;
  if (consumed === undefined) return undefined;
  const list = Array.isArray(consumed) ? consumed : [consumed];
  let total = 0;
  for (const c of list) total += Number((c as { CapacityUnits?: number }).CapacityUnits ?? 0);
  return total;
}

const bump = (record: Record<string, number>, key: string, by = 1): void => {
  record[key] = (record[key] ?? 0) + by;
};

export async function startDynamoMeter(upstreamUrl: string): Promise<DynamoMeter> {
  const upstream = new URL(upstreamUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let counts: MeterCounts;
  const reset = (): void => {
    counts = { requests: {}, byKind: {}, errors: {}, readUnits: 0, writeUnits: 0, unitsByKind: {}, unmetered: 0 };
  };
  reset();

  const listeners = new Set<(exchange: MeteredExchange) => void>();
  const server: Server = createServer((req, res) => {
    const receivedAt = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.slice(target.lastIndexOf('.') + 1) || '(none)';
      let kind = '';
      if (METERED_OPS.has(operation)) {
        try {
          const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
          kind = kindOf(operation, parsed);
          if (parsed.ReturnConsumedCapacity === undefined || parsed.ReturnConsumedCapacity === 'NONE') {
            parsed.ReturnConsumedCapacity = 'TOTAL';
            body = Buffer.from(JSON.stringify(parsed), 'utf8');
          }
        } catch {
          // not JSON: forwarded as it came
        }
      }
      const label = kind ? `${operation} ${kind}` : operation;
      bump(counts.requests, operation);
      bump(counts.byKind, label);
      const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host, 'content-length': String(body.length) };
      const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (c: Buffer) => parts.push(c));
        answer.on('end', () => {
          const text = Buffer.concat(parts);
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(text);
          const exchange = { operation, kind, status: answer.statusCode ?? 502, receivedAt, answeredAt: performance.now() };
          for (const listener of listeners) listener(exchange);
          if (!METERED_OPS.has(operation)) return;
          let parsed: unknown;
          try {
            parsed = JSON.parse(text.toString('utf8'));
          } catch {
            parsed = undefined;
          }
          if ((answer.statusCode ?? 500) >= 400) {
            const type = String((parsed as { __type?: string } | undefined)?.__type ?? answer.statusCode).replace(/^.*#/, '');
            bump(counts.errors, `${operation} ${type}`);
          }
          const units = capacityOf(parsed);
          if (units === undefined) {
            if ((answer.statusCode ?? 500) < 400) counts.unmetered++;
            return;
          }
          if (READ_OPS.has(operation)) counts.readUnits += units;
          else counts.writeUnits += units;
          bump(counts.unitsByKind, label, units);
        });
        answer.on('error', () => res.destroy());
      });
      forward.on('error', (error) => {
        bump(counts.errors, `${operation} proxy:${(error as NodeJS.ErrnoException).code ?? 'error'}`);
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(error));
      });
      forward.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await listen(server, { port: 0, host: '127.0.0.1' });
  const port = boundPort(server);
  return {
    url: `http://127.0.0.1:${port}`,
    onExchange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    counts: () => JSON.parse(JSON.stringify(counts)) as MeterCounts,
    reset,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
