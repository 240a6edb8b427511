// The coordinator's door (coordinator/auth.ts, core/net.ts): token files and lists, which requests
// need a token, the check, where the coordinator may listen without one, and a stream cut when its
// token is rotated out and changes sent by another site's page refused (a real coordinator on
// loopback with scripted feeds and store).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { checkExposure, CoordinatorAuth, parseToken, parseTokenFile, parseTokenList, tokenNeeded } from '../../coordinator/auth.js';
import { isLoopbackAddress, listensOnLoopback } from '../../core/net.js';
import { BloxError } from '../../core/errors.js';
import type { EnvironmentStore } from '../../core/store/environments.js';
import type { ChangeSource } from '../../coordinator/streams/changes.js';
import { LiveFeeds } from '../../coordinator/streams/feeds.js';
import { startCoordinator } from '../../coordinator/server.js';

const open = { writes: false, reads: false };
const writes = { writes: true, reads: false };
const both = { writes: true, reads: true };

describe('token sources', () => {
  it('a token file has one token a line; blank and # lines are ignored; a bad line is named by number, never shown', () => {
    expect(parseTokenFile('# rotated 2026-01\n\n  alpha-token  \r\nbeta#not-a-comment\n', 'f')).toEqual(['alpha-token', 'beta#not-a-comment']);
    expect(parseTokenFile('# nothing yet\n\n', 'f')).toEqual([]);
    const bad = () => parseTokenFile('good\nsecret with spaces\n', '--token-file x');
    expect(bad).toThrow(/--token-file x: line 2 is not a token/);
    expect(bad).not.toThrow(/secret/);
    expect(() => parseTokenFile(`${'x'.repeat(1025)}\n`, 'f')).toThrow(/line 1/);
    expect(() => parseTokenFile('töken\n', 'f')).toThrow(/line 1/);
  });

  it('a token list is comma or newline separated; one token is one token', () => {
    expect(parseTokenList(' a1,b2\nc3,,\n', 'L')).toEqual(['a1', 'b2', 'c3']);
    expect(parseTokenList('', 'L')).toEqual([]);
    expect(() => parseTokenList('a1, two words', 'BLOX_COORDINATOR_TOKENS')).toThrow(/BLOX_COORDINATOR_TOKENS: entry 2 is not a token/);
    expect(parseToken('  x,y  ', 'T')).toEqual(['x,y']);
    expect(parseToken('  ', 'T')).toEqual([]);
    expect(() => parseToken('a b', 'BLOX_COORDINATOR_TOKEN')).toThrow(/BLOX_COORDINATOR_TOKEN: is not a token/);
  });

  it('refuses --require-token-for-reads without tokens, and an unreadable or empty token file', () => {
    expect(() => CoordinatorAuth.load({ requireForReads: true })).toThrow(/--require-token-for-reads: needs tokens: give --token-file FILE/);
    expect(() => CoordinatorAuth.load({ file: '/nonexistent/blox-tokens' })).toThrow(/--token-file: \/nonexistent\/blox-tokens cannot be read: ENOENT/);
    expect(CoordinatorAuth.load({}).mode).toEqual(open);
    expect(CoordinatorAuth.load({ environment: ['e1'], argv: ' a1 ' }).mode).toEqual(writes);
    expect(CoordinatorAuth.load({ environment: ['e1'], requireForReads: true }).mode).toEqual(both);
  });
});

