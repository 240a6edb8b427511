// One EC2 Auto Scaling group, as the Auto Scaling documentation describes its instances' lives:
// it keeps DesiredCapacity instances InService (launching through a Fleet port), replaces an
// instance that is set Unhealthy or terminated, and on scale-in or termination holds the instance
// in Terminating:Wait while a termination lifecycle hook is open, until CompleteLifecycleAction or
// the hook's heartbeat timeout (RecordLifecycleActionHeartbeat restarts it). The instance's IMDS
// target lifecycle state follows (InService, then Terminated as soon as termination begins).
import { randomUUID } from 'node:crypto';
import { setTimer, type Clock, type Timer } from '../../core/clock.js';
import type { TargetLifecycleState } from '../instance/imds.js';

/** What the group asks of the world it runs in (the sandbox): boot and end instances. */
export interface Fleet {
  /** Boots one instance (metadata, agent, ECS registration); answers once it is registered. */
  launch(): Promise<{ instanceId: string; availabilityZone: string; instanceType: string }>;
  terminate(instanceId: string): Promise<void>;
  /** IMDS autoscaling/target-lifecycle-state of the instance. */
  targetStateChanged(instanceId: string, state: TargetLifecycleState): void;
}

export type LifecycleState = 'Pending' | 'InService' | 'Terminating' | 'Terminating:Wait' | 'Terminating:Proceed' | 'Terminated';

export interface GroupInstance {
  instanceId: string;
  availabilityZone: string;
  instanceType: string;
  lifecycleState: LifecycleState;
  healthStatus: 'Healthy' | 'Unhealthy';
  launchedAt: number;
  /** The open termination lifecycle action, while Terminating:Wait. */
  action: { hook: LifecycleHook; token: string; timer: Timer } | undefined;
}

export interface LifecycleHook {
  name: string;
  transition: 'autoscaling:EC2_INSTANCE_TERMINATING';
  heartbeatTimeoutSeconds: number;
  defaultResult: 'CONTINUE' | 'ABANDON';
}

export interface Activity {
  id: string;
  cause: string;
  description: string;
  startedAt: number;
}

export class AutoScalingError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const validation = (message: string): AutoScalingError => new AutoScalingError('ValidationError', message);
export const DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 3600;

export class AutoScalingGroup {
  readonly instances = new Map<string, GroupInstance>();
  readonly hooks = new Map<string, LifecycleHook>();
  readonly createdAt: number;
  private launching = 0;
  private closed = false;

  constructor(
    readonly name: string,
    private capacity: { min: number; max: number; desired: number },
    readonly availabilityZones: string[],
    private readonly fleet: Fleet,
    private readonly clock: Clock,
    private readonly log: (message: string, details: Record<string, unknown>) => void = () => {},
  ) {
    this.createdAt = clock.wallMs();
  }

  get minSize(): number {
    return this.capacity.min;
  }
  get maxSize(): number {
    return this.capacity.max;
  }
  get desiredCapacity(): number {
    return this.capacity.desired;
  }

  /** Launches up to DesiredCapacity (the instances adopted first count). */
  start(): void {
    this.reconcile();
  }

  /** Takes an instance that already runs (the sandbox's first instances) into the group. */
  adopt(instance: { instanceId: string; availabilityZone: string; instanceType: string }): void {
    this.instances.set(instance.instanceId, {
      ...instance,
      lifecycleState: 'InService',
      healthStatus: 'Healthy',
      launchedAt: this.clock.wallMs(),
      action: undefined,
    });
    this.fleet.targetStateChanged(instance.instanceId, 'InService');
  }

  update(change: { min?: number; max?: number; desired?: number }): void {
    const next = { ...this.capacity, ...change };
    if (change.desired === undefined) next.desired = Math.min(Math.max(next.desired, next.min), next.max);
    if (next.min > next.max) throw validation(`Max bound, ${next.max}, must be greater than or equal to min bound, ${next.min}`);
    if (next.desired > next.max)
      throw validation(`Desired capacity:${next.desired} must be between the specified min size:${next.min} and max size:${next.max}`);
    if (next.desired < next.min)
      throw validation(`Desired capacity:${next.desired} must be between the specified min size:${next.min} and max size:${next.max}`);
    this.capacity = next;
    this.reconcile();
  }

