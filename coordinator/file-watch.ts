// Notices that files an operator replaces while the coordinator runs (the token file, the TLS
// certificate and key) have changed. It polls their stat rather than using fs.watch: fs.watch loses
// the file when it is replaced by a rename (`mv`, editors, secret managers, Kubernetes' symlink swap).
import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';

export const DEFAULT_WATCH_INTERVAL_MS = 1_000;

export interface FileWatch {
  close(): void;
}

/** Changes when the file is rewritten or replaced; 'missing' while it cannot be stat'ed. */
function signature(stats: { ino: number; size: number; mtimeMs: number; ctimeMs: number } | undefined): string {
  return stats ? `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}` : 'missing';
}

/**
 * Calls `onChange` once after any of `paths` changed (checked every `intervalMs`). Create it before
 * reading the files the first time: a change between the two is then seen by the first poll.
 * Polls never overlap: the next one is scheduled after `onChange` settles.
 */
export function watchFiles(paths: string[], intervalMs: number, onChange: () => void | Promise<void>): FileWatch {
  const seen = new Map(paths.map((path) => [path, signature(statOrUndefined(path))]));
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const poll = async (): Promise<void> => {
    let changed = false;
    for (const path of paths) {
      const now = signature(await stat(path).catch(() => undefined));
      if (now !== seen.get(path)) changed = true;
      seen.set(path, now);
    }
    if (changed) await onChange();
  };
  const schedule = (): void => {
    if (closed) return;
    // onChange reports its own failures; a throw here must not become an unhandled rejection.
    timer = setTimeout(
      () =>
        void poll()
          .catch(() => undefined)
          .finally(schedule),
      intervalMs,
    );
    timer.unref();
  };
  schedule();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
