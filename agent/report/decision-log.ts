// Every planned action is one pino line (`msg: "decision"`, environment, action, reason) and a count
// in blox_agent_decisions_total. A wait or heartbeat repeated step after step with the same reason
// goes to debug level, so a log at info says what changed.
import type pino from 'pino';
import type { Metrics } from '../metrics.js';
import type { Action } from '../model.js';

export class DecisionLog {
  /** Per chain: the last repeated action logged at info (kept only while it repeats). */
  private repeated = new Map<string, string>();
  private seen = new Map<string, string>();

  constructor(
    private readonly log: pino.Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Once per reconcile step, before its first action. */
  beginStep(): void {
    this.repeated = this.seen;
    this.seen = new Map();
  }

  action(chain: string, action: Action): void {
    this.metrics.inc('blox_agent_decisions_total', 'Actions planned, by type', { action: action.type });
    const fields = {
      environment: 'environment' in action ? action.environment : undefined,
      action: action.type,
      reason: action.reason,
      ...('taskArn' in action ? { taskArn: action.taskArn } : {}),
      ...('token' in action ? { token: action.token } : {}),
    };
    if (action.type === 'wait' || action.type === 'renew-instance') {
      const key = `${action.type}:${action.reason.replace(/\d+ ms/g, '')}`;
      this.seen.set(chain, key);
      if (this.repeated.get(chain) === key) return this.log.debug(fields, 'decision');
    }
    this.log.info(fields, 'decision');
  }
}
