// The user-data installers: shellcheck on every shell script of the repository (and the shell
// inside the cloud-init files), the generated files kept in step with their sources, and the
// installer's behaviour in a temporary root: what it writes, idempotence, SHA-256 refusal, the
// bake and configure paths of the AMI.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloudInitFileContent, DAEMONS_ATTRIBUTE, DAEMONS_PENDING, installerScript, installerSettings, renderAll } from '../../deploy/render.js';
import { fakeBundle, repoRoot, run, runInstaller, tempDir, toolAvailable } from './shipping-support.js';

const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', '.blox-local', 'coverage']);
const SHELL_SHEBANG = /^#!\s*(\/usr\/bin\/env\s+)?(\/bin\/|\/usr\/bin\/)?(ba|da|k)?sh\b/;

function shellScripts(dir = repoRoot): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP_DIRS.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...shellScripts(path));
    else if (entry.isFile()) {
      if (entry.name.endsWith('.sh')) found.push(path);
      else if (statSync(path).size < 1_000_000 && SHELL_SHEBANG.test(readFileSync(path, 'utf8').slice(0, 200))) found.push(path);
    }
  }
  return found.sort();
}

/** The `bash -c '...'` commands of a cloud-config's runcmd. */
function runcmdShell(yaml: string): string[] {
  return [...yaml.matchAll(/^\s+- \[bash, -c, '([^']*)'\]$/gm)].map((m) => m[1]!);
}

const hasShellcheck = toolAvailable('shellcheck', ['--version']);

describe.skipIf(!hasShellcheck)('shellcheck', () => {
  const scripts = shellScripts();

  it('finds the installers among the shell scripts', () => {
    const names = scripts.map((p) => relative(repoRoot, p));
    expect(names).toEqual(expect.arrayContaining(['userdata/install.sh', 'userdata/configure.sh']));
  });

  it.each(shellScripts().map((p) => relative(repoRoot, p)))('%s passes shellcheck', (script) => {
    const result = run('shellcheck', ['--severity=style', '--external-sources', script]);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('the shell of the cloud-init runcmd lines passes shellcheck', () => {
    const generated = renderAll();
    const commands = Object.entries(generated)
      .filter(([path]) => path.endsWith('.yaml'))
      .flatMap(([, yaml]) => runcmdShell(yaml));
    expect(commands.length).toBe(2);
    for (const command of commands) {
      // SC1091 (not following the sourced file): install.env is written by the same cloud-config.
      const result = run('shellcheck', ['--severity=style', '--shell=bash', '--exclude=SC1091', '-'], { input: `#!/bin/bash\n${command}\n` });
      expect(result.stdout, command).toBe('');
      expect(result.status).toBe(0);
    }
  });
});

describe('generated user-data files', () => {
  it.each(Object.entries(renderAll()))('%s is up to date with its sources (npx tsx deploy/render.ts)', (path, content) => {
    expect(readFileSync(join(repoRoot, path), 'utf8')).toBe(content);
  });

  it('the cloud-init installer embeds install.sh byte for byte', () => {
    const yaml = readFileSync(join(repoRoot, 'userdata/cloud-init/install.yaml'), 'utf8');
    expect(yaml.startsWith('#cloud-config\n')).toBe(true);
    expect(cloudInitFileContent(yaml, '/usr/local/sbin/blox-edge-install')).toBe(installerScript());
  });

  it('the cloud-init env files name only settings the installer reads', () => {
    const settings = installerSettings();
    for (const path of ['userdata/cloud-init/install.yaml', 'userdata/cloud-init/configure.yaml']) {
      const env = cloudInitFileContent(readFileSync(join(repoRoot, path), 'utf8'), '/etc/blox-edge/install.env');
      expect(env, path).toBeDefined();
      const names = env!
        .trim()
        .split('\n')
        .map((line) => line.split('=')[0]!);
      expect(names).toContain('BLOX_CLUSTER');
      for (const name of names) expect(settings.has(name), `${path}: ${name}`).toBe(true);
    }
  });

  it('the unit file and the installer carry the same unit', () => {
    const unit = readFileSync(join(repoRoot, 'userdata/blox-edge-agent.service'), 'utf8');
    const embedded = /<<'UNIT'\n([\s\S]*?\n)UNIT\n/.exec(installerScript())?.[1];
    expect(embedded).toBe(unit);
  });
});

describe('install.sh in a temporary root', () => {
  const script = join(repoRoot, 'userdata/install.sh');

  function install(root: string, env: Record<string, string>, args: string[] = []) {
    const result = runInstaller(script, root, env, args);
    if (result.status !== 0) throw new Error(`install.sh ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
    return result;
  }

  it('installs the bundle, the unit and the configuration', () => {
    const bundle = fakeBundle();
    const root = tempDir('root');
    const result = install(root, { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: bundle.url, BLOX_BUNDLE_SHA256: bundle.sha256, BLOX_REGION: 'eu-west-1' });
    expect(result.stderr).toContain('done (install)');
    expect(readFileSync(join(root, 'opt/blox-edge/agent.js'), 'utf8')).toBe(readFileSync(bundle.path, 'utf8'));
    expect(existsSync(join(root, 'opt/blox-edge/agent.js.map'))).toBe(true);
    expect(readlinkSync(join(root, 'opt/blox-edge/bin/node'))).toBe(process.execPath);
    expect(readFileSync(join(root, 'etc/ecs/ecs.config'), 'utf8')).toBe(
      `ECS_CLUSTER=prod\nECS_INSTANCE_ATTRIBUTES={"${DAEMONS_ATTRIBUTE}":"${DAEMONS_PENDING}"}\n`,
    );
    expect(JSON.parse(readFileSync(join(root, 'etc/blox-edge/agent.json'), 'utf8'))).toEqual({ table: 'blox-edge', region: 'eu-west-1' });
    expect(readFileSync(join(root, 'etc/systemd/system/blox-edge-agent.service'), 'utf8')).toBe(
      readFileSync(join(repoRoot, 'userdata/blox-edge-agent.service'), 'utf8'),
    );
    expect(statSync(join(root, 'etc/blox-edge/agent.json')).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(root, 'opt/blox-edge/install.sh'), 'utf8')).toBe(installerScript());
  });

  it('upgrades the bundle in place and leaves the configuration alone', () => {
    const root = tempDir('root');
    const v1 = fakeBundle('// v1\n');
    install(root, { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: v1.url, BLOX_BUNDLE_SHA256: v1.sha256 });
    const config = readFileSync(join(root, 'etc/blox-edge/agent.json'), 'utf8');
    const ecsConfig = readFileSync(join(root, 'etc/ecs/ecs.config'), 'utf8');
    const v2 = fakeBundle('// v2\n');
    // The upgrade needs only the new bundle: no cluster, no configuration.
    const result = runInstaller(join(root, 'opt/blox-edge/install.sh'), root, { BLOX_BUNDLE_URL: v2.url, BLOX_BUNDLE_SHA256: v2.sha256 }, ['--upgrade']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('wrote /opt/blox-edge/agent.js');
    expect(result.stderr).toContain('done (upgrade)');
    expect(readFileSync(join(root, 'opt/blox-edge/agent.js'), 'utf8')).toBe('// v2\n');
    expect(readFileSync(join(root, 'etc/blox-edge/agent.json'), 'utf8')).toBe(config);
    expect(readFileSync(join(root, 'etc/ecs/ecs.config'), 'utf8')).toBe(ecsConfig);
  });

  it('an upgrade keeps the Node.js major the host was installed with unless told otherwise', () => {
    const root = tempDir('root');
    const v1 = fakeBundle('// v1\n');
    install(root, { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: v1.url, BLOX_BUNDLE_SHA256: v1.sha256, BLOX_NODE_BIN: '', BLOX_NODE_MAJOR: '24' });
    expect(readlinkSync(join(root, 'opt/blox-edge/bin/node'))).toBe('/usr/bin/node-24');
    const v2 = fakeBundle('// v2\n');
    const kept = runInstaller(join(root, 'opt/blox-edge/install.sh'), root, { BLOX_BUNDLE_URL: v2.url, BLOX_BUNDLE_SHA256: v2.sha256, BLOX_NODE_BIN: '' }, [
      '--upgrade',
    ]);
    expect(kept.status, kept.stderr).toBe(0);
    expect(readlinkSync(join(root, 'opt/blox-edge/bin/node'))).toBe('/usr/bin/node-24');
    const moved = runInstaller(
      join(root, 'opt/blox-edge/install.sh'),
      root,
      { BLOX_BUNDLE_URL: v2.url, BLOX_BUNDLE_SHA256: v2.sha256, BLOX_NODE_BIN: '', BLOX_NODE_MAJOR: '26' },
      ['--upgrade'],
    );
    expect(moved.status, moved.stderr).toBe(0);
    expect(readlinkSync(join(root, 'opt/blox-edge/bin/node'))).toBe('/usr/bin/node-26');
  });

  it('is idempotent: a second run changes nothing and writes nothing', () => {
    const bundle = fakeBundle();
    const root = tempDir('root');
    const env = { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: bundle.url, BLOX_BUNDLE_SHA256: bundle.sha256 };
    install(root, env);
    const snapshot = () =>
      ['etc/ecs/ecs.config', 'etc/blox-edge/agent.json', 'etc/systemd/system/blox-edge-agent.service', 'opt/blox-edge/agent.js'].map((p) => [
        p,
        readFileSync(join(root, p), 'utf8'),
        lstatSync(join(root, p)).mtimeMs,
      ]);
    const before = snapshot();
    // The second run needs no download: the bundle's source is gone and it still succeeds.
    writeFileSync(bundle.path, 'replaced');
    const second = install(root, env);
    expect(second.stderr).not.toMatch(/wrote /);
    expect(second.stderr).toContain('agent bundle already installed');
    expect(snapshot()).toEqual(before);
  });

  it('keeps the operator’s own ecs.config lines and owns only its two keys', () => {
    const bundle = fakeBundle();
    const root = tempDir('root');
    run('mkdir', ['-p', join(root, 'etc/ecs')]);
    writeFileSync(join(root, 'etc/ecs/ecs.config'), 'ECS_CLUSTER=old\nECS_ENABLE_CONTAINER_METADATA=true\nECS_INSTANCE_ATTRIBUTES={"x":"y"}\n');
    install(root, { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: bundle.url, BLOX_BUNDLE_SHA256: bundle.sha256, BLOX_ECS_ATTRIBUTES_EXTRA: '"team":"platform"' });
    expect(readFileSync(join(root, 'etc/ecs/ecs.config'), 'utf8')).toBe(
      `ECS_ENABLE_CONTAINER_METADATA=true\nECS_CLUSTER=prod\nECS_INSTANCE_ATTRIBUTES={"${DAEMONS_ATTRIBUTE}":"${DAEMONS_PENDING}","team":"platform"}\n`,
    );
  });

  it('keeps the mode of an existing ecs.config (it may hold registry credentials); a new one is 0600', () => {
    const bundle = fakeBundle();
    const root = tempDir('root');
    run('mkdir', ['-p', join(root, 'etc/ecs')]);
    writeFileSync(join(root, 'etc/ecs/ecs.config'), 'ECS_ENGINE_AUTH_DATA={"secret":"x"}\n', { mode: 0o600 });
    install(root, { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: bundle.url, BLOX_BUNDLE_SHA256: bundle.sha256 });
    expect(lstatSync(join(root, 'etc/ecs/ecs.config')).mode & 0o777).toBe(0o600);
    const fresh = tempDir('root');
    install(fresh, { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: bundle.url, BLOX_BUNDLE_SHA256: bundle.sha256 });
    expect(lstatSync(join(fresh, 'etc/ecs/ecs.config')).mode & 0o777).toBe(0o600);
  });

  it('refuses a bundle whose SHA-256 does not match and installs nothing of it', () => {
    const bundle = fakeBundle();
    const root = tempDir('root');
    const result = runInstaller(script, root, { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: bundle.url, BLOX_BUNDLE_SHA256: 'ab'.repeat(32) });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('SHA-256 mismatch');
    expect(existsSync(join(root, 'opt/blox-edge/agent.js'))).toBe(false);
    expect(readdirSync(join(root, 'opt/blox-edge')).filter((f) => f.startsWith('agent.js'))).toEqual([]);
  });

  it('replaces the bundle when given a new one (agent upgrade)', () => {
    const root = tempDir('root');
    const first = fakeBundle('// v1\n');
    install(root, { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: first.url, BLOX_BUNDLE_SHA256: first.sha256 });
    const second = fakeBundle('// v2\n');
    const result = install(root, { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: second.url, BLOX_BUNDLE_SHA256: second.sha256.toUpperCase() });
    expect(result.stderr).toContain('wrote /opt/blox-edge/agent.js');
    expect(readFileSync(join(root, 'opt/blox-edge/agent.js'), 'utf8')).toBe('// v2\n');
  });

  it.each([
    [{ BLOX_CLUSTER: '' }, 'BLOX_CLUSTER must be an ECS cluster name'],
    [{ BLOX_CLUSTER: 'a b' }, 'BLOX_CLUSTER must be an ECS cluster name'],
    [{ BLOX_BUNDLE_URL: '' }, 'BLOX_BUNDLE_URL is required'],
    [{ BLOX_BUNDLE_SHA256: 'abc' }, 'BLOX_BUNDLE_SHA256 must be 64 hex digits'],
    [{ BLOX_NODE_MAJOR: '20' }, 'BLOX_NODE_MAJOR must be 22 or newer'],
    [{ BLOX_REGION: 'moon' }, 'BLOX_REGION is not a region'],
    [{ BLOX_BUNDLE_URL: 'ftp://host/agent.js' }, 'unsupported bundle URL'],
    [{ BLOX_AGENT_CONFIG_EXTRA: '"broken":' }, 'agent.json (check BLOX_AGENT_CONFIG_EXTRA) is not a valid JSON object'],
    [{ BLOX_ECS_ATTRIBUTES_EXTRA: '"team":' }, 'ECS_INSTANCE_ATTRIBUTES (check BLOX_ECS_ATTRIBUTES_EXTRA) is not a valid JSON object'],
  ])('rejects %o with a clear message, before writing the configuration', (override, message) => {
    const bundle = fakeBundle();
    const root = tempDir('root');
    const result = runInstaller(script, root, { BLOX_CLUSTER: 'prod', BLOX_BUNDLE_URL: bundle.url, BLOX_BUNDLE_SHA256: bundle.sha256, ...override });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(message);
    expect(existsSync(join(root, 'etc/blox-edge/agent.json'))).toBe(false);
    if ('BLOX_ECS_ATTRIBUTES_EXTRA' in override) expect(existsSync(join(root, 'etc/ecs/ecs.config'))).toBe(false);
  });

  it('rejects unknown arguments', () => {
    const result = runInstaller(script, tempDir('root'), {}, ['--frobnicate']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('unknown argument: --frobnicate');
  });

  it('bakes an AMI without configuration, then the short user-data configures it', () => {
    const bundle = fakeBundle();
    const root = tempDir('root');
    install(root, { BLOX_BUNDLE_URL: bundle.url, BLOX_BUNDLE_SHA256: bundle.sha256 }, ['--bake']);
    expect(existsSync(join(root, 'opt/blox-edge/agent.js'))).toBe(true);
    expect(existsSync(join(root, 'etc/systemd/system/blox-edge-agent.service'))).toBe(true);
    expect(readFileSync(join(root, 'opt/blox-edge/install.sh'), 'utf8')).toBe(installerScript());
    expect(statSync(join(root, 'opt/blox-edge/install.sh')).mode & 0o111).not.toBe(0);
    expect(existsSync(join(root, 'etc/blox-edge/agent.json'))).toBe(false);
    expect(existsSync(join(root, 'etc/ecs/ecs.config'))).toBe(false);

    const configure = join(repoRoot, 'userdata/configure.sh');
    for (let i = 0; i < 2; i++) {
      const result = runInstaller(configure, root, { BLOX_CLUSTER: 'edge', BLOX_TABLE: 'blox-prod', BLOX_LOG_LEVEL: 'debug' });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stderr).toContain('done (configure)');
      if (i === 1) expect(result.stderr).not.toMatch(/wrote /);
    }
    expect(readFileSync(join(root, 'etc/ecs/ecs.config'), 'utf8')).toContain('ECS_CLUSTER=edge\n');
    expect(JSON.parse(readFileSync(join(root, 'etc/blox-edge/agent.json'), 'utf8'))).toEqual({ table: 'blox-prod', logLevel: 'debug' });
  });

  it('the configure path refuses a host without the baked bundle', () => {
    const result = runInstaller(join(repoRoot, 'userdata/install.sh'), tempDir('root'), { BLOX_CLUSTER: 'edge' }, ['--configure']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no agent bundle in /opt/blox-edge');
  });
});
