// The real AWS CLI (`aws autoscaling ... --endpoint-url`) against the local world's Auto Scaling
// group on the emulator's endpoint, every operation the group serves: describe the group and its
// instances, set-desired-capacity, set-instance-health (replacement), terminate without
// decrementing, a termination lifecycle hook with its heartbeat and complete-lifecycle-action,
// and the instances' IMDS lifecycle paths (target-lifecycle-state, a Spot interruption notice).
// Every answer is checked against the official Auto Scaling service model. Locally a missing CLI
// skips this suite; under CI it fails. The group here is built as the sandbox builds its own, but
// with no agents and no hook of the sandbox's (`npm start` puts one on, which its agents complete;
// test/integration/sandbox-lifecycle.test.ts proves that): the hook is this test's own, and only
// the CLI completes it, so nothing races the hand-made heartbeat and completion.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoScalingApi } from '../../local/autoscaling/api.js';
import { AutoScalingGroup } from '../../local/autoscaling/group.js';
import { toModelValue } from '../../local/autoscaling/query.js';
import { startEcsEmulator, type EcsEmulator } from '../../local/ecs/emulator.js';
import { AUTOSCALING_MODEL_TAIL, findServiceModelPath, loadServiceModel, ModelValidator } from '../../local/ecs/model-validator.js';
import { startInstanceEndpoints, type InstanceEndpoints } from '../../local/instance/endpoints.js';
import { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { awsJson, findAws, runAws } from '../support/aws-cli.js';
import { inCi } from '../support/services.js';
import { waitFor } from '../support/wait.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const aws = findAws();
const modelPath = findServiceModelPath(AUTOSCALING_MODEL_TAIL);
if (!modelPath && inCi) throw new Error('the Auto Scaling service model (Debian awscli) is required under CI');

interface Member {
  InstanceId: string;
  LifecycleState: string;
  HealthStatus: string;
}

describe.skipIf(!aws)('the AWS CLI against the Auto Scaling group', () => {
  let emulator: EcsEmulator;
  let runtime: SimulatedRuntime;
  let group: AutoScalingGroup;
  const endpoints = new Map<string, InstanceEndpoints>();
  const socketDir = mkdtempSync(join(tmpdir(), 'blox-asg-'));
  const problems: string[] = [];
  const checked = new Set<string>();
  let serial = 0;
  const cli = (...args: string[]): Promise<Record<string, unknown>> => awsJson(aws as string, 'autoscaling', emulator.url, args);
  const members = async (): Promise<Member[]> =>
    ((await cli('describe-auto-scaling-groups', '--auto-scaling-group-names', 'blox-local')) as { AutoScalingGroups: Array<{ Instances: Member[] }> })
      .AutoScalingGroups[0]?.Instances ?? [];
  const imds = async (instanceId: string, path: string): Promise<{ status: number; text: string }> => {
    const url = endpoints.get(instanceId)?.imdsUrl as string;
    const token = await (await fetch(`${url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
    const response = await fetch(`${url}/latest/meta-data/${path}`, { headers: { 'X-aws-ec2-metadata-token': token } });
    return { status: response.status, text: await response.text() };
  };
  /** An action on the open lifecycle action of hook "drain" for the instance. */
  const hookAction = (command: string, instanceId: string, ...more: string[]): Promise<Record<string, unknown>> =>
    cli(command, '--auto-scaling-group-name', 'blox-local', '--lifecycle-hook-name', 'drain', '--instance-id', instanceId, ...more);
  const inService = async (): Promise<string[]> =>
    (await members()).filter((member) => member.LifecycleState === 'InService').map((member) => member.InstanceId);

  beforeAll(async () => {
    runtime = new SimulatedRuntime({ startLatencyMs: 10, stopLatencyMs: 5 });
    emulator = await startEcsEmulator({ runtime });
    await fetch(emulator.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerServiceV20141113.CreateCluster' },
      body: JSON.stringify({ clusterName: 'asg' }),
    });
    const arns = new Map<string, string>();
    group = new AutoScalingGroup(
      'blox-local',
      { min: 1, max: 4, desired: 2 },
      ['us-east-1a', 'us-east-1b'],
      {
        launch: async () => {
          const instanceId = `i-0${(++serial).toString(16).padStart(16, '0')}`;
          const availabilityZone = serial % 2 ? 'us-east-1a' : 'us-east-1b';
          const identity = {
            ec2InstanceId: instanceId,
            instanceType: 't3.small',
            availabilityZone,
            amiId: 'ami-1',
            region: 'us-east-1',
            accountId: '000000000000',
          };
          const instanceEndpoints = await startInstanceEndpoints({ emulator, runtime, cluster: 'asg', socketDir, identity });
          endpoints.set(instanceId, instanceEndpoints);
          const { containerInstanceArn } = await emulator.registerInstance({
            cluster: 'asg',
            ...identity,
            cpu: 2048,
            memory: 1900,
            attributes: { 'blox-edge.daemons': 'pending' },
          });
          arns.set(instanceId, containerInstanceArn);
          await instanceEndpoints.markRegistered(containerInstanceArn);
          return { instanceId, availabilityZone, instanceType: 't3.small' };
        },
        terminate: async (instanceId) => {
          await emulator.terminateInstance(arns.get(instanceId) as string);
          await endpoints.get(instanceId)?.close();
        },
        targetStateChanged: (instanceId, state) => endpoints.get(instanceId)?.setTargetLifecycleState(state),
      },
      { wallMs: () => Date.now(), monoMs: () => Math.round(performance.now()) },
    );
    const api = new AutoScalingApi('us-east-1', '000000000000');
    api.addGroup(group);
    const validator = modelPath ? new ModelValidator(loadServiceModel(modelPath) as NonNullable<ReturnType<typeof loadServiceModel>>) : undefined;
    api.onExchange((exchange) => {
      checked.add(exchange.operation);
      if (!validator || exchange.status !== 200 || !validator.outputShape(exchange.operation)) return;
      const violations = validator.validateOutput(exchange.operation, toModelValue(exchange.response));
      if (violations.length > 0) problems.push(`${exchange.operation}: ${JSON.stringify(violations)}`);
    });
    emulator.serveQueryApi((body) => api.handle(body));
    group.start();
    await waitFor(
      'two instances InService',
      10_000,
      async () => group.instances.size === 2 && [...group.instances.values()].every((i) => i.lifecycleState === 'InService'),
    );
  });

  afterAll(async () => {
    group?.close();
    await Promise.all([...endpoints.values()].map((item) => item.close()));
    await emulator?.close();
    await runtime?.close();
    rmSync(socketDir, { recursive: true, force: true });
  });

  it('describes the group and its instances; IMDS shows InService', async () => {
    const described = (await cli('describe-auto-scaling-groups')) as { AutoScalingGroups: Array<Record<string, unknown>> };
    expect(described.AutoScalingGroups[0]).toMatchObject({ AutoScalingGroupName: 'blox-local', MinSize: 1, MaxSize: 4, DesiredCapacity: 2 });
    const ids = await inService();
    const details = (await cli('describe-auto-scaling-instances', '--instance-ids', ids[0] as string)) as {
      AutoScalingInstances: Array<Record<string, unknown>>;
    };
    expect(details.AutoScalingInstances).toEqual([expect.objectContaining({ InstanceId: ids[0], LifecycleState: 'InService', HealthStatus: 'HEALTHY' })]);
    expect(await imds(ids[0] as string, 'autoscaling/target-lifecycle-state')).toEqual({ status: 200, text: 'InService' });
    expect((await imds(ids[0] as string, 'spot/instance-action')).status).toBe(404);
    endpoints.get(ids[0] as string)?.setSpotInstanceAction({ action: 'terminate', time: '2026-01-01T00:02:00Z' });
    expect(JSON.parse((await imds(ids[0] as string, 'spot/instance-action')).text)).toEqual({ action: 'terminate', time: '2026-01-01T00:02:00Z' });
  });

  it('set-instance-health Unhealthy replaces the instance; terminate without decrement replaces too', async () => {
    const [sick] = await inService();
    await cli('set-instance-health', '--instance-id', sick as string, '--health-status', 'Unhealthy');
    await waitFor('a replacement', 10_000, async () => {
      const now = await inService();
      return now.length === 2 && !now.includes(sick as string);
    });
    const [other] = await inService();
    const activity = (await cli('terminate-instance-in-auto-scaling-group', '--instance-id', other as string, '--no-should-decrement-desired-capacity')) as {
      Activity: { StatusCode: string };
    };
    expect(activity.Activity.StatusCode).toBe('InProgress');
    await waitFor('another replacement', 10_000, async () => {
      const now = await inService();
      return now.length === 2 && !now.includes(other as string);
    });
  });

  it('a scale-in with a lifecycle hook waits for complete-lifecycle-action', async () => {
    await cli(
      'put-lifecycle-hook',
      '--auto-scaling-group-name',
      'blox-local',
      '--lifecycle-hook-name',
      'drain',
      '--lifecycle-transition',
      'autoscaling:EC2_INSTANCE_TERMINATING',
      '--heartbeat-timeout',
      '300',
    );
    const hooks = (await cli('describe-lifecycle-hooks', '--auto-scaling-group-name', 'blox-local')) as {
      LifecycleHooks: Array<{ LifecycleHookName: string }>;
    };
    expect(hooks.LifecycleHooks.map((hook) => hook.LifecycleHookName)).toEqual(['drain']);
    await cli('set-desired-capacity', '--auto-scaling-group-name', 'blox-local', '--desired-capacity', '1');
    const waiting = (await members()).find((member) => member.LifecycleState === 'Terminating:Wait') as Member;
    expect(waiting).toBeDefined();
    expect(await imds(waiting.InstanceId, 'autoscaling/target-lifecycle-state')).toEqual({ status: 200, text: 'Terminated' });
    await hookAction('record-lifecycle-action-heartbeat', waiting.InstanceId);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await members()).find((member) => member.InstanceId === waiting.InstanceId)?.LifecycleState).toBe('Terminating:Wait');
    await hookAction('complete-lifecycle-action', waiting.InstanceId, '--lifecycle-action-result', 'CONTINUE');
    await waitFor('the instance gone', 10_000, async () => (await members()).every((member) => member.InstanceId !== waiting.InstanceId));
    expect(await inService()).toHaveLength(1);
    const refused = await runAws(aws as string, 'autoscaling', emulator.url, [
      'set-desired-capacity',
      '--auto-scaling-group-name',
      'blox-local',
      '--desired-capacity',
      '9',
    ]);
    expect([254, 255]).toContain(refused.code);
    expect(refused.stderr).toContain('ValidationError');
    expect(problems).toEqual([]);
    expect([...checked]).toEqual(
      expect.arrayContaining([
        'DescribeAutoScalingGroups',
        'DescribeAutoScalingInstances',
        'SetInstanceHealth',
        'TerminateInstanceInAutoScalingGroup',
        'PutLifecycleHook',
        'DescribeLifecycleHooks',
        'SetDesiredCapacity',
        'RecordLifecycleActionHeartbeat',
        'CompleteLifecycleAction',
      ]),
    );
  });
});
