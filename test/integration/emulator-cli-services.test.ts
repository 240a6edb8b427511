// The real AWS CLI driving ECS services in the emulator: create-service with a memberOf
// constraint runs the tasks only on matching instances, update-service scales them,
// update-container-instances-state DRAINING moves them, delete-service --force removes them;
// list-services, describe-services, list-tasks --service-name along the way. Every exchange is
// checked against the service model too. Locally a missing CLI skips this suite; under CI it fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEcsEmulator, type EcsEmulator } from '../../local/ecs/emulator.js';
import { recordConformance, type ConformanceRecorder } from '../../local/ecs/testing.js';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { awsJson, findAws } from '../support/aws-cli.js';
import { waitFor } from '../support/wait.js';

const aws = findAws();

interface ServiceView {
  status: string;
  desiredCount: number;
  runningCount: number;
  pendingCount: number;
  deployments: Array<{ id: string; status: string }>;
  events: Array<{ message: string }>;
}

describe.skipIf(!aws)('the AWS CLI drives ECS services in the emulator', () => {
  let emulator: EcsEmulator;
  let runtime: SimulatedRuntime;
  let recorder: ConformanceRecorder | undefined;
  const arns: Record<string, string> = {};
  const json = (...args: string[]): Promise<Record<string, unknown>> => awsJson(aws as string, 'ecs', emulator.url, args);

  const describeService = async (): Promise<ServiceView> =>
    ((await json('describe-services', '--cluster', 'cli', '--services', 'web')) as { services: ServiceView[] }).services[0] as ServiceView;
  const hostsOfService = async (): Promise<string[]> => {
    const { taskArns } = (await json('list-tasks', '--cluster', 'cli', '--service-name', 'web')) as { taskArns: string[] };
    if (taskArns.length === 0) return [];
    const { tasks } = (await json('describe-tasks', '--cluster', 'cli', '--tasks', ...taskArns)) as {
      tasks: Array<{ containerInstanceArn: string; lastStatus: string; group: string }>;
    };
    expect(tasks.every((task) => task.group === 'service:web')).toBe(true);
    return tasks
      .filter((task) => task.lastStatus === 'RUNNING')
      .map((task) => task.containerInstanceArn)
      .sort();
  };
  const countOn = (hosts: string[], arn: string | undefined): number => hosts.filter((host) => host === arn).length;

  beforeAll(async () => {
    runtime = new SimulatedRuntime({ startLatencyMs: 10, stopLatencyMs: 5 });
    emulator = await startEcsEmulator({ runtime });
    recorder = recordConformance(emulator);
    await json('create-cluster', '--cluster-name', 'cli');
    await json('register-task-definition', '--family', 'web', '--container-definitions', JSON.stringify([{ name: 'app', image: 'busybox', memory: 64 }]));
    for (const [name, role] of [
      ['edge1', 'edge'],
      ['edge2', 'edge'],
      ['batch', 'batch'],
    ] as const) {
      arns[name] = (
        await emulator.registerInstance({
          cluster: 'cli',
          ec2InstanceId: `i-0${name}`,
          instanceType: 't3.small',
          availabilityZone: 'us-east-1a',
          amiId: 'ami-1',
          cpu: 2048,
          memory: 1900,
          attributes: { role },
        })
      ).containerInstanceArn;
    }
  });

  afterAll(async () => {
    await emulator?.close();
    await runtime?.close();
  });

  it('create-service with memberOf runs the tasks only on matching instances', async () => {
    const created = (await json(
      'create-service',
      '--cluster',
      'cli',
      '--service-name',
      'web',
      '--task-definition',
      'web',
      '--desired-count',
      '4',
      '--placement-constraints',
      'type=memberOf,expression=attribute:role == edge',
      '--placement-strategy',
      'type=spread,field=instanceId',
    )) as { service: ServiceView & { serviceName: string } };
    expect(created.service).toMatchObject({ serviceName: 'web', status: 'ACTIVE', desiredCount: 4 });
    await waitFor('4 running tasks', 10_000, async () => (await describeService()).runningCount === 4, 200);
    const hosts = await hostsOfService();
    expect(countOn(hosts, arns.edge1)).toBe(2);
    expect(countOn(hosts, arns.edge2)).toBe(2);
    expect(countOn(hosts, arns.batch)).toBe(0);
    const listed = (await json('list-services', '--cluster', 'cli')) as { serviceArns: string[] };
    expect(listed.serviceArns).toEqual(['arn:aws:ecs:us-east-1:000000000000:service/cli/web']);
  });

  it('update-service scales the service', async () => {
    await json('update-service', '--cluster', 'cli', '--service', 'web', '--desired-count', '2');
    await waitFor('2 running tasks', 10_000, async () => (await hostsOfService()).length === 2, 200);
    expect((await describeService()).desiredCount).toBe(2);
    await json('update-service', '--cluster', 'cli', '--service', 'web', '--desired-count', '3');
    await waitFor('3 running tasks', 10_000, async () => (await describeService()).runningCount === 3, 200);
    expect(countOn(await hostsOfService(), arns.batch)).toBe(0);
  });

  it('update-container-instances-state DRAINING moves the tasks off that instance', async () => {
    await json('update-container-instances-state', '--cluster', 'cli', '--container-instances', arns.edge1 as string, '--status', 'DRAINING');
    await waitFor(
      'the tasks off edge1',
      10_000,
      async () => countOn(await hostsOfService(), arns.edge1) === 0 && (await describeService()).runningCount === 3,
      200,
    );
    const hosts = await hostsOfService();
    expect(countOn(hosts, arns.edge2)).toBe(3);
    const service = await describeService();
    expect(service.events.some((event) => /has stopped \d+ running tasks/.test(event.message))).toBe(true);
  });

  it('delete-service --force stops the tasks and the service goes INACTIVE', async () => {
    const deleted = (await json('delete-service', '--cluster', 'cli', '--service', 'web', '--force')) as { service: ServiceView };
    expect(deleted.service.status).toBe('DRAINING');
    await waitFor('the service INACTIVE', 10_000, async () => (await describeService()).status === 'INACTIVE', 200);
    expect(await hostsOfService()).toEqual([]);
    expect(recorder?.problems ?? []).toEqual([]);
    expect(Object.keys(recorder?.checked ?? {})).toEqual(
      expect.arrayContaining(['CreateService', 'UpdateService', 'DeleteService', 'DescribeServices', 'ListServices']),
    );
  });
});
