// One agent's real reconcile step (agent/reconciler.ts) wired to fake ports and a manual clock:
// what the seeded simulations and the bench's simulated fleets run, instead of a copy of the logic.
import pino from 'pino';
import type { Clock } from '../../core/clock.js';
import { containerInstanceIdOf } from '../../core/keys.js';
import { CONFIG_KEYS, type AgentConfig } from '../../agent/config.js';
import type { AgentContext } from '../../agent/context.js';
import { Metrics } from '../../agent/metrics.js';
import type { AgentPorts, EnvironmentEntry } from '../../agent/ports.js';
import { DEFAULT_DEPLOYMENT_CONFIGURATION, DEFAULT_RESTART_POLICY, type Environment, type EnvironmentRevision } from '../../core/records.js';
import { Reconciler, type ReconcilerOptions } from '../../agent/reconciler.js';
import { Troubles } from '../../agent/report/degraded.js';
import { Killed, killablePorts, type FakeEcs, type FakeTable } from './fake-ports.js';
import { FakeSteward } from './fake-steward.js';

export const defaultConfig = (): AgentConfig =>
  Object.fromEntries(CONFIG_KEYS.filter((k) => k.default !== undefined).map((k) => [k.key, k.default])) as unknown as AgentConfig;

export interface SimAgentInput {
  owner: string;
  cluster?: string;
  containerInstanceArn: string;
  clock: Clock;
  random: () => number;
  ports: AgentPorts;
  config?: Partial<AgentConfig>;
  options?: Partial<ReconcilerOptions>;
  logger?: pino.Logger;
}

export interface SimAgent {
  owner: string;
  reconciler: Reconciler;
  metrics: Metrics;
  ctx: AgentContext;
}

export function simAgent(input: SimAgentInput): SimAgent {
  const log = (input.logger ?? pino({ level: process.env.BLOX_TEST_AGENT_LOG ?? 'silent' })).child({ owner: input.owner });
  const metrics = new Metrics();
  const troubles = new Troubles(log, metrics, () => input.clock.wallMs());
  let counter = 0;
  const ctx: AgentContext = {
    config: { ...defaultConfig(), ...input.config },
    identity: {
      cluster: input.cluster ?? 'sim',
      containerInstanceArn: input.containerInstanceArn,
      containerInstanceId: containerInstanceIdOf(input.containerInstanceArn),
      region: 'us-east-1',
    },
    owner: input.owner,
    clock: input.clock,
    random: input.random,
    // Deterministic per run (seeded), unique per agent and call.
    randomHex: (bytes) =>
      `${Math.floor(input.random() * 2 ** 32)
        .toString(16)
        .padStart(8, '0')}${(++counter).toString(16)}${input.owner.replace(/[^0-9a-f]/g, '')}`
        .padEnd(bytes * 2, '0')
        .slice(0, bytes * 2),
    log,
    metrics,
    troubles,
  };
  const reconciler = new Reconciler(ctx, input.ports, { tickMs: 1_000, expectationTimeoutMs: 30_000, ...input.options });
  return { owner: input.owner, reconciler, metrics, ctx };
}

export interface KillableSimInput extends Omit<SimAgentInput, 'ports'> {
  table: FakeTable;
  ecs: FakeEcs;
  /** Whether the process dies before or after a call (killablePorts). */
  killAt: (operation: string) => 'before' | 'after' | undefined;
}

/** An agent of one instance on the fake table and ECS whose process can be killed between any two calls. */
export function killableSimAgent(input: KillableSimInput): { agent: SimAgent; dead: () => boolean } {
  const { table, ecs, killAt, ...rest } = input;
  const port = ecs.portFor(input.containerInstanceArn);
  const k = killablePorts({ desired: table, claims: table, rollout: table, steward: new FakeSteward(table), status: table, ecs: port, ecsAgent: port }, killAt);
  return { agent: simAgent({ ...rest, ports: k.ports }), dead: k.dead };
}

/** One step of a simulated agent; when its process is killed during the step, the step just ends there. */
export async function stepSim(agent: SimAgent): Promise<void> {
  try {
    await agent.reconciler.step();
  } catch (error) {
    if (!(error instanceof Killed)) throw error;
  }
}

/** A valid environment entry as the desired-state port returns it: revision `revision`, with surge when `maxSurge` is not '0'. */
export function environmentEntry(name: string, revision: number, maxSurge = '0', over: Partial<Environment> = {}): EnvironmentEntry & { kind: 'valid' } {
  const environment: Environment = {
    kind: 'Environment',
    schemaVersion: 1,
    name,
    cluster: 'sim',
    status: 'ACTIVE',
    health: 'unknown',
    currentRevision: revision,
    latestRevision: revision,
    token: `t${revision}`,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
  const rev: EnvironmentRevision = {
    kind: 'EnvironmentRevision',
    schemaVersion: 1,
    environment: name,
    revision,
    taskDefinition: `${name}:${revision}`,
    instanceGroup: { cluster: 'sim' },
    deploymentConfiguration: { ...DEFAULT_DEPLOYMENT_CONFIGURATION, maxSurge, maxUnavailable: maxSurge === '0' ? '1' : '0' },
    restartPolicy: { ...DEFAULT_RESTART_POLICY, initialDelayMs: 200, maxDelayMs: 2_000 },
    critical: false,
    order: 0,
    repair: 'none',
    repairBudget: '1',
    createdAt: '2026-01-01T00:00:00.000Z',
  };
  return { name, kind: 'valid', environment, revision: rev };
}
