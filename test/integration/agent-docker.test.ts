// `docker kill` of a daemon container on the docker runtime: the agent hears the die event through
// the instance's Docker view and restarts the daemon under its restart policy.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../local/runtime/docker.js';
import { startAgentWorld, waitFor, type AgentWorld } from '../support/agent-world.js';
import { dockerAvailable, dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();
const haveDocker = endpoint ? await dockerAvailable() : false;

describe.skipIf(!endpoint || !haveDocker)('edge agent on the docker runtime (integration)', () => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startAgentWorld({ dynamodbEndpoint: endpoint, runtime: new DockerRuntime({ removeStoppedAfterMs: 60_000 }) });
  });
  afterAll(async () => world?.close());

  it('docker kill of a daemon container: the task is restarted', async () => {
    const td = await world.registerTaskDefinition('killme');
    await world.createEnvironment('killme', td, { restartPolicy: { initialDelayMs: 0, maxDelayMs: 1_000 } });
    const instance = await world.addInstance();
    const { agent } = await world.startAgent(instance);
    const first = await waitFor(
      'daemon RUNNING',
      60_000,
      () => world.liveTasks(instance.arn, 'killme').find((t) => t.lastStatus === 'RUNNING' && t.containers[0]?.runtimeId),
      100,
    );
    await waitFor('task recorded in the lease', 10_000, () => agent.status().claims.killme?.taskArn === first.taskArn);
    let startTaskAt: number | undefined;
    const off = world.emulator.onExchange((e) => {
      if (e.operation === 'StartTask' && startTaskAt === undefined) startTaskAt = Date.now();
    });
    const killedAt = Date.now();
    execFileSync('docker', ['kill', first.containers[0]!.runtimeId!]);
    const second = await waitFor(
      'a new daemon RUNNING',
      60_000,
      () => world.liveTasks(instance.arn, 'killme').find((t) => t.lastStatus === 'RUNNING' && t.taskArn !== first.taskArn),
      100,
    );
    off();
    expect(world.liveTasks(instance.arn, 'killme').map((t) => t.taskArn)).toEqual([second.taskArn]);
    expect(world.emulator.task(first.taskArn)?.lastStatus).toBe('STOPPED');
    await waitFor('restart counted', 10_000, () => agent.status().daemons.find((d) => d.environment === 'killme')?.restarts === 1);
    expect(agent.metrics.total('blox_agent_docker_events_total', { action: 'die' })).toBeGreaterThan(0);
    // How soon is a figure, printed, not a bound: a loaded machine once took 2.3 s (the docker CLI
    // process included); the restart itself is what this test proves.
    expect(startTaskAt).toBeDefined();
    console.info(`docker kill -> StartTask issued: ${(startTaskAt ?? Infinity) - killedAt} ms`);
  }, 120_000);
});
