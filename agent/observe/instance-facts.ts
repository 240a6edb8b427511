// The instance as ECS describes it (DescribeContainerInstances on itself): the attributes instance
// group expressions are evaluated on, and its status (ACTIVE, DRAINING). Read at start and on the
// slow reconcile interval, so that PutAttributes changes are picked up; retried after 5 s.
import type { InstanceFacts } from '../../core/cql.js';
import { errorMessage } from '../../core/errors.js';
import type { AgentContext } from '../context.js';
import type { EcsPort } from '../ports.js';

const RETRY_MS = 5_000;

export class InstanceFactsSource {
  private current: InstanceFacts | undefined;
  private ecsStatus: string | undefined;
  private nextReadMono = 0;

  constructor(
    private readonly ctx: AgentContext,
    private readonly ecs: EcsPort,
  ) {}

  get facts(): InstanceFacts | undefined {
    return this.current;
  }

  /** ACTIVE, DRAINING, ... as last read. */
  get status(): string | undefined {
    return this.ecsStatus;
  }

  async refresh(nowMono: number): Promise<void> {
    if (nowMono < this.nextReadMono) return;
    try {
      const self = await this.ecs.describeSelf();
      const facts = { ...self.facts };
      if (!facts.ec2InstanceId && this.ctx.identity.ec2InstanceId) facts.ec2InstanceId = this.ctx.identity.ec2InstanceId;
      if (JSON.stringify(facts.attributes) !== JSON.stringify(this.current?.attributes))
        this.ctx.log.info({ attributes: facts.attributes }, 'instance attributes read');
      this.current = facts;
      this.ecsStatus = self.status;
      this.nextReadMono = nowMono + this.ctx.config.ecsReconcileIntervalMs;
      this.ctx.troubles.recover('ecs');
    } catch (error) {
      this.nextReadMono = nowMono + Math.min(this.ctx.config.ecsReconcileIntervalMs, RETRY_MS);
      this.ctx.troubles.fail('ecs', `ECS: DescribeContainerInstances: ${errorMessage(error)}`, error);
    }
  }

  /** An attribute this agent just wrote (the daemons-first attribute): known without reading it back. */
  attributeWritten(name: string, value: string): void {
    if (this.current) this.current = { ...this.current, attributes: { ...this.current.attributes, [name]: value } };
  }
}
