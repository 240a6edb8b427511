// The instance's own end of life, each reconcile step while this agent acts for it: scale-in and
// Spot (lifecycle-control.ts) and critical-daemon repair (repair-control.ts), sharing the one
// self-drain. Gathers their inputs from the step's desired state, reports and memories.
import type { AgentContext } from '../context.js';
import type { DrainView } from '../decide/drain.js';
import type { RepairDecision } from '../decide/repair.js';
import type { ControlView } from '../decide/rollout.js';
import type { Desired, Report } from '../model.js';
import type { EnvMemories } from '../memory/env-memory.js';
import type { InstanceFactsSource } from '../observe/instance-facts.js';
import type { AgentPorts } from '../ports.js';
import { LifecycleControl } from './lifecycle-control.js';
import { RepairControl, type RepairEnvState } from './repair-control.js';
import { SelfDrain } from './self-drain.js';

export interface InstanceLifeInput {
  desired: Desired;
  reports: readonly Report[];
  memories: EnvMemories;
  /** The rollout control of an environment's active deployment, as last read. */
  rollout: (environment: string, deploymentId: string | undefined) => ControlView;
  drain: DrainView;
  nowMono: number;
}

export class InstanceLife {
  readonly lifecycle: LifecycleControl;
  readonly repair: RepairControl;

  constructor(
    ctx: AgentContext,
    ports: AgentPorts,
    private readonly facts: InstanceFactsSource,
  ) {
    const drain = new SelfDrain(ctx, ports.ecs, facts);
    this.lifecycle = new LifecycleControl(ctx, ports.lifecycle, ports.autoScaling, drain);
    this.repair = new RepairControl(ctx, ports, drain);
  }

  /** Returns the repair decision (the readiness attribute shows `degraded`) and when the lifecycle wants the next step. */
  async step(input: InstanceLifeInput): Promise<{ repair: RepairDecision; wakeAtMono: number | undefined }> {
    const wakeAtMono = await this.lifecycle.step(this.facts.status, input.drain, input.nowMono);
    const repair = await this.repair.step(repairStates(input), this.facts.status, input.nowMono);
    return { repair, wakeAtMono };
  }
}

function repairStates(input: InstanceLifeInput): RepairEnvState[] {
  const out: RepairEnvState[] = [];
  for (const env of input.desired.environments ?? []) {
    if (env.kind !== 'valid' || !env.revision.critical) continue;
    const report = input.reports.find((r) => r.environment === env.name);
    const view = input.rollout(env.name, env.environment.activeDeploymentId);
    out.push({
      environment: env.name,
      critical: true,
      matching: env.matches === true,
      revision: env.revision.revision,
      order: env.revision.order,
      repair: env.revision.repair,
      repairBudget: env.revision.repairBudget,
      crashLoop: input.memories.peek(env.name)?.restart?.crashLoop === true,
      // Since when the daemon is wanted here and not ready: the environment's memory keeps it (the ordered start's clock too).
      notReadyForMs: report?.ready === true ? 0 : input.nowMono - (input.memories.peek(env.name)?.notReadySinceMono ?? input.nowMono),
      healthyDeadlineMs: env.revision.deploymentConfiguration.healthyDeadlineSeconds * 1000,
      rollout: view.state === 'absent' ? 'none' : view.state === 'unread' ? 'unknown' : view.control.phase === 'done' ? 'none' : 'unfinished',
    });
  }
  return out;
}
