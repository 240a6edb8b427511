// The agent's EC2 Auto Scaling calls, all about its own instance: DescribeAutoScalingInstances (its
// group), DescribeLifecycleHooks (the group's termination hook), RecordLifecycleActionHeartbeat and
// CompleteLifecycleAction (CONTINUE) by instance id, SetInstanceHealth Unhealthy (repair: replace).
// It implements the Auto Scaling port (agent/ports.ts).
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
  SetInstanceHealthCommand,
} from '@aws-sdk/client-auto-scaling';
import type { AutoScalingPort, TerminationHook } from '../ports.js';
import { sdkClientConfig, type SdkClientOptions } from './sdk-client-config.js';

export interface AutoScalingAdapterOptions extends SdkClientOptions {
  call?: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
}

/** Auto Scaling answers a heartbeat or completion of an action that is not open with this ValidationError. */
const NO_ACTIVE_ACTION = /No active Lifecycle Action/i;

export class AgentAutoScaling implements AutoScalingPort {
  readonly client: AutoScalingClient;
  private readonly call: <T>(operation: string, run: () => Promise<T>) => Promise<T>;

  constructor(options: AutoScalingAdapterOptions) {
    // The agent retries in its own loop, with its own backoff and metrics.
    this.client = new AutoScalingClient({ ...sdkClientConfig(options, 5_000), maxAttempts: 1 });
    this.call = options.call ?? ((_op, run) => run());
  }

  destroy(): void {
    this.client.destroy();
  }

  async groupOf(ec2InstanceId: string): Promise<string | undefined> {
    const out = await this.call('DescribeAutoScalingInstances', () =>
      this.client.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [ec2InstanceId] })),
    );
    return out.AutoScalingInstances?.find((i) => i.InstanceId === ec2InstanceId)?.AutoScalingGroupName;
  }

  async terminationHook(groupName: string, hookName?: string): Promise<TerminationHook | undefined> {
    const out = await this.call('DescribeLifecycleHooks', () =>
      this.client.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: groupName, ...(hookName ? { LifecycleHookNames: [hookName] } : {}) })),
    );
    const hook = (out.LifecycleHooks ?? []).find(
      (h) => h.LifecycleTransition === 'autoscaling:EC2_INSTANCE_TERMINATING' && (hookName === undefined || h.LifecycleHookName === hookName),
    );
    if (!hook?.LifecycleHookName) return undefined;
    const heartbeatTimeoutSeconds = hook.HeartbeatTimeout ?? 3600;
    return {
      name: hook.LifecycleHookName,
      heartbeatTimeoutSeconds,
      globalTimeoutSeconds: hook.GlobalTimeout ?? Math.min(heartbeatTimeoutSeconds * 100, 172_800),
    };
  }

  async recordHeartbeat(groupName: string, hookName: string, ec2InstanceId: string): Promise<boolean> {
    return this.unlessNoAction(() =>
      this.call('RecordLifecycleActionHeartbeat', () =>
        this.client.send(
          new RecordLifecycleActionHeartbeatCommand({ AutoScalingGroupName: groupName, LifecycleHookName: hookName, InstanceId: ec2InstanceId }),
        ),
      ),
    );
  }

  async completeAction(groupName: string, hookName: string, ec2InstanceId: string): Promise<boolean> {
    return this.unlessNoAction(() =>
      this.call('CompleteLifecycleAction', () =>
        this.client.send(
          new CompleteLifecycleActionCommand({
            AutoScalingGroupName: groupName,
            LifecycleHookName: hookName,
            InstanceId: ec2InstanceId,
            LifecycleActionResult: 'CONTINUE',
          }),
        ),
      ),
    );
  }

  async setUnhealthy(ec2InstanceId: string): Promise<void> {
    await this.call('SetInstanceHealth', () =>
      this.client.send(new SetInstanceHealthCommand({ InstanceId: ec2InstanceId, HealthStatus: 'Unhealthy', ShouldRespectGracePeriod: false })),
    );
  }

  /** true when the call went through; false when Auto Scaling has no open action for the instance. */
  private async unlessNoAction(run: () => Promise<unknown>): Promise<boolean> {
    try {
      await run();
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'ValidationError' && NO_ACTIVE_ACTION.test(String((error as Error).message))) return false;
      throw error;
    }
  }
}
