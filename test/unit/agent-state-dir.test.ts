// The agent's state directory: one process at a time, an owner name that survives restarts.
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claimStateDir, StateDirBusyError, StateDirError } from '../../agent/state-dir.js';

const dirs: string[] = [];
const freshDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'blox-state-'));
  dirs.push(dir);
  return dir;
};

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('claimStateDir', () => {
  it('writes an owner name once and gives it back on the next claim', async () => {
    const dir = freshDir();
    const first = await claimStateDir(dir, 'linux');
    expect(first).toMatchObject({ persistent: true, resumed: false });
    expect(first.owner).toMatch(/^agent-[0-9a-f]{12}$/);
    expect(readFileSync(join(dir, 'owner'), 'utf8').trim()).toBe(first.owner);
    await first.release();
    const second = await claimStateDir(dir, 'linux');
    expect(second).toMatchObject({ owner: first.owner, persistent: true, resumed: true });
    await second.release();
  });

  it('refuses a second claim while the first holds the directory, and allows it after release', async () => {
    const dir = freshDir();
    const held = await claimStateDir(dir, 'linux');
    await expect(claimStateDir(dir, 'linux')).rejects.toBeInstanceOf(StateDirBusyError);
    await expect(claimStateDir(join(dir, '.'), 'linux')).rejects.toThrow(/another blox-edge agent is running/); // the same directory by another spelling
    const link = join(freshDir(), 'link');
    symlinkSync(dir, link);
    await expect(claimStateDir(link, 'linux')).rejects.toBeInstanceOf(StateDirBusyError); // and through a symlink
    const other = await claimStateDir(freshDir(), 'linux'); // another directory is another lock
    await other.release();
    await held.release();
    const again = await claimStateDir(dir, 'linux');
    expect(again.owner).toBe(held.owner);
    await again.release();
  });

  it('replaces an owner file that is not one of its names with a fresh name', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'owner'), 'someone else\n');
    const claimed = await claimStateDir(dir, 'linux');
    expect(claimed).toMatchObject({ resumed: false });
    expect(claimed.owner).toMatch(/^agent-[0-9a-f]{12}$/);
    expect(readFileSync(join(dir, 'owner'), 'utf8').trim()).toBe(claimed.owner);
    await claimed.release();
  });

  it('creates a missing directory', async () => {
    const parent = freshDir();
    const created = await claimStateDir(join(parent, 'a', 'b'), 'linux');
    expect(readFileSync(join(parent, 'a', 'b', 'owner'), 'utf8')).toContain(created.owner);
    await created.release();
  });

  it('a directory it cannot create: a StateDirError naming it (a file in its way; root ignores permissions)', async () => {
    const parent = freshDir();
    writeFileSync(join(parent, 'file'), '');
    const attempt = claimStateDir(join(parent, 'file', 'state'), 'linux');
    await expect(attempt).rejects.toBeInstanceOf(StateDirError);
    await expect(attempt).rejects.toThrow(`state directory ${join(parent, 'file', 'state')} is not usable`);
  });

  it('without abstract sockets (not Linux) nothing is persisted: a fresh owner each time', async () => {
    const dir = freshDir();
    const a = await claimStateDir(dir, 'darwin');
    const b = await claimStateDir(dir, 'darwin');
    expect(a).toMatchObject({ persistent: false, resumed: false });
    expect(a.owner).not.toBe(b.owner);
    expect(() => readFileSync(join(dir, 'owner'))).toThrow();
  });
});
