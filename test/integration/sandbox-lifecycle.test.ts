// Scale-in and Spot in the sandbox (`blox local up`: DynamoDB Local, the ECS emulator, the
// coordinator, one agent process per instance, the Auto Scaling group with its termination hook),
// driven with the AWS CLI as a user would: a critical daemon environment and a REPLICA service on
// two instances. (1) `aws autoscaling set-desired-capacity` down by one: the victim's own agent
// drains it while the hook holds it in Terminating:Wait, its replicas leave, its daemon outlives a
// standalone task and stops only after it and the replicas (ECS task timestamps), the agent
// completes the lifecycle action and the instance leaves the group, which keeps one InService. (2) `blox local spot-interrupt`: the instance drains at
// once, the daemon stops last before the notice runs out, and the replacement the group launches
// registers and gets its daemon. The sandbox's defaults are what is tested (no agent flag is
// passed); only the polls and the Spot notice are shortened.
import { DescribeContainerInstancesCommand, DescribeServicesCommand, ECSClient, ListContainerInstancesCommand } from '@aws-sdk/client-ecs';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointsDocument } from '../../local/sandbox/sandbox.js';
import { awsJson, findAws } from '../support/aws-cli.js';
import { freshBundles } from '../support/bundles.js';
import { freePortArgs, idleContainer, stopSandbox, upSandbox } from '../support/sandbox-process.js';
import { localCredentials } from '../support/services.js';
import { waitFor } from '../support/wait.js';

const aws = findAws();
const run = promisify(execFile);
const ATTRIBUTE = 'blox-edge.daemons';
const GROUP = 'blox-local';
const SPOT_NOTICE_MS = 20_000;
const REPLICAS = 4;

interface CliTask {
  taskArn: string;
  containerInstanceArn: string;
  group: string;
  lastStatus: string;
  stoppedReason?: string;
  /** The CLI prints ECS timestamps as ISO 8601 text. */
  createdAt: string;
  startedAt?: string;
  stoppingAt?: string;
  stoppedAt?: string;
}
interface Member {
  InstanceId: string;
  LifecycleState: string;
}
const ms = (time: string | undefined): number => (time === undefined ? NaN : Date.parse(time));
const seconds = (elapsed: number): string => `${(elapsed / 1000).toFixed(1)} s`;

