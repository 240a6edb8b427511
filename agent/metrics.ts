// A minimal Prometheus registry (text exposition format 0.0.4): counters, gauges and histograms
// with labels. One per agent (no module-level state), so one process can host many agents.

type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
};
const keyOf = (labels: Labels) => JSON.stringify(Object.entries(labels).sort());

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  buckets?: number[];
  series: Map<string, { labels: Labels; value: number; counts?: number[]; sum?: number }>;
}

export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  private readonly families = new Map<string, Family>();

  private family(name: string, help: string, type: Family['type'], buckets?: number[]): Family {
    let f = this.families.get(name);
    if (!f) {
      f = { name, help, type, series: new Map(), ...(buckets ? { buckets } : {}) };
      this.families.set(name, f);
    }
    return f;
  }

  private series(f: Family, labels: Labels) {
    const key = keyOf(labels);
    let s = f.series.get(key);
    if (!s) {
      s = { labels, value: 0, ...(f.buckets ? { counts: f.buckets.map(() => 0), sum: 0 } : {}) };
      f.series.set(key, s);
    }
    return s;
  }

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    this.series(this.family(name, help, 'counter'), labels).value += by;
  }

  set(name: string, help: string, labels: Labels, value: number): void {
    this.series(this.family(name, help, 'gauge'), labels).value = value;
  }

  observe(name: string, help: string, labels: Labels, value: number, buckets = DURATION_BUCKETS): void {
    const s = this.series(this.family(name, help, 'histogram', buckets), labels);
    s.value += 1;
    s.sum = (s.sum ?? 0) + value;
    buckets.forEach((b, i) => {
      if (value <= b && s.counts) s.counts[i] = (s.counts[i] ?? 0) + 1;
    });
  }

  /** The current value of a counter or gauge series (0 if absent), for status and tests. */
  value(name: string, labels: Labels = {}): number {
    return this.families.get(name)?.series.get(keyOf(labels))?.value ?? 0;
  }

  /** Sum over all series of a family whose labels include `match`. */
  total(name: string, match: Labels = {}): number {
    let sum = 0;
    for (const s of this.families.get(name)?.series.values() ?? []) {
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
    return sum;
  }

  render(): string {
    const lines: string[] = [];
    for (const f of this.families.values()) {
      lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
      for (const s of f.series.values()) {
        if (f.type !== 'histogram') {
          lines.push(`${f.name}${labelText(s.labels)} ${s.value}`);
          continue;
        }
        f.buckets?.forEach((b, i) => lines.push(`${f.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts?.[i] ?? 0}`));
        lines.push(`${f.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.value}`);
        lines.push(`${f.name}_sum${labelText(s.labels)} ${s.sum ?? 0}`);
        lines.push(`${f.name}_count${labelText(s.labels)} ${s.value}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}

/** Counts an API call by service, operation and outcome, and times it. */
export async function recordCall<T>(
  metrics: Metrics,
  service: 'ecs' | 'dynamodb' | 'autoscaling' | 'ecs-agent' | 'imds' | 'docker',
  operation: string,
  monoMs: () => number,
  call: () => Promise<T>,
): Promise<T> {
  const start = monoMs();
  try {
    const result = await call();
    metrics.inc('blox_agent_api_calls_total', 'API calls by service, operation and outcome', { service, operation, outcome: 'ok' });
    return result;
  } catch (error) {
    metrics.inc('blox_agent_api_calls_total', 'API calls by service, operation and outcome', { service, operation, outcome: outcomeOf(error) });
    throw error;
  } finally {
    metrics.observe('blox_agent_api_call_duration_seconds', 'API call durations', { service, operation }, (monoMs() - start) / 1000);
  }
}

export function outcomeOf(error: unknown): string {
  const name = (error as { name?: string } | undefined)?.name ?? '';
  if (/Throttl|TooManyRequests|ProvisionedThroughputExceeded|RequestLimitExceeded/i.test(name)) return 'throttled';
  if (name === 'ConditionalCheckFailedException' || name === 'LeaseConflictError') return 'conflict';
  if (/Timeout|Abort/i.test(name)) return 'timeout';
  return 'error';
}
