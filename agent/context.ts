// What every part of one agent shares: its configuration, identity, clock, randomness, log,
// metrics and troubles. One per agent (no module-level state), so one process can host many.
import type pino from 'pino';
import type { Clock } from '../core/clock.js';
import type { AgentConfig } from './config.js';
import type { Metrics } from './metrics.js';
import type { Troubles } from './report/degraded.js';

export interface AgentIdentity {
  cluster: string;
  containerInstanceArn: string;
  containerInstanceId: string;
  ec2InstanceId?: string;
  availabilityZone?: string;
  instanceType?: string;
  amiId?: string;
  region?: string;
  ecsAgentVersion?: string;
}

export interface AgentContext {
  config: AgentConfig;
  identity: AgentIdentity;
  /** This agent's lease owner name. */
  owner: string;
  clock: Clock;
  random: () => number;
  /** Random hex of `bytes` bytes (record versions, nonces). */
  randomHex: (bytes: number) => string;
  log: pino.Logger;
  metrics: Metrics;
  troubles: Troubles;
}
