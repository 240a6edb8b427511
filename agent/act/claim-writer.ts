// Every write of the instance heartbeat and of claims, each conditional on exactly the version the
// decision was made on (or on the item's absence); the outcome, won or lost, goes back into the
// claim table. No claim is written unless this agent acts for the instance at that moment.
import { InvalidRecordError } from '../../core/errors.js';
import { SCHEMA_VERSION } from '../../core/keys.js';
import type { Claim, InstanceHeartbeat } from '../../core/records.js';
import { version } from '../../core/version.js';
import { CLAIM_TTL_SECONDS } from '../claims.js';
import type { AgentContext } from '../context.js';
import { newRecordVersion } from '../lease.js';
import type { DynamoGate } from '../memory/dynamo-gate.js';
import type { EnvMemories } from '../memory/env-memory.js';
import type { ClaimWrite } from '../model.js';
import type { ClaimTable } from '../observe/claim-table.js';
import { RolloutRefusedError, WriteConflictError, type ClaimPort } from '../ports.js';
import { AbortChain } from './abort.js';

/** Heartbeat items disappear this long after their last write (a vanished instance's). */
const HEARTBEAT_TTL_SECONDS = 7 * 24 * 3600;
/** Readers treat the instance's agent as gone this long after its last heartbeat at the least. */
const MIN_VALIDITY_SECONDS = 180;

export class ClaimWriter {
  constructor(
    private readonly ctx: AgentContext,
    private readonly port: ClaimPort,
    private readonly table: ClaimTable,
    private readonly dynamo: DynamoGate,
    private readonly memories: EnvMemories,
    /** The rollout control of `env` must be read again. */
    private readonly onRefused: (env: string) => void = () => {},
  ) {}

  /** Conditional on the item's absence (`expected` undefined) or on exactly the version seen released or expired. */
  async acquireInstance(expectedRecordVersion: string | undefined): Promise<void> {
    const taking = this.table.instanceView.state === 'expired';
    await this.writeHeartbeat(this.heartbeat(false), expectedRecordVersion, taking ? 'taken-over' : 'acquired');
  }

  async renewInstance(): Promise<void> {
    const held = this.table.heldHeartbeat();
    if (!held) throw new AbortChain('instance lease not held');
    await this.writeHeartbeat(this.heartbeat(false), held.recordVersion, 'renewed');
  }

  /** On shutdown: anyone may take the instance at once. Daemons and claims are left as they are. */
  async releaseInstance(): Promise<void> {
    const held = this.table.heldHeartbeat();
    const now = this.ctx.clock.monoMs();
    if (!held || !this.table.standing(now).acting) return;
    await this.writeHeartbeat(this.heartbeat(true), held.recordVersion, 'released');
  }

  async writeClaim(write: ClaimWrite): Promise<void> {
    this.mustAct();
    const { identity, owner } = this.ctx;
    const wall = this.ctx.clock.wallMs();
    const claim: Claim = {
      kind: 'Claim',
      schemaVersion: SCHEMA_VERSION,
      environment: write.environment,
      containerInstanceId: identity.containerInstanceId,
      owner,
      recordVersion: newRecordVersion(this.ctx.randomHex),
      attempts: write.content.attempts,
      updatedAt: new Date(wall).toISOString(),
      expiresAt: Math.floor(wall / 1000) + CLAIM_TTL_SECONDS,
    };
    if (write.content.current) claim.current = write.content.current;
    if (write.content.next) claim.next = write.content.next;
    if (write.content.rollout) claim.rollout = write.content.rollout;
    await this.claimCall(write.environment, write.event, () => this.port.putClaim(claim, write.expectedRecordVersion, write.counter));
    this.table.claimWritten(write.environment, claim);
    const memory = this.memories.get(write.environment);
    for (const attempt of claim.attempts) memory.sawAttempt(attempt.token, this.ctx.clock.monoMs());
    this.event(write.environment, write.event, claim.recordVersion);
  }

