// Critical-daemon repair, carried out (the decision is decide/repair.ts): reads and writes the
// environment's repair budget (core/records/repair.ts), drains the instance, and with `replace`
// sets it Unhealthy in its Auto Scaling group. It owns what the agent remembers of repair: whether
// this instance holds a budget, whether it was set Unhealthy.
import { errorMessage } from '../../core/errors.js';
import { holderGone, resolveCountOrPercent, takeSlot, type RepairBudgetRecord, type RepairHolder } from '../../core/records.js';
import type { AgentContext } from '../context.js';
import { decideRepair, type RepairDecision, type RepairEnvInput } from '../decide/repair.js';
import { Backoff } from '../memory/backoff.js';
import type { AgentPorts } from '../ports.js';
import { WriteConflictError } from '../ports.js';
import type { SelfDrain } from './self-drain.js';

const RETRY = { initialDelayMs: 2_000, maxDelayMs: 60_000, multiplier: 2 };

export interface RepairEnvState extends Omit<RepairEnvInput, 'holding'> {
  repairBudget: string;
}

export class RepairControl {
  /** Per environment: this instance holds a slot (undefined: not read since the agent started). */
  private readonly holding = new Map<string, boolean>();
  private markedUnhealthy = false;
  private readonly retry: Backoff;
  private lastHeld: string | undefined;
  /** The budget was full: no new take before this (monotonic). */
  private takeNotBeforeMono = 0;
  last: RepairDecision | undefined;

  constructor(
    private readonly ctx: AgentContext,
    private readonly ports: Pick<AgentPorts, 'repair' | 'autoScaling' | 'claims' | 'ecs' | 'steward'>,
    private readonly drain: SelfDrain,
  ) {
    this.retry = new Backoff(RETRY, ctx.random);
  }

  /** One step: `environments` are this step's critical/matching facts; answers the decision. */
  async step(environments: readonly RepairEnvState[], ecsStatus: string | undefined, nowMono: number): Promise<RepairDecision> {
    const decision = decideRepair({
      environments: environments.map((e) => ({
        ...e,
        // Without the repair budgets (simulations), repair only marks.
        repair: this.ports.repair ? e.repair : 'none',
        holding: this.holding.get(e.environment),
      })),
      ecsStatus,
      markedUnhealthy: this.markedUnhealthy,
    });
    this.last = decision;
    if (decision.held !== this.lastHeld && decision.held) this.ctx.log.warn({ reason: decision.held }, 'critical daemon failing; instance not repaired');
    this.lastHeld = decision.held;
    if (decision.intents.length === 0 || this.retry.active(nowMono)) return decision;
    if (decision.intents.every((i) => i.type === 'take-budget') && nowMono < this.takeNotBeforeMono) return decision;
    const budgets = new Map(environments.map((e) => [e.environment, e.repairBudget]));
    try {
      for (const intent of decision.intents) {
        if (intent.type === 'read-budget') await this.readHolding(intent.environment);
        else if (intent.type === 'take-budget')
          await this.take(intent.environment, budgets.get(intent.environment) ?? '1', intent.action, intent.revision, intent.reason, nowMono);
        else if (intent.type === 'release-budget') await this.release(intent.environment, intent.reason);
        else if (intent.type === 'drain-self') await this.drain.drain(intent.reason, nowMono);
        else if (intent.type === 'set-unhealthy') await this.setUnhealthy(intent.reason);
      }
      this.retry.clear();
    } catch (error) {
      this.retry.fail(errorMessage(error), nowMono);
      this.ctx.troubles.record('repair', error);
      this.ctx.log.warn({ error: errorMessage(error) }, 'repair step failed; retried with backoff');
    }
    return decision;
  }

  private async readHolding(environment: string): Promise<void> {
    const record = await this.ports.repair!.getRepairBudget(environment);
    this.holding.set(environment, record?.holders[this.ctx.identity.containerInstanceId] !== undefined);
  }

