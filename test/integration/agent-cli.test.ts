// The agent's command line as systemd and the sandbox see it: --version, exit 64 for a bad command
// line, exit 78 for invalid configuration, with a message that says what is wrong.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { agentBundle } from '../support/agent-world.js';

let bundle = '';
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [bundle, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });

describe('agent command line (bundle)', () => {
  beforeAll(async () => {
    bundle = await agentBundle();
  }, 60_000);

  it('--version prints the version and the commit', () => {
    const out = run(['--version']);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^blox-edge-agent \S+ \(commit \S+\)\n$/);
  });
  it('--help lists every flag and the exit codes', () => {
    const out = run(['--help']);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/--lease-duration-ms/);
    expect(out.stdout).toMatch(/78 invalid configuration/);
  });
  it('a bad command line exits 64', () => {
    const out = run(['--frobnicate']);
    expect(out.status).toBe(64);
    expect(out.stderr).toMatch(/unknown flag --frobnicate/);
  });
  it('invalid configuration exits 78 with the key and its source', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bx-cfg-'));
    const file = join(dir, 'agent.json');
    writeFileSync(file, JSON.stringify({ leaseDurationMs: 'long' }));
    const out = run(['--config', file]);
    expect(out.status).toBe(78);
    expect(out.stderr).toMatch(/invalid configuration: leaseDurationMs \(.*agent\.json\)/);
    const env = run([], { BLOX_POLL_INTERVAL_MS: 'x', BLOX_AGENT_CONFIG: join(dir, 'absent.json') });
    expect(env.status).toBe(78);
  });
});
