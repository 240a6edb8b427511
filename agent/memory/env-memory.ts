// What the agent remembers about one environment on its instance, in one object with one rule for
// forgetting it: restart state and the daemons whose own stop triggers the restart policy, the
// expectations of starts not yet seen, what it learnt of attempt tokens, the StartTask and ECS
// backoff, and what it last reported. Nothing here survives a restart of the agent; everything it
// must not lose is in the claim.
import { START_RETRY, ageRestartState, initialRestartState, onDaemonStopped, onStartIssued, type RestartState } from '../restart-policy.js';
import type { RestartPolicy } from '../../core/records.js';
import type { AttemptLookup, AttemptMemo, EnvMemoryView, ObservedTask } from '../model.js';
import { Backoff } from './backoff.js';
import { Expectations } from './expectations.js';

/** Attempt tokens no claim refers to any more are forgotten this long after they were first seen. */
const ATTEMPT_MEMORY_MS = 600_000;

export class EnvMemory {
  restart: RestartState | undefined;
  /** The daemon tasks this agent runs for the environment: one stopping by itself triggers the restart policy. */
  readonly daemons = new Set<string>();
  readonly expectations = new Expectations();
  readonly attempts = new Map<string, AttemptMemo>();
  readonly startBackoff: Backoff;
  readonly ecsBackoff: Backoff;
  /** The state last reported, and since when (wall ISO time). */
  reported: { state: string; since: string } | undefined;
  /** The daemon task reported ready, and since when without a break (a rollout's bake time). */
  private ready: { taskArn: string; sinceMono: number } | undefined;
  /** Since when the daemon has been wanted here and not ready (the ordered start's deadline runs from it). */
  notReadySinceMono: number | undefined;

  constructor(random: () => number) {
    this.startBackoff = new Backoff(START_RETRY, random);
    this.ecsBackoff = new Backoff(START_RETRY, random);
  }

  /** An attempt token seen in a claim or issued here: remember when, for the settle time. */
  sawAttempt(token: string, nowMono: number): void {
    if (!this.attempts.has(token)) this.attempts.set(token, { firstSeenMono: nowMono });
  }

  lookedUp(token: string, lookup: AttemptLookup): void {
    this.attempts.set(token, { firstSeenMono: this.attempts.get(token)?.firstSeenMono ?? lookup.atMono, lookup });
  }

  /** A start was issued: a restart (counted) when the daemon had stopped by itself. Returns whether it was one. */
  startIssued(): boolean {
    const wasRestart = this.restart?.restartDue === true;
    if (this.restart) this.restart = onStartIssued(this.restart);
    return wasRestart;
  }

  /**
   * Daemons that stopped without this agent stopping them: the restart policy applies. A daemon not
   * listed locally and not known stopped may be the ECS agent's view lagging: it stays tracked.
   */
  noteStops(
    tasks: readonly ObservedTask[],
    known: { stoppedByUs(arn: string): boolean; knownStopped(arn: string): boolean; localView: boolean },
    policy: RestartPolicy,
    nowMono: number,
    random: number,
  ): { taskArn: string; restart: RestartState }[] {
    const stopped: { taskArn: string; restart: RestartState }[] = [];
    for (const arn of [...this.daemons]) {
      const task = tasks.find((t) => t.taskArn === arn);
      if (task && task.lastStatus !== 'STOPPED' && task.desiredStatus !== 'STOPPED') continue;
      if (!task && !known.knownStopped(arn) && known.localView) continue;
      this.daemons.delete(arn);
      if (known.stoppedByUs(arn)) continue;
      this.restart = onDaemonStopped(this.restart ?? initialRestartState(), policy, nowMono, random);
      stopped.push({ taskArn: arn, restart: this.restart });
    }
    if (this.restart) this.restart = ageRestartState(this.restart, policy, nowMono);
    return stopped;
  }

  /** The task reported ready now (undefined: none is): a new task or a break starts the bake again. */
  noteReady(taskArn: string | undefined, nowMono: number): void {
    if (taskArn === undefined) this.ready = undefined;
    else if (this.ready?.taskArn !== taskArn) this.ready = { taskArn, sinceMono: nowMono };
  }

  /** The last report: wanted here (matching) and not ready starts the clock; ready or not wanted stops it. */
  noteWanted(matching: boolean, ready: boolean, nowMono: number): void {
    if (!matching || ready) this.notReadySinceMono = undefined;
    else this.notReadySinceMono ??= nowMono;
  }

  readyFor(nowMono: number): number {
    return this.ready ? nowMono - this.ready.sinceMono : 0;
  }

  /** Forgets attempt tokens no claim refers to once they are old. */
  pruneAttempts(referenced: ReadonlySet<string>, nowMono: number): void {
    for (const [token, memo] of this.attempts) if (!referenced.has(token) && nowMono - memo.firstSeenMono > ATTEMPT_MEMORY_MS) this.attempts.delete(token);
  }

  view(nowMono: number): EnvMemoryView {
    const view: EnvMemoryView = { expectations: this.expectations.list(), attempts: Object.fromEntries(this.attempts) };
    if (this.restart) view.restart = this.restart;
    const start = this.startBackoff.active(nowMono);
    if (start) view.startBackoff = start;
    const ecs = this.ecsBackoff.active(nowMono);
    if (ecs) view.ecsBackoff = ecs;
    return view;
  }

  /** Whether anything here still matters (the rest of the rule is EnvMemories.forget's). */
  get busy(): boolean {
    return this.daemons.size > 0 || this.expectations.size > 0;
  }
}

export interface ForgetInput {
  /** The list of environments was read in the last poll. */
  fresh: boolean;
  listed: ReadonlySet<string>;
  /** Environments with a task here that is not STOPPED. */
  present: ReadonlySet<string>;
  /** Environments whose claim this agent holds or may take. */
  claimed: ReadonlySet<string>;
}

/** Every environment's memory; '' is the memory of tasks of no environment (their stops' backoff). */
export class EnvMemories {
  private readonly byName = new Map<string, EnvMemory>();

  constructor(private readonly random: () => number) {}

  get(env: string): EnvMemory {
    let memory = this.byName.get(env);
    if (!memory) this.byName.set(env, (memory = new EnvMemory(this.random)));
    return memory;
  }

  peek(env: string): EnvMemory | undefined {
    return this.byName.get(env);
  }

  entries(): IterableIterator<[string, EnvMemory]> {
    return this.byName.entries();
  }

  /** Since when each environment has been wanted here and not ready (for the ordered start). */
  notReadySince(): Record<string, number> {
    const since: Record<string, number> = {};
    for (const [env, memory] of this.byName) if (memory.notReadySinceMono !== undefined) since[env] = memory.notReadySinceMono;
    return since;
  }

  views(nowMono: number): Record<string, EnvMemoryView> {
    return Object.fromEntries([...this.byName].map(([env, memory]) => [env, memory.view(nowMono)]));
  }

  /**
   * The one rule for forgetting: an environment gone from a fresh list, with no task here, no
   * daemon tracked, no start expected and no claim held, leaves nothing to remember.
   */
  forget(input: ForgetInput): string[] {
    if (!input.fresh) return [];
    const gone: string[] = [];
    for (const [env, memory] of this.byName) {
      if (input.listed.has(env) || input.present.has(env) || input.claimed.has(env) || memory.busy) continue;
      this.byName.delete(env);
      gone.push(env);
    }
    return gone;
  }
}