describe.skipIf(!aws)('scale-in and Spot in the sandbox: the agent drains, daemons stop last, the lifecycle action completes (AWS CLI)', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'blox-life-'));
  let bloxJs = '';
  let sandbox: ChildProcess;
  let doc: EndpointsDocument;
  let ecs: ECSClient;
  const figures: string[] = [];
  const ecsCli = (...args: string[]) => awsJson(aws!, 'ecs', doc.ecs.url, args);
  const asgCli = (...args: string[]) => awsJson(aws!, 'autoscaling', doc.ecs.url, args);
  const members = async (): Promise<Member[]> =>
    ((await asgCli('describe-auto-scaling-groups', '--auto-scaling-group-names', GROUP)) as { AutoScalingGroups: Array<{ Instances: Member[] }> })
      .AutoScalingGroups[0]?.Instances ?? [];
  /** The instance as describe-auto-scaling-instances shows it; undefined once it has left the group. */
  const inGroup = async (ec2InstanceId: string): Promise<Member | undefined> =>
    ((await asgCli('describe-auto-scaling-instances', '--instance-ids', ec2InstanceId)) as { AutoScalingInstances: Member[] }).AutoScalingInstances[0];
  /** EC2 instance id -> container instance, as ECS has them (registered ones). */
  const containerInstances = async (): Promise<Map<string, { arn: string; status: string; attribute: string | undefined }>> => {
    const arns = (await ecs.send(new ListContainerInstancesCommand({ cluster: doc.cluster }))).containerInstanceArns ?? [];
    const byEc2 = new Map<string, { arn: string; status: string; attribute: string | undefined }>();
    if (arns.length === 0) return byEc2;
    const described = await ecs.send(new DescribeContainerInstancesCommand({ cluster: doc.cluster, containerInstances: arns }));
    for (const ci of described.containerInstances ?? [])
      byEc2.set(ci.ec2InstanceId ?? '', {
        arn: ci.containerInstanceArn ?? '',
        status: ci.status ?? '',
        attribute: ci.attributes?.find((a) => a.name === ATTRIBUTE)?.value,
      });
    return byEc2;
  };
  const statusOf = async (arn: string): Promise<string | undefined> =>
    (await ecs.send(new DescribeContainerInstancesCommand({ cluster: doc.cluster, containerInstances: [arn] }))).containerInstances?.[0]?.status;
  /** Every task the cluster still describes (running and recently stopped) that ran on the instance. */
  const tasksOn = async (arn: string): Promise<CliTask[]> => {
    const arns: string[] = [];
    for (const status of ['RUNNING', 'STOPPED'])
      arns.push(...((await ecsCli('list-tasks', '--cluster', doc.cluster, '--desired-status', status)) as { taskArns: string[] }).taskArns);
    if (arns.length === 0) return [];
    const tasks: CliTask[] = [];
    for (let i = 0; i < arns.length; i += 100)
      tasks.push(...((await ecsCli('describe-tasks', '--cluster', doc.cluster, '--tasks', ...arns.slice(i, i + 100))) as { tasks: CliTask[] }).tasks);
    return tasks.filter((task) => task.containerInstanceArn === arn);
  };
  const runningReplicas = async (): Promise<number | undefined> =>
    (await ecs.send(new DescribeServicesCommand({ cluster: doc.cluster, services: ['web'] }))).services?.[0]?.runningCount;
  /** A log's lines (pino JSON). */
  const logLines = (file: string): Array<Record<string, unknown>> =>
    readFileSync(join(doc.logs, file), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const agentLog = (ec2InstanceId: string) => logLines(`agent-${ec2InstanceId}.log`);
  const sandboxLog = () => logLines('sandbox.log');
  /** The victim's other tasks all stopped, and its daemon stopped after the last of them, for the drain. */
  const expectDaemonLast = (tasks: CliTask[]): { daemon: CliTask; lastOtherStoppedAt: number } => {
    const others = tasks.filter((task) => task.group !== 'blox:shipper');
    const daemon = tasks.find((task) => task.group === 'blox:shipper');
    expect(others.filter((task) => task.group === 'service:web').length, JSON.stringify(tasks)).toBeGreaterThan(0);
    expect(others.every((task) => task.lastStatus === 'STOPPED')).toBe(true);
    expect(daemon?.lastStatus, JSON.stringify(tasks)).toBe('STOPPED');
    const lastOtherStoppedAt = Math.max(...others.map((task) => ms(task.stoppedAt)));
    expect(ms(daemon!.stoppingAt)).toBeGreaterThanOrEqual(lastOtherStoppedAt);
    expect(daemon!.stoppedReason).toMatch(/drain/i);
    return { daemon: daemon!, lastOtherStoppedAt };
  };

  beforeAll(async () => {
    bloxJs = (await freshBundles()).blox;
    const args = ['--instances', '2', '--runtime', 'simulated', '--cluster', 'life', '--register-delay-ms', '300', ...(await freePortArgs())];
    args.push('--spot-notice-ms', String(SPOT_NOTICE_MS));
    // The agents read their configuration from the environment too: faster polls than the default 5 s.
    ({ child: sandbox, doc } = await upSandbox(bloxJs, args, {
      cwd,
      env: { BLOX_POLL_INTERVAL_MS: '500', BLOX_LIFECYCLE_POLL_MS: '500' },
      onOutput: () => undefined,
    }));
    ecs = new ECSClient({ endpoint: doc.ecs.url, region: doc.region, credentials: localCredentials });

    const healthCheck = { command: ['CMD-SHELL', 'true'], interval: 5, timeout: 2, retries: 1, startPeriod: 1 };
    await ecsCli('register-task-definition', '--family', 'shipper', '--container-definitions', idleContainer('shipper', { healthCheck }));
    await ecsCli('register-task-definition', '--family', 'web', '--container-definitions', idleContainer('web'));
    const created = await fetch(`${doc.coordinator!.url}/v1/environments`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'shipper', taskDefinition: 'shipper:1', instanceGroup: { cluster: doc.cluster }, critical: true }),
    });
    expect(created.status, await created.text()).toBe(200);
    // open for work with the daemon running (an instance is `ready` before its agent has read a new critical environment)
    await waitFor(
      'both instances open for work, their daemon running',
      60_000,
      async () => {
        const all = [...(await containerInstances()).values()];
        for (const ci of all) {
          if (ci.attribute !== 'ready') return false;
          if (!(await tasksOn(ci.arn)).some((task) => task.group === 'blox:shipper' && task.lastStatus === 'RUNNING')) return false;
        }
        return all.length === 2 && all.every((ci) => ci.attribute === 'ready');
      },
      500,
    );
    await ecsCli(
      'create-service',
      '--cluster',
      doc.cluster,
      '--service-name',
      'web',
      '--task-definition',
      'web:1',
      '--desired-count',
      String(REPLICAS),
      '--placement-strategy',
      'type=spread,field=instanceId',
      '--placement-constraints',
      `type=memberOf,expression=attribute:${ATTRIBUTE} == ready`,
    );
    await waitFor('the replicas running', 30_000, async () => (await runningReplicas()) === REPLICAS, 250);
    // spread over both instances, whichever the scale-in picks
    const placed = await Promise.all([...(await containerInstances()).values()].map(async (ci) => ({ ...ci, tasks: await tasksOn(ci.arn) })));
    for (const ci of placed)
      expect(
        ci.tasks.filter((task) => task.group === 'service:web' && task.lastStatus === 'RUNNING').length,
        JSON.stringify(placed.map((p) => ({ arn: p.arn, attribute: p.attribute, tasks: p.tasks.map((t) => [t.group, t.lastStatus, t.createdAt]) }))),
      ).toBeGreaterThan(0);
  }, 240_000);

  afterAll(async () => {
    if (figures.length > 0) process.stdout.write(`sandbox lifecycle figures:\n${figures.map((line) => `  ${line}`).join('\n')}\n`);
    ecs?.destroy();
    await stopSandbox(sandbox, doc);
    rmSync(cwd, { recursive: true, force: true });
  }, 30_000);

  it('set-desired-capacity down by one: held by the hook, drained by its agent, daemon last, lifecycle action completed, one left InService', async () => {
    expect(doc.autoScaling).toMatchObject({ groupName: GROUP, lifecycleDrain: true, lifecycleHookName: expect.any(String) });
    const hooks = (await asgCli('describe-lifecycle-hooks', '--auto-scaling-group-name', GROUP)) as {
      LifecycleHooks: Array<{ LifecycleHookName: string; LifecycleTransition: string }>;
    };
    expect(hooks.LifecycleHooks).toEqual([
      expect.objectContaining({ LifecycleHookName: doc.autoScaling.lifecycleHookName, LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' }),
    ]);
    const byEc2 = await containerInstances();
    // A standalone task (another scheduler's batch job) on each instance: ECS leaves it on a
    // DRAINING instance, so the victim's drain waits for it, and the hook holds the victim meanwhile.
    const batch = new Map<string, string>();
    await ecsCli('register-task-definition', '--family', 'batch', '--container-definitions', idleContainer('batch'));
    for (const [ec2InstanceId, ci] of byEc2) {
      const started = (await ecsCli(
        'run-task',
        '--cluster',
        doc.cluster,
        '--task-definition',
        'batch:1',
        '--placement-constraints',
        `type=memberOf,expression=ec2InstanceId == ${ec2InstanceId}`,
      )) as { tasks: CliTask[] };
      expect(started.tasks[0]?.containerInstanceArn).toBe(ci.arn);
      batch.set(ec2InstanceId, started.tasks[0]!.taskArn);
    }

    const scaledAt = Date.now();
    await asgCli('set-desired-capacity', '--auto-scaling-group-name', GROUP, '--desired-capacity', '1');
    const victim = (await members()).find((member) => member.LifecycleState === 'Terminating:Wait');
    expect(victim, JSON.stringify(await members())).toBeDefined();
    const victimArn = byEc2.get(victim!.InstanceId)!.arn;
    const survivor = [...byEc2.keys()].find((id) => id !== victim!.InstanceId)!;

    await waitFor('the victim DRAINING by its own agent', 10_000, async () => (await statusOf(victimArn)) === 'DRAINING', 100);
    const drainingAt = Date.now();
    await waitFor(
      "the victim's replicas gone",
      30_000,
      async () => (await tasksOn(victimArn)).filter((task) => task.group === 'service:web').every((task) => task.lastStatus === 'STOPPED'),
      250,
    );
    const replicasGoneAt = Date.now();
    // The batch task still runs: the log shipper outlives it, and the hook holds the instance.
    await new Promise((r) => setTimeout(r, 2_000));
    const held = await tasksOn(victimArn);
    expect(held.find((task) => task.group === 'blox:shipper')?.lastStatus).toBe('RUNNING');
    expect((await inGroup(victim!.InstanceId))?.LifecycleState).toBe('Terminating:Wait');

    const batchStopAt = Date.now();
    await ecsCli('stop-task', '--cluster', doc.cluster, '--task', batch.get(victim!.InstanceId)!, '--reason', 'test: batch done');
    await waitFor('the victim out of the group', 60_000, async () => (await inGroup(victim!.InstanceId)) === undefined, 250);
    const goneAt = Date.now();
    const { daemon, lastOtherStoppedAt } = expectDaemonLast(await tasksOn(victimArn));
    expect(ms(daemon.stoppedAt)).toBeLessThanOrEqual(goneAt);
    // The agent kept the action open and completed it: the group says so in the sandbox's log (the
    // agent is gone the moment its CompleteLifecycleAction is answered), and the hook's 300 s
    // heartbeat timeout cannot have run out.
    const heartbeats = agentLog(victim!.InstanceId).filter((line) => line.msg === 'lifecycle action' && line.call === 'heartbeat');
    expect(heartbeats[0]).toMatchObject({ open: true, hook: doc.autoScaling.lifecycleHookName, group: GROUP });
    const actions = sandboxLog().filter((line) => line.instanceId === victim!.InstanceId && /lifecycle action/.test(String(line.msg)));
    expect(actions).toEqual([
      expect.objectContaining({ msg: 'auto scaling: lifecycle action completed', hook: doc.autoScaling.lifecycleHookName, result: 'CONTINUE' }),
    ]);
    expect(goneAt - scaledAt).toBeLessThan(60_000);

    const group = (await asgCli('describe-auto-scaling-groups', '--auto-scaling-group-names', GROUP)) as {
      AutoScalingGroups: Array<{ DesiredCapacity: number; Instances: Member[] }>;
    };
    expect(group.AutoScalingGroups[0]?.DesiredCapacity).toBe(1);
    expect(group.AutoScalingGroups[0]?.Instances).toEqual([expect.objectContaining({ InstanceId: survivor, LifecycleState: 'InService' })]);
    await waitFor('every replica on the survivor', 30_000, async () => (await runningReplicas()) === REPLICAS, 250);
    // the survivor's own batch task ends too (the next test interrupts that instance)
    await ecsCli('stop-task', '--cluster', doc.cluster, '--task', batch.get(survivor)!, '--reason', 'test: batch done');
    figures.push(
      `scale-in: DRAINING ${seconds(drainingAt - scaledAt)} after the CLI's set-desired-capacity began (by the SDK's poll), replicas gone ${seconds(replicasGoneAt - scaledAt)} (by the CLI's poll); ` +
        `after the batch task's stop-task: last other task stopped ${seconds(lastOtherStoppedAt - batchStopAt)}, daemon stopped ${seconds(ms(daemon.stoppedAt) - batchStopAt)} ` +
        `(${ms(daemon.stoppedAt) - lastOtherStoppedAt} ms after the last other task, by ECS's timestamps), ` +
        `out of the group (lifecycle action completed) ${seconds(goneAt - batchStopAt)} (by the CLI's poll)`,
    );
  }, 120_000);

  it('spot-interrupt: drains at once, daemon last before the notice runs out, the replacement gets its daemon', async () => {
    await asgCli('set-desired-capacity', '--auto-scaling-group-name', GROUP, '--desired-capacity', '2');
    await waitFor(
      'two instances InService with their daemons ready',
      60_000,
      async () => {
        const inService = (await members()).filter((member) => member.LifecycleState === 'InService');
        const byEc2 = await containerInstances();
        return inService.length === 2 && inService.every((member) => byEc2.get(member.InstanceId)?.attribute === 'ready');
      },
      500,
    );
    const byEc2 = await containerInstances();
    // ECS does not rebalance a service: every replica is still on the instance that stayed
    const withReplicas = [];
    for (const [ec2InstanceId, ci] of byEc2)
      if ((await tasksOn(ci.arn)).some((task) => task.group === 'service:web' && task.lastStatus === 'RUNNING')) withReplicas.push(ec2InstanceId);
    expect(withReplicas).toHaveLength(1);
    const victim = withReplicas[0]!;
    const victimArn = byEc2.get(victim)!.arn;
    const before = new Set(byEc2.keys());

    const noticeAt = Date.now();
    const { stdout } = await run(process.execPath, [bloxJs, 'local', 'spot-interrupt', victim], { cwd, timeout: 30_000 });
    const notice = JSON.parse(stdout) as { ec2InstanceId: string; time: string };
    expect(notice.ec2InstanceId).toBe(victim);
    await waitFor('the victim DRAINING by its own agent', 5_000, async () => (await statusOf(victimArn)) === 'DRAINING', 100);
    const drainingAt = Date.now();
    const stopped = await waitFor(
      'the daemon stopped on the victim',
      SPOT_NOTICE_MS,
      async () => {
        const tasks = await tasksOn(victimArn);
        return tasks.find((task) => task.group === 'blox:shipper')?.lastStatus === 'STOPPED' ? tasks : undefined;
      },
      250,
    );
    // drained while the instance was still there: the notice had not run out
    expect(await inGroup(victim)).toMatchObject({ LifecycleState: 'InService' });
    const { daemon, lastOtherStoppedAt } = expectDaemonLast(stopped);
    expect(ms(daemon.stoppedAt)).toBeLessThan(ms(notice.time));
    // Spot has no lifecycle action: the agent called none
    expect(agentLog(victim).filter((line) => line.msg === 'lifecycle action')).toEqual([]);
    expect(sandboxLog().filter((line) => line.instanceId === victim && /lifecycle/.test(String(line.msg)))).toEqual([]);

    const replacement = await waitFor(
      'the victim terminated and a replacement with its daemon ready',
      SPOT_NOTICE_MS + 60_000,
      async () => {
        if ((await inGroup(victim)) !== undefined) return undefined;
        const inService = (await members()).filter((member) => member.LifecycleState === 'InService' && !before.has(member.InstanceId));
        const fresh = inService[0] && (await containerInstances()).get(inService[0].InstanceId);
        return fresh?.attribute === 'ready' ? { ec2InstanceId: inService[0]!.InstanceId, ...fresh } : undefined;
      },
      500,
    );
    const goneBy = Date.now();
    expect(goneBy - noticeAt).toBeGreaterThanOrEqual(SPOT_NOTICE_MS - 1_000);
    const daemonOnReplacement = (await tasksOn(replacement.arn)).filter((task) => task.group === 'blox:shipper' && task.lastStatus === 'RUNNING');
    expect(daemonOnReplacement).toHaveLength(1);
    expect((await members()).filter((member) => member.LifecycleState === 'InService')).toHaveLength(2);
    await waitFor('every replica running again', 30_000, async () => (await runningReplicas()) === REPLICAS, 250);
    figures.push(
      `Spot: DRAINING ${seconds(drainingAt - noticeAt)} after the notice (by the SDK's poll), last replica stopped ${seconds(lastOtherStoppedAt - noticeAt)}, ` +
        `daemon stopped ${seconds(ms(daemon.stoppedAt) - noticeAt)} (${ms(daemon.stoppedAt) - lastOtherStoppedAt} ms after the last replica; notice ${seconds(SPOT_NOTICE_MS)}); replacement ready with its daemon ${seconds(goneBy - noticeAt)} after the notice`,
    );
  }, 180_000);
});
