// The agent's systemd unit: `systemd-analyze verify` in a temporary root (so that /opt/blox-edge/bin/node
// exists there and the check needs nothing installed on this machine), and the properties the
// shipping depends on: ordering after the ECS agent, restarts that respect the agent's exit codes,
// hardening, journal logging.
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, run, tempDir, toolAvailable } from './shipping-support.js';

const UNIT = 'blox-edge-agent.service';
const unitText = readFileSync(join(repoRoot, 'userdata', UNIT), 'utf8');

/** directive -> values, in order, per section ("Service.Restart"). */
function parseUnit(text: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    directives.set(key, [...(directives.get(key) ?? []), line.slice(eq + 1)]);
  }
  return directives;
}

/** A root with the host's own units (sysinit.target, docker.service, ...) and a stand-in node. */
function verifyRoot(unit: string): string {
  const root = tempDir('systemd');
  const hostUnits = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((dir) => existsSync(join(dir, 'sysinit.target')));
  if (!hostUnits) throw new Error('no systemd unit directory with sysinit.target on this machine');
  cpSync(hostUnits, join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  writeFileSync(join(root, 'etc/systemd/system', UNIT), unit);
  // The executable ExecStart names; on an instance the installer links it to node-NN.
  mkdirSync(join(root, 'opt/blox-edge/bin'), { recursive: true });
  writeFileSync(join(root, 'opt/blox-edge/bin/node'), '#!/bin/sh\n', { mode: 0o755 });
  // ecs.service exists only on ECS-optimized AMIs; verify accepts Wants=/After= of an absent unit,
  // so it is deliberately left out rather than stubbed.
  return root;
}

function verify(unit: string) {
  const root = verifyRoot(unit);
  return run('systemd-analyze', ['verify', '--man=no', `--root=${root}`, `/etc/systemd/system/${UNIT}`]);
}

const hasSystemdAnalyze = toolAvailable('systemd-analyze', ['--version']);

describe.skipIf(!hasSystemdAnalyze)('systemd-analyze verify', () => {
  it('passes on the unit with no warning at all', () => {
    const result = verify(unitText);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('scores at most 2.0 ("OK") in systemd-analyze security', () => {
    const root = verifyRoot(unitText);
    const result = run('systemd-analyze', ['security', '--offline=true', '--threshold=20', `--root=${root}`, `/etc/systemd/system/${UNIT}`]);
    const overall = /Overall exposure level for [^:]+: (\d+\.\d)/.exec(result.stdout)?.[1];
    expect(overall, result.stdout + result.stderr).toBeDefined();
    expect(Number(overall)).toBeLessThanOrEqual(2.0);
    expect(result.status).toBe(0);
  });

  it('would report a broken unit (the check is live)', () => {
    const broken = unitText.replace('Restart=on-failure', 'Restart=sometimes\nFrobnicate=yes');
    const result = verify(broken);
    expect(result.stderr).toMatch(/Unknown key 'Frobnicate'|Frobnicate/);
    expect(result.stderr).toMatch(/restart/i);
  });
});

describe('the unit', () => {
  const d = parseUnit(unitText);
  const one = (key: string) => {
    const values = d.get(key);
    expect(values, key).toBeDefined();
    return values![values!.length - 1]!;
  };

  it('starts after the ECS agent and Docker, without depending on them for its life', () => {
    expect(one('Unit.After').split(/\s+/)).toEqual(expect.arrayContaining(['ecs.service', 'docker.service']));
    expect(one('Unit.Wants').split(/\s+/)).toContain('ecs.service');
    expect(d.has('Unit.Requires')).toBe(false);
    expect(d.has('Unit.BindsTo')).toBe(false);
    expect(d.has('Unit.PartOf')).toBe(false);
    expect(one('Install.WantedBy')).toBe('multi-user.target');
  });

  it('runs the installed bundle with the distribution node and the installed configuration', () => {
    expect(one('Service.ExecStart')).toBe('/opt/blox-edge/bin/node --enable-source-maps /opt/blox-edge/agent.js --config /etc/blox-edge/agent.json');
    expect(one('Unit.ConditionPathExists')).toBe('/etc/blox-edge/agent.json');
  });

  it('restarts on failure but not on the agent’s usage and configuration exit codes', () => {
    expect(one('Service.Restart')).toBe('on-failure');
    const prevented = one('Service.RestartPreventExitStatus').split(/\s+/).map(Number).sort();
    // The codes documented in docs/agent-config.md as "not restarted" (other than 0, which
    // Restart=on-failure never restarts).
    const doc = readFileSync(join(repoRoot, 'docs/agent-config.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| (\d+) \|[^|]*\| not restarted/gm)]
      .map((m) => Number(m[1]))
      .filter((c) => c !== 0)
      .sort();
    expect(documented).toEqual([64, 78]);
    expect(prevented).toEqual(documented);
  });

  it('keeps the default KillMode: daemons are containers outside the unit’s cgroup', () => {
    expect(d.has('Service.KillMode')).toBe(false);
  });

  it('is hardened: nothing writable but its state directory and the Docker socket', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
      SystemCallArchitectures: 'native',
      DynamicUser: 'yes',
      StateDirectory: 'blox-edge',
      ReadWritePaths: '-/run/docker.sock',
      SupplementaryGroups: 'docker',
    };
    for (const [key, value] of Object.entries(expected)) expect(one(`Service.${key}`), key).toBe(value);
    expect(d.get('Service.ReadWritePaths')).toHaveLength(1);
    expect(d.has('Service.MemoryDenyWriteExecute')).toBe(false); // V8's JIT needs it off
    expect(one('Service.MemoryMax')).toMatch(/^\d+M$/);
  });

  it('logs to the journal', () => {
    expect(one('Service.StandardOutput')).toBe('journal');
    expect(one('Service.StandardError')).toBe('journal');
    expect(one('Service.SyslogIdentifier')).toBe('blox-edge-agent');
  });
});
