// Drains the agent's own instance (scale-in, Spot, repair): one UpdateContainerInstancesState per
// episode; the instance facts learn the new status at once instead of at the next slow read.
import type { AgentContext } from '../context.js';
import type { InstanceFactsSource } from '../observe/instance-facts.js';
import type { EcsPort } from '../ports.js';

export class SelfDrain {
  constructor(
    private readonly ctx: AgentContext,
    private readonly ecs: EcsPort,
    private readonly facts: InstanceFactsSource,
  ) {}

  async drain(reason: string, nowMono: number): Promise<void> {
    if (this.facts.status === 'DRAINING') return;
    await this.ecs.drainSelf();
    this.facts.drainWritten(nowMono);
    this.ctx.metrics.inc('blox_agent_self_drains_total', 'The agent drained its own instance', {});
    this.ctx.log.warn({ reason }, 'instance drained by its agent');
  }
}