  /** Takes a slot, freeing on evidence the holders whose instance is gone; a lost race is read again next step. */
  private async take(environment: string, budget: string, action: 'drain' | 'replace', revision: number, reason: string, nowMono: number): Promise<void> {
    const port = this.ports.repair!;
    const record = await port.getRepairBudget(environment);
    const id = this.ctx.identity.containerInstanceId;
    const limit = Math.max(
      1,
      budget.endsWith('%') ? resolveCountOrPercent(budget, (await this.ports.steward.statuses(this.ctx.identity.cluster)).length) : Number(budget),
    );
    const others = Object.keys(record?.holders ?? {}).filter((h) => h !== id);
    const gone = others.length >= limit ? await this.goneHolders(others) : new Set<string>();
    const holder: RepairHolder = {
      owner: this.ctx.owner,
      action,
      revision,
      reason: reason.slice(0, 1_000),
      since: new Date(this.ctx.clock.wallMs()).toISOString(),
    };
    if (this.ctx.identity.ec2InstanceId) holder.ec2InstanceId = this.ctx.identity.ec2InstanceId;
    const outcome = takeSlot(record?.holders ?? {}, id, holder, limit, gone);
    if (!outcome.taken) {
      this.ctx.metrics.inc('blox_agent_repair_waits_total', 'Repairs that waited for the repair budget', { environment });
      this.ctx.log.info({ environment, reason: outcome.reason }, 'repair waits for the repair budget');
      this.holding.set(environment, false);
      // A full budget is read again only after a while: a fleet of failing instances must not hammer the one item.
      this.takeNotBeforeMono = nowMono + this.ctx.config.repairRetryMs * (0.5 + this.ctx.random());
      return;
    }
    if (outcome.holders !== record?.holders) {
      try {
        await port.putRepairBudget(this.record(environment, outcome.holders), record?.recordVersion);
      } catch (error) {
        if (!(error instanceof WriteConflictError)) throw error;
        this.ctx.log.info({ environment }, 'repair budget changed while taking it; read again next step');
        return;
      }
    }
    this.holding.set(environment, true);
    this.ctx.metrics.inc('blox_agent_repairs_total', 'Repairs begun (a slot of the repair budget taken)', { environment, action });
    this.ctx.log.warn({ environment, action, freed: outcome.freed, limit, reason }, 'critical daemon failing: repairing the instance');
  }

  /** Holders whose instance ECS no longer knows (INACTIVE, MISSING) or whose heartbeat is absent or long expired. */
  private async goneHolders(ids: string[]): Promise<Set<string>> {
    const statuses = await this.ports.ecs.instanceStatuses(ids);
    const gone = new Set(ids.filter((id) => statuses.get(id) === 'INACTIVE' || statuses.get(id) === 'MISSING'));
    for (const id of ids) if (!gone.has(id) && holderGone(await this.ports.claims.getHeartbeat(id), this.ctx.clock.wallMs())) gone.add(id);
    return gone;
  }

  private async release(environment: string, reason: string): Promise<void> {
    const port = this.ports.repair!;
    const record = await port.getRepairBudget(environment);
    const id = this.ctx.identity.containerInstanceId;
    if (record?.holders[id]) {
      const holders = Object.fromEntries(Object.entries(record.holders).filter(([h]) => h !== id));
      try {
        await port.putRepairBudget(this.record(environment, holders), record.recordVersion);
      } catch (error) {
        if (!(error instanceof WriteConflictError)) throw error;
        return; // read again next step
      }
      this.ctx.log.info({ environment, reason }, 'repair budget slot given back');
    }
    this.holding.set(environment, false);
  }

  private async setUnhealthy(reason: string): Promise<void> {
    const asg = this.ports.autoScaling;
    const ec2 = this.ctx.identity.ec2InstanceId;
    if (!asg || !ec2) {
      this.ctx.log.warn({ reason }, 'repair: replace asked, but the agent has no Auto Scaling access or instance id: drained only');
      this.markedUnhealthy = true;
      return;
    }
    await asg.setUnhealthy(ec2);
    this.markedUnhealthy = true;
    this.ctx.log.warn({ reason, ec2InstanceId: ec2 }, 'instance set Unhealthy in its Auto Scaling group: it will be replaced');
  }

  private record(environment: string, holders: Record<string, RepairHolder>): RepairBudgetRecord {
    return {
      kind: 'RepairBudget',
      schemaVersion: 1,
      environment,
      holders,
      recordVersion: this.ctx.randomHex(10),
      updatedAt: new Date(this.ctx.clock.wallMs()).toISOString(),
    };
  }
}
