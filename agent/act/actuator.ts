// Runs a step's chains: the instance heartbeat's first, then, only while this agent acts for the
// instance, every other chain in order. A chain stops at its first failure; other chains go on,
// so one environment's trouble never holds up another's.
import { InvalidRecordError, errorMessage } from '../../core/errors.js';
import type { AgentContext } from '../context.js';
import type { Chain, InstanceStanding } from '../model.js';
import { INSTANCE_CHAIN } from '../model.js';
import { RolloutRefusedError, WriteConflictError } from '../ports.js';
import type { DecisionLog } from '../report/decision-log.js';
import { AbortChain } from './abort.js';
import type { ClaimWriter } from './claim-writer.js';
import type { TaskControl } from './task-control.js';

export class Actuator {
  constructor(
    private readonly ctx: AgentContext,
    private readonly writer: ClaimWriter,
    private readonly tasks: TaskControl,
    private readonly standing: () => InstanceStanding,
    private readonly decisions: DecisionLog,
  ) {}

  /** Returns whether anything moved (the loop then steps again at once). */
  async run(chains: Chain[]): Promise<boolean> {
    let progress = false;
    const ordered = [...chains.filter((c) => c.key === INSTANCE_CHAIN), ...chains.filter((c) => c.key !== INSTANCE_CHAIN)];
    for (const chain of ordered) {
      if (chain.key !== INSTANCE_CHAIN && !this.standing().acting) break;
      progress = (await this.runChain(chain)) || progress;
    }
    return progress;
  }

  private async runChain(chain: Chain): Promise<boolean> {
    let progress = false;
    for (const action of chain.actions) {
      this.decisions.action(chain.key, action);
      if (action.type === 'wait') continue;
      try {
        await this.perform(action);
        if (action.type !== 'renew-instance' && action.type !== 'stop') progress = true;
      } catch (error) {
        if (error instanceof WriteConflictError || error instanceof RolloutRefusedError)
          progress = true; // decide again on what won
        else if (!(error instanceof AbortChain) && !(error instanceof InvalidRecordError)) {
          this.ctx.troubles.record(action.type, error);
          this.ctx.log.warn({ chain: chain.key, action: action.type, error: errorMessage(error) }, 'action failed; rest of this chain skipped');
        }
        break;
      }
    }
    return progress;
  }

  private async perform(action: Chain['actions'][number]): Promise<void> {
    switch (action.type) {
      case 'acquire-instance':
        return this.writer.acquireInstance(action.expectedRecordVersion);
      case 'renew-instance':
        return this.writer.renewInstance();
      case 'write-claim':
        return this.writer.writeClaim(action.write);
      case 'delete-claim':
        return this.writer.deleteClaim(action.environment, action.expectedRecordVersion, action.reason);
      case 'start':
        return this.tasks.start(action);
      case 'stop':
        return this.tasks.stop(action);
      case 'lookup-attempt':
        return this.tasks.lookup(action);
      case 'wait':
        return;
    }
  }
}