describe('which requests need a token', () => {
  it('changes need one when tokens are configured; reads only when required; ping, the API document and the page never', () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      expect(tokenNeeded(method, '/v1/environments', open)).toBe(false);
      expect(tokenNeeded(method, '/v1/environments', writes)).toBe(true);
      expect(tokenNeeded(method, '/', writes), 'a change to a page path is still a change').toBe(true);
    }
    for (const method of ['GET', 'HEAD']) {
      for (const path of ['/v1/environments', '/v1/environments/a/deployments', '/v1/instances', '/v1/tasks', '/v1/stream/instances', '/v1/anything-new']) {
        expect(tokenNeeded(method, path, writes), path).toBe(false);
        expect(tokenNeeded(method, path, both), path).toBe(true);
      }
      for (const path of ['/v1/ping', '/v1/openapi.json', '/', '/ui.js', '/ui/app.css', '/favicon.ico'])
        expect(tokenNeeded(method, path, both), path).toBe(false);
    }
  });

  it('check: missing, malformed, wrong and right tokens; several valid at once', () => {
    const auth = CoordinatorAuth.fromTokens(['old-token', 'new-token'], { requireForReads: true });
    const refusal = (header: string | undefined, method = 'POST') => {
      try {
        auth.check(method, '/v1/environments', header);
        return undefined;
      } catch (error) {
        expect(error).toBeInstanceOf(BloxError);
        expect((error as BloxError).code).toBe('Unauthorized');
        return (error as BloxError).message;
      }
    };
    expect(refusal(undefined)).toMatch(/this call changes state: send an Authorization: Bearer <token> header/);
    expect(refusal(undefined, 'GET')).toMatch(/requires a token for reads too/);
    expect(refusal('Basic b2xkLXRva2Vu')).toMatch(/send an Authorization/);
    expect(refusal('Bearer')).toMatch(/send an Authorization/);
    expect(refusal('Bearer old-token extra')).toMatch(/send an Authorization/);
    expect(refusal('Bearer old-tokenX')).toBe('the bearer token is not valid');
    expect(refusal('Bearer old-toke')).toBe('the bearer token is not valid');
    expect(refusal('Bearer old-token')).toBeUndefined();
    expect(refusal('bearer   new-token ')).toBeUndefined();
    expect(refusal('Bearer new-token', 'GET')).toBeUndefined();
    expect(() => auth.check('GET', '/v1/ping', undefined)).not.toThrow();
  });
});

describe('where the coordinator may listen without a token', () => {
  it('classifies addresses: 127/8, ::1 in any spelling and mapped 127/8 are loopback; unspecified and others are not', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::FFFF:7f00:1'])
      expect(isLoopbackAddress(address), address).toBe(true);
    for (const address of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', 'fe80::1', '::2', 'localhost', ''])
      expect(isLoopbackAddress(address), address).toBe(false);
  });

  it('a name is loopback only when every address it resolves to is; one that does not resolve is not', async () => {
    const lookup = (answers: Record<string, string[]>) => async (host: string) => {
      const found = answers[host];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return found;
    };
    const names = lookup({ localhost: ['127.0.0.1', '::1'], mixed: ['127.0.0.1', '192.0.2.7'], empty: [] });
    expect(await listensOnLoopback('localhost', names)).toBe(true);
    expect(await listensOnLoopback('mixed', names)).toBe(false);
    expect(await listensOnLoopback('empty', names)).toBe(false);
    expect(await listensOnLoopback('nowhere.invalid', names)).toBe(false);
    expect(await listensOnLoopback('::1', names)).toBe(true);
    expect(await listensOnLoopback('0.0.0.0', names)).toBe(false);
  });

  it('refuses a non-loopback address without tokens, saying what to do; warns with --insecure-no-auth and without TLS', async () => {
    const none = async () => {
      throw new Error('no DNS in this test');
    };
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'coordinator.example'])
      await expect(checkExposure({ host, port: 7070, auth: open, tls: false }, none)).rejects.toThrow(
        /--listen: refusing to listen on .*7070 without authentication: .*--token-file FILE.*127\.0\.0\.1.*--insecure-no-auth/,
      );
    await expect(checkExposure({ host: '::', port: 7070, auth: open, tls: false }, none)).rejects.toThrow(/on \[::\]:7070/);
    expect(await checkExposure({ host: '127.0.0.1', port: 7070, auth: open, tls: false }, none)).toEqual([]);
    expect(await checkExposure({ host: '0.0.0.0', port: 7070, auth: open, tls: false, insecureNoAuth: true }, none)).toEqual([
      expect.stringMatching(/without authentication \(--insecure-no-auth\)/),
    ]);
    expect(await checkExposure({ host: '0.0.0.0', port: 7070, auth: writes, tls: false }, none)).toEqual([expect.stringMatching(/without TLS: bearer tokens/)]);
    expect(await checkExposure({ host: '0.0.0.0', port: 7070, auth: writes, tls: true }, none)).toEqual([]);
    await expect(checkExposure({ host: '127.0.0.1', port: 7070, auth: writes, tls: false, insecureNoAuth: true }, none)).rejects.toThrow(
      /--insecure-no-auth: contradicts the tokens given/,
    );
  });
});

