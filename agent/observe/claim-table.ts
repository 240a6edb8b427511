// The agent's view of the instance heartbeat and of its environments' claims, and the reads that
// keep it true. Uncontested, nothing is read in steady state: the holder knows what it wrote.
// - The heartbeat is read until this agent holds it; held by another agent, it is read again every
//   quarter lease to watch its record version.
// - While this agent acts for the instance, each environment's claim is read once (then its own
//   writes keep the view), a v1 lease another agent still heartbeats is watched like the heartbeat,
//   and a malformed claim is read again every quarter lease until it is fixed.
// Writes (act/claim-writer.ts) report their outcome here, so the view is always what was last
// seen of each item.
import { InvalidRecordError } from '../../core/errors.js';
import type { ClaimRecord, InstanceHeartbeat } from '../../core/records.js';
import { judgeClaim } from '../claims.js';
import type { AgentContext } from '../context.js';
import { judgeLease, ownLeaseStale, renewDue, type LeaseSighting } from '../lease.js';
import type { DynamoGate } from '../memory/dynamo-gate.js';
import type { ClaimView, InstanceLeaseView, InstanceStanding } from '../model.js';
import type { ClaimPort } from '../ports.js';

interface ClaimSlot {
  view: ClaimView;
  sighting?: LeaseSighting;
  lastReadMono?: number;
}

export class ClaimTable {
  private instance: InstanceLeaseView = { state: 'unknown', reason: 'not read yet' };
  private instanceLastWriteMono: number | undefined;
  private instanceLastReadMono: number | undefined;
  private readonly claims = new Map<string, ClaimSlot>();

  constructor(
    private readonly ctx: AgentContext,
    private readonly port: ClaimPort,
    private readonly dynamo: DynamoGate,
  ) {}

  get instanceView(): InstanceLeaseView {
    return this.instance;
  }

  /** Acts for the instance: holds the heartbeat and renewed it within the lease. */
  standing(nowMono: number): InstanceStanding {
    if (this.instance.state !== 'mine')
      return {
        acting: false,
        reason:
          this.instance.state === 'unknown' ? 'reading the instance lease' : `instance lease ${this.instance.reason}; another agent acts for this instance`,
      };
    if (ownLeaseStale(this.instanceLastWriteMono, this.ctx.config.leaseDurationMs, nowMono))
      return { acting: false, reason: 'instance lease not renewed within its duration: renewing before acting' };
    return { acting: true, reason: 'acting for this instance' };
  }

  renewDue(nowMono: number): boolean {
    return this.instance.state === 'mine' && renewDue(this.instanceLastWriteMono, this.ctx.config.leaseDurationMs, nowMono);
  }

  /** The heartbeat this agent holds, for a write conditional on it; undefined when it holds none. */
  heldHeartbeat(): InstanceHeartbeat | undefined {
    return this.instance.state === 'mine' ? this.instance.item : undefined;
  }

  claimViews(): Record<string, ClaimView> {
    return Object.fromEntries([...this.claims].map(([env, slot]) => [env, slot.view]));
  }

  claim(env: string): ClaimView | undefined {
    return this.claims.get(env)?.view;
  }

  /**
   * Watches a heartbeat another agent holds: read again every quarter lease, judged again on this
   * agent's clock in between. Unknown, nothing is read: the first acquire (conditional on its
   * absence) either takes it or comes back with the item that is there.
   */
  async observeInstance(nowMono: number): Promise<void> {
    if (this.instance.state !== 'other' && this.instance.state !== 'expired') return;
    if (this.instanceLastReadMono !== undefined && nowMono - this.instanceLastReadMono < this.rereadMs()) {
      if (this.instance.item) this.instanceSeen(this.instance.item, nowMono);
      return;
    }
    if (!this.dynamo.available(nowMono)) return;
    try {
      const item = await this.port.getHeartbeat(this.ctx.identity.containerInstanceId);
      this.instanceLastReadMono = nowMono;
      this.instanceSeen(item, nowMono);
      this.dynamo.ok();
    } catch (error) {
      if (error instanceof InvalidRecordError) this.instanceUnreadable(error, nowMono);
      else this.dynamo.failed(error, 'reading the instance heartbeat');
    }
  }

