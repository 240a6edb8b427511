// Who this agent is: the ECS agent's /v1/metadata (cluster and container instance), waited for
// with backoff while the ECS agent has not registered yet (boot order), then EC2 instance metadata
// (IMDSv2) for instance id, zone, type, AMI and region, tried a few times.
import { errorMessage } from '../core/errors.js';
import { clusterNameOf, containerInstanceIdOf } from '../core/keys.js';
import type { AgentContext, AgentIdentity } from './context.js';
import { Backoff } from './memory/backoff.js';
import { recordCall } from './metrics.js';
import type { IdentityPort } from './ports.js';

const ECS_AGENT_WAIT = { initialDelayMs: 250, maxDelayMs: 5_000, multiplier: 2 };
const IMDS_RETRY = { initialDelayMs: 250, maxDelayMs: 2_000, multiplier: 2 };
const IMDS_ATTEMPTS = 5;

export interface IdentityReader {
  port: IdentityPort;
  /** Whether to keep trying (false once the agent stops). */
  running: () => boolean;
  sleep: (ms: number) => Promise<void>;
  /** Called while waiting (the loop is alive). */
  alive: () => void;
  /** The configured region, if any (it wins over IMDS). */
  region: string | undefined;
}

type Telemetry = Pick<AgentContext, 'clock' | 'random' | 'log' | 'metrics' | 'troubles'>;

/** The identity, or undefined when the agent was stopped before it could be read. */
export async function readIdentity(t: Telemetry, reader: IdentityReader): Promise<AgentIdentity | undefined> {
  const wait = new Backoff(ECS_AGENT_WAIT, t.random);
  let meta: Awaited<ReturnType<IdentityPort['ecsMetadata']>> | undefined;
  for (let attempt = 1; reader.running() && !meta; attempt++) {
    try {
      meta = await recordCall(
        t.metrics,
        'ecs-agent',
        'metadata',
        () => t.clock.monoMs(),
        () => reader.port.ecsMetadata(),
      );
    } catch (error) {
      const delay = wait.fail(errorMessage(error), t.clock.monoMs());
      if (attempt === 1 || attempt % 10 === 0) t.log.info({ attempt, delayMs: delay, error: errorMessage(error) }, 'ECS agent not registered yet; waiting');
      reader.alive();
      await reader.sleep(delay);
    }
  }
  if (!meta) return undefined;
  let imds: Awaited<ReturnType<IdentityPort['instanceIdentity']>> = {};
  const retry = new Backoff(IMDS_RETRY, t.random);
  for (let i = 1; reader.running() && i <= IMDS_ATTEMPTS; i++) {
    try {
      imds = await recordCall(
        t.metrics,
        'imds',
        'identity',
        () => t.clock.monoMs(),
        () => reader.port.instanceIdentity(),
      );
      break;
    } catch (error) {
      t.troubles.record('imds', error);
      await reader.sleep(retry.fail(errorMessage(error), t.clock.monoMs()));
    }
  }
  return {
    cluster: clusterNameOf(meta.cluster),
    containerInstanceArn: meta.containerInstanceArn,
    containerInstanceId: containerInstanceIdOf(meta.containerInstanceArn),
    ...imds,
    region: reader.region ?? imds.region ?? 'us-east-1',
    ...(meta.version ? { ecsAgentVersion: meta.version } : {}),
  };
}
