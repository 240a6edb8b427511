// test/support/bundles.ts on a made-up tree: when the bundles count as stale, and that test files
// asking at once get one build, with the lock left behind by a dead process taken over.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUNDLE_OUTPUTS, bundlesStale, freshBundles, rebuildStaleBundles } from '../support/bundles.js';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

const T0 = Date.parse('2026-01-01T00:00:00Z') / 1000;

function file(root: string, path: string, secondsAfterT0: number): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, path);
  utimesSync(full, T0 + secondsAfterT0, T0 + secondsAfterT0);
}

/** A tree with sources at T0 and, unless `built` is false, bundles built 10 s later. */
function tree(built = true): string {
  const root = mkdtempSync(join(tmpdir(), 'blox-bundles-'));
  roots.push(root);
  for (const source of [
    'agent/main.ts',
    'agent/act/start.ts',
    'core/keys.ts',
    'coordinator/openapi.json',
    'coordinator/cli/main.ts',
    'local/ci.ts',
    'scripts/build.mjs',
    'package.json',
    'package-lock.json',
  ])
    file(root, source, 0);
  if (built) for (const output of BUNDLE_OUTPUTS) file(root, output, 10);
  return root;
}

/** A stand-in for scripts/build.mjs: writes every output now, after a pause, and counts its runs. */
function fakeBuild(): { runs: number; build: (root: string) => Promise<void> } {
  const counter = {
    runs: 0,
    build: async (root: string) => {
      counter.runs++;
      await new Promise((resolve) => setTimeout(resolve, 150));
      for (const output of BUNDLE_OUTPUTS) writeFileSync(join(root, output), 'built');
    },
  };
  return counter;
}

describe('bundlesStale', () => {
  it('is fresh when every bundle is newer than every source', () => {
    expect(bundlesStale(tree())).toBeUndefined();
  });

  it('names missing bundles', () => {
    expect(bundlesStale(tree(false))).toBe(`${BUNDLE_OUTPUTS.join(', ')} missing`);
    const root = tree();
    rmSync(join(root, 'dist/blox.js.map'));
    expect(bundlesStale(root)).toBe('dist/blox.js.map missing');
  });

  it('names the newest source newer than the oldest bundle: .ts and .json sources, the build script, package.json', () => {
    for (const source of ['agent/act/start.ts', 'core/keys.ts', 'coordinator/openapi.json', 'local/new-file.ts', 'scripts/build.mjs', 'package.json']) {
      const root = tree();
      file(root, 'dist/agent.js', 20); // one bundle newer than the others: the oldest counts
      file(root, source, 15);
      expect(bundlesStale(root), source).toBe(`${source} is newer than dist/agent.js.map`);
    }
  });

  it('ignores files that are not bundled', () => {
    const root = tree();
    for (const other of ['agent/README.md', 'test/unit/x.test.ts', 'docs/agent.md', 'bench/agent.ts']) file(root, other, 20);
    expect(bundlesStale(root)).toBeUndefined();
  });
});

describe('rebuildStaleBundles', () => {
  it('does not build fresh bundles', async () => {
    const root = tree();
    const fake = fakeBuild();
    expect(await rebuildStaleBundles(root, fake.build)).toBe(false);
    expect(fake.runs).toBe(0);
  });

  it('builds once for many callers at the same moment, and removes its lock', async () => {
    const root = tree();
    file(root, 'core/keys.ts', 20);
    const fake = fakeBuild();
    const results = await Promise.all(Array.from({ length: 6 }, () => rebuildStaleBundles(root, fake.build)));
    expect(fake.runs).toBe(1);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(bundlesStale(root)).toBeUndefined();
    expect(existsSync(join(root, 'dist/.build-lock'))).toBe(false);
  });

  it('takes over the lock of a process that has exited', async () => {
    const root = tree(false);
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    file(root, 'dist/.build-lock/owner', 0);
    writeFileSync(join(root, 'dist/.build-lock/owner'), String(dead));
    const fake = fakeBuild();
    expect(await rebuildStaleBundles(root, fake.build, 5_000)).toBe(true);
    expect(fake.runs).toBe(1);
  });

  it('waits for a live owner, then fails naming it and the lock', async () => {
    const root = tree(false);
    file(root, 'dist/.build-lock/owner', 0);
    writeFileSync(join(root, 'dist/.build-lock/owner'), String(process.pid));
    const fake = fakeBuild();
    await expect(rebuildStaleBundles(root, fake.build, 300)).rejects.toThrow(
      `waited 300 ms for another test process (pid ${process.pid}) to build the bundles; if no build is running, remove dist/.build-lock`,
    );
    expect(fake.runs).toBe(0);
  });

  it('fails when the build leaves the bundles stale', async () => {
    const root = tree(false);
    await expect(rebuildStaleBundles(root, async () => undefined)).rejects.toThrow(/the bundles are still stale after the build: dist\/agent\.js, .* missing/);
    expect(existsSync(join(root, 'dist/.build-lock'))).toBe(false);
  });
});

describe('freshBundles', () => {
  it('is refused to unit tests, which must not run the bundles', async () => {
    await expect(freshBundles()).rejects.toThrow(/Running the bundles is for integration tests only/);
  });
});
