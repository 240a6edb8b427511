// The agent's state directory (`stateDir`): one agent process at a time, and an owner name that
// survives restarts. A restarted agent (crash, SIGKILL, OOM, upgrade) comes back as the same lease
// owner, so it continues its own leases at once instead of waiting a lease duration for them to
// expire. That is safe only because no other live process can hold the same name: the directory
// is claimed with a Linux abstract unix socket, which the kernel releases when the process dies
// (no stale lock file to judge). An I/O edge: only main.ts calls it; in-process agents (tests,
// benchmarks) get their owner names from their host.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { newOwnerName, OWNER_NAME_PATTERN } from './lease.js';

/** Exit code when another agent holds the state directory (EX_TEMPFAIL: systemd retries later). */
export const EXIT_STATE_DIR_BUSY = 75;

const OWNER_FILE = 'owner';
const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex');

export class StateDirBusyError extends Error {
  constructor(readonly stateDir: string) {
    super(`another blox-edge agent is running with state directory ${stateDir}; one agent per state directory`);
    this.name = 'StateDirBusyError';
  }
}

export class StateDirError extends Error {
  constructor(
    readonly stateDir: string,
    cause: unknown,
  ) {
    super(`state directory ${stateDir} is not usable: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StateDirError';
  }
}

export interface ClaimedStateDir {
  owner: string;
  /** False where no process lock exists (not Linux): the owner is then fresh on every start. */
  persistent: boolean;
  /** Whether the owner name was read back from an earlier run. */
  resumed: boolean;
  release(): Promise<void>;
}

/** Claims `stateDir` for this process and returns its lasting owner name. */
export async function claimStateDir(stateDir: string, platform: NodeJS.Platform = process.platform): Promise<ClaimedStateDir> {
  if (platform !== 'linux') return { owner: newOwnerName(randomHex), persistent: false, resumed: false, release: async () => undefined };
  let dir: string;
  try {
    mkdirSync(resolve(stateDir), { recursive: true, mode: 0o700 });
    dir = realpathSync(resolve(stateDir)); // one directory, one lock, however it is spelled (symlinks)
  } catch (error) {
    throw new StateDirError(resolve(stateDir), error);
  }
  const lock = await lockFor(dir);
  try {
    const previous = readOwner(dir);
    if (previous) return { owner: previous, persistent: true, resumed: true, release: () => closeLock(lock) };
    const owner = newOwnerName(randomHex);
    writeOwner(dir, owner);
    return { owner, persistent: true, resumed: false, release: () => closeLock(lock) };
  } catch (error) {
    await closeLock(lock);
    throw error instanceof StateDirBusyError || error instanceof StateDirError ? error : new StateDirError(dir, error);
  }
}

/** The abstract socket name for a directory: the kernel frees it when its process dies. */
export function lockName(dir: string): string {
  return `\0blox-edge-agent/${createHash('sha256').update(dir).digest('hex').slice(0, 32)}`;
}

function lockFor(dir: string): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? new StateDirBusyError(dir) : new StateDirError(dir, error)));
    server.listen(lockName(dir), () => {
      server.unref(); // the lock never keeps the process alive
      resolvePromise(server);
    });
  });
}

function closeLock(server: Server): Promise<void> {
  return new Promise((resolvePromise) => server.close(() => resolvePromise()));
}

function readOwner(dir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, OWNER_FILE), 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateDirError(dir, error);
  }
  return OWNER_NAME_PATTERN.test(text) ? text : undefined; // anything else: a fresh name (and a fresh lease)
}

/** Written to a temporary file and renamed: a crash never leaves half a name. */
function writeOwner(dir: string, owner: string): void {
  const temporary = join(dir, `${OWNER_FILE}.${process.pid}.tmp`);
  writeFileSync(temporary, `${owner}\n`, { mode: 0o600 });
  renameSync(temporary, join(dir, OWNER_FILE));
}
