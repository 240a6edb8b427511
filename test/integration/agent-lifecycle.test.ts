// The instance's life in the agent, in the local world (DynamoDB Local, the ECS emulator with its
// REPLICA service scheduler over the simulated runtime, real agents in-process): ordered start on
// a new instance (and past a broken daemon's healthy deadline), and daemons last on DRAINING with
// a service's replica tasks on the instance. Every order is proved by the emulator's own task
// timestamps (createdAt, startedAt, stoppingAt, stoppedAt).
import { CreateServiceCommand, UpdateContainerInstancesStateCommand } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedTask } from '../../local/ecs/types.js';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { startAgentWorld, waitFor, type AgentWorld, type WorldInstance } from '../support/agent-world.js';
import { dynamoDbEndpoint } from '../support/services.js';

const endpoint = dynamoDbEndpoint();
const ATTRIBUTE = 'blox-edge.daemons';

describe.skipIf(!endpoint)('the instance lifecycle in the agent (integration)', () => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startAgentWorld({ dynamodbEndpoint: endpoint, runtime: new SimulatedRuntime({ startLatencyMs: 100 }) });
  });
  afterAll(async () => world?.close());

  /** The instance's tasks of one environment (stopped ones included), oldest first. */
  const tasksOf = (instance: WorldInstance, environment: string): EmulatedTask[] =>
    world.emulator
      .tasksOnInstance(instance.arn)
      .filter((t) => t.group === `blox:${environment}`)
      .sort((a, b) => a.createdAt - b.createdAt);
  const firstOf = (instance: WorldInstance, environment: string): EmulatedTask => tasksOf(instance, environment)[0]!;
  const running = (instance: WorldInstance, environment: string) => () => world.liveTasks(instance.arn, environment).find((t) => t.lastStatus === 'RUNNING');

  it('three daemons of orders 0, 1, 2 start in that order on a new instance, each after the one before is ready', async () => {
    const names = ['ord-c', 'ord-a', 'ord-b']; // created out of order on purpose
    const orders: Record<string, number> = { 'ord-a': 0, 'ord-b': 1, 'ord-c': 2 };
    for (const name of names) {
      const td = await world.registerTaskDefinition(name, { healthCheck: { startPeriodSeconds: 1 } });
      await world.createEnvironment(name, td, { expression: 'attribute:ordered == yes', order: orders[name]! });
    }
    const instance = await world.addInstance({ attributes: { ordered: 'yes' } });
    await world.startAgent(instance);
    for (const name of ['ord-a', 'ord-b', 'ord-c']) await waitFor(`${name} RUNNING`, 20_000, running(instance, name));
    const [a, b, c] = ['ord-a', 'ord-b', 'ord-c'].map((n) => firstOf(instance, n)) as [EmulatedTask, EmulatedTask, EmulatedTask];
    // b was created only once a was HEALTHY (after its 1 s start period), c only once b was
    expect(b.createdAt).toBeGreaterThanOrEqual(a.startedAt! + 1_000);
    expect(c.createdAt).toBeGreaterThanOrEqual(b.startedAt! + 1_000);
    expect(tasksOf(instance, 'ord-a')).toHaveLength(1);
  });

  it('with the order-0 daemon broken (never healthy), the others start once its healthy deadline passed, and their status says why', async () => {
    const broken = await world.registerTaskDefinition('brk-0', { healthCheck: { startPeriodSeconds: 300 } });
    await world.createEnvironment('brk-0', broken, { expression: 'attribute:broken == yes', order: 0, deploymentConfiguration: { healthyDeadlineSeconds: 3 } });
    for (const [name, order] of [
      ['brk-1', 1],
      ['brk-2', 2],
    ] as const) {
      await world.createEnvironment(name, await world.registerTaskDefinition(name), { expression: 'attribute:broken == yes', order });
    }
    const instance = await world.addInstance({ attributes: { broken: 'yes' } });
    await world.startAgent(instance, { statusHeartbeatMs: 1_000 });
    await waitFor('brk-2 RUNNING', 30_000, running(instance, 'brk-2'));
    const [zero, one, two] = ['brk-0', 'brk-1', 'brk-2'].map((n) => firstOf(instance, n)) as [EmulatedTask, EmulatedTask, EmulatedTask];
    // the deadline runs from the first step that saw brk-0 wanted and not ready, a little before its task was created
    expect(one.createdAt - zero.createdAt).toBeGreaterThanOrEqual(2_500);
    expect(two.createdAt).toBeGreaterThanOrEqual(one.startedAt!);
    expect(world.liveTasks(instance.arn, 'brk-0')).toHaveLength(1); // still running, never healthy
    const status = await waitFor('the status record names the blocker', 10_000, async () => {
      const found = (await world.store.listInstances({ cluster: world.cluster })).items.find((i) => i.containerInstanceArn === instance.arn);
      const daemon = found?.daemons.find((d) => d.environment === 'brk-1');
      return daemon?.reason?.includes('brk-0 (order 0) not ready after its healthy deadline') ? found : undefined;
    });
    expect(status.daemons.find((d) => d.environment === 'brk-0')).toMatchObject({ ready: false });
  });

  it('DRAINING with replica tasks of a service: daemons stop after the last replica stopped, in reverse order, claims released, the attribute pending first', async () => {
    const names = ['last-0', 'last-1', 'last-2'];
    for (const [order, name] of names.entries()) {
      await world.createEnvironment(name, await world.registerTaskDefinition(name), { expression: 'attribute:last == yes', order, critical: true });
    }
    const web = await world.registerTaskDefinition('last-web');
    const overrides = { ecsReconcileIntervalMs: 1_000, statusHeartbeatMs: 1_000 };
    const draining = await world.addInstance({ attributes: { last: 'yes', [ATTRIBUTE]: 'pending' } });
    const spare = await world.addInstance({ attributes: { last: 'yes', [ATTRIBUTE]: 'pending' } });
    await world.startAgent(draining, overrides);
    await world.startAgent(spare, overrides);
    const attributeOf = (instance: WorldInstance) => world.emulator.instance(instance.arn)?.attributes[ATTRIBUTE];
    await waitFor('both instances ready for work', 30_000, () => attributeOf(draining) === 'ready' && attributeOf(spare) === 'ready');
    // the replica service waits for the daemons (the one constraint docs/deploying.md shows)
    await world.ecs.send(
      new CreateServiceCommand({
        cluster: world.cluster,
        serviceName: 'last-web',
        taskDefinition: web,
        desiredCount: 4,
        // (the world's other instances are kept out by their own attribute)
        placementConstraints: [{ type: 'memberOf', expression: `attribute:${ATTRIBUTE} == ready and attribute:last == yes` }],
        placementStrategy: [{ type: 'spread', field: 'instanceId' }],
      }),
    );
    const replicasOn = (instance: WorldInstance) => world.emulator.tasksOnInstance(instance.arn).filter((t) => t.group === 'service:last-web');
    await waitFor('replicas on the instance to drain', 15_000, () => replicasOn(draining).filter((t) => t.lastStatus === 'RUNNING').length >= 2);

    // The attribute's value at the moment each daemon is told to stop (the emulator's own state, read synchronously).
    const atStop = new Map<string, string | undefined>();
    const off = world.emulator.onTaskStateChange(({ task }) => {
      if (task.containerInstanceArn === draining.arn && task.group.startsWith('blox:') && task.desiredStatus === 'STOPPED' && !atStop.has(task.taskArn))
        atStop.set(task.taskArn, attributeOf(draining));
    });
    await world.ecs.send(new UpdateContainerInstancesStateCommand({ cluster: world.cluster, containerInstances: [draining.arn], status: 'DRAINING' }));
    const drainedStatus = await waitFor('the instance drained', 30_000, async () => {
      const found = (await world.store.listInstances({ cluster: world.cluster })).items.find((i) => i.containerInstanceArn === draining.arn);
      return found?.drain?.phase === 'drained' ? found : undefined;
    });
    off();
    expect(drainedStatus.ecsStatus).toBe('DRAINING');
    expect(drainedStatus.daemons).toEqual([]);

    const replicas = replicasOn(draining);
    expect(replicas.length).toBeGreaterThanOrEqual(2);
    const lastReplicaStopped = Math.max(...replicas.map((t) => t.stoppedAt ?? Infinity));
    expect(lastReplicaStopped).toBeLessThan(Infinity);
    const [d0, d1, d2] = names.map((n) => firstOf(draining, n)) as [EmulatedTask, EmulatedTask, EmulatedTask];
    for (const d of [d0, d1, d2]) {
      expect(d.lastStatus).toBe('STOPPED');
      expect(d.stoppedReason).toMatch(/instance draining/);
      expect(d.stoppingAt!).toBeGreaterThanOrEqual(lastReplicaStopped);
      expect(atStop.get(d.taskArn)).toBe('pending');
    }
    // reverse order, each only once the one before had stopped
    expect(d1.stoppingAt!).toBeGreaterThanOrEqual(d2.stoppedAt!);
    expect(d0.stoppingAt!).toBeGreaterThanOrEqual(d1.stoppedAt!);
    const id = draining.arn.slice(draining.arn.lastIndexOf('/') + 1);
    for (const name of names) expect(await world.rawItem(`ENV#${name}`, `LEASE#${id}`)).toBeUndefined();
    // the replicas moved to the other instance; its daemons were never touched
    await waitFor('the 4 replicas on the other instance', 15_000, () => replicasOn(spare).filter((t) => t.lastStatus === 'RUNNING').length === 4);
    for (const name of names) expect(world.liveTasks(spare.arn, name)).toHaveLength(1);
    // set ACTIVE again: the daemons come back (in order) and the instance opens once they are ready
    await world.ecs.send(new UpdateContainerInstancesStateCommand({ cluster: world.cluster, containerInstances: [draining.arn], status: 'ACTIVE' }));
    await waitFor('daemons back and the instance open again', 30_000, () => names.every((n) => running(draining, n)()) && attributeOf(draining) === 'ready');
    const back = names.map((n) => tasksOf(draining, n).at(-1)!);
    expect(back[1]!.createdAt).toBeGreaterThanOrEqual(back[0]!.startedAt!);
    expect(back[2]!.createdAt).toBeGreaterThanOrEqual(back[1]!.startedAt!);
  });
});
