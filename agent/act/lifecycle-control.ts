// Scale-in and Spot, carried out (the decision is decide/lifecycle.ts): reads IMDS's lifecycle
// paths, drains the instance, looks up its Auto Scaling group and termination hook, heartbeats and
// completes the lifecycle action. It owns what the agent remembers of the instance's termination;
// a restarted agent starts with none and finds its way from IMDS, ECS and Auto Scaling again.
import { errorMessage } from '../../core/errors.js';
import type { AgentContext } from '../context.js';
import type { DrainView } from '../decide/drain.js';
import {
  decideLifecycle,
  lifecycleWakeAt,
  type LifecycleDecision,
  type LifecycleInput,
  type LifecycleMemory,
  type LifecycleObservation,
} from '../decide/lifecycle.js';
import { Backoff } from '../memory/backoff.js';
import type { AutoScalingPort, InstanceLifecyclePort } from '../ports.js';
import type { SelfDrain } from './self-drain.js';

const RETRY = { initialDelayMs: 1_000, maxDelayMs: 30_000, multiplier: 2 };

export class LifecycleControl {
  private readonly memory: LifecycleMemory = {};
  private observed: LifecycleObservation | undefined;
  private nextPollMono = 0;
  private readonly retry: Backoff;
  last: LifecycleDecision | undefined;

  constructor(
    private readonly ctx: AgentContext,
    private readonly imds: InstanceLifecyclePort | undefined,
    private readonly autoScaling: AutoScalingPort | undefined,
    private readonly drain: SelfDrain,
  ) {
    this.retry = new Backoff(RETRY, ctx.random);
  }

  get enabled(): boolean {
    return this.imds !== undefined && (this.ctx.config.scaleInDrain || this.ctx.config.spotDrain);
  }

  /** One step; answers when the lifecycle wants the next step (a heartbeat, the bound, the next IMDS read). */
  async step(ecsStatus: string | undefined, drain: DrainView, nowMono: number): Promise<number | undefined> {
    if (!this.enabled) return undefined;
    if (nowMono >= this.nextPollMono) {
      try {
        this.observed = await this.imds!.lifecycle();
        this.ctx.troubles.recover('imds');
      } catch (error) {
        this.ctx.troubles.fail('imds', `IMDS lifecycle paths: ${errorMessage(error)}`, error);
      }
      this.nextPollMono = nowMono + this.ctx.config.lifecyclePollMs;
    }
    const input = this.input(ecsStatus, drain, nowMono);
    const decision = decideLifecycle(input);
    if (decision.leaving && this.memory.leavingSinceMono === undefined) {
      this.memory.leavingSinceMono = nowMono;
      this.ctx.log.warn({ leaving: decision.leaving, observed: this.observed }, 'instance leaving: draining it, daemons stop last');
    }
    if (decision.reason !== this.last?.reason) this.ctx.log.info({ reason: decision.reason }, 'lifecycle');
    this.last = decision;
    if (decision.intents.length > 0 && !this.retry.active(nowMono)) await this.act(decision, nowMono);
    const wakeAt = lifecycleWakeAt(this.input(ecsStatus, drain, nowMono));
    return Math.min(wakeAt ?? Number.POSITIVE_INFINITY, this.nextPollMono);
  }

  private input(ecsStatus: string | undefined, drain: DrainView, nowMono: number): LifecycleInput {
    const { config } = this.ctx;
    return {
      settings: { scaleIn: config.scaleInDrain, spot: config.spotDrain, hookName: config.lifecycleHookName, completeBoundMs: config.lifecycleCompleteBoundMs },
      observed: this.observed,
      ecsStatus,
      drain,
      memory: this.memory,
      nowMono,
    };
  }

  private async act(decision: LifecycleDecision, nowMono: number): Promise<void> {
    const ec2 = this.ctx.identity.ec2InstanceId;
    try {
      for (const intent of decision.intents) {
        if (intent.type === 'drain-self') await this.drain.drain(intent.reason, nowMono);
        else if (intent.type === 'find-hook') await this.findHook(ec2);
        else if (intent.type === 'heartbeat' || intent.type === 'complete') {
          const hook = this.memory.hook;
          if (!hook?.hookName || !ec2 || !this.autoScaling) continue;
          const open =
            intent.type === 'heartbeat'
              ? await this.autoScaling.recordHeartbeat(hook.groupName, hook.hookName, ec2)
              : await this.autoScaling.completeAction(hook.groupName, hook.hookName, ec2);
          if (intent.type === 'heartbeat') this.memory.lastHeartbeatMono = nowMono;
          if (intent.type === 'complete' || !open) this.memory.actionOver = true;
          this.ctx.metrics.inc('blox_agent_lifecycle_calls_total', 'Lifecycle action heartbeats and completions', { call: intent.type, open: String(open) });
          this.ctx.log.info({ call: intent.type, group: hook.groupName, hook: hook.hookName, open, reason: intent.reason }, 'lifecycle action');
        }
      }
      this.retry.clear();
    } catch (error) {
      this.retry.fail(errorMessage(error), nowMono);
      this.ctx.troubles.record('autoscaling', error);
      this.ctx.log.warn({ error: errorMessage(error) }, 'lifecycle step failed; retried with backoff');
    }
  }

  private async findHook(ec2: string | undefined): Promise<void> {
    if (!this.autoScaling || !ec2) {
      this.memory.hook = null;
      this.ctx.log.warn('no Auto Scaling access or instance id: the lifecycle action is left to its timeout');
      return;
    }
    const groupName = await this.autoScaling.groupOf(ec2);
    if (!groupName) {
      this.memory.hook = null;
      return;
    }
    const hook = await this.autoScaling.terminationHook(groupName, this.ctx.config.lifecycleHookName);
    this.memory.hook = hook
      ? { groupName, hookName: hook.name, heartbeatTimeoutMs: hook.heartbeatTimeoutSeconds * 1000, globalTimeoutMs: hook.globalTimeoutSeconds * 1000 }
      : { groupName, heartbeatTimeoutMs: 0, globalTimeoutMs: 0 };
    this.ctx.log.info({ group: groupName, hook: hook?.name }, 'Auto Scaling group and termination hook found');
  }
}
