// The steward of an environment's unfinished deployment: one agent of the fleet, elected by a lease
// in the rollout control, that counts the fleet every `stewardIntervalMs` and advances the
// deployment (phase, cap, counts, completion, failure, automatic rollback). Every agent that reads
// an unfinished control takes part in the election: it takes the lease when there is none, or after
// its reads showed the renewal count stay the same for a lease duration on its own monotonic clock
// (lease-watch.ts). Nothing here starts or stops a task; the agents admit themselves.
import { errorMessage } from '../../core/errors.js';
import type { EnvironmentRevision, RolloutControl, StewardLease } from '../../core/records.js';
import type { AgentContext } from '../context.js';
import type { StewardPort } from '../ports.js';
import { judge, writesOf } from './judge.js';
import { heldLease, leaseExpired, observeLease, type LeaseWatch } from './lease-watch.js';

interface Watch {
  deploymentId: string;
  lease: LeaseWatch;
  /** The read the lease watch last took in (a step without a new read adds nothing to it). */
  lastSeen: RolloutControl;
  lastRunMono?: number;
  lastAvailable?: number;
  /** The last attempt to take the lease: a lost one is not repeated on the same read, nor before a steward interval (the winner's write takes a read to see). */
  lastAttemptMono?: number;
  attemptedOn?: RolloutControl;
}

export class Stewards {
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly ctx: AgentContext,
    private readonly port: StewardPort,
  ) {}

  /** Environments with an unfinished control this agent read, each with its target revision. */
  async step(nowMono: number, unfinished: ReadonlyMap<string, { control: RolloutControl; revision: EnvironmentRevision }>): Promise<void> {
    for (const env of this.watches.keys()) if (!unfinished.has(env)) this.watches.delete(env);
    for (const [env, { control, revision }] of unfinished) {
      try {
        await this.stepEnvironment(env, control, revision, nowMono);
      } catch (error) {
        this.ctx.log.warn({ environment: env, error: errorMessage(error) }, 'steward step failed');
      }
    }
  }

  /** Whether this agent is the steward of `env` (as last read). */
  holds(control: RolloutControl): boolean {
    return control.steward?.owner === this.ctx.owner;
  }

  private async stepEnvironment(env: string, seen: RolloutControl, revision: EnvironmentRevision, nowMono: number): Promise<void> {
    const leaseMs = this.ctx.config.stewardIntervalMs * 3;
    let watch = this.watches.get(env);
    if (!watch || watch.deploymentId !== seen.deploymentId) {
      watch = { deploymentId: seen.deploymentId, lease: observeLease(undefined, seen, nowMono), lastSeen: seen };
      this.watches.set(env, watch);
    } else if (watch.lastSeen !== seen) {
      watch.lease = observeLease(watch.lease, seen, nowMono);
      watch.lastSeen = seen;
    }
    if (!this.holds(seen)) {
      const expired = leaseExpired(watch.lease, seen);
      if (!expired || watch.attemptedOn === seen) return;
      if (watch.lastAttemptMono !== undefined && nowMono - watch.lastAttemptMono < this.ctx.config.stewardIntervalMs) return;
      watch.lastAttemptMono = nowMono;
      watch.attemptedOn = seen;
      const lease: StewardLease = {
        owner: this.ctx.owner,
        containerInstanceId: this.ctx.identity.containerInstanceId,
        renewals: (seen.steward?.renewals ?? 0) + 1,
        leaseMs,
      };
      const won = await this.port.acquire(env, seen.deploymentId, lease, seen.steward?.renewals);
      if (!won) return this.ctx.log.debug({ environment: env, deploymentId: seen.deploymentId }, 'steward: lease taken by another agent');
      this.ctx.log.info({ environment: env, deploymentId: seen.deploymentId }, 'steward: lease taken');
      watch.lease = heldLease(seen.deploymentId, lease.renewals, nowMono);
      watch.lastRunMono = undefined;
    } else if (watch.lastRunMono !== undefined && nowMono - watch.lastRunMono < this.ctx.config.stewardIntervalMs) return;
    watch.lastRunMono = nowMono;
    await this.count(env, revision, watch);
  }

  /** One count of the fleet and the judgement it leads to, written conditional on the lease. */
  private async count(env: string, revision: EnvironmentRevision, watch: Watch): Promise<void> {
    const control = await this.port.control(env);
    if (!control || control.deploymentId !== watch.deploymentId || !this.holds(control) || control.phase === 'done') return;
    const deployment = await this.port.deployment(env, control.deploymentId);
    if (!deployment || deployment.targetRevision !== revision.revision) return;
    const statuses = await this.port.statuses(revision.instanceGroup.cluster);
    const wall = this.ctx.clock.wallMs();
    const nowIso = new Date(wall).toISOString();
    if (control.inFlight > 0) {
      const freed = await this.port.freeAbandoned(env, control.deploymentId, revision.instanceGroup.cluster, nowIso);
      if (freed > 0) {
        this.ctx.log.warn({ environment: env, freed }, 'steward: freed the admissions of instances whose agent is gone');
        control.inFlight -= freed;
      }
    }
    const startedAt = deployment.startedAt ?? nowIso;
    const sameAsTarget = new Set([revision.revision, ...(revision.copiedFrom !== undefined ? [revision.copiedFrom] : [])]);
    const progressAt = deployment.progressAt ?? startedAt;
    const j = judge({
      environment: env,
      control,
      config: revision.deploymentConfiguration,
      sameAsTarget,
      statuses,
      progressAtMs: Date.parse(progressAt),
      nowWallMs: wall,
      ecsRatePerSecond: this.ctx.config.rolloutEcsRatePerSecond,
    });
    const progressed = watch.lastAvailable !== undefined && j.counts.available > watch.lastAvailable;
    watch.lastAvailable = j.counts.available;
    const {
      control: controlFields,
      deployment: fields,
      rollingBack,
    } = writesOf(j, deployment, revision.deploymentConfiguration, { progressed, startedAt, nowIso });
    const lease = control.steward!;
    const written = await this.port.record({
      environment: env,
      deploymentId: control.deploymentId,
      lease,
      control: controlFields,
      deployment: fields,
      expectedStatus: deployment.status,
      now: nowIso,
    });
    if (!written) {
      this.ctx.log.info({ environment: env }, 'steward: judgement lost (lease or deployment changed); reading again');
      return;
    }
    watch.lease = heldLease(watch.deploymentId, lease.renewals + 1, this.ctx.clock.monoMs());
    if (j.reason && j.status !== deployment.status)
      this.ctx.log.info({ environment: env, deploymentId: deployment.id, status: j.status, reason: j.reason }, 'deployment');
    if (rollingBack) {
      this.ctx.log.warn({ environment: env, deploymentId: deployment.id, to: deployment.stableRevision }, 'deployment failed: rolling back by itself');
      await this.port.rollback(env, deployment.id, deployment.stableRevision!);
    }
  }
}
