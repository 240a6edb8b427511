// The Packer template: `packer validate` offline (Debian's packer 1.6, amazon builder built in; no
// plugin download, no AWS call) against a stand-in bundle directory, `packer fmt -check`, and
// the template's promises: the newest ECS-optimized AL2023 AMI looked up, Node.js from the
// distribution, the same installer as the user-data.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, run, tempDir, toolAvailable } from './shipping-support.js';

// No version check against the network (packer's "checkpoint").
const env = { ...process.env, CHECKPOINT_DISABLE: '1', PACKER_LOG: '' };
const hasPacker = toolAvailable('packer', ['version']);
const template = readFileSync(join(repoRoot, 'ami/blox-edge.pkr.hcl'), 'utf8');
const variables = readFileSync(join(repoRoot, 'ami/variables.pkr.hcl'), 'utf8');

function bundleDir(): string {
  const dir = tempDir('packer');
  writeFileSync(join(dir, 'agent.js'), '// stand-in\n');
  writeFileSync(join(dir, 'agent.js.map'), '{}\n');
  return dir;
}

function validate(...vars: string[]) {
  const args = ['validate', `-var=bundle_dir=${bundleDir()}`, `-var=bundle_sha256=${'ab'.repeat(32)}`, ...vars.map((v) => `-var=${v}`), 'ami/'];
  return run('packer', args, { env });
}

describe.skipIf(!hasPacker)('packer', () => {
  it('validates the template', () => {
    const result = validate();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('validates for arm64 with a source AMI override', () => {
    expect(
      validate('architecture=arm64', 'instance_type=t4g.small', 'source_ami=ami-0123456789abcdef0', 'region=eu-west-1', 'agent_version=1.2.3').status,
    ).toBe(0);
  });

  it('rejects an unknown architecture and a Node.js older than 22', () => {
    const arch = validate('architecture=sparc');
    expect(arch.status).not.toBe(0);
    expect(arch.stdout + arch.stderr).toContain('x86_64 or arm64');
    const node = validate('node_major=20');
    expect(node.status).not.toBe(0);
    expect(node.stdout + node.stderr).toContain('22 or newer');
  });

  it('requires the bundle checksum: the bake must refuse any other file', () => {
    const sha = 'ab'.repeat(32);
    for (const bad of [sha.slice(2), `${sha.slice(0, 30)}zz${sha.slice(32)}`, `${sha}00`]) {
      const result = validate(`bundle_sha256=${bad}`);
      expect(result.status, bad).not.toBe(0);
      expect(result.stdout + result.stderr).toContain('64 hex digits');
    }
    const unset = run('packer', ['validate', `-var=bundle_dir=${bundleDir()}`, 'ami/'], { env });
    expect(unset.status).not.toBe(0);
    expect(unset.stdout + unset.stderr).toMatch(/bundle_sha256/);
  });

  it('is formatted (packer fmt -check)', () => {
    const result = run('packer', ['fmt', '-check', 'ami/'], { env });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('the template', () => {
  it('looks up the newest ECS-optimized Amazon Linux 2023 AMI owned by Amazon', () => {
    // The filter only when no source AMI is given (else the builder would require it to match too).
    expect(template).toMatch(/dynamic "source_ami_filter" \{\n\s+for_each = var\.source_ami == "" \? \["newest"\] : \[\]/);
    expect(template).toContain('name                = "al2023-ami-ecs-hvm-*-${var.architecture}"');
    expect(template).toMatch(/owners\s+= \["amazon"\]/);
    expect(template).toMatch(/most_recent\s+= true/);
    expect(template).toContain('source_ami = var.source_ami == "" ? null : var.source_ami');
  });

  it('declares the variables of the issue', () => {
    for (const name of ['region', 'instance_type', 'source_ami', 'agent_version', 'architecture', 'node_major', 'bundle_dir']) {
      expect(variables, name).toContain(`variable "${name}" {`);
    }
  });

  it('bakes with the user-data installer: Node.js from dnf, the bundle under /opt/blox-edge, the unit', () => {
    expect(template).toContain('"${var.bundle_dir}/agent.js", "${var.bundle_dir}/agent.js.map", "userdata/install.sh"');
    expect(template).toContain('BLOX_NODE_MAJOR=${var.node_major}');
    expect(template).toMatch(/bash \/tmp\/blox-edge\/install\.sh --bake/);
    expect(template).toContain('/opt/blox-edge/bin/node /opt/blox-edge/agent.js --version');
    const installer = readFileSync(join(repoRoot, 'userdata/install.sh'), 'utf8');
    expect(installer).toContain('dnf install -y -q "nodejs${BLOX_NODE_MAJOR}"');
  });
});
