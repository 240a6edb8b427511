// The instance as ECS describes it (DescribeContainerInstances on itself): the attributes instance
// group expressions are evaluated on, and its status (ACTIVE, DRAINING). Read at start and on the
// slow reconcile interval, so that PutAttributes changes are picked up; retried after 5 s. While
// the instance is DRAINING it is read every 10 s at most (an instance set ACTIVE again is seen
// soon), and at once (5 s apart at most) when a task this system did not start is told to stop:
// that is how a drain begins, and the daemons-first attribute must close the instance without
// waiting for the slow interval. Owns since when the instance has been seen DRAINING.
import type { InstanceFacts } from '../../core/cql.js';
import { errorMessage } from '../../core/errors.js';
import type { AgentContext } from '../context.js';
import type { ObservedTask } from '../model.js';
import type { EcsPort } from '../ports.js';

const RETRY_MS = 5_000;
const DRAINING_READ_MS = 10_000;

export class InstanceFactsSource {
  private current: InstanceFacts | undefined;
  private ecsStatus: string | undefined;
  private nextReadMono = 0;
  private lastReadMono: number | undefined;
  private drainingSinceMono: number | undefined;
  /** Tasks of other schedulers seen told to stop (each triggers one early read). */
  private stoppingSeen = new Set<string>();

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

  /** How long the instance has been seen DRAINING without a break (0 when it is not). */
  drainingFor(nowMono: number): number {
    return this.drainingSinceMono === undefined ? 0 : nowMono - this.drainingSinceMono;
  }

  /**
   * A task this system did not start, newly told to stop, may be the start of a drain: the status
   * is read soon (5 s after the last read at the earliest). Each such task triggers this once.
   */
  watchTasks(tasks: readonly ObservedTask[] | undefined, nowMono: number): void {
    if (!tasks) return;
    const stopping = new Set(tasks.filter((t) => !t.ours && t.desiredStatus === 'STOPPED' && t.lastStatus !== 'STOPPED').map((t) => t.taskArn));
    const fresh = [...stopping].some((arn) => !this.stoppingSeen.has(arn));
    this.stoppingSeen = stopping;
    if (!fresh || this.ecsStatus === 'DRAINING') return;
    const earliest = this.lastReadMono === undefined ? nowMono : this.lastReadMono + RETRY_MS;
    this.nextReadMono = Math.min(this.nextReadMono, Math.max(nowMono, earliest));
  }

  async refresh(nowMono: number): Promise<void> {
    if (nowMono < this.nextReadMono) return;
    this.lastReadMono = nowMono;
    try {
      const self = await this.ecs.describeSelf();
      const facts = { ...self.facts };
      if (!facts.ec2InstanceId && this.ctx.identity.ec2InstanceId) facts.ec2InstanceId = this.ctx.identity.ec2InstanceId;
      if (JSON.stringify(facts.attributes) !== JSON.stringify(this.current?.attributes))
        this.ctx.log.info({ attributes: facts.attributes }, 'instance attributes read');
      this.current = facts;
      if (self.status === 'DRAINING') this.drainingSinceMono ??= nowMono;
      else this.drainingSinceMono = undefined;
      if (self.status !== this.ecsStatus && this.ecsStatus !== undefined)
        this.ctx.log.info({ from: this.ecsStatus, to: self.status }, 'instance ECS status changed');
      this.ecsStatus = self.status;
      const every = self.status === 'DRAINING' ? Math.min(DRAINING_READ_MS, this.ctx.config.ecsReconcileIntervalMs) : this.ctx.config.ecsReconcileIntervalMs;
      this.nextReadMono = nowMono + every;
      this.ctx.troubles.recover('ecs');
    } catch (error) {
      this.nextReadMono = nowMono + Math.min(this.ctx.config.ecsReconcileIntervalMs, RETRY_MS);
      this.ctx.troubles.fail('ecs', `ECS: DescribeContainerInstances: ${errorMessage(error)}`, error);
    }
  }

  /** The agent drained its own instance: DRAINING from now, read back at the next step. */
  drainWritten(nowMono: number): void {
    this.ecsStatus = 'DRAINING';
    this.drainingSinceMono ??= nowMono;
    this.nextReadMono = nowMono;
  }

  /** An attribute this agent just wrote (the daemons-first attribute): known without reading it back. */
  attributeWritten(name: string, value: string): void {
    if (this.current) this.current = { ...this.current, attributes: { ...this.current.attributes, [name]: value } };
  }
}
