// Waiting in tests: poll a probe until it yields a value, or fail naming what was awaited.

/** Thrown by a probe when waiting longer cannot help (e.g. the process it waits on has exited). */
export class StopWaiting extends Error {}

/**
 * Polls `probe` until it returns something other than undefined/false. A thrown error counts as
 * "not yet" (and is reported at the timeout), except StopWaiting, which ends the wait at once.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  intervalMs = 50,
  context: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (error instanceof StopWaiting) throw error;
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const detail = context();
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}${detail ? `\n${detail}` : ''}`);
}

/** Whether a process with this pid still exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