  setDesiredCapacity(desired: number): void {
    if (desired > this.capacity.max)
      throw validation(`New SetDesiredCapacity value ${desired} is above max value ${this.capacity.max} for the AutoScaling group.`);
    if (desired < this.capacity.min)
      throw validation(`New SetDesiredCapacity value ${desired} is below min value ${this.capacity.min} for the AutoScaling group.`);
    this.update({ desired });
  }

  /** An Unhealthy instance is terminated and replaced, as Auto Scaling's health checks do. */
  setInstanceHealth(instanceId: string, health: 'Healthy' | 'Unhealthy'): void {
    const instance = this.member(instanceId);
    instance.healthStatus = health;
    if (health === 'Unhealthy' && instance.lifecycleState === 'InService') {
      this.beginTermination(instance, `an instance was taken out of service in response to a user health-check.`);
      this.reconcile();
    }
  }

  terminateInstance(instanceId: string, decrementDesired: boolean): Activity {
    const instance = this.member(instanceId);
    if (decrementDesired) {
      if (this.capacity.desired - 1 < this.capacity.min)
        throw validation(
          `Currently, desiredSize equals minSize (${this.capacity.min}). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.`,
        );
      this.capacity.desired--;
    }
    const cause = decrementDesired
      ? `an instance was taken out of service in response to a user request, shrinking the capacity from ${this.capacity.desired + 1} to ${this.capacity.desired}.`
      : 'an instance was taken out of service in response to a user request.';
    const activity = this.beginTermination(instance, cause);
    this.reconcile();
    return activity;
  }

  /** The instance went away outside the group (terminated by hand): EC2 health checks replace it. */
  instanceGone(instanceId: string): void {
    const instance = this.instances.get(instanceId);
    if (!instance || instance.lifecycleState.startsWith('Terminating')) return;
    instance.action?.timer.cancel();
    this.instances.delete(instanceId);
    this.log('instance gone; replacing', { instanceId });
    this.reconcile();
  }

  putLifecycleHook(hook: LifecycleHook): void {
    this.hooks.set(hook.name, hook);
  }

  deleteLifecycleHook(name: string): void {
    if (!this.hooks.delete(name)) throw validation(`No Lifecycle Hook found with name ${name} for group ${this.name}`);
  }

  completeLifecycleAction(hookName: string, target: { instanceId?: string; token?: string }, result: string): void {
    const instance = this.waiting(hookName, target);
    if (result !== 'CONTINUE' && result !== 'ABANDON') throw validation('LifecycleActionResult must be CONTINUE or ABANDON');
    this.log('lifecycle action completed', { instanceId: instance.instanceId, hook: hookName, result });
    this.proceed(instance);
  }

  recordHeartbeat(hookName: string, target: { instanceId?: string; token?: string }): void {
    const instance = this.waiting(hookName, target);
    const action = instance.action as NonNullable<GroupInstance['action']>;
    action.timer.cancel();
    action.timer = setTimer(this.clock, () => this.timedOut(instance), action.hook.heartbeatTimeoutSeconds * 1000);
  }

  close(): void {
    this.closed = true;
    for (const instance of this.instances.values()) instance.action?.timer.cancel();
  }

  private member(instanceId: string): GroupInstance {
    const instance = this.instances.get(instanceId);
    if (!instance) throw validation(`Instance Id not found - No managed instance found for instance ID: ${instanceId}`);
    return instance;
  }

