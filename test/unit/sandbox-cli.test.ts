// `blox local` answers --help for itself and for every command, before it looks for a sandbox
// (none runs here: a command that went on would fail to find one).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { commandUsage, localCommand, LOCAL_USAGE } from '../../local/sandbox/cli.js';

const COMMANDS = ['status', 'add-instance', 'terminate-instance', 'drain-instance', 'set-desired-capacity', 'set-instance-health', 'spot-interrupt', 'down'];

describe('blox local --help', () => {
  const out: string[] = [];
  const err: string[] = [];
  const capture = () => {
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
  };
  afterEach(() => {
    vi.restoreAllMocks();
    out.length = 0;
    err.length = 0;
  });

  it.each(COMMANDS)('%s --help prints its usage and exits 0', async (command) => {
    capture();
    expect(await localCommand([command, '--help', '--state-dir', '/nonexistent'])).toBe(0);
    expect(out.join('')).toBe(commandUsage(command));
    expect(out.join('')).toMatch(new RegExp(`^usage: blox local ${command}`));
    expect(err).toEqual([]);
  });

  it('-h works as --help; the overview lists every command', async () => {
    capture();
    expect(await localCommand(['add-instance', '-h'])).toBe(0);
    expect(out.join('')).toMatch(/--instance-type/);
    for (const command of ['up', ...COMMANDS]) expect(LOCAL_USAGE).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('an unknown command with --help is a usage error that says so', async () => {
    capture();
    expect(await localCommand(['bogus', '--help'])).toBe(64);
    expect(err.join('')).toMatch(/unknown command "bogus"/);
  });
});
