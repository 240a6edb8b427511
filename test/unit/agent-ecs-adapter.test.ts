// The agent's ECS adapter against the emulator through the real SDK: what it makes of ECS's answers.
import { CreateClusterCommand, RegisterContainerInstanceCommand, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentEcs } from '../../agent/adapters/ecs.js';
import { startTestWorld, type TestWorld } from '../../local/ecs/testing.js';

let world: TestWorld;
let ecs: AgentEcs;

beforeEach(async () => {
  world = await startTestWorld();
  await world.ecs.send(new CreateClusterCommand({ clusterName: 'edge' }));
  await world.ecs.send(
    new RegisterTaskDefinitionCommand({ family: 'logs', containerDefinitions: [{ name: 'main', image: 'busybox', memory: 64, essential: true }] }),
  );
  const registered = await world.ecs.send(
    new RegisterContainerInstanceCommand({
      cluster: 'edge',
      instanceIdentityDocument: JSON.stringify({
        instanceId: 'i-0edge',
        instanceType: 't3.medium',
        availabilityZone: 'us-east-1a',
        imageId: 'ami-1',
        region: 'us-east-1',
      }),
      totalResources: [
        { name: 'CPU', type: 'INTEGER', integerValue: 1024 },
        { name: 'MEMORY', type: 'INTEGER', integerValue: 1024 },
      ],
    }),
  );
  ecs = new AgentEcs({ region: 'us-east-1', cluster: 'edge', containerInstanceArn: registered.containerInstance!.containerInstanceArn!, client: world.ecs });
});

afterEach(async () => {
  await world.close();
  expect(world.conformance?.problems ?? []).toEqual([]);
});

describe('AgentEcs', () => {
  it('StartTask: the task comes back catalogued with the environment and revision it was started for', async () => {
    const { task, failures } = await ecs.startTask({ taskDefinition: 'logs:1', token: 'bx-test-token', environment: 'logs', revision: 3 });
    expect(failures).toEqual([]);
    expect(task).toMatchObject({ environment: 'logs', revision: 3, startedBy: 'bx-test-token', ours: true });
  });

  it('DescribeTasks: a task ECS answers MISSING for comes back STOPPED and marked missing, the others as they are', async () => {
    const { task } = await ecs.startTask({ taskDefinition: 'logs:1', token: 'bx-test-token', environment: 'logs', revision: 1 });
    const gone = task!.taskArn.replace(/[0-9a-f]{32}$/, '0'.repeat(32));
    const described = await ecs.describeTasks([task!.taskArn, gone]);
    expect(described).toHaveLength(2);
    expect(described.find((t) => t.taskArn === task!.taskArn)).toMatchObject({ environment: 'logs', revision: 1, ours: true });
    expect(described.find((t) => t.taskArn === gone)).toMatchObject({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', missing: true });
  });
});
