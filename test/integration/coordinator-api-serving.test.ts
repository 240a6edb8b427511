// The coordinator's HTTP API against DynamoDB Local: bad input never yields a 500, and how it serves
// (its OpenAPI document, the web page, request logs, the bearer token). TestApi checks every
// response against coordinator/openapi.json.
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinatorAuth } from '../../coordinator/auth.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import type { TableAccess } from '../../core/store/dynamo.js';
import { dynamoDbEndpoint } from '../support/services.js';
import { createTestTable, TestApi, type TestTable } from './coordinator-support.js';

const endpoint = dynamoDbEndpoint();
const bloxBody = (name: string, cluster = 'alpha', taskDefinition = 'logs:1') => ({ name, instanceGroup: { cluster }, taskDefinition });

describe.skipIf(!endpoint)('coordinator API: bad input and serving (DynamoDB Local)', () => {
  let t: TestTable;
  let api: TestApi;
  beforeAll(async () => {
    t = await createTestTable(endpoint, 'serving');
    api = await TestApi.start({ store: t.store });
  });
  afterAll(async () => {
    await api?.close();
    await t?.dispose();
  });

  describe('bad input never yields a 500', () => {
    it('rejects malformed JSON, unknown fields, bad names and bad expressions with 400 naming the field', async () => {
      const cases: Array<[unknown, string | undefined, string]> = [
        [undefined, '(body)', '{"name": '],
        [undefined, '(body)', ''],
        [[1, 2], '(body)', ''],
        [null, '(body)', ''],
        ['text', '(body)', ''],
        [{ ...bloxBody('x'), colour: 'red' }, 'colour', ''],
        [{ ...bloxBody('x'), instanceGroup: { cluster: 'a', region: 'b' } }, 'instanceGroup.region', ''],
        [bloxBody('bad name'), 'name', ''],
        [bloxBody('x'.repeat(65)), 'name', ''],
        [bloxBody(''), 'name', ''],
        [{ name: 'x', taskDefinition: 'logs:1' }, 'instanceGroup', ''],
        [{ name: 'x', instanceGroup: { cluster: 'a' } }, 'taskDefinition', ''],
        [bloxBody('x', 'a', 'logs:0'), 'taskDefinition', ''],
        [bloxBody('x', 'bad cluster'), 'instanceGroup.cluster', ''],
        [{ ...bloxBody('x'), instanceGroup: { cluster: 'a', expression: 'attribute:ecs.instance-type in [t2.micro' } }, 'instanceGroup.expression', ''],
        [{ ...bloxBody('x'), deploymentConfiguration: { maxUnavailable: '150%' } }, 'deploymentConfiguration.maxUnavailable', ''],
        [{ ...bloxBody('x'), restartPolicy: { multiplier: 'fast' } }, 'restartPolicy.multiplier', ''],
        [{ ...bloxBody('x'), critical: 'yes' }, 'critical', ''],
        [{ ...bloxBody('x'), order: 1e9 }, 'order', ''],
      ];
      for (const [body, field, raw] of cases) {
        const res = await api.call('POST', '/v1/environments', body === undefined ? { raw, headers: { 'content-type': 'application/json' } } : { body });
        expect(res.status, JSON.stringify(body ?? raw)).toBe(400);
        expect(res.body.code).toBe('InvalidInput');
        expect(res.body.field, JSON.stringify(body ?? raw)).toBe(field);
      }
      const expression = await api.call('POST', '/v1/environments', {
        body: { ...bloxBody('x'), instanceGroup: { cluster: 'a', expression: 'attribute:ecs.instance-type in [t2.micro' } },
      });
      expect(expression.body.message).toMatch(/column \d+/);
    });

    it('answers nasty requests with 4xx JSON errors', async () => {
      const nasty: Array<[string, string, Parameters<TestApi['call']>[2], number]> = [
        ['GET', '/v1/environments/%E0%A4%A', {}, 400],
        ['GET', `/v1/environments/${'a'.repeat(5000)}`, {}, 400],
        ['GET', '/v1/environments/..%2F..%2Fetc', {}, 400],
        ['GET', '/v1/environments/%00', {}, 400],
        ['GET', '/v1/environments/%F0%9F%92%A9', {}, 400],
        ['GET', '/v1/environments?colour=red', {}, 400],
        ['GET', '/v1/nothing-here', {}, 404],
        ['GET', '/index.html', {}, 404],
        ['PATCH', '/v1/environments', {}, 405],
        ['DELETE', '/v1/ping', {}, 405],
        [
          'POST',
          '/v1/environments',
          {
            raw: JSON.stringify({ __proto__: { polluted: true }, ...bloxBody('proto') }).replace('{', '{"__proto__":{"x":1},'),
            headers: { 'content-type': 'application/json' },
          },
          400,
        ],
        ['POST', '/v1/environments', { raw: '['.repeat(10_000) + ']'.repeat(10_000), headers: { 'content-type': 'application/json' } }, 400],
        ['POST', '/v1/environments', { raw: Buffer.from([0xff, 0xfe, 0x00, 0x7b]), headers: { 'content-type': 'application/json' } }, 400],
        ['POST', '/v1/environments', { body: { ...bloxBody('x'), taskDefinition: { $gt: '' } } }, 400],
        ['PUT', '/v1/environments/x', { raw: 'null', headers: { 'content-type': 'application/json' } }, 400],
        ['POST', '/v1/environments/x/deployments', { raw: '"token"', headers: { 'content-type': 'application/json' } }, 400],
        ['POST', '/v1/environments/x/deployments?deploymentToken=a&token=b', {}, 400],
        ['POST', '/v1/environments/x/deployments?deploymentToken=a&deploymentToken=a', {}, 400],
      ];
      for (const [method, path, options, status] of nasty) {
        const res = await api.call(method, path, options);
        expect(res.status, `${method} ${path.slice(0, 60)}`).toBe(status);
        expect(res.body.code).toEqual(expect.any(String));
        expect(res.body.requestId).toEqual(expect.any(String));
      }
      expect((await api.call('DELETE', '/v1/ping')).headers.get('allow')).toBe('GET');
    });

    it('answers 503 for previews when ECS is not configured, after validating the input', async () => {
      await api.call('POST', '/v1/environments', { body: bloxBody('no-ecs') });
      const env = await api.call('GET', '/v1/environments/no-ecs/instances');
      expect(env.status).toBe(503);
      expect(env.body.message).toContain('--check-ecs');
      expect((await api.call('GET', '/v1/environments/nope/instances')).status).toBe(404);
      expect((await api.call('GET', '/v1/preview?cluster=a')).status).toBe(503);
      expect((await api.call('GET', '/v1/preview?cluster=a&expression=attribute%3Ax%20%3D%3D')).body.field).toBe('expression');
      expect((await api.call('GET', '/v1/preview?cluster=a%20b')).body.field).toBe('cluster');
    });

    it('refuses bodies over 64 KiB with 413', async () => {
      const res = await api.call('POST', '/v1/environments', { body: { ...bloxBody('big'), padding: 'x'.repeat(70_000) } });
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('PayloadTooLarge');
      expect((await api.call('GET', '/v1/ping')).status).toBe(200);
    });

    it('a 2 MB body gets its 413 every time, read before the answer (no broken pipe for a client still sending)', async () => {
      // Straight to a coordinator of its own (the validating proxy would buffer the body): the store is never reached.
      const never = () => Promise.reject(new Error('the store must not be reached'));
      const own = await TestApi.start({ store: new EnvironmentStore({ table: { get: never, batchGet: never, query: never, transact: never } }) });
      const url = new URL(own.coordinator.url);
      // Python's http.client sends the whole body before it reads the answer, as most clients do; a
      // coordinator that answers and closes while the body is still arriving makes its send fail
      // (BrokenPipeError or ConnectionResetError). Node's own client does not show it.
      const script = [
        'import http.client, json, sys',
        'out = []',
        'for i in range(30):',
        '    try:',
        '        c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]))',
        "        c.request('POST', '/v1/environments', body=b'x' * (2 * 1024 * 1024), headers={'content-type': 'application/json'})",
        '        r = c.getresponse()',
        "        out.append([r.status, json.loads(r.read()).get('code')])",
        '    except Exception as e:',
        '        out.append([0, type(e).__name__])',
        'print(json.dumps(out))',
      ].join('\n');
      const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
        execFile('python3', ['-c', script, url.hostname, url.port], (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );
      await own.close();
      expect(run.stderr).toBe('');
      const outcomes = JSON.parse(run.stdout) as Array<[number, string]>;
      expect(outcomes).toHaveLength(30);
      expect(outcomes.filter(([status]) => status !== 413)).toEqual([]);
      expect(new Set(outcomes.map(([, code]) => code))).toEqual(new Set(['PayloadTooLarge']));
    });

    it('wraps an unexpected failure as 500 Internal with a request id', async () => {
      const failing: TableAccess = {
        get: () => Promise.reject(new Error('disk on fire')),
        batchGet: () => Promise.reject(new Error('disk on fire')),
        query: () => Promise.reject(new Error('disk on fire')),
        transact: () => Promise.reject(new Error('disk on fire')),
      };
      const lines: Record<string, unknown>[] = [];
      const broken = await TestApi.start({ store: new EnvironmentStore({ table: failing }) }, lines);
      try {
        const res = await broken.call('GET', '/v1/environments/x');
        expect(res.status).toBe(500);
        expect(res.body.code).toBe('Internal');
        expect(res.body.message).not.toContain('disk on fire');
        expect(res.body.requestId).toBe(res.headers.get('x-request-id'));
        expect(lines.some((l) => l.requestId === res.body.requestId && String(l.msg).includes('disk on fire'))).toBe(true);
        await broken.expectEveryResponseValidated();
      } finally {
        await broken.close();
      }
    });
  });

  describe('serving', () => {
    it('serves the checked-in OpenAPI document', async () => {
      const res = await api.call('GET', '/v1/openapi.json');
      expect(res.body.openapi).toBe('3.1.0');
      expect(res.body).toEqual(JSON.parse(readFileSync(new URL('../../coordinator/openapi.json', import.meta.url), 'utf8')));
    });

    it('serves the fleet page and its files, with no innerHTML in them', async () => {
      const page = await api.call('GET', '/');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      // The page needs no inline script or style (the browser suite fails on any refusal it logs).
      expect(page.headers.get('content-security-policy')).toBe("default-src 'self'; frame-ancestors 'none'");
      expect(page.text).toContain('<script type="module" src="/ui/app.js"></script>');
      for (const [name, type] of [
        ['app.js', 'text/javascript'],
        ['live.js', 'text/javascript'],
        ['style.css', 'text/css'],
      ]) {
        const file = await api.call('GET', `/ui/${name}`);
        expect(file.status, name).toBe(200);
        expect(file.headers.get('content-type')).toContain(type);
        expect(file.text).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML/);
      }
      const missing = await api.call('GET', '/ui/nothing.js');
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('NotFound');
      expect((await api.call('POST', '/')).status).toBe(405);
    });

    it('logs one pino line per request with method, path, status and ms', async () => {
      await api.call('GET', '/v1/ping?');
      const line = api.logLines.filter((l) => l.path === '/v1/ping').at(-1);
      expect(line).toMatchObject({ method: 'GET', path: '/v1/ping', status: 200, msg: 'request' });
      expect(typeof line?.ms).toBe('number');
    });

    it('needs the bearer token for mutating calls when one is configured', async () => {
      const secured = await TestApi.start({ store: t.store, auth: CoordinatorAuth.fromTokens(['s3cret']) });
      try {
        expect((await secured.call('POST', '/v1/environments', { body: bloxBody('auth-a') })).status).toBe(401);
        const wrong = await secured.call('POST', '/v1/environments', { body: bloxBody('auth-a'), headers: { authorization: 'Bearer nope' } });
        expect(wrong.status).toBe(401);
        expect(wrong.headers.get('www-authenticate')).toContain('Bearer');
        expect((await secured.call('DELETE', '/v1/environments/auth-a')).status).toBe(401);
        const ok = await secured.call('POST', '/v1/environments', { body: bloxBody('auth-a'), headers: { authorization: 'Bearer s3cret' } });
        expect(ok.status).toBe(200);
        expect((await secured.call('GET', '/v1/environments/auth-a')).status).toBe(200);
        await secured.expectEveryResponseValidated();
      } finally {
        await secured.close();
      }
    });
  });

  it('answered every request through a client that checked the response against the OpenAPI document', async () => {
    await api.expectEveryResponseValidated();
  });
});
