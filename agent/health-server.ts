// The node-local health endpoint (127.0.0.1:51680 by default, beside the ECS agent's 51678):
//   GET /healthz  200 while the loop is alive and progressing, 503 otherwise
//   GET /readyz   200 when every matching daemon is RUNNING (and HEALTHY where it has a health check)
//   GET /status   JSON: identity, matched environments, leases, tasks, revisions, restarts, errors
//   GET /metrics  Prometheus text format
import { createServer, type Server } from 'node:http';
import { boundPort, listen as listenOn } from '../core/net.js';
import type { Agent } from './agent.js';

export interface HealthServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: host || '127.0.0.1', port: Number(listen.slice(i + 1)) };
}

export async function startHealthServer(agent: Agent, listen: string): Promise<HealthServer> {
  const { host, port } = parseListen(listen);
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    try {
      if (path === '/healthz' || path === '/readyz') {
        const result = path === '/healthz' ? agent.healthz() : agent.readyz();
        return send(result.ok ? 200 : 503, 'text/plain; charset=utf-8', `${result.ok ? 'ok' : 'not ok'}: ${result.reason}\n`);
      }
      if (path === '/status') return send(200, 'application/json', `${JSON.stringify(agent.status(), null, 2)}\n`);
      if (path === '/metrics') return send(200, 'text/plain; version=0.0.4; charset=utf-8', agent.metrics.render());
      if (path === '/') return send(200, 'text/plain', 'blox-edge agent: /healthz /readyz /status /metrics\n');
      return send(404, 'text/plain', 'not found\n');
    } catch (error) {
      return send(500, 'text/plain', `${String(error)}\n`);
    }
  });
  await listenOn(server, { port, host });
  const boundTo = boundPort(server);
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${boundTo}`,
    port: boundTo,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
