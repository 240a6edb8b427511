// An EC2 Auto Scaling group over an agent world (agent-world.ts): the sandbox's own group and
// Auto Scaling API (local/sandbox/auto-scaling.ts: lifecycle hooks, SetInstanceHealth, the IMDS
// target lifecycle state, Spot notices), whose instances are world instances with a real agent
// each, in-process (so ten of them cost one Node process). The agent reaches Auto Scaling through
// the real SDK client, on the emulator's endpoint.
import { AutoScalingClient, PutLifecycleHookCommand } from '@aws-sdk/client-auto-scaling';
import type { AgentConfig } from '../../agent/config.js';
import { GROUP_NAME, SandboxAutoScaling } from '../../local/sandbox/auto-scaling.js';
import type { AgentWorld, RunningAgent, WorldInstance } from './agent-world.js';
import { localCredentials } from './services.js';

export interface GroupMember {
  instance: WorldInstance;
  agent: RunningAgent;
  launchedAt: number;
  /** Set once the group (or a Spot interruption) ended the instance. */
  terminatedAt?: number;
}

export interface AsgWorld {
  asg: SandboxAutoScaling;
  client: AutoScalingClient;
  /** Every instance the group launched, by EC2 instance id (terminated ones kept). */
  members: Map<string, GroupMember>;
  live(): GroupMember[];
  /** The member's agent stopped and a new one started on the same instance (same state directory): what a restart mid-way finds. */
  restartAgent(member: GroupMember): Promise<void>;
  /** A termination lifecycle hook on the group (through the Auto Scaling API, as a user adds one). */
  putTerminationHook(name: string, heartbeatTimeoutSeconds: number): Promise<void>;
  /** The daemons-first attribute of the member's container instance, as ECS holds it. */
  attributeOf(member: GroupMember): string | undefined;
  /** The member is open for work: the attribute `ready` and the environment's daemon RUNNING. */
  ready(member: GroupMember, environment: string): boolean;
  close(): Promise<void>;
}

const ATTRIBUTE = 'blox-edge.daemons';

export async function startAutoScalingGroup(
  world: AgentWorld,
  options: { desired: number; max?: number; attributes?: Record<string, string>; agent?: Partial<AgentConfig> },
): Promise<AsgWorld> {
  const members = new Map<string, GroupMember>();
  const agentConfig: Partial<AgentConfig> = {
    scaleInDrain: true,
    spotDrain: true,
    autoscalingEndpoint: world.emulator.url,
    lifecyclePollMs: 200,
    ecsReconcileIntervalMs: 1_000,
    statusHeartbeatMs: 1_000,
    ...options.agent,
  };
  const end = async (id: string): Promise<void> => {
    const member = members.get(id);
    if (!member || member.terminatedAt !== undefined) return;
    member.terminatedAt = Date.now();
    await member.agent.stop();
    await world.emulator.terminateInstance(member.instance.arn);
    await member.instance.endpoints.close().catch(() => undefined);
  };
  const asg: SandboxAutoScaling = new SandboxAutoScaling(
    {
      async addInstance() {
        const instance = await world.addInstance(options.attributes ? { attributes: options.attributes } : {});
        instance.endpoints.setTargetLifecycleState('InService');
        const agent = await world.startAgent(instance, agentConfig);
        members.set(instance.ec2InstanceId, { instance, agent, launchedAt: Date.now() });
        return { ec2InstanceId: instance.ec2InstanceId, availabilityZone: 'us-east-1a', instanceType: 't2.micro' };
      },
      async terminateInstance(id) {
        await end(id);
        // An instance that went outside the group's own termination (a Spot reclaim): replaced.
        asg.group.instanceGone(id);
      },
      findInstance(id) {
        const member = members.get(id);
        return member && member.terminatedAt === undefined ? { ec2InstanceId: id, endpoints: member.instance.endpoints } : undefined;
      },
    },
    world.emulator,
    { region: 'us-east-1', accountId: '000000000000', availabilityZones: ['us-east-1a'], desired: options.desired, max: options.max ?? options.desired * 2 },
    () => {},
  );
  asg.group.start();
  const attributeOf = (m: GroupMember): string | undefined => world.emulator.instance(m.instance.arn)?.attributes[ATTRIBUTE];
  const client = new AutoScalingClient({ endpoint: world.emulator.url, region: 'us-east-1', credentials: localCredentials, maxAttempts: 1 });
  return {
    asg,
    client,
    members,
    live: () => [...members.values()].filter((m) => m.terminatedAt === undefined),
    async restartAgent(member) {
      await member.agent.stop();
      member.agent = await world.startAgent(member.instance, agentConfig);
    },
    async putTerminationHook(name, heartbeatTimeoutSeconds) {
      await client.send(
        new PutLifecycleHookCommand({
          AutoScalingGroupName: GROUP_NAME,
          LifecycleHookName: name,
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: heartbeatTimeoutSeconds,
          DefaultResult: 'CONTINUE',
        }),
      );
    },
    attributeOf,
    ready: (m, environment) => attributeOf(m) === 'ready' && world.liveTasks(m.instance.arn, environment).some((t) => t.lastStatus === 'RUNNING'),
    async close() {
      asg.close();
      client.destroy();
      await Promise.all([...members.values()].map((m) => m.agent.stop().catch(() => undefined)));
    },
  };
}
