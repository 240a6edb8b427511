// The real AWS CLI (`aws ecs ... --endpoint-url`) against the emulator: create, register, list,
// describe, start, stop, paginate, and an error with its exit code. Every exchange is checked
// against the service model too. Locally a missing CLI skips this suite; under CI it fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEcsEmulator, type EcsEmulator } from '../../local/ecs/emulator.js';
import { recordConformance, type ConformanceRecorder } from '../../local/ecs/testing.js';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { awsJson, findAws, runAws, type CliResult } from '../support/aws-cli.js';

const aws = findAws();

describe.skipIf(!aws)('the AWS CLI against the emulator', () => {
  let emulator: EcsEmulator;
  let runtime: SimulatedRuntime;
  let recorder: ConformanceRecorder | undefined;
  let instanceArn = '';

  const cli = (...args: string[]): Promise<CliResult> => runAws(aws as string, 'ecs', emulator.url, args);
  const json = (...args: string[]): Promise<Record<string, unknown>> => awsJson(aws as string, 'ecs', emulator.url, args);

  beforeAll(async () => {
    runtime = new SimulatedRuntime({ startLatencyMs: 10, stopLatencyMs: 5 });
    emulator = await startEcsEmulator({ runtime });
    recorder = recordConformance(emulator);
  });

  afterAll(async () => {
    await emulator?.close();
    await runtime?.close();
  });

  it('creates and describes a cluster', async () => {
    const created = (await json('create-cluster', '--cluster-name', 'cli')) as { cluster: { clusterArn: string; status: string } };
    expect(created.cluster).toMatchObject({ clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/cli', status: 'ACTIVE' });
    const described = (await json('describe-clusters', '--clusters', 'cli', 'ghost')) as { clusters: unknown[]; failures: Array<{ reason: string }> };
    expect(described.clusters).toHaveLength(1);
    expect(described.failures).toEqual([{ arn: 'arn:aws:ecs:us-east-1:000000000000:cluster/ghost', reason: 'MISSING' }]);
    const listed = (await json('list-clusters')) as { clusterArns: string[] };
    expect(listed.clusterArns).toContain('arn:aws:ecs:us-east-1:000000000000:cluster/cli');
  });

  it('registers and describes a task definition', async () => {
    const containers = JSON.stringify([{ name: 'app', image: 'busybox', memory: 32, command: ['sleep', '3600'] }]);
    const registered = (await json('register-task-definition', '--family', 'cli-daemon', '--container-definitions', containers)) as {
      taskDefinition: { taskDefinitionArn: string; revision: number };
    };
    expect(registered.taskDefinition.revision).toBe(1);
    const described = (await json('describe-task-definition', '--task-definition', 'cli-daemon')) as {
      taskDefinition: { containerDefinitions: Array<{ name: string; essential: boolean }> };
    };
    expect(described.taskDefinition.containerDefinitions[0]).toMatchObject({ name: 'app', essential: true });
    const listed = (await json('list-task-definitions', '--family-prefix', 'cli-daemon')) as { taskDefinitionArns: string[] };
    expect(listed.taskDefinitionArns).toEqual([registered.taskDefinition.taskDefinitionArn]);
  });

  it('starts, describes and stops a task', async () => {
    instanceArn = (
      await emulator.registerInstance({
        cluster: 'cli',
        ec2InstanceId: 'i-0cli',
        instanceType: 't3.small',
        availabilityZone: 'us-east-1a',
        amiId: 'ami-1',
        cpu: 2048,
        memory: 1900,
      })
    ).containerInstanceArn;
    const instances = (await json('list-container-instances', '--cluster', 'cli', '--filter', 'attribute:ecs.instance-type =~ t3.*')) as {
      containerInstanceArns: string[];
    };
    expect(instances.containerInstanceArns).toEqual([instanceArn]);
    const started = (await json(
      'start-task',
      '--cluster',
      'cli',
      '--task-definition',
      'cli-daemon',
      '--container-instances',
      instanceArn,
      'ghost',
      '--started-by',
      'blox-edge',
    )) as {
      tasks: Array<{ taskArn: string; lastStatus: string }>;
      failures: Array<{ reason: string }>;
    };
    expect(started.tasks).toHaveLength(1);
    expect(started.failures.map((failure) => failure.reason)).toEqual(['MISSING']);
    const taskArn = started.tasks[0]?.taskArn as string;
    await new Promise((resolve) => setTimeout(resolve, 100));
    const described = (await json('describe-tasks', '--cluster', 'cli', '--tasks', taskArn)) as {
      tasks: Array<{ lastStatus: string; startedBy: string; containers: Array<{ runtimeId: string }> }>;
    };
    expect(described.tasks[0]).toMatchObject({ lastStatus: 'RUNNING', startedBy: 'blox-edge' });
    const stopped = (await json('stop-task', '--cluster', 'cli', '--task', taskArn, '--reason', 'cli test')) as { task: { desiredStatus: string } };
    expect(stopped.task.desiredStatus).toBe('STOPPED');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = (await json('describe-tasks', '--cluster', 'cli', '--tasks', taskArn)) as {
      tasks: Array<{ lastStatus: string; stopCode: string; stoppedReason: string; containers: Array<{ exitCode: number }> }>;
    };
    expect(after.tasks[0]).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'UserInitiated', stoppedReason: 'cli test' });
    expect(after.tasks[0]?.containers[0]?.exitCode).toBe(143);
  });

  it('paginates list-tasks through nextToken', async () => {
    for (let i = 0; i < 5; i++) await json('start-task', '--cluster', 'cli', '--task-definition', 'cli-daemon', '--container-instances', instanceArn);
    const before = emulator.callCounts().ListTasks ?? 0;
    const all = (await json('list-tasks', '--cluster', 'cli', '--page-size', '2')) as { taskArns: string[] };
    expect(all.taskArns).toHaveLength(5);
    expect((emulator.callCounts().ListTasks ?? 0) - before).toBe(3);
    const first = (await json('list-tasks', '--cluster', 'cli', '--max-items', '2')) as { taskArns: string[]; NextToken: string };
    expect(first.taskArns).toHaveLength(2);
    expect(typeof first.NextToken).toBe('string');
    const rest = (await json('list-tasks', '--cluster', 'cli', '--starting-token', first.NextToken)) as { taskArns: string[] };
    expect(rest.taskArns).toHaveLength(3);
    expect(new Set([...first.taskArns, ...rest.taskArns])).toEqual(new Set(all.taskArns));
  });

  it('reports errors with the ECS error type and a failing exit code', async () => {
    const missing = await cli('list-tasks', '--cluster', 'ghost');
    // awscli v2 exits 254 on a service error, v1 exits 255.
    expect([254, 255]).toContain(missing.code);
    expect(missing.stderr).toContain('ClusterNotFoundException');
    expect(missing.stderr).toContain('Cluster not found.');
    const invalid = await cli('list-tasks', '--cluster', 'cli', '--started-by', 'blox-edge', '--desired-status', 'STOPPED');
    expect([254, 255]).toContain(invalid.code);
    expect(invalid.stderr).toContain('InvalidParameterException');
    expect(recorder?.problems ?? []).toEqual([]);
  });
});