  /**
   * The claims of `environments` this agent has not read (one BatchGetItem), and v1 leases it
   * watches or malformed claims, again every quarter lease. Only for the instance's holder.
   */
  async observeClaims(nowMono: number, environments: ReadonlySet<string>): Promise<void> {
    if (this.instance.state !== 'mine') return;
    const every = this.rereadMs();
    const due: string[] = [];
    for (const env of environments) {
      const slot = this.claims.get(env);
      if (
        !slot ||
        ((slot.view.state === 'watching' || slot.view.state === 'invalid') && (slot.lastReadMono === undefined || nowMono - slot.lastReadMono >= every))
      )
        due.push(env);
      else if (slot.view.state === 'watching' && slot.view.item) this.claimSeen(env, slot.view.item, nowMono, false); // expiry on this agent's clock
    }
    if (due.length === 0 || !this.dynamo.available(nowMono)) return;
    try {
      const read = await this.port.getClaims(due, this.ctx.identity.containerInstanceId);
      for (const [env, item] of read) {
        if (item instanceof InvalidRecordError) this.claimUnreadable(env, item, nowMono);
        else this.claimSeen(env, item, nowMono, true);
      }
      this.dynamo.ok();
    } catch (error) {
      this.dynamo.failed(error, 'reading claims');
    }
  }

  private rereadMs(): number {
    return Math.max(500, this.ctx.config.leaseDurationMs / 4);
  }

  /** Forgets the claims of environments that are no longer relevant here and whose claim this agent does not hold. */
  forget(relevant: ReadonlySet<string>): void {
    for (const [env, slot] of this.claims) if (!relevant.has(env) && slot.view.state !== 'mine' && slot.view.state !== 'takeable') this.claims.delete(env);
  }

  // ---- outcomes of writes (act/claim-writer.ts)

  instanceWritten(item: InstanceHeartbeat, nowMono: number): void {
    const before = this.instance.state;
    this.instance = { state: 'mine', item, reason: 'held by this agent' };
    this.instanceLastWriteMono = nowMono;
    if (before !== 'mine') this.ctx.log.info({ owner: this.ctx.owner }, 'acting for this instance');
  }

  /** A heartbeat this agent cannot read (a newer agent's, or hand-written): never taken, read again later. */
  instanceUnreadable(error: InvalidRecordError, nowMono: number): void {
    this.instanceLastReadMono = nowMono;
    this.instanceLastWriteMono = undefined;
    this.instance = { state: 'other', reason: `unreadable: ${error.message}` };
    this.ctx.troubles.fail('heartbeat', `instance heartbeat: ${error.message}`, error);
  }

  /** A lost conditional write of the heartbeat: `current` is the item that won. */
  instanceConflict(current: InstanceHeartbeat | null, nowMono: number): void {
    this.instanceLastReadMono = nowMono;
    this.instanceLastWriteMono = undefined;
    this.instanceSeen(current, nowMono);
  }

  claimWritten(env: string, claim: ClaimRecord): void {
    this.claims.set(env, { view: { state: 'mine', item: claim, reason: 'written by this agent' } });
  }

  claimConflict(env: string, current: ClaimRecord | null, nowMono: number): void {
    this.claimSeen(env, current, nowMono, true);
  }

  claimDeleted(env: string): void {
    this.claims.set(env, { view: { state: 'absent', reason: 'released by this agent' } });
  }

  claimUnreadable(env: string, error: InvalidRecordError, nowMono: number): void {
    this.claims.set(env, { view: { state: 'invalid', reason: `record invalid: ${error.message}` }, lastReadMono: nowMono });
    this.ctx.troubles.fail(`claim:${env}`, `claim of ${env}: ${error.message}`, error);
  }

  private instanceSeen(item: InstanceHeartbeat | null, nowMono: number): void {
    const before = this.instance.state;
    const judged = judgeLease(item, this.ctx.owner, this.instance.sighting, nowMono);
    this.instance = judged;
    this.ctx.troubles.recover('heartbeat');
    if (judged.state === 'expired' && before !== 'expired') this.ctx.log.info({ reason: judged.reason }, 'instance lease expired');
  }

  private claimSeen(env: string, item: ClaimRecord | null, nowMono: number, read: boolean): void {
    const previous = this.claims.get(env);
    const { view, sighting } = judgeClaim(item, this.ctx.owner, previous?.sighting, nowMono);
    const slot: ClaimSlot = { view, ...(sighting ? { sighting } : {}) };
    const lastRead = read ? nowMono : previous?.lastReadMono;
    if (lastRead !== undefined) slot.lastReadMono = lastRead;
    this.claims.set(env, slot);
    if (read) this.ctx.troubles.recover(`claim:${env}`);
    if (view.state !== previous?.view.state && (view.state === 'takeable' || view.state === 'watching'))
      this.ctx.log.info({ environment: env, state: view.state, reason: view.reason }, 'claim seen');
  }
}
