// What a task definition and a task's overrides become: the task's containers as ECS shows them,
// and the spec the task runtime starts. Pure; the lifecycle (lifecycle.ts) calls both at launch.
import type { RuntimeContainerSpec, RuntimeTaskSpec } from '../runtime/types.js';
import type { ContainerDefinition, TaskOverride } from './shapes.js';
import type { TaskDefinitionState, TaskState } from './state.js';
import type { EmulatedContainer, EmulatedNetworkBinding } from './types.js';

export const DEFAULT_STOP_TIMEOUT_SECONDS = 30;

const overrideOf = (overrides: TaskOverride, container: ContainerDefinition) => overrides.containerOverrides?.find((item) => item.name === container.name);

/**
 * The containers of a new task, in PENDING; `hostPortFor` answers a host port for a mapping that
 * asks for a dynamic one (bridge mode, hostPort 0 or absent).
 */
export function containersOf(
  definition: TaskDefinitionState,
  overrides: TaskOverride,
  containerArn: () => string,
  hostPortFor: () => number,
): EmulatedContainer[] {
  return definition.containerDefinitions.map((container) => {
    const override = overrideOf(overrides, container);
    const bindings: EmulatedNetworkBinding[] = [];
    for (const mapping of container.portMappings ?? []) {
      const protocol = mapping.protocol === 'udp' ? 'udp' : 'tcp';
      let hostPort = definition.networkMode === 'host' ? (mapping.hostPort ?? mapping.containerPort) : mapping.hostPort;
      if (!hostPort) hostPort = hostPortFor();
      if (mapping.containerPort !== undefined) bindings.push({ bindIP: '0.0.0.0', containerPort: mapping.containerPort, hostPort, protocol });
    }
    return {
      name: container.name as string,
      containerArn: containerArn(),
      image: container.image as string,
      essential: container.essential !== false,
      runtimeId: undefined,
      lastStatus: 'PENDING',
      exitCode: undefined,
      healthStatus: 'UNKNOWN',
      hasHealthCheck: container.healthCheck !== undefined,
      reason: undefined,
      networkBindings: bindings,
      cpu: override?.cpu ?? container.cpu ?? 0,
      memory: override?.memory ?? container.memory,
      memoryReservation: override?.memoryReservation ?? container.memoryReservation,
    };
  });
}

export function runtimeSpecOf(task: TaskState, definition: TaskDefinitionState): RuntimeTaskSpec {
  const containers: RuntimeContainerSpec[] = definition.containerDefinitions.map((container) => {
    const override = overrideOf(task.overrides, container);
    const environment: Record<string, string> = {};
    for (const pair of container.environment ?? []) if (pair.name) environment[pair.name] = pair.value ?? '';
    for (const pair of override?.environment ?? []) if (pair.name) environment[pair.name] = pair.value ?? '';
    const check = container.healthCheck;
    const memoryMiB = override?.memory ?? container.memory ?? override?.memoryReservation ?? container.memoryReservation;
    const cpuUnits = override?.cpu ?? container.cpu;
    const command = override?.command ?? container.command;
    return {
      name: container.name as string,
      image: container.image as string,
      essential: container.essential !== false,
      ...(command ? { command } : {}),
      ...(container.entryPoint ? { entryPoint: container.entryPoint } : {}),
      environment,
      ...(memoryMiB !== undefined ? { memoryMiB } : {}),
      ...(cpuUnits !== undefined ? { cpuUnits } : {}),
      ...(check
        ? {
            healthCheck: {
              command: check.command ?? [],
              intervalSeconds: check.interval ?? 30,
              timeoutSeconds: check.timeout ?? 5,
              retries: check.retries ?? 3,
              startPeriodSeconds: check.startPeriod ?? 0,
            },
          }
        : {}),
    };
  });
  return {
    taskArn: task.taskArn,
    clusterName: task.clusterName,
    clusterArn: task.clusterArn,
    containerInstanceArn: task.containerInstanceArn,
    family: task.family,
    revision: task.revision,
    containers,
    ...(definition.networkMode ? { networkMode: definition.networkMode } : {}),
  };
}

/** The grace period to stop a task: its largest container stopTimeout, else the agent's default. */
export function stopGraceSeconds(definition: TaskDefinitionState | undefined): number {
  const timeouts = (definition?.containerDefinitions ?? [])
    .map((container) => container.stopTimeout)
    .filter((value): value is number => typeof value === 'number');
  return timeouts.length > 0 ? Math.max(...timeouts) : DEFAULT_STOP_TIMEOUT_SECONDS;
}