describe('a stream and token rotation', () => {
  it('a stream opened with a token is cut once the token file no longer holds it; one with a kept token runs on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'blox-auth-'));
    const file = join(dir, 'tokens');
    writeFileSync(file, 'old-token-0123456789\nkept-token-0123456789\n');
    const auth = CoordinatorAuth.load({ file, requireForReads: true }, { watchIntervalMs: 20 });
    const source: ChangeSource = { unavailable: undefined, start: async () => undefined, close: async () => undefined };
    const store = { listInstances: async () => ({ items: [] }) } as unknown as EnvironmentStore;
    const streams = await LiveFeeds.start({ source, store, logger: pino({ level: 'silent' }) });
    const running = await startCoordinator({ store, streams, auth, listen: '127.0.0.1:0', logger: pino({ level: 'silent' }) });
    const open = async (token: string) => {
      const response = await fetch(`${running.url}/v1/stream/instances`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      await reader.read(); // the stream has begun
      let ended = false;
      const reading = (async () => {
        try {
          while (!(await reader.read()).done);
        } catch {
          // cut
        }
        ended = true;
      })();
      return { ended: () => ended, reading, cancel: () => reader.cancel().catch(() => undefined) };
    };
    try {
      const old = await open('old-token-0123456789');
      const kept = await open('kept-token-0123456789');
      writeFileSync(file, 'kept-token-0123456789\n');
      const deadline = Date.now() + 3_000;
      while (!old.ended() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(old.ended()).toBe(true);
      expect(kept.ended()).toBe(false);
      expect((await fetch(`${running.url}/v1/stream/instances`, { headers: { authorization: 'Bearer old-token-0123456789' } })).status).toBe(401);
      await kept.cancel();
    } finally {
      await running.close(100);
      auth.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('changes sent by another site', () => {
  it("refuses a change a browser sends from another site's page (no preflight is needed for it); same-origin pages and non-browser clients pass", async () => {
    const created: unknown[] = [];
    const store = {
      createEnvironment: async (input: { name: string }) => {
        created.push(input.name);
        return { name: input.name };
      },
    } as unknown as EnvironmentStore;
    const running = await startCoordinator({ store, listen: '127.0.0.1:0', logger: pino({ level: 'silent' }) });
    const host = new URL(running.url).host;
    const create = (name: string, headers: Record<string, string>) =>
      fetch(`${running.url}/v1/environments`, {
        method: 'POST',
        // text/plain: what a form or a no-cors fetch of another site may send without a preflight.
        headers: { 'content-type': 'text/plain', ...headers },
        body: JSON.stringify({ name, taskDefinition: 'logs:1', instanceGroup: { cluster: 'c' } }),
      });
    try {
      const crossSite = await create('evil-a', { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' });
      expect(crossSite.status).toBe(401);
      expect(((await crossSite.json()) as { message: string }).message).toMatch(/another site's page is refused/);
      expect((await create('evil-b', { 'sec-fetch-site': 'same-site' })).status).toBe(401);
      // An older browser says only where the page is.
      expect((await create('evil-c', { origin: 'https://evil.example' })).status).toBe(401);
      expect((await create('evil-d', { origin: 'null' })).status).toBe(401);
      // The coordinator's own page, and clients that are not browsers (the CLI, curl).
      expect((await create('page', { 'sec-fetch-site': 'same-origin', origin: `http://${host}` })).status).toBe(200);
      expect((await create('old-page', { origin: `http://${host}` })).status).toBe(200);
      expect((await create('cli', {})).status).toBe(200);
      expect(created).toEqual(['page', 'old-page', 'cli']);
    } finally {
      await running.close(100);
    }
  });
});

describe('a coordinator on loopback without tokens and the Host it is asked for', () => {
  const get = (url: string, host: string) =>
    new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${url}/v1/environments`, { headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      request.on('error', reject);
      request.end();
    });

  it('serves only requests for this machine by name (a rebound DNS name is refused); with tokens or --insecure-no-auth any name', async () => {
    const store = { listEnvironments: async () => ({ items: [] }) } as unknown as EnvironmentStore;
    const silent = pino({ level: 'silent' });
    const open = await startCoordinator({ store, listen: '127.0.0.1:0', logger: silent });
    const tokens = await startCoordinator({ store, listen: '127.0.0.1:0', logger: silent, auth: CoordinatorAuth.fromTokens(['t-0123456789abcdef']) });
    const fronted = await startCoordinator({ store, listen: '127.0.0.1:0', logger: silent, insecureNoAuth: true });
    try {
      const port = new URL(open.url).port;
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `127.1:${port}`, 'app.localhost'])
        expect(await get(open.url, host)).toBe(200);
      for (const host of [`rebound.example:${port}`, `10.0.0.5:${port}`, `localhost.example:${port}`]) expect(await get(open.url, host)).toBe(400);
      expect(await get(tokens.url, `rebound.example:${port}`)).toBe(200);
      expect(await get(fronted.url, `coordinator.internal.example`)).toBe(200);
    } finally {
      await Promise.all([open.close(100), tokens.close(100), fronted.close(100)]);
    }
  });
});
