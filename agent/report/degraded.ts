// What the agent tells about its own trouble: the reasons it is degraded (by source, each set when
// a dependency fails and cleared when it answers again) and the last errors, with times.
import type pino from 'pino';
import { errorMessage } from '../../core/errors.js';
import { outcomeOf, type Metrics } from '../metrics.js';

export interface AgentErrorRecord {
  source: string;
  message: string;
  at: string;
}

const KEPT_ERRORS = 20;

export class Troubles {
  private readonly degradedBy = new Map<string, string>();
  private readonly errors: AgentErrorRecord[] = [];

  constructor(
    private readonly log: pino.Logger,
    private readonly metrics: Metrics,
    private readonly wallMs: () => number,
  ) {}

  /** `source` is degraded for `reason` until cleared (logged once per episode). */
  degrade(source: string, reason: string): void {
    if (!this.degradedBy.has(source)) this.log.warn({ source, reason }, 'degraded');
    this.degradedBy.set(source, reason);
  }

  /** `source` answers again; with `prefix`, every source whose name starts with it too. */
  recover(source: string, options: { prefix?: boolean } = {}): void {
    for (const key of [...this.degradedBy.keys()]) {
      if (key !== source && !(options.prefix && key.startsWith(source))) continue;
      this.degradedBy.delete(key);
      this.log.info({ source: key }, 'recovered');
    }
  }

  record(source: string, error: unknown): void {
    this.errors.push({ source, message: errorMessage(error), at: new Date(this.wallMs()).toISOString() });
    if (this.errors.length > KEPT_ERRORS) this.errors.shift();
    this.metrics.inc('blox_agent_errors_total', 'Errors, by source and kind', { source: source.split(' ')[0] ?? source, outcome: outcomeOf(error) });
  }

  /** A failure that degrades its source and is recorded as an error. */
  fail(source: string, reason: string, error: unknown): void {
    this.degrade(source, reason);
    this.record(source.split(':')[0] ?? source, error);
  }

  get degraded(): boolean {
    return this.degradedBy.size > 0;
  }

  reasons(): string[] {
    return [...this.degradedBy.values()];
  }

  lastError(): AgentErrorRecord | undefined {
    return this.errors.at(-1);
  }

  /** Newest first. */
  recentErrors(): AgentErrorRecord[] {
    return [...this.errors].reverse();
  }
}
