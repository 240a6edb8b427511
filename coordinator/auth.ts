// The coordinator's door. Whoever can create an environment can run any task definition on every
// instance of the fleet, so this module owns, in one place: the set of valid bearer tokens (from a
// file re-read when it changes, from the environment, from argv), which requests need one, the
// constant-time check, and whether the coordinator may listen where it was told to.
// Invariant: no token, nor any part of one, is ever written to a log or an error message.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { BloxError, InvalidInputError, errorMessage } from '../core/errors.js';
import { isLoopbackAddress, listensOnLoopback, lookupAddresses, type HostLookup } from '../core/net.js';
import { DEFAULT_WATCH_INTERVAL_MS, watchFiles, type FileWatch } from './file-watch.js';

/** What needs a token: `writes` (every change) when tokens are configured, `reads` too when asked. */
export interface AuthMode {
  writes: boolean;
  reads: boolean;
}

export interface TokenSources {
  /** `--token-file`: one token per line; blank lines and lines starting with `#` are ignored. Re-read when it changes. */
  file?: string;
  /** From the environment (`BLOX_COORDINATOR_TOKENS`, `BLOX_COORDINATOR_TOKEN`). */
  environment?: string[];
  /** `--token`: accepted, with a warning (every local user sees argv in `ps`). */
  argv?: string;
  /** `--require-token-for-reads`: every GET of the API (streams included) needs a token too. */
  requireForReads?: boolean;
}

/** Tokens are sent in a header: visible ASCII without spaces, of a sane length. */
const TOKEN = /^[\x21-\x7e]{1,1024}$/;
/** Shorter tokens are accepted (tests, local use) with a warning: they can be guessed. */
const SHORT_TOKEN = 16;

/** The tokens of a token file's text, one a line; `#` lines and blank lines ignored. Throws naming the line (never its content). */
export function parseTokenFile(text: string, field: string): string[] {
  const tokens: string[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (!TOKEN.test(trimmed)) throw new InvalidInputError(field, `line ${index + 1} is not a token (visible ASCII characters without spaces, at most 1024)`);
    tokens.push(trimmed);
  });
  return tokens;
}

/** A comma- or newline-separated list of tokens (`BLOX_COORDINATOR_TOKENS`). */
export function parseTokenList(text: string, field: string): string[] {
  const tokens = text
    .split(/[,\r\n]+/)
    .map((token) => token.trim())
    .filter((token) => token !== '');
  tokens.forEach((token, index) => {
    if (!TOKEN.test(token)) throw new InvalidInputError(field, `entry ${index + 1} is not a token (visible ASCII characters without spaces, at most 1024)`);
  });
  return tokens;
}

/** One token (`BLOX_COORDINATOR_TOKEN`), surrounding blanks ignored; none when empty. */
export function parseToken(text: string, field: string): string[] {
  const token = text.trim();
  if (token === '') return [];
  if (!TOKEN.test(token)) throw new InvalidInputError(field, 'is not a token (visible ASCII characters without spaces, at most 1024)');
  return [token];
}

/** Paths that never need a token: the liveness check (it says what auth the rest needs) and the API's description. */
const OPEN_API_PATHS = new Set(['/v1/ping', '/v1/openapi.json']);

/**
 * Whether a request needs a token. Every change (any method but GET/HEAD) does when tokens are
 * configured. Reads do when `mode.reads`, except `/v1/ping`, `/v1/openapi.json` and everything
 * outside `/v1/` (the web page's static files: the page must load before it can ask for a token).
 * Routes added under `/v1/` (the streams) are covered without naming them.
 */
export function tokenNeeded(method: string, path: string, mode: AuthMode): boolean {
  if (method !== 'GET' && method !== 'HEAD') return mode.writes;
  if (OPEN_API_PATHS.has(path) || !path.startsWith('/v1/')) return false;
  return mode.reads;
}

/**
 * Throws Unauthorized when a browser sent a change from another site's page. A form or a `fetch`
 * with a plain-text body needs no CORS preflight, so without tokens (the default on loopback) any
 * web page the operator opens could otherwise create an environment, which runs any task
 * definition on the fleet. Browsers say where a request comes from (`Sec-Fetch-Site`; older ones
 * only `Origin`); other clients send neither and are not concerned. Reads are left alone: a page
 * of another site cannot read the answers (no CORS headers are ever sent).
 */
export function refuseCrossSiteChange(method: string, headers: IncomingHttpHeaders): void {
  if (method === 'GET' || method === 'HEAD') return;
  const site = one(headers['sec-fetch-site']);
  const origin = one(headers.origin);
  const crossSite = site !== undefined ? site !== 'same-origin' && site !== 'none' : origin !== undefined && originHost(origin) !== headers.host?.toLowerCase();
  if (crossSite) throw new BloxError('Unauthorized', "a change sent by another site's page is refused (cross-site request)");
}

