// Helpers of the shipping tests: external tools (packer, shellcheck, systemd-analyze) and running the
// user-data installer into a temporary root. A missing tool skips its tests locally; under CI
// (where .ci/run installs Debian's packages) it fails them.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../deploy/render.js';
import { isCi } from '../../local/ci.js';

export { repoRoot };
export const inCi = isCi();

/** Whether `command args` runs; under CI a missing tool throws instead of answering false. */
export function toolAvailable(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  const ok = !result.error && result.status === 0;
  if (!ok && inCi) throw new Error(`${command} is required under CI (CI=${process.env.CI}; CI installs it) but does not run`);
  return ok;
}

export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env, input: options.input, encoding: 'utf8' });
  if (result.error) throw result.error;
  return result;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `blox-${prefix}-`));
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** A stand-in bundle (and source map) in a temporary directory, served as file:// URLs. */
export function fakeBundle(text = 'console.log("blox-edge agent stand-in");\n'): { dir: string; path: string; url: string; sha256: string } {
  const dir = tempDir('bundle');
  const path = join(dir, 'agent.js');
  writeFileSync(path, text);
  writeFileSync(`${path}.map`, '{"version":3,"sources":[],"mappings":""}\n');
  return { dir, path, url: pathToFileURL(path).href, sha256: sha256(path) };
}

/** Runs a user-data script with ROOT set, no systemctl and no dnf; node is the one running the tests. */
export function runInstaller(script: string, root: string, env: Record<string, string>, args: string[] = []): SpawnSyncReturns<string> {
  return run('bash', [script, ...args], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ROOT: root,
      BLOX_SKIP_SYSTEMD: '1',
      BLOX_SKIP_NODE_INSTALL: '1',
      BLOX_NODE_BIN: process.execPath,
      ...env,
    },
  });
}
