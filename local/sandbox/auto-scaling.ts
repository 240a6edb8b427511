// The sandbox's Auto Scaling group ("blox-local"): the instances `npm start` boots are its first
// members; it launches, replaces and terminates instances through the sandbox, and is served on
// the ECS emulator's endpoint (`aws autoscaling --endpoint-url`, the SDK client). The IMDS of each
// instance shows its target lifecycle state; a Spot interruption notice can be raised on any
// instance (two minutes later the instance is terminated and the group replaces it, as EC2 does).
// `npm start` gives the group a termination lifecycle hook, so a scale-in waits for the instance's
// agent to drain it and complete the action (`--no-lifecycle-drain`: no hook, terminated at once).
import { systemClock, type Clock } from '../../core/clock.js';
import { AutoScalingApi } from '../autoscaling/api.js';
import { AutoScalingGroup } from '../autoscaling/group.js';
import type { EcsEmulator } from '../ecs/emulator.js';
import type { InstanceEndpoints } from '../instance/endpoints.js';

export const GROUP_NAME = 'blox-local';
/** EC2 gives a Spot instance two minutes' notice. */
export const SPOT_NOTICE_MS = 120_000;
/** The termination hook the sandbox puts on its group, with the heartbeat timeout deploying.md suggests. */
export const SANDBOX_HOOK = { name: 'blox-local-drain', heartbeatTimeoutSeconds: 300 } as const;

/** What the group needs of the sandbox. */
export interface SandboxFleet {
  addInstance(): Promise<{ ec2InstanceId: string; availabilityZone: string; instanceType: string }>;
  terminateInstance(id: string): Promise<unknown>;
  findInstance(id: string): { ec2InstanceId: string; endpoints: InstanceEndpoints } | undefined;
}

export class SandboxAutoScaling {
  readonly group: AutoScalingGroup;
  private readonly spotTimers = new Set<ReturnType<typeof setTimeout>>();
  private readonly spotNoticeMs: number;

  constructor(
    private readonly fleet: SandboxFleet,
    emulator: EcsEmulator,
    options: {
      region: string;
      accountId: string;
      availabilityZones: string[];
      desired: number;
      max: number;
      /** A termination lifecycle hook on the group from the start (as `put-lifecycle-hook` adds one). */
      terminationHook?: { name: string; heartbeatTimeoutSeconds: number };
      /** How long a Spot notice runs before the instance is terminated (default EC2's two minutes). */
      spotNoticeMs?: number;
    },
    private readonly log: (message: string, details: Record<string, unknown>) => void,
    clock: Clock = systemClock,
  ) {
    this.group = new AutoScalingGroup(
      GROUP_NAME,
      { min: 0, max: Math.max(options.max, options.desired), desired: options.desired },
      options.availabilityZones,
      {
        launch: async () => {
          const instance = await fleet.addInstance();
          return { instanceId: instance.ec2InstanceId, availabilityZone: instance.availabilityZone, instanceType: instance.instanceType };
        },
        terminate: async (instanceId) => void (await fleet.terminateInstance(instanceId)),
        targetStateChanged: (instanceId, state) => fleet.findInstance(instanceId)?.endpoints.setTargetLifecycleState(state),
      },
      clock,
      log,
    );
    if (options.terminationHook)
      this.group.putLifecycleHook({ ...options.terminationHook, transition: 'autoscaling:EC2_INSTANCE_TERMINATING', defaultResult: 'CONTINUE' });
    this.spotNoticeMs = options.spotNoticeMs ?? SPOT_NOTICE_MS;
    const api = new AutoScalingApi(options.region, options.accountId);
    api.addGroup(this.group);
    emulator.serveQueryApi((body) => api.handle(body));
  }

  /** EC2's Spot interruption: the notice in IMDS now, the instance terminated two minutes (the notice period) later. */
  spotInterrupt(id: string, noticeMs = this.spotNoticeMs): { ec2InstanceId: string; time: string } {
    const instance = this.fleet.findInstance(id);
    if (!instance) throw new Error(`no running instance ${id}`);
    const time = new Date(Date.now() + noticeMs).toISOString().replace(/\.\d+Z$/, 'Z');
    instance.endpoints.setSpotInstanceAction({ action: 'terminate', time });
    const timer = setTimeout(() => {
      this.spotTimers.delete(timer);
      // The sandbox tells the group the instance is gone; the group replaces it.
      this.fleet
        .terminateInstance(instance.ec2InstanceId)
        .catch((error: unknown) => this.log('spot termination failed', { ec2InstanceId: instance.ec2InstanceId, error: String(error) }));
    }, noticeMs);
    timer.unref();
    this.spotTimers.add(timer);
    return { ec2InstanceId: instance.ec2InstanceId, time };
  }

  close(): void {
    for (const timer of this.spotTimers) clearTimeout(timer);
    this.group.close();
  }
}
