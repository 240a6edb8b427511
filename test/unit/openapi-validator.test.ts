// The OpenAPI check the coordinator suites rely on (test/support/openapi.ts), against a stand-in
// server: it must refuse what breaks coordinator/openapi.json, not only pass what keeps it, and the
// client and the proxy must count exactly the responses they checked.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenApiClient, openApiValidator, startValidatingProxy, type ValidatingProxy } from '../support/openapi.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const ping = JSON.stringify({ status: 'ok', version: '1.2.3', auth: { writes: false, reads: false } });

describe('OpenApiValidator', () => {
  const validator = openApiValidator();
  const check =
    (method: string, path: string, status: number, body: string, type: string | null = JSON_TYPE) =>
    () =>
      validator.check(method, path, status, body, type);

  it('passes documented responses', () => {
    expect(check('GET', '/v1/ping', 200, ping)).not.toThrow();
    expect(check('GET', '/v1/ping?x=1', 200, ping)).not.toThrow();
    expect(check('GET', '/v1/environments/nope', 404, JSON.stringify({ code: 'NotFound', message: 'no', requestId: 'r' }))).not.toThrow();
    expect(check('GET', '/v1/nothing-here', 404, JSON.stringify({ code: 'NotFound', message: 'no', requestId: 'r' }))).not.toThrow();
    expect(check('GET', '/', 200, '<html></html>', 'text/html; charset=utf-8')).not.toThrow();
    // the token is checked before routing: a 401 may answer any path and method
    const unauthorized = JSON.stringify({ code: 'Unauthorized', message: 'no', requestId: 'r' });
    expect(check('GET', '/v1/environments', 401, unauthorized)).not.toThrow();
    expect(check('GET', '/v1/stream-or-anything', 401, unauthorized)).not.toThrow();
    expect(check('PATCH', '/v1/ping', 401, unauthorized)).not.toThrow();
  });

  it('refuses bodies off the schema, undocumented paths and methods, and wrong content types', () => {
    expect(check('GET', '/v1/ping', 200, JSON.stringify({ status: 'fine', version: '1' }))).toThrow(
      /GET \/v1\/ping -> 200: body does not match the OpenAPI document/,
    );
    expect(check('GET', '/v1/ping', 200, JSON.stringify({ status: 'ok', version: '1', auth: { writes: false, reads: false }, extra: true }))).toThrow(
      /body does not match/,
    );
    expect(check('GET', '/v1/ping', 200, JSON.stringify({ status: 'ok' }))).toThrow(/body does not match/);
    expect(check('GET', '/v1/ping', 200, JSON.stringify({ status: 'ok', version: '1' }))).toThrow(/body does not match/);
    expect(check('GET', '/v1/ping', 200, '{not json')).toThrow(/body is not JSON/);
    expect(check('GET', '/v1/ping', 200, ping, 'text/plain')).toThrow(/content-type text\/plain is not JSON/);
    expect(check('GET', '/v1/nowhere', 200, ping)).toThrow(/path is not in the OpenAPI document/);
    expect(check('PATCH', '/v1/ping', 200, ping)).toThrow(/method is not in the OpenAPI document/);
    expect(check('GET', '/v1/environments/x', 404, JSON.stringify({ message: 'no code' }))).toThrow(/body does not match/);
    expect(check('GET', '/', 200, '{}', JSON_TYPE)).toThrow(/content-type application\/json; charset=utf-8 is not one of text\/html/);
  });
});

describe('OpenApiClient and the validating proxy', () => {
  // A stand-in coordinator: /v1/ping answers well, /v1/ping?bad=1 breaks the document.
  let server: Server;
  let url = '';
  let served = 0;
  let proxy: ValidatingProxy;
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      served++;
      const bad = req.url?.includes('bad=1');
      res.writeHead(200, { 'content-type': JSON_TYPE, 'x-request-id': 'abc' });
      res.end(bad ? JSON.stringify({ status: 'broken' }) : ping);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    proxy = await startValidatingProxy(url);
  });
  afterAll(async () => {
    await proxy?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('the client counts calls and validated responses, and throws on a response off the document', async () => {
    const client = new OpenApiClient(url);
    const res = await client.call('GET', '/v1/ping');
    expect(res.body).toEqual({ status: 'ok', version: '1.2.3', auth: { writes: false, reads: false } });
    await expect(client.call('GET', '/v1/ping?bad=1')).rejects.toThrow(/GET \/v1\/ping -> 200: body does not match the OpenAPI document/);
    expect([client.calls, client.validated]).toEqual([2, 1]);
  });

  it('the proxy passes a good response through unchanged and answers 502 for a bad one', async () => {
    const before = served;
    const good = await fetch(`${proxy.url}/v1/ping`);
    expect(good.status).toBe(200);
    expect(good.headers.get('x-request-id')).toBe('abc');
    expect(await good.text()).toBe(ping);
    const bad = await fetch(`${proxy.url}/v1/ping?bad=1`);
    expect(bad.status).toBe(502);
    expect(await bad.json()).toMatchObject({ code: 'OpenApiViolation', message: expect.stringMatching(/body does not match/) });
    await proxy.idle();
    expect(served - before).toBe(2);
    expect(proxy.validated).toBe(1);
    expect(proxy.violations).toEqual([expect.stringMatching(/^GET \/v1\/ping -> 200: body does not match/)]);
  });
});
