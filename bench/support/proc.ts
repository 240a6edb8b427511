// Resident memory and CPU time of a process, from Linux's /proc (no sampling library):
// VmRSS and VmHWM from /proc/<pid>/status, utime + stime (clock ticks) from /proc/<pid>/stat.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Clock ticks per second (getconf CLK_TCK; 100 on every Linux this runs on in practice). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks =
        Number(
          execFileSync('getconf', ['CLK_TCK'], { stdio: ['ignore', 'pipe', 'ignore'] })
            .toString()
            .trim(),
        ) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface ProcSample {
  rssKb: number;
  hwmKb: number;
  /** utime + stime, in seconds. */
  cpuSeconds: number;
}

/** One reading, or undefined when the process is gone (or /proc is not Linux's). */
export function readProc(pid: number): ProcSample | undefined {
  let status: string;
  let stat: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) : undefined;
  };
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const rssKb = kb('VmRSS');
  const hwmKb = kb('VmHWM');
  if (rssKb === undefined || hwmKb === undefined || !Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { rssKb, hwmKb, cpuSeconds: (utime + stime) / clockTicksPerSecond() };
}

export interface IdleProfile {
  pid: number;
  seconds: number;
  samples: number;
  /** Every VmRSS sample of the window, in order. */
  rssSeriesKb: number[];
  rssFirstKb: number;
  rssMeanKb: number;
  rssMaxKb: number;
  rssLastKb: number;
  /** Peak RSS over the process's life (start-up included). */
  hwmKb: number;
  /** CPU time used during the window, in seconds. */
  cpuSeconds: number;
  /** cpuSeconds / wall seconds, as a percentage of one core. */
  cpuPercent: number;
}

/**
 * Samples several processes side by side over the same window (same machine load for all):
 * RSS every `everyMs`, CPU as the difference of utime + stime between the window's ends.
 */
export async function profileIdle(pids: number[], seconds: number, everyMs = 1_000): Promise<Map<number, IdleProfile>> {
  const first = new Map<number, ProcSample>();
  const rss = new Map<number, number[]>();
  for (const pid of pids) {
    const s = readProc(pid);
    if (!s) throw new Error(`process ${pid} is not running (cannot read /proc/${pid})`);
    first.set(pid, s);
    rss.set(pid, [s.rssKb]);
  }
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, Math.min(everyMs, Math.max(0, end - performance.now()))));
    for (const pid of pids) {
      const s = readProc(pid);
      if (!s) throw new Error(`process ${pid} exited during the measurement window`);
      rss.get(pid)!.push(s.rssKb);
    }
  }
  const wall = (performance.now() - started) / 1000;
  const result = new Map<number, IdleProfile>();
  for (const pid of pids) {
    const last = readProc(pid);
    if (!last) throw new Error(`process ${pid} exited at the end of the measurement window`);
    const list = rss.get(pid)!;
    const cpuSeconds = last.cpuSeconds - first.get(pid)!.cpuSeconds;
    result.set(pid, {
      pid,
      seconds: wall,
      samples: list.length,
      rssSeriesKb: list,
      rssFirstKb: list[0] ?? Number.NaN,
      rssMeanKb: list.reduce((a, b) => a + b, 0) / list.length,
      rssMaxKb: Math.max(...list),
      rssLastKb: last.rssKb,
      hwmKb: last.hwmKb,
      cpuSeconds,
      cpuPercent: (cpuSeconds / wall) * 100,
    });
  }
  return result;
}
