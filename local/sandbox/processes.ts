// Child processes of the sandbox (DynamoDB Local's java, the coordinator, one agent per instance):
// started with their output in a log file, stopped with SIGTERM then SIGKILL, never left behind.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly hasExited: () => boolean;
}

export function track(name: string, child: ChildProcess): Child {
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once('error', () => {
      if (child.pid === undefined) {
        done = true;
        resolve({ code: null, signal: null });
      }
    });
  });
  return { name, process: child, pid: child.pid ?? -1, exited, hasExited: () => done || child.exitCode !== null || child.signalCode !== null };
}

/** Spawns a command with stdout and stderr appended to `logFile`. */
export function spawnLogged(name: string, command: string, args: string[], logFile: string, options: SpawnOptions = {}): Child {
  const fd = openSync(logFile, 'a');
  try {
    // Own process group: a Ctrl-C in the terminal reaches only the sandbox, which stops its children in order.
    const child = spawn(command, args, { detached: true, ...options, stdio: ['ignore', fd, fd] });
    return track(name, child);
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopChild(child: Child, graceMs = 5_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.hasExited()) return;
  child.process.kill(signal);
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
  if ((await Promise.race([child.exited, timer])) === 'timeout' && !child.hasExited()) {
    child.process.kill('SIGKILL');
    await child.exited;
  }
}

/** Whether a pid names a live process. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
