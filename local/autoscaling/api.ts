// The Auto Scaling API over the groups of the local world, in the Query protocol (query.ts), so
// that @aws-sdk/client-auto-scaling and `aws autoscaling --endpoint-url` work unmodified. The
// operations: DescribeAutoScalingGroups, DescribeAutoScalingInstances, UpdateAutoScalingGroup,
// SetDesiredCapacity, SetInstanceHealth, TerminateInstanceInAutoScalingGroup, PutLifecycleHook,
// DescribeLifecycleHooks, DeleteLifecycleHook, CompleteLifecycleAction,
// RecordLifecycleActionHeartbeat.
import { randomUUID } from 'node:crypto';
import { AutoScalingError, DEFAULT_HEARTBEAT_TIMEOUT_SECONDS, type Activity, type AutoScalingGroup, type GroupInstance } from './group.js';
import { decodeQuery, errorXml, responseXml, type QueryValue } from './query.js';

export const API_VERSION = '2011-01-01';

type Params = Record<string, QueryValue>;
type Result = Record<string, unknown> | undefined;

/** One answered request, for conformance checks (the JSON value before it became XML). */
export interface QueryExchange {
  operation: string;
  request: Params;
  status: number;
  response: Record<string, unknown>;
}

const validation = (message: string): AutoScalingError => new AutoScalingError('ValidationError', message);

function text(params: Params, name: string, required = true): string | undefined {
  const value = params[name];
  if (value === undefined) {
    if (required)
      throw validation(
        `1 validation error detected: Value null at '${name.charAt(0).toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`,
      );
    return undefined;
  }
  if (typeof value !== 'string') throw validation(`${name} must be a single value`);
  return value;
}

function integer(params: Params, name: string, required = true): number | undefined {
  const value = text(params, name, required);
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw validation(`${name} must be an integer`);
  return Number(value);
}