  async deleteClaim(env: string, expectedRecordVersion: string, reason: string): Promise<void> {
    this.mustAct();
    await this.claimCall(env, 'released', () => this.port.deleteClaim(env, this.ctx.identity.containerInstanceId, expectedRecordVersion));
    this.table.claimDeleted(env);
    this.event(env, 'released', reason);
  }

  private mustAct(): void {
    const standing = this.table.standing(this.ctx.clock.monoMs());
    if (!standing.acting) throw new AbortChain(standing.reason);
    if (!this.dynamo.available(this.ctx.clock.monoMs())) throw new AbortChain('DynamoDB backoff');
  }

  private async claimCall(env: string, what: string, run: () => Promise<void>): Promise<void> {
    const wasMine = this.table.claim(env)?.state === 'mine';
    try {
      await run();
      this.dynamo.ok();
    } catch (error) {
      if (error instanceof WriteConflictError) {
        this.table.claimConflict(env, error.current as Parameters<ClaimTable['claimConflict']>[1], this.ctx.clock.monoMs());
        this.event(env, wasMine ? 'lost' : 'conflict', error.message);
      } else if (error instanceof RolloutRefusedError) {
        // The control moved on since it was read (no room, paused, a newer deployment): read it again before deciding.
        this.onRefused(env);
        this.event(env, 'rollout-refused', error.message);
        this.dynamo.ok();
      } else if (error instanceof InvalidRecordError) {
        // The item that won is not a claim this agent can read: hands off this environment until a read shows a valid one.
        this.table.claimUnreadable(env, error, this.ctx.clock.monoMs());
      } else this.dynamo.failed(error, `claim ${what}`);
      throw error;
    }
  }

  private heartbeat(released: boolean): InstanceHeartbeat {
    const { identity, owner, config } = this.ctx;
    const wall = this.ctx.clock.wallMs();
    const seconds = Math.floor(wall / 1000);
    return {
      kind: 'InstanceHeartbeat',
      schemaVersion: SCHEMA_VERSION,
      cluster: identity.cluster,
      containerInstanceId: identity.containerInstanceId,
      owner,
      recordVersion: newRecordVersion(this.ctx.randomHex),
      leaseDurationMs: config.leaseDurationMs,
      released,
      agentVersion: version,
      updatedAt: new Date(wall).toISOString(),
      validUntil: seconds + Math.max(MIN_VALIDITY_SECONDS, Math.ceil(config.leaseDurationMs / 1000)),
      expiresAt: seconds + HEARTBEAT_TTL_SECONDS,
    };
  }

  private async writeHeartbeat(heartbeat: InstanceHeartbeat, expectedRecordVersion: string | undefined, event: string): Promise<void> {
    if (!this.dynamo.available(this.ctx.clock.monoMs())) throw new AbortChain('DynamoDB backoff');
    try {
      await this.port.putHeartbeat(heartbeat, expectedRecordVersion);
    } catch (error) {
      if (error instanceof WriteConflictError) {
        const wasMine = this.table.instanceView.state === 'mine';
        this.table.instanceConflict(error.current as InstanceHeartbeat | null, this.ctx.clock.monoMs());
        this.instanceEvent(wasMine ? 'lost' : 'conflict', error.message);
      } else if (error instanceof InvalidRecordError) this.table.instanceUnreadable(error, this.ctx.clock.monoMs());
      else this.dynamo.failed(error, `instance lease ${event}`);
      throw error;
    }
    this.dynamo.ok();
    if (!heartbeat.released) this.table.instanceWritten(heartbeat, this.ctx.clock.monoMs());
    this.instanceEvent(event, heartbeat.recordVersion);
  }

  private event(env: string, event: string, detail: string): void {
    this.ctx.metrics.inc('blox_agent_claim_events_total', 'Claim events', { environment: env, event });
    this.ctx.log.info({ environment: env, event, detail }, `claim ${event}`);
  }

  private instanceEvent(event: string, detail: string): void {
    this.ctx.metrics.inc('blox_agent_instance_lease_events_total', 'Instance heartbeat events', { event });
    if (event === 'renewed') return;
    this.ctx.log.info({ event, detail }, `instance lease ${event}`);
  }
}
