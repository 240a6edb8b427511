// Daemons first: keeps the instance's readiness attribute in step with its critical daemons
// (the pure decision is report/readiness.ts). One PutAttributes per change, none in steady state;
// a failed write is retried with backoff.
import type { AgentContext } from '../context.js';
import { Backoff } from '../memory/backoff.js';
import type { Report } from '../model.js';
import type { InstanceFactsSource } from '../observe/instance-facts.js';
import type { EcsPort } from '../ports.js';
import { readinessAttributeChange } from '../report/readiness.js';

const RETRY = { initialDelayMs: 5_000, maxDelayMs: 60_000, multiplier: 2 };

export class ReadinessWriter {
  private readonly retry: Backoff;

  constructor(
    private readonly ctx: AgentContext,
    private readonly ecs: EcsPort,
    private readonly facts: InstanceFactsSource,
  ) {
    this.retry = new Backoff(RETRY, ctx.random);
  }

  /** The instance is closed to new work: the attribute reads `pending` or `degraded` (or the feature is off). */
  get closed(): boolean {
    const attribute = this.ctx.config.daemonsReadyAttribute;
    const value = this.facts.facts?.attributes[attribute];
    return attribute === '' || value === 'pending' || value === 'degraded';
  }

  /**
   * `reports` undefined: desired state not read yet (nothing is written). `draining`: closed whatever
   * the daemons do; `degraded`: a critical daemon fails (decide/repair.ts), shown whatever else holds.
   */
  async publish(reports: readonly Report[] | undefined, critical: ReadonlySet<string>, nowMono: number, draining = false, degraded = false): Promise<void> {
    const attributes = this.facts.facts?.attributes;
    if (this.retry.active(nowMono) || !attributes) return;
    const attribute = this.ctx.config.daemonsReadyAttribute;
    const value = readinessAttributeChange({ attribute, attributes, reports, critical, draining, degraded });
    if (!value) return;
    try {
      await this.ecs.putOwnAttribute(attribute, value);
      this.retry.clear();
      this.facts.attributeWritten(attribute, value);
      this.ctx.metrics.inc('blox_agent_readiness_changes_total', 'Daemons-first attribute writes, by value', { value });
      this.ctx.log.info(
        { attribute, value },
        value === 'ready'
          ? 'critical daemons ready: instance open for other work'
          : value === 'degraded'
            ? 'a critical daemon is failing: instance marked degraded'
            : draining
              ? 'instance draining: closed to new work'
              : 'a critical daemon is not ready: instance closed to new work',
      );
    } catch (error) {
      this.retry.fail(String(error), nowMono);
      this.ctx.troubles.record('ecs', error);
    }
  }
}