function list(params: Params, name: string): string[] {
  const value = params[name];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function instanceWire(instance: GroupInstance): Record<string, unknown> {
  return {
    InstanceId: instance.instanceId,
    InstanceType: instance.instanceType,
    AvailabilityZone: instance.availabilityZone,
    LifecycleState: instance.lifecycleState,
    HealthStatus: instance.healthStatus,
    LaunchTemplate: { LaunchTemplateName: 'blox-local', Version: '1' },
    ProtectedFromScaleIn: false,
  };
}

function activityWire(group: AutoScalingGroup, activity: Activity): Record<string, unknown> {
  return {
    ActivityId: activity.id,
    AutoScalingGroupName: group.name,
    Description: activity.description,
    Cause: activity.cause,
    StartTime: new Date(activity.startedAt),
    StatusCode: 'InProgress',
    Progress: 0,
  };
}

export class AutoScalingApi {
  private readonly groups = new Map<string, AutoScalingGroup>();
  private readonly listeners = new Set<(exchange: QueryExchange) => void>();

  constructor(
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  addGroup(group: AutoScalingGroup): void {
    this.groups.set(group.name, group);
  }

  onExchange(listener: (exchange: QueryExchange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Answers one form-encoded request: HTTP status and XML body. */
  handle(body: string): { status: number; xml: string } {
    const requestId = randomUUID();
    const { action, version, params } = decodeQuery(body);
    let status = 200;
    let response: Record<string, unknown>;
    let xml: string;
    try {
      if (version !== API_VERSION) throw new AutoScalingError('InvalidAction', `Version ${version || '(none)'} is not ${API_VERSION}.`);
      const operation = this.operations[action];
      if (!operation) throw new AutoScalingError('InvalidAction', `The action ${action || '(none)'} is not valid for this web service.`);
      const result = operation(params);
      response = result ?? {};
      xml = responseXml(action, result, requestId);
    } catch (error) {
      const failure = error instanceof AutoScalingError ? error : new AutoScalingError('InternalFailure', String(error));
      status = failure.code === 'InternalFailure' ? 500 : 400;
      response = { Error: { Code: failure.code, Message: failure.message } };
      xml = errorXml(failure.code, failure.message, requestId);
    }
    for (const listener of this.listeners) listener({ operation: action, request: params, status, response });
    return { status, xml };
  }

  private group(params: Params): AutoScalingGroup {
    const name = text(params, 'AutoScalingGroupName') as string;
    const group = this.groups.get(name);
    if (!group) throw validation(`AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
    return group;
  }

  private groupOfInstance(instanceId: string): AutoScalingGroup {
    for (const group of this.groups.values()) if (group.instances.has(instanceId)) return group;
    throw validation(`Instance Id not found - No managed instance found for instance ID: ${instanceId}`);
  }

  private groupWire(group: AutoScalingGroup): Record<string, unknown> {
    return {
      AutoScalingGroupName: group.name,
      AutoScalingGroupARN: `arn:aws:autoscaling:${this.region}:${this.accountId}:autoScalingGroup:${group.name}:autoScalingGroupName/${group.name}`,
      LaunchTemplate: { LaunchTemplateName: 'blox-local', Version: '1' },
      MinSize: group.minSize,
      MaxSize: group.maxSize,
      DesiredCapacity: group.desiredCapacity,
      DefaultCooldown: 300,
      AvailabilityZones: group.availabilityZones,
      LoadBalancerNames: [],
      TargetGroupARNs: [],
      HealthCheckType: 'EC2',
      HealthCheckGracePeriod: 0,
      Instances: [...group.instances.values()].map(instanceWire),
      CreatedTime: new Date(group.createdAt),
      SuspendedProcesses: [],
      EnabledMetrics: [],
      Tags: [],
      TerminationPolicies: ['Default'],
      NewInstancesProtectedFromScaleIn: false,
    };
  }

  private readonly operations: Record<string, (params: Params) => Result> = {
    DescribeAutoScalingGroups: (params) => {
      const names = list(params, 'AutoScalingGroupNames');
      const groups = [...this.groups.values()].filter((group) => names.length === 0 || names.includes(group.name));
      return { AutoScalingGroups: groups.map((group) => this.groupWire(group)) };
    },
    DescribeAutoScalingInstances: (params) => {
      const ids = list(params, 'InstanceIds');
      const details: Record<string, unknown>[] = [];
      for (const group of this.groups.values()) {
        for (const instance of group.instances.values()) {
          if (ids.length > 0 && !ids.includes(instance.instanceId)) continue;
          const { InstanceId, InstanceType, AvailabilityZone, LifecycleState, HealthStatus, LaunchTemplate, ProtectedFromScaleIn } = instanceWire(instance);
          // As Auto Scaling answers it: this operation spells health in capitals (HEALTHY, UNHEALTHY).
          const health = String(HealthStatus).toUpperCase();
          details.push({
            InstanceId,
            InstanceType,
            AutoScalingGroupName: group.name,
            AvailabilityZone,
            LifecycleState,
            HealthStatus: health,
            LaunchTemplate,
            ProtectedFromScaleIn,
          });
        }
      }
      return { AutoScalingInstances: details };
    },
    UpdateAutoScalingGroup: (params) => {
      const change: { min?: number; max?: number; desired?: number } = {};
      const min = integer(params, 'MinSize', false);
      const max = integer(params, 'MaxSize', false);
      const desired = integer(params, 'DesiredCapacity', false);
      if (min !== undefined) change.min = min;
      if (max !== undefined) change.max = max;
      if (desired !== undefined) change.desired = desired;
      this.group(params).update(change);
      return undefined;
    },
    SetDesiredCapacity: (params) => {
      this.group(params).setDesiredCapacity(integer(params, 'DesiredCapacity') as number);
      return undefined;
    },
    SetInstanceHealth: (params) => {
      const instanceId = text(params, 'InstanceId') as string;
      const health = text(params, 'HealthStatus') as string;
      if (health !== 'Healthy' && health !== 'Unhealthy') throw validation('HealthStatus must be Healthy or Unhealthy');
      this.groupOfInstance(instanceId).setInstanceHealth(instanceId, health);
      return undefined;
    },
    TerminateInstanceInAutoScalingGroup: (params) => {
      const instanceId = text(params, 'InstanceId') as string;
      const decrement = text(params, 'ShouldDecrementDesiredCapacity') as string;
      const group = this.groupOfInstance(instanceId);
      return { Activity: activityWire(group, group.terminateInstance(instanceId, decrement === 'true')) };
    },
    PutLifecycleHook: (params) => {
      const group = this.group(params);
      const transition = text(params, 'LifecycleTransition', false) ?? 'autoscaling:EC2_INSTANCE_TERMINATING';
      // Modelled: termination hooks only; launch hooks are left out (docs/emulator.md).
      if (transition !== 'autoscaling:EC2_INSTANCE_TERMINATING') throw validation(`LifecycleTransition ${transition} is not modelled by this emulator.`);
      const timeout = integer(params, 'HeartbeatTimeout', false) ?? DEFAULT_HEARTBEAT_TIMEOUT_SECONDS;
      if (timeout < 30 || timeout > 7200) throw validation('HeartbeatTimeout must be between 30 and 7200 seconds.');
      const defaultResult = text(params, 'DefaultResult', false) ?? 'ABANDON';
      if (defaultResult !== 'CONTINUE' && defaultResult !== 'ABANDON') throw validation('DefaultResult must be CONTINUE or ABANDON');
      group.putLifecycleHook({ name: text(params, 'LifecycleHookName') as string, transition, heartbeatTimeoutSeconds: timeout, defaultResult });
      return {};
    },
    DescribeLifecycleHooks: (params) => {
      const group = this.group(params);
      const names = list(params, 'LifecycleHookNames');
      return {
        LifecycleHooks: [...group.hooks.values()]
          .filter((hook) => names.length === 0 || names.includes(hook.name))
          .map((hook) => ({
            LifecycleHookName: hook.name,
            AutoScalingGroupName: group.name,
            LifecycleTransition: hook.transition,
            HeartbeatTimeout: hook.heartbeatTimeoutSeconds,
            GlobalTimeout: Math.min(hook.heartbeatTimeoutSeconds * 100, 172800),
            DefaultResult: hook.defaultResult,
          })),
      };
    },
    DeleteLifecycleHook: (params) => {
      this.group(params).deleteLifecycleHook(text(params, 'LifecycleHookName') as string);
      return {};
    },
    CompleteLifecycleAction: (params) => {
      this.group(params).completeLifecycleAction(
        text(params, 'LifecycleHookName') as string,
        this.actionTarget(params),
        text(params, 'LifecycleActionResult') as string,
      );
      return {};
    },
    RecordLifecycleActionHeartbeat: (params) => {
      this.group(params).recordHeartbeat(text(params, 'LifecycleHookName') as string, this.actionTarget(params));
      return {};
    },
  };

  private actionTarget(params: Params): { instanceId?: string; token?: string } {
    const token = text(params, 'LifecycleActionToken', false);
    const instanceId = text(params, 'InstanceId', false);
    if (!token && !instanceId) throw validation('Either LifecycleActionToken or InstanceId must be given.');
    return token ? { token } : { instanceId: instanceId as string };
  }
}
