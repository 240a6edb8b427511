// StartTask, StopTask and attempt look-ups for the environments of this instance, with what each
// call leaves in memory: the expectation of a start, the look-up's answer, the StartTask and ECS
// backoff, the daemons the restart policy watches. Nothing is called unless this agent acts for
// the instance; a start always follows, in the same chain, the claim write of its attempt token.
import { errorMessage } from '../../core/errors.js';
import type { AgentContext } from '../context.js';
import type { EnvMemories } from '../memory/env-memory.js';
import type { Action } from '../model.js';
import type { ClaimTable } from '../observe/claim-table.js';
import type { TaskCatalog } from '../observe/task-catalog.js';
import type { EcsPort } from '../ports.js';
import { AbortChain } from './abort.js';

/** Test-only fault points (docs/agent.md). */
export type FaultPoint = 'after-start-task';

/** ECS throttling, by the error's name. */
function isThrottle(error: unknown): boolean {
  return /Throttl|RequestLimitExceeded|TooManyRequests/i.test((error as { name?: string } | undefined)?.name ?? '');
}

/**
 * Whether a failed StartTask certainly started nothing: ECS refused the request (throttled, invalid,
 * unknown cluster, denied). A timeout or a lost connection proves nothing: the task may start.
 */
function startRefused(error: unknown): boolean {
  return isThrottle(error) || /ClientException|InvalidParameter|ClusterNotFound|AccessDenied/.test((error as { name?: string } | undefined)?.name ?? '');
}

export class TaskControl {
  constructor(
    private readonly ctx: AgentContext,
    private readonly ecs: EcsPort,
    private readonly catalog: TaskCatalog,
    private readonly table: ClaimTable,
    private readonly memories: EnvMemories,
    private readonly fault?: (point: FaultPoint) => void,
  ) {}

  async start(action: Extract<Action, { type: 'start' }>): Promise<void> {
    this.mustAct();
    const env = action.environment;
    const memory = this.memories.get(env);
    const now = () => this.ctx.clock.monoMs();
    memory.expectations.expect(action.token, action.role, action.revision, now());
    memory.sawAttempt(action.token, now());
    let result: Awaited<ReturnType<EcsPort['startTask']>>;
    try {
      result = await this.ecs.startTask({ taskDefinition: action.taskDefinition, token: action.token, environment: env, revision: action.revision });
    } catch (error) {
      if (startRefused(error)) this.proveVoid(env, action.token);
      this.startFailed(env, isThrottle(error) ? 'ThrottlingException' : ((error as { name?: string }).name ?? 'error'), errorMessage(error));
      throw error;
    }
    this.fault?.('after-start-task');
    if (!result.task) {
      this.proveVoid(env, action.token);
      const reason = result.failures.map((f) => `${f.reason}${f.detail ? ` (${f.detail})` : ''}`).join(', ') || 'no task and no failure';
      this.startFailed(env, result.failures[0]?.reason ?? 'UNKNOWN', reason);
      throw new AbortChain(reason);
    }
    this.catalog.remember(result.task, now());
    memory.daemons.add(result.task.taskArn); // a death before it is recorded still counts as a stop
    memory.startBackoff.clear();
    this.ctx.troubles.recover('ecs');
    this.ctx.troubles.recover(`start:${env}`);
    if (memory.startIssued()) this.ctx.metrics.inc('blox_agent_restarts_total', 'Daemon restarts issued', { environment: env });
    this.ctx.metrics.inc('blox_agent_starts_total', 'StartTask calls that started a task', { environment: env });
    this.ctx.log.info({ environment: env, taskArn: result.task.taskArn, token: action.token, revision: action.revision, role: action.role }, 'task started');
  }

  async stop(action: Extract<Action, { type: 'stop' }>): Promise<void> {
    this.mustAct();
    const key = action.environment ?? '';
    await this.ecsCall(key, () => this.ecs.stopTask(action.taskArn, `blox-edge: ${action.reason}`));
    this.catalog.stoppedByUs(action.taskArn);
    this.memories.peek(key)?.daemons.delete(action.taskArn);
    this.ctx.metrics.inc('blox_agent_stops_total', 'StopTask calls, by environment', { environment: key });
  }

  async lookup(action: Extract<Action, { type: 'lookup-attempt' }>): Promise<void> {
    this.mustAct();
    const found = await this.ecsCall(action.environment, () => this.ecs.findByStartedBy(action.token));
    const now = this.ctx.clock.monoMs();
    for (const info of found) this.catalog.remember(info, now);
    const live = found.filter((t) => t.lastStatus !== 'STOPPED' && t.desiredStatus !== 'STOPPED').map((t) => t.taskArn);
    this.memories.get(action.environment).lookedUp(action.token, { taskArns: live, atMono: now });
    this.ctx.log.info({ environment: action.environment, token: action.token, found: found.map((t) => t.taskArn) }, 'attempt looked up');
  }

  private mustAct(): void {
    const standing = this.table.standing(this.ctx.clock.monoMs());
    if (!standing.acting) throw new AbortChain(standing.reason);
  }

  /** StartTask answered without a task, or was refused: nothing is expected of this token. */
  private proveVoid(env: string, token: string): void {
    const memory = this.memories.get(env);
    memory.expectations.withdraw(token);
    memory.lookedUp(token, { taskArns: [], atMono: this.ctx.clock.monoMs(), conclusive: true });
  }

  /** A StopTask or look-up for an environment: a failure backs that environment's such calls off (plan holds them). */
  private async ecsCall<T>(key: string, call: () => Promise<T>): Promise<T> {
    const backoff = this.memories.get(key).ecsBackoff;
    try {
      const result = await call();
      backoff.clear();
      return result;
    } catch (error) {
      const delay = backoff.fail(errorMessage(error), this.ctx.clock.monoMs());
      this.ctx.metrics.inc('blox_agent_backoff_seconds_total', 'Backoff scheduled, by kind', { kind: 'ecs' }, delay / 1000);
      throw error;
    }
  }

  private startFailed(env: string, reason: string, detail: string): void {
    const memory = this.memories.get(env);
    const delay = memory.startBackoff.fail(`${reason}: ${detail}`, this.ctx.clock.monoMs());
    const attempts = memory.startBackoff.view()?.attempts ?? 1;
    this.ctx.metrics.inc('blox_agent_start_failures_total', 'StartTask failures, by reason', { environment: env, reason: reason.replace(/:.*/, '') });
    this.ctx.metrics.inc('blox_agent_backoff_seconds_total', 'Backoff scheduled, by kind', { kind: 'start' }, delay / 1000);
    this.ctx.troubles.degrade(`start:${env}`, `StartTask for ${env} failed: ${detail}`);
    this.ctx.troubles.record(`start ${env}`, new Error(`${reason}: ${detail}`));
    this.ctx.log.warn({ environment: env, reason, detail, attempt: attempts, retryInMs: delay }, 'StartTask failed; retrying with backoff');
  }
}