/**
 * Throws InvalidInputError naming the Host header unless it names this machine (a loopback address
 * or `localhost`). For a coordinator on loopback without tokens: a web page whose name its owner
 * points at 127.0.0.1 (DNS rebinding) is same-origin with the coordinator, and could read and change
 * everything, but its requests carry that name in Host. A request without Host (HTTP/1.0) passes.
 */
export function refuseForeignHost(host: string | undefined): void {
  if (host === undefined) return;
  let name = '';
  try {
    name = new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    // not a host: refused below
  }
  const bare = name.startsWith('[') ? name.slice(1, -1) : name;
  if (bare === 'localhost' || bare.endsWith('.localhost') || isLoopbackAddress(bare)) return;
  throw new InvalidInputError(
    'Host',
    'must name this machine (127.0.0.1, [::1] or localhost): this coordinator listens on loopback without tokens. ' +
      'To reach it by another name, give it tokens (--token-file FILE), or pass --insecure-no-auth when something in front authenticates',
  );
}

const one = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/** The `host[:port]` of an Origin header, lower case; undefined for `null` or garbage. */
function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/** SHA-256 first, so that every comparison is of 32 bytes whatever the lengths. */
const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class CoordinatorAuth {
  private fileDigests: Buffer[] = [];
  private watch: FileWatch | undefined;
  /** Told after each re-read of the token file (open streams check their token again). */
  private readonly reloaded = new Set<() => void>();

  private constructor(
    readonly mode: AuthMode,
    private readonly fixedDigests: Buffer[],
    private readonly file: string | undefined,
    private readonly logger: Logger | undefined,
  ) {}

  /** No tokens: changes and reads are open (only allowed on loopback or with --insecure-no-auth). */
  static none(): CoordinatorAuth {
    return new CoordinatorAuth({ writes: false, reads: false }, [], undefined, undefined);
  }

  /** Fixed tokens (tests, embedding); the file-backed form is `load`. */
  static fromTokens(tokens: string[], options: { requireForReads?: boolean } = {}): CoordinatorAuth {
    if (tokens.length === 0) throw new InvalidInputError('tokens', 'must not be empty');
    return new CoordinatorAuth({ writes: true, reads: options.requireForReads === true }, tokens.map(digest), undefined, undefined);
  }

  /**
   * The token set from its sources. Throws InvalidInputError naming the option when the file cannot
   * be read or holds something that is not a token, when a file is given but no token at all, or
   * when reads should need a token and there is none. Logs (without the tokens) what it took from where.
   */
  static load(sources: TokenSources, options: { logger?: Logger; watchIntervalMs?: number } = {}): CoordinatorAuth {
    const { logger } = options;
    const { file } = sources;
    // Watching starts before the first read, so a change between the two is seen by the first poll.
    let auth: CoordinatorAuth | undefined;
    const watch = file === undefined ? undefined : watchFiles([file], options.watchIntervalMs ?? DEFAULT_WATCH_INTERVAL_MS, () => auth?.reload());
    try {
      const argvTokens = sources.argv === undefined ? [] : parseToken(sources.argv, '--token');
      const fixed = [...(sources.environment ?? []), ...argvTokens];
      if (argvTokens.length > 0)
        logger?.warn(
          '--token puts the token on the command line, where every user of this machine can read it (ps, /proc); use --token-file FILE or BLOX_COORDINATOR_TOKENS instead',
        );
      const fileTokens = file === undefined ? [] : readTokenFile(file);
      if (file !== undefined && fileTokens.length === 0 && fixed.length === 0)
        throw new InvalidInputError('--token-file', `${file} holds no token (one token per line; lines starting with # are comments)`);
      const configured = file !== undefined || fixed.length > 0;
      if (sources.requireForReads && !configured)
        throw new InvalidInputError('--require-token-for-reads', 'needs tokens: give --token-file FILE (or BLOX_COORDINATOR_TOKENS)');
      const short = [...fixed, ...fileTokens].filter((token) => token.length < SHORT_TOKEN).length;
      if (short > 0)
        logger?.warn({ tokens: short }, `tokens shorter than ${SHORT_TOKEN} characters can be guessed; use long random ones (openssl rand -hex 32)`);
      auth = new CoordinatorAuth({ writes: configured, reads: sources.requireForReads === true }, fixed.map(digest), file, logger);
      auth.fileDigests = fileTokens.map(digest);
      auth.watch = watch;
      logger?.info(
        { fromFile: fileTokens.length, fromEnvironment: sources.environment?.length ?? 0, fromArgv: argvTokens.length, ...auth.mode },
        configured ? 'bearer tokens configured' : 'no bearer tokens configured',
      );
      return auth;
    } catch (error) {
      watch?.close();
      throw error;
    }
  }

  /** Throws Unauthorized (401) unless the request needs no token or carries a valid one. */
  check(method: string, path: string, authorization: string | undefined): void {
    if (!tokenNeeded(method, path, this.mode)) return;
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    if (!match) {
      const what = method === 'GET' || method === 'HEAD' ? 'this coordinator requires a token for reads too' : 'this call changes state';
      throw new BloxError('Unauthorized', `${what}: send an Authorization: Bearer <token> header (blox: --token-file FILE or BLOX_TOKEN_FILE)`);
    }
    if (!this.accepts(match[1] as string)) throw new BloxError('Unauthorized', 'the bearer token is not valid');
  }

  /**
   * Calls `listener` after every re-read of the token file; answers what stops it. A request that
   * lasts (a stream) checks its token again there: a token rotated out must not keep one open.
   */
  onReload(listener: () => void): () => void {
    this.reloaded.add(listener);
    return () => this.reloaded.delete(listener);
  }

  /** Compares against every valid token, in constant time per token and without stopping at a match. */
  private accepts(token: string): boolean {
    const given = digest(token);
    let found = false;
    for (const expected of [...this.fixedDigests, ...this.fileDigests]) found = timingSafeEqual(given, expected) || found;
    return found;
  }

  /** The token file changed: take its tokens, or keep the last good ones (and say so) when it cannot be read or parsed. */
  private reload(): void {
    const file = this.file as string;
    try {
      const tokens = readTokenFile(file);
      this.fileDigests = tokens.map(digest);
      if (tokens.length === 0 && this.fixedDigests.length === 0)
        this.logger?.warn({ file }, 'the token file holds no token now: every call that needs a token is refused until it does');
      else this.logger?.info({ file, tokens: tokens.length }, 'token file re-read');
    } catch (error) {
      this.logger?.error({ file }, `token file not re-read, the previous tokens stay valid: ${errorMessage(error)}`);
      return;
    }
    for (const listener of [...this.reloaded]) listener();
  }

  /** Stops watching the token file. */
  close(): void {
    this.watch?.close();
    this.reloaded.clear();
  }
}

function readTokenFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidInputError('--token-file', `${file} cannot be read: ${(error as { code?: string }).code ?? errorMessage(error)}`);
  }
  return parseTokenFile(text, `--token-file ${file}`);
}

export interface Exposure {
  host: string;
  port: number;
  auth: AuthMode;
  tls: boolean;
  /** `--insecure-no-auth`: the operator knows that no token guards a non-loopback address. */
  insecureNoAuth?: boolean;
}

/**
 * Whether the coordinator may listen on `host`: on a loopback address always (only local users
 * reach it), elsewhere only with tokens or with --insecure-no-auth (for a network whose front
 * authenticates). Throws InvalidInputError saying what to do; answers the warnings to log.
 * `0.0.0.0` and `::` mean every interface; a host name counts as loopback only when every address
 * it resolves to is loopback.
 */
export async function checkExposure(exposure: Exposure, lookup: HostLookup = lookupAddresses): Promise<string[]> {
  const where = exposure.host.includes(':') ? `[${exposure.host}]:${exposure.port}` : `${exposure.host}:${exposure.port}`;
  if (exposure.insecureNoAuth && exposure.auth.writes)
    throw new InvalidInputError('--insecure-no-auth', 'contradicts the tokens given (--token-file, BLOX_COORDINATOR_TOKENS, --token): drop one or the other');
  if (await listensOnLoopback(exposure.host, lookup)) return [];
  if (!exposure.auth.writes && !exposure.insecureNoAuth)
    throw new InvalidInputError(
      '--listen',
      `refusing to listen on ${where} without authentication: anyone who reaches it could create environments, which run any task definition on every instance of the fleet. ` +
        'Give bearer tokens with --token-file FILE (one per line) or BLOX_COORDINATOR_TOKENS; or listen on 127.0.0.1; ' +
        'or, only when something in front of it authenticates every request, pass --insecure-no-auth',
    );
  if (!exposure.auth.writes) return [`listening on ${where} without authentication (--insecure-no-auth): whoever reaches this port can change the fleet`];
  if (!exposure.tls)
    return [
      `listening on ${where} without TLS: bearer tokens cross the network in clear text unless a load balancer in front terminates TLS (else give --tls-cert and --tls-key)`,
    ];
  return [];
}
