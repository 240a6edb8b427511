// The bundles that tests run as processes (dist/agent.js, dist/blox.js), never stale: when any
// source they are built from is newer than them (or one is missing), the project's own build
// (`node scripts/build.mjs`) runs first, once, however many test files in parallel worker processes
// ask at the same moment: a lock directory in dist/ lets one process build while the others wait,
// and each looks again once it holds the lock. scripts/build.mjs replaces each output by a rename,
// so a process started meanwhile from the old bundle never reads a half-written file.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requireIntegrationProject } from './services.js';
import { processAlive } from './wait.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** What scripts/build.mjs bundles: every .ts (and imported .json, and the fleet page's .js/.html/.css) under these, and these files. */
export const BUNDLE_SOURCE_DIRS = ['agent', 'core', 'coordinator', 'local'];
export const BUNDLE_SOURCE_FILES = ['scripts/build.mjs', 'package.json', 'package-lock.json'];
export const BUNDLE_OUTPUTS = ['dist/agent.js', 'dist/agent.js.map', 'dist/blox.js', 'dist/blox.js.map'];
const LOCK = 'dist/.build-lock';

/** The newest source of the bundles under `root`, or undefined when there is none. */
export function newestBundleSource(root: string): { path: string; mtimeMs: number } | undefined {
  let newest: { path: string; mtimeMs: number } | undefined;
  const consider = (path: string) => {
    const mtimeMs = statSync(path).mtimeMs;
    if (!newest || mtimeMs > newest.mtimeMs) newest = { path: relative(root, path), mtimeMs };
  };
  for (const dir of BUNDLE_SOURCE_DIRS) {
    if (!existsSync(join(root, dir))) continue;
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true, recursive: true })) {
      if (entry.isFile() && /\.(ts|json|js|html|css)$/.test(entry.name)) consider(join(entry.parentPath, entry.name));
    }
  }
  for (const file of BUNDLE_SOURCE_FILES) if (existsSync(join(root, file))) consider(join(root, file));
  return newest;
}

/** Why the bundles under `root` must be rebuilt, or undefined when each is newer than every source. */
export function bundlesStale(root: string): string | undefined {
  const missing = BUNDLE_OUTPUTS.filter((p) => !existsSync(join(root, p)));
  if (missing.length > 0) return `${missing.join(', ')} missing`;
  const oldest = BUNDLE_OUTPUTS.map((p) => ({ path: p, mtimeMs: statSync(join(root, p)).mtimeMs })).reduce((a, b) => (b.mtimeMs < a.mtimeMs ? b : a));
  const newest = newestBundleSource(root);
  if (newest && newest.mtimeMs > oldest.mtimeMs) return `${newest.path} is newer than ${oldest.path}`;
  return undefined;
}

export type BuildBundles = (root: string) => Promise<void>;

/** The project's build, as `npm run build` runs it. */
export const projectBuild: BuildBundles = async (root) => {
  try {
    await promisify(execFile)(process.execPath, ['scripts/build.mjs'], { cwd: root, timeout: 180_000 });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`node scripts/build.mjs failed, so the tests cannot run fresh bundles: ${String(error)}\n${stdout ?? ''}${stderr ?? ''}`);
  }
};

/**
 * Rebuilds the bundles under `root` when they are stale; true when this call built them. Concurrent
 * callers, in this process or others, build once: the first takes the lock, the rest wait for it to
 * go and then find the bundles fresh. A lock whose owner process has died is taken over.
 */
export async function rebuildStaleBundles(root: string, build: BuildBundles = projectBuild, timeoutMs = 240_000): Promise<boolean> {
  if (!bundlesStale(root)) return false;
  const lock = join(root, LOCK);
  mkdirSync(join(root, 'dist'), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = lockOwner(lock);
    if (owner !== undefined && !processAlive(owner)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `waited ${timeoutMs} ms for another test process (${owner === undefined ? 'owner unknown' : `pid ${owner}`}) to build the bundles; if no build is running, remove ${LOCK}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  try {
    writeFileSync(join(lock, 'owner'), String(process.pid));
    // Another process may have built while this one waited for the lock.
    if (!bundlesStale(root)) return false;
    await build(root);
    const still = bundlesStale(root);
    if (still) throw new Error(`the bundles are still stale after the build: ${still}`);
    return true;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function lockOwner(lock: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(lock, 'owner'), 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // not written yet: its owner is between mkdir and write
  }
}

/**
 * The absolute paths of dist/agent.js and dist/blox.js, rebuilt first when stale. Every test that
 * runs a bundle as a process gets it from here.
 */
export async function freshBundles(): Promise<{ agent: string; blox: string }> {
  requireIntegrationProject('Running the bundles');
  await rebuildStaleBundles(repoRoot);
  return { agent: join(repoRoot, 'dist/agent.js'), blox: join(repoRoot, 'dist/blox.js') };
}