  private waiting(hookName: string, target: { instanceId?: string; token?: string }): GroupInstance {
    if (!this.hooks.has(hookName)) throw validation(`No Lifecycle Hook found with name ${hookName} for group ${this.name}`);
    for (const instance of this.instances.values()) {
      const action = instance.action;
      if (!action || action.hook.name !== hookName) continue;
      if (target.token ? action.token === target.token : instance.instanceId === target.instanceId) return instance;
    }
    throw validation('No active Lifecycle Action found with the given instance ID or token.');
  }

  /** Keeps DesiredCapacity instances Pending or InService: launches what is missing, ends extras. */
  private reconcile(): void {
    if (this.closed) return;
    const serving = [...this.instances.values()].filter((instance) => instance.lifecycleState === 'InService' || instance.lifecycleState === 'Pending');
    let missing = this.capacity.desired - serving.length - this.launching;
    for (; missing > 0; missing--) this.launch();
    for (const victim of this.scaleInVictims(serving, -missing)) {
      this.beginTermination(
        victim,
        `an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity to ${this.capacity.desired}.`,
      );
    }
  }

  /**
   * Modelled on the default termination policy: from the availability zone with the most
   * instances, the one launched first (the sandbox's instances share one launch template).
   */
  private scaleInVictims(serving: GroupInstance[], count: number): GroupInstance[] {
    const victims: GroupInstance[] = [];
    const pool = [...serving];
    while (victims.length < count && pool.length > 0) {
      const perZone = new Map<string, number>();
      for (const instance of pool) perZone.set(instance.availabilityZone, (perZone.get(instance.availabilityZone) ?? 0) + 1);
      const busiest = Math.max(...perZone.values());
      const candidates = pool.filter((instance) => perZone.get(instance.availabilityZone) === busiest).sort((a, b) => a.launchedAt - b.launchedAt);
      const victim = candidates[0] as GroupInstance;
      victims.push(victim);
      pool.splice(pool.indexOf(victim), 1);
    }
    return victims;
  }

  private launch(): void {
    this.launching++;
    this.fleet.launch().then(
      (launched) => {
        this.launching--;
        if (this.closed) return;
        this.adopt(launched);
        this.log('instance launched', { instanceId: launched.instanceId });
        this.reconcile();
      },
      (error: unknown) => {
        this.launching--;
        this.log('launch failed', { error: String(error) });
      },
    );
  }

  private beginTermination(instance: GroupInstance, cause: string): Activity {
    const activity: Activity = {
      id: randomUUID(),
      cause: `At ${new Date(this.clock.wallMs()).toISOString()} ${cause}`,
      description: `Terminating EC2 instance: ${instance.instanceId}`,
      startedAt: this.clock.wallMs(),
    };
    if (instance.lifecycleState !== 'InService' && instance.lifecycleState !== 'Pending') return activity;
    this.fleet.targetStateChanged(instance.instanceId, 'Terminated');
    const hook = [...this.hooks.values()].find((item) => item.transition === 'autoscaling:EC2_INSTANCE_TERMINATING');
    if (!hook) {
      this.proceed(instance);
      return activity;
    }
    instance.lifecycleState = 'Terminating:Wait';
    // The hook's timeout: the default result applies (for termination both end in Terminated).
    instance.action = { hook, token: randomUUID(), timer: setTimer(this.clock, () => this.timedOut(instance), hook.heartbeatTimeoutSeconds * 1000) };
    this.log('instance waiting on lifecycle hook', { instanceId: instance.instanceId, hook: hook.name });
    return activity;
  }

  private timedOut(instance: GroupInstance): void {
    this.log('lifecycle action timed out; its default result applies', { instanceId: instance.instanceId, hook: instance.action?.hook.name });
    this.proceed(instance);
  }

  private proceed(instance: GroupInstance): void {
    instance.action?.timer.cancel();
    instance.action = undefined;
    instance.lifecycleState = 'Terminating:Proceed';
    this.fleet.terminate(instance.instanceId).then(
      () => {
        instance.lifecycleState = 'Terminated';
        this.instances.delete(instance.instanceId);
      },
      (error: unknown) => this.log('terminate failed', { instanceId: instance.instanceId, error: String(error) }),
    );
  }
}
