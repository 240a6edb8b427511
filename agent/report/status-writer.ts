// The instance's status record (CLUSTER#<c>/INSTANCE#<id>), read by the coordinator: written by
// the agent acting for the instance when something a reader cares about changes (at most once a
// second) and on a slow refresh (`statusHeartbeatMs`). Whether the agent is alive is the instance
// heartbeat's to say; the record's `expiresAt` (three refreshes ahead) bounds how long a record
// outlives an agent that stopped writing either. It has its own retry: a write only it fails (a
// policy denying it) never holds up polls and heartbeats.
import { errorMessage } from '../../core/errors.js';
import { SCHEMA_VERSION } from '../../core/keys.js';
import type { DaemonStatus, InstanceDrain, InstanceStatus } from '../../core/records.js';
import { version } from '../../core/version.js';
import type { AgentContext } from '../context.js';
import { Backoff } from '../memory/backoff.js';
import type { EnvMemories } from '../memory/env-memory.js';
import type { Report } from '../model.js';
import type { StatusPort } from '../ports.js';
import type { BackoffShape } from '../restart-policy.js';

const MIN_WRITE_GAP_MS = 1_000;
export const STATUS_RETRY: BackoffShape = { initialDelayMs: 2_000, maxDelayMs: 30_000, multiplier: 2 };

/** The daemons of this instance as the status record lists them: not environments that simply do not match it. */
function daemonStatuses(reports: readonly Report[], memories: EnvMemories, nowIso: string): DaemonStatus[] {
  return reports
    .filter((r) => r.matching || r.taskArn !== undefined || r.state !== 'stopped')
    .map((r) => {
      const memory = memories.peek(r.environment);
      const d: DaemonStatus = {
        environment: r.environment,
        revision: r.revision,
        taskDefinition: r.taskDefinition,
        state: r.state,
        restarts: memory?.restart?.restarts ?? 0,
        reason: r.reason,
        since: memory?.reported?.since ?? nowIso,
        ready: r.ready,
        matching: r.matching,
      };
      if (r.rollout) d.rollout = { ...r.rollout };
      if (r.taskArn) d.taskArn = r.taskArn;
      if (r.lastStatus) d.lastStatus = r.lastStatus;
      if (r.health) d.health = r.health;
      if (memory?.restart?.crashLoop && (r.state === 'backoff' || r.state === 'starting')) d.state = 'crash_loop';
      return d;
    });
}

export interface StatusFacts {
  reports: readonly Report[];
  ready: boolean;
  ecsStatus: string | undefined;
  drain: InstanceDrain;
}

export class StatusWriter {
  private lastKey = '';
  private lastWriteMono: number | undefined;
  private readonly retry: Backoff;

  constructor(
    private readonly ctx: AgentContext,
    private readonly port: StatusPort,
    private readonly memories: EnvMemories,
  ) {
    this.retry = new Backoff(STATUS_RETRY, ctx.random);
  }

  async write(facts: StatusFacts, nowMono: number): Promise<void> {
    const { ctx } = this;
    const wall = ctx.clock.wallMs();
    const daemons = daemonStatuses(facts.reports, this.memories, new Date(wall).toISOString());
    const degraded = ctx.troubles.degraded;
    const last = ctx.troubles.lastError();
    const key = JSON.stringify({
      ready: facts.ready,
      degraded,
      ecs: facts.ecsStatus,
      drain: [facts.drain.phase, facts.drain.reason],
      d: daemons.map((d) => [
        d.environment,
        d.revision,
        d.state,
        d.taskArn,
        d.lastStatus,
        d.health,
        d.ready,
        d.restarts,
        d.rollout?.deploymentId,
        d.rollout?.state,
      ]),
      e: last?.message,
    });
    const refreshDue = this.lastWriteMono === undefined || nowMono - this.lastWriteMono >= ctx.config.statusHeartbeatMs;
    if (!refreshDue && (key === this.lastKey || nowMono - this.lastWriteMono! < MIN_WRITE_GAP_MS)) return;
    if (this.retry.active(nowMono)) return;
    const id = ctx.identity;
    const status: InstanceStatus = {
      kind: 'InstanceStatus',
      schemaVersion: SCHEMA_VERSION,
      cluster: id.cluster,
      containerInstanceArn: id.containerInstanceArn,
      agentVersion: version,
      ready: facts.ready,
      degraded,
      daemons,
      updatedAt: new Date(wall).toISOString(),
      expiresAt: Math.floor(wall / 1000) + Math.max(180, Math.ceil((ctx.config.statusHeartbeatMs * 3) / 1000)),
    };
    if (id.ec2InstanceId) status.ec2InstanceId = id.ec2InstanceId;
    if (id.availabilityZone) status.availabilityZone = id.availabilityZone;
    if (id.instanceType) status.instanceType = id.instanceType;
    if (facts.ecsStatus) status.ecsStatus = facts.ecsStatus;
    status.drain = { phase: facts.drain.phase, reason: facts.drain.reason.slice(0, 1000) };
    if (last) status.lastError = { message: `${last.source}: ${last.message}`.slice(0, 1000), at: last.at };
    try {
      await this.port.putInstanceStatus(status);
      this.lastKey = key;
      this.lastWriteMono = nowMono;
      this.retry.clear();
      ctx.troubles.recover('status');
    } catch (error) {
      this.retry.fail(errorMessage(error), nowMono);
      ctx.troubles.fail('status', `DynamoDB: writing instance status: ${errorMessage(error)}`, error);
    }
  }
}
