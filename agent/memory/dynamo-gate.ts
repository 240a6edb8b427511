// DynamoDB's availability as this agent sees it: one backoff for every poll, claim read and claim
// write (a throttled or unreachable table is not retried at loop pace), and the `dynamodb`
// degraded reason. The status record keeps its own retry (report/status-writer.ts) so that a
// write only it fails (say, a policy denying it) never holds up polls and heartbeats.
import { errorMessage } from '../../core/errors.js';
import type { AgentContext } from '../context.js';
import type { BackoffShape } from '../restart-policy.js';
import { Backoff } from './backoff.js';

export const DYNAMO_RETRY: BackoffShape = { initialDelayMs: 500, maxDelayMs: 15_000, multiplier: 2 };

export class DynamoGate {
  private readonly backoff: Backoff;

  constructor(private readonly ctx: AgentContext) {
    this.backoff = new Backoff(DYNAMO_RETRY, ctx.random);
  }

  available(nowMono: number): boolean {
    return this.backoff.active(nowMono) === undefined;
  }

  failed(error: unknown, what: string): void {
    const delay = this.backoff.fail(errorMessage(error), this.ctx.clock.monoMs());
    this.ctx.metrics.inc('blox_agent_backoff_seconds_total', 'Backoff scheduled, by kind', { kind: 'dynamodb' }, delay / 1000);
    this.ctx.troubles.fail('dynamodb', `DynamoDB: ${what}: ${errorMessage(error)}`, error);
  }

  ok(): void {
    this.backoff.clear();
    this.ctx.troubles.recover('dynamodb');
  }
}
