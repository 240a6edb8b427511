// The coordinator as a thing exposed on a network (issue 12): `blox coordinator` in process against
// DynamoDB Local, spoken to over real HTTP(S). Where it refuses to listen, the bearer tokens from a
// file (rotated without a restart), the environment and argv, tokens for reads, HTTPS with a
// certificate made here by openssl, and the CLI's own --token-file.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinatorAuth } from '../../coordinator/auth.js';
import { EXIT, runCli } from '../../coordinator/cli/cli.js';
import { closeServer, listen } from '../../core/net.js';
import { OpenApiClient, openApiValidator } from '../support/openapi.js';
import { dynamoDbEndpoint, freePort } from '../support/services.js';
import { waitFor } from '../support/wait.js';
import { blox, createTestTable, TestApi, type TestTable } from './coordinator-support.js';

const run = promisify(execFile);
const endpoint = dynamoDbEndpoint();
const newToken = () => randomBytes(24).toString('hex');
const environment = (name: string) => ({ name, instanceGroup: { cluster: 'auth' }, taskDefinition: 'logs:1' });

interface Served {
  url: string;
  /** Everything it wrote: its pino log (stdout) and stderr. */
  output(): string;
  stop(): Promise<number>;
}

describe.skipIf(!endpoint)('coordinator auth and TLS (DynamoDB Local)', () => {
  let t: TestTable;
  let dir: string;
  beforeAll(async () => {
    t = await createTestTable(endpoint, 'auth');
    dir = mkdtempSync(join(tmpdir(), 'blox-auth-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.dispose();
  });

  /** `blox coordinator ARGV` in process with only `env` as its environment; resolves once it listens or once it exits (`code`). */
  const coordinator = async (argv: string[], env: Record<string, string> = {}): Promise<Served & { code?: number }> => {
    const stop = new AbortController();
    let output = '';
    let url = '';
    const done = runCli(['coordinator', ...argv, '--table', t.tableName, '--dynamodb-endpoint', endpoint], {
      stdout: (text) => (output += text),
      stderr: (text) => (output += text),
      env,
      signal: stop.signal,
      onListening: (u) => (url = u),
    });
    let code: number | undefined;
    void done.then((c) => (code = c));
    await waitFor(
      'the coordinator to listen or exit',
      15_000,
      () => url !== '' || code !== undefined,
      20,
      () => output,
    );
    return {
      url,
      ...(code !== undefined ? { code } : {}),
      output: () => output,
      stop: async () => {
        stop.abort();
        return done;
      },
    };
  };
  const start = async (argv: string[], env: Record<string, string> = {}): Promise<Served> => {
    const served = await coordinator(argv, env);
    expect(served.code, `it exited instead of listening:\n${served.output()}`).toBeUndefined();
    return served;
  };
  const refused = async (argv: string[], env: Record<string, string> = {}): Promise<string> => {
    const served = await coordinator(argv, env);
    if (served.code === undefined) await served.stop();
    expect(served.url, 'it listened').toBe('');
    expect(served.code).toBe(EXIT.usage);
    return served.output();
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const tokenFile = (name: string, ...lines: string[]): string => {
    const path = join(dir, name);
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  };

  describe('where it listens', () => {
    it('refuses a non-loopback address without tokens, saying what to do, and binds nothing', async () => {
      const port = await freePort();
      for (const listenOn of [`0.0.0.0:${port}`, `[::]:${port}`]) {
        const output = await refused(['--listen', listenOn]);
        expect(output).toMatch(/blox: --listen: refusing to listen on (0\.0\.0\.0|\[::\]):\d+ without authentication/);
        expect(output).toMatch(/--token-file FILE/);
        expect(output).toMatch(/--insecure-no-auth/);
      }
      // the port is still free: the refusal came before the bind
      const probe = createServer();
      await listen(probe, { port, host: '0.0.0.0' });
      await closeServer(probe);
    });

    it('starts there with --insecure-no-auth (and says so in its log), or with tokens (warning about plain HTTP)', async () => {
      const port = await freePort();
      const open = await start(['--listen', `0.0.0.0:${port}`, '--insecure-no-auth']);
      try {
        expect(open.url).toBe(`http://0.0.0.0:${port}`);
        const ping = await new OpenApiClient(`http://127.0.0.1:${port}`).call('GET', '/v1/ping');
        expect(ping.body.auth).toEqual({ writes: false, reads: false });
        expect(open.output()).toMatch(/"level":40,.*without authentication \(--insecure-no-auth\)/);
      } finally {
        expect(await open.stop()).toBe(EXIT.ok);
      }
      const token = newToken();
      const secured = await start(['--listen', `0.0.0.0:${port}`, '--token-file', tokenFile('exposed', token)]);
      try {
        expect(secured.output()).toMatch(/without TLS: bearer tokens cross the network in clear text/);
        expect(secured.output()).not.toContain(token);
      } finally {
        await secured.stop();
      }
    });

    it('a loopback name needs no token; contradictory or incomplete options are refused', async () => {
      const local = await start(['--listen', `localhost:${await freePort()}`]);
      await local.stop();
      const token = newToken();
      expect(await refused(['--listen', `0.0.0.0:${await freePort()}`, '--insecure-no-auth'], { BLOX_COORDINATOR_TOKENS: token })).toMatch(
        /--insecure-no-auth: contradicts the tokens given/,
      );
      expect(await refused(['--listen', `127.0.0.1:${await freePort()}`, '--require-token-for-reads'])).toMatch(/--require-token-for-reads: needs tokens/);
      expect(await refused(['--listen', `127.0.0.1:${await freePort()}`, '--token-file', tokenFile('comments-only', '# none yet', '')])).toMatch(
        /--token-file: .*comments-only holds no token/,
      );
      expect(await refused(['--listen', `127.0.0.1:${await freePort()}`, '--token-file', join(dir, 'missing')])).toMatch(/cannot be read: ENOENT/);
    });
  });

  describe('tokens', () => {
    it('a wrong, missing or rotated-out token is 401; a token added to the file works without a restart', async () => {
      const [first, second] = [newToken(), newToken()];
      const file = tokenFile('rotating', '# the coordinator tokens', '', first);
      const served = await start(['--listen', `127.0.0.1:${await freePort()}`, '--token-file', file]);
      const api = new OpenApiClient(served.url);
      const create = (name: string, headers: Record<string, string> = {}) => api.call('POST', '/v1/environments', { body: environment(name), headers });
      try {
        expect((await api.call('GET', '/v1/ping')).body.auth).toEqual({ writes: true, reads: false });
        const missing = await create('rot-a');
        expect(missing.status).toBe(401);
        expect(missing.body).toMatchObject({ code: 'Unauthorized', message: expect.stringMatching(/Authorization: Bearer <token>/) });
        expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="blox"');
        expect((await create('rot-a', bearer(second))).status).toBe(401);
        expect((await create('rot-a', { authorization: first })).status, 'a token without the Bearer scheme').toBe(401);
        expect((await create('rot-a', bearer(first))).status).toBe(200);
        expect((await api.call('GET', '/v1/environments/rot-a')).status, 'reads stay open').toBe(200);

        // rotation: add the new token, move clients, remove the old one; no restart
        tokenFile('rotating', first, second);
        await waitFor('the second token to be accepted', 10_000, async () => (await create(`rot-b${Date.now()}`, bearer(second))).status === 200, 200);
        expect((await create('rot-c', bearer(first))).status, 'both are valid during the rotation').toBe(200);
        tokenFile('rotating', '# rotated', second);
        await waitFor('the first token to be refused', 10_000, async () => (await create(`rot-d${Date.now()}`, bearer(first))).status === 401, 200);
        const old = await create('rot-e', bearer(first));
        expect(old.body).toMatchObject({ code: 'Unauthorized', message: 'the bearer token is not valid' });
        expect((await create('rot-e', bearer(second))).status).toBe(200);

        // a token file that becomes unreadable keeps the last good tokens
        rmSync(file);
        await waitFor('the log to say the file was not re-read', 10_000, () => served.output().includes('token file not re-read'), 100);
        expect((await create('rot-f', bearer(second))).status).toBe(200);
        expect(api.calls).toBe(api.validated);
      } finally {
        await served.stop();
      }
      expect(served.output()).toMatch(/"msg":"token file re-read"/);
      expect(served.output()).not.toContain(first);
      expect(served.output()).not.toContain(second);
    });

    it('--require-token-for-reads: every GET under /v1/ needs one, streams and unknown paths too; ping and the page do not', async () => {
      const [one, two] = [newToken(), newToken()];
      const served = await start(['--listen', `127.0.0.1:${await freePort()}`, '--require-token-for-reads'], { BLOX_COORDINATOR_TOKENS: `${one},\n${two}` });
      const api = new OpenApiClient(served.url);
      try {
        const ping = await api.call('GET', '/v1/ping');
        expect(ping.status).toBe(200);
        expect(ping.body.auth).toEqual({ writes: true, reads: true });
        for (const path of ['/', '/ui/app.js', '/v1/openapi.json']) expect((await api.call('GET', path)).status, path).toBe(200);
        const reads = [
          '/v1/environments',
          '/v1/environments/x',
          '/v1/environments/x/revisions',
          '/v1/environments/x/deployments',
          '/v1/instances?cluster=auth',
          '/v1/tasks',
          '/v1/preview?cluster=auth',
          '/v1/stream/instances',
          '/v1/stream/tasks',
          '/v1/stream/deployments',
          '/v1/no-such-route',
        ];
        for (const path of reads) {
          const refusedRead = await api.call('GET', path);
          expect(refusedRead.status, path).toBe(401);
          expect(refusedRead.body.message, path).toMatch(/requires a token for reads too/);
          expect((await api.call('GET', path, { headers: bearer('wrong') })).status, path).toBe(401);
        }
        expect((await fetch(`${served.url}/v1/environments`, { method: 'HEAD' })).status).toBe(401);
        const listed = await api.call('GET', '/v1/environments', { headers: bearer(two) });
        expect(listed.status).toBe(200);
        expect(listed.body.items).toEqual(expect.any(Array));
        expect((await api.call('GET', '/v1/instances', { headers: bearer(one) })).status).toBe(200);
        // A stream with the token: the live feed (its table has a stream), not a 401.
        const stream = await fetch(`${served.url}/v1/stream/instances`, { headers: bearer(one) });
        expect(stream.status).toBe(200);
        expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
        await stream.body?.cancel();
        expect((await api.call('POST', '/v1/environments', { body: environment('reads-a') })).status).toBe(401);
        expect((await api.call('POST', '/v1/environments', { body: environment('reads-a'), headers: bearer(one) })).status).toBe(200);
        expect(api.calls).toBe(api.validated);
      } finally {
        await served.stop();
      }
      expect(served.output()).not.toContain(one);
    });

    it('--token on argv and BLOX_COORDINATOR_TOKEN still work; argv draws a warning; no token reaches the log', async () => {
      const [argv, single] = [newToken(), newToken()];
      const served = await start(['--listen', `127.0.0.1:${await freePort()}`, '--token', argv], { BLOX_COORDINATOR_TOKEN: single });
      const api = new OpenApiClient(served.url);
      try {
        for (const token of [argv, single])
          expect((await api.call('POST', '/v1/environments', { body: environment(`argv-${token.slice(0, 6)}`), headers: bearer(token) })).status).toBe(200);
        expect((await api.call('DELETE', '/v1/environments/nothing')).status).toBe(401);
      } finally {
        await served.stop();
      }
      expect(served.output()).toMatch(/--token puts the token on the command line, where every user of this machine can read it \(ps, \/proc\)/);
      expect(served.output()).not.toContain(argv);
      expect(served.output()).not.toContain(single);
    });
  });

  describe('TLS', () => {
    /** A self-signed certificate for 127.0.0.1 and localhost, made now (no key material is committed). */
    const makeCertificate = async (name: string) => {
      const cert = join(dir, `${name}.crt`);
      const key = join(dir, `${name}.key`);
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        key,
        '-out',
        cert,
      ]);
      return { cert, key };
    };
    const get = (url: string, ca: string) =>
      new Promise<{ status: number; body: string; type: string | undefined; fingerprint: string }>((resolve, reject) => {
        const request = httpsGet(url, { ca, agent: false }, (res) => {
          const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'], fingerprint }));
        });
        request.on('error', reject);
      });

    it('serves HTTPS with --tls-cert and --tls-key: curl and node trust it with the CA, nothing else does; a renewed certificate is served without a restart', async () => {
      const first = await makeCertificate('blox-first');
      const port = await freePort();
      const served = await start(['--listen', `127.0.0.1:${port}`, '--tls-cert', first.cert, '--tls-key', first.key]);
      try {
        expect(served.url).toBe(`https://127.0.0.1:${port}`);
        const ca = readFileSync(first.cert, 'utf8');
        const ping = await get(`${served.url}/v1/ping`, ca);
        expect(ping.status).toBe(200);
        openApiValidator().check('GET', '/v1/ping', ping.status, ping.body, ping.type ?? null);
        expect(JSON.parse(ping.body)).toMatchObject({ status: 'ok', auth: { writes: false, reads: false } });
        const curl = await run('curl', ['--silent', '--show-error', '--fail', '--cacert', first.cert, `${served.url}/v1/environments`]);
        expect(JSON.parse(curl.stdout)).toMatchObject({ items: expect.any(Array) });
        // the blox CLI (its own process: Node reads NODE_EXTRA_CA_CERTS at start) trusts it with the CA, and only then
        const cli = [process.execPath, ['--import', 'tsx', 'coordinator/cli/main.ts', 'env', 'list', '-o', 'json', '--endpoint', served.url]] as const;
        const trusted = await run(cli[0], cli[1], { env: { ...process.env, NODE_EXTRA_CA_CERTS: first.cert } });
        expect(JSON.parse(trusted.stdout)).toMatchObject({ items: expect.any(Array) });
        const untrusted = await run(cli[0], cli[1], { env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } }).catch(
          (error: { code: number; stderr: string }) => error,
        );
        expect(untrusted).toMatchObject({
          code: EXIT.unreachable,
          stderr: expect.stringMatching(/SELF_SIGNED_CERT.*not trusted here: for a private CA set NODE_EXTRA_CA_CERTS=ca\.pem/),
        });
        // without the CA the certificate is not trusted; plain HTTP gets no answer
        await expect(run('curl', ['--silent', '--show-error', `${served.url}/v1/ping`])).rejects.toMatchObject({ code: 60 });
        await expect(fetch(`http://127.0.0.1:${port}/v1/ping`)).rejects.toThrow();

        const renewed = await makeCertificate('blox-renewed');
        copyFileSync(renewed.key, first.key);
        copyFileSync(renewed.cert, first.cert);
        const newCa = readFileSync(renewed.cert, 'utf8');
        const now = await waitFor(
          'the renewed certificate to be served',
          10_000,
          async () => {
            const answer = await get(`${served.url}/v1/ping`, newCa);
            return answer.fingerprint !== ping.fingerprint && answer;
          },
          200,
        );
        expect(now.status).toBe(200);
      } finally {
        await served.stop();
      }
    });

    it('refuses half a TLS configuration, unreadable files and a key that is not the certificate’s', async () => {
      const { cert, key } = await makeCertificate('blox-refused');
      const other = await makeCertificate('blox-other');
      const listenArgs = ['--listen', `127.0.0.1:${await freePort()}`];
      expect(await refused([...listenArgs, '--tls-cert', cert])).toMatch(/blox: --tls-cert: needs --tls-key FILE too/);
      expect(await refused([...listenArgs, '--tls-key', key])).toMatch(/blox: --tls-key: needs --tls-cert FILE too/);
      expect(await refused([...listenArgs, '--tls-cert', cert, '--tls-key', join(dir, 'absent.key')])).toMatch(
        /--tls-key: .*absent\.key cannot be read: ENOENT/,
      );
      expect(await refused([...listenArgs, '--tls-cert', cert, '--tls-key', other.key])).toMatch(
        /--tls-cert: .* are not a PEM certificate and its private key/,
      );
      expect(await refused([...listenArgs, '--tls-cert', tokenFile('not-pem', 'hello'), '--tls-key', key])).toMatch(/are not a PEM certificate/);
    });
  });

  describe('the CLI as a client', () => {
    it('reads its token from --token-file or BLOX_TOKEN_FILE, not only --token', async () => {
      const token = newToken();
      const api = await TestApi.start({ store: t.store, auth: CoordinatorAuth.fromTokens([token], { requireForReads: true }) });
      try {
        const list = ['env', 'list', '--endpoint', api.url];
        const mine = tokenFile('client', '# my token', token);
        expect((await blox([...list, '--token-file', mine])).code).toBe(EXIT.ok);
        expect((await blox(list, { BLOX_TOKEN_FILE: mine })).code).toBe(EXIT.ok);
        expect((await blox([...list, '--token-file', mine], { BLOX_TOKEN: 'ignored-for-the-flag' })).code).toBe(EXIT.ok);
        const wrong = await blox([...list, '--token-file', tokenFile('client-wrong', newToken())]);
        expect(wrong.code).toBe(EXIT.unauthorized);
        expect(wrong.stderr).toMatch(/the bearer token is not valid/);
        expect((await blox(list)).code).toBe(EXIT.unauthorized);
        const missing = await blox([...list, '--token-file', join(dir, 'no-such-file')]);
        expect(missing.code).toBe(EXIT.usage);
        expect(missing.stderr).toMatch(/--token-file .*no-such-file cannot be read: ENOENT/);
        expect((await blox([...list, '--token-file', tokenFile('client-empty', '# empty')])).stderr).toMatch(/holds no token/);
        expect((await blox([...list, '--token-file', mine, '--token', token])).stderr).toMatch(/give --token or --token-file, not both/);
        await api.expectEveryResponseValidated();
      } finally {
        await api.close();
      }
    });
  });
});
