// Pure serializers from the emulator's state to ECS's JSON 1.1 wire shapes (timestamps in epoch
// seconds, unset members left out) and to the read-only views of types.ts.
import type { ClusterState, InstanceState, Json, TaskDefinitionState, TaskState } from './state.js';
import type { EmulatedInstance, EmulatedTask } from './types.js';

export const AGENT_VERSION = '1.70.0';

export const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);

/** Drops undefined members so the wire carries only what is set. */
export function compact<T extends Json>(value: T): T {
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return value;
}

export function countTasks(instance: InstanceState): { running: number; pending: number } {
  let running = 0;
  let pending = 0;
  for (const task of instance.tasks.values()) {
    if (task.lastStatus === 'RUNNING') running++;
    else if (task.lastStatus === 'PENDING' || task.lastStatus === 'PROVISIONING') pending++;
  }
  return { running, pending };
}

/** Host ports taken: the agent's reserved ports plus the static host ports of live tasks. */
function usedPortsOf(instance: InstanceState): { tcp: number[]; udp: number[] } {
  return {
    tcp: [...new Set([...instance.reservedPorts, ...instance.usedPorts.keys()])],
    udp: [...new Set([...instance.reservedUdpPorts, ...instance.usedUdpPorts.keys()])],
  };
}

export function clusterWire(cluster: ClusterState, include: string[], activeServicesCount: number): Json {
  let running = 0;
  let pending = 0;
  if (cluster.status === 'ACTIVE') {
    for (const instance of cluster.instances.values()) {
      const counts = countTasks(instance);
      running += counts.running;
      pending += counts.pending;
    }
  }
  return compact({
    clusterArn: cluster.arn,
    clusterName: cluster.name,
    status: cluster.status,
    registeredContainerInstancesCount: cluster.status === 'ACTIVE' ? cluster.instances.size : 0,
    runningTasksCount: running,
    pendingTasksCount: pending,
    activeServicesCount,
    statistics: [],
    tags: include.includes('TAGS') ? cluster.tags : [],
    settings: include.includes('SETTINGS') ? cluster.settings : undefined,
    capacityProviders: [],
    defaultCapacityProviderStrategy: [],
  });
}

export function taskDefinitionWire(state: TaskDefinitionState, accountId: string): Json {
  const body = state.body;
  return compact({
    ...body,
    taskDefinitionArn: state.arn,
    family: state.family,
    revision: state.revision,
    containerDefinitions: state.containerDefinitions.map((container) =>
      compact({
        ...(container as Json),
        cpu: container.cpu ?? 0,
        essential: container.essential ?? true,
        portMappings: (container.portMappings ?? []).map((mapping) =>
          compact({
            ...(mapping as Json),
            hostPort: mapping.hostPort ?? (state.networkMode === 'host' ? mapping.containerPort : undefined),
            protocol: mapping.protocol ?? 'tcp',
          }),
        ),
        environment: container.environment ?? [],
        mountPoints: container.mountPoints ?? [],
        volumesFrom: container.volumesFrom ?? [],
      }),
    ),
    volumes: (body.volumes as unknown[] | undefined) ?? [],
    status: state.status,
    placementConstraints: state.placementConstraints,
    compatibilities: ['EXTERNAL', 'EC2'],
    requiresAttributes: [],
    registeredAt: seconds(state.registeredAt),
    deregisteredAt: seconds(state.deregisteredAt),
    registeredBy: `arn:aws:iam::${accountId}:root`,
  });
}

export function instanceWire(instance: InstanceState, include: string[]): Json {
  const counts = countTasks(instance);
  const integer = (name: string, value: number): Json => ({ name, type: 'INTEGER', doubleValue: 0, longValue: 0, integerValue: value });
  const stringSet = (name: string, values: number[]): Json => ({
    name,
    type: 'STRINGSET',
    doubleValue: 0,
    longValue: 0,
    integerValue: 0,
    stringSetValue: values.map(String),
  });
  const used = usedPortsOf(instance);
  return compact({
    containerInstanceArn: instance.arn,
    ec2InstanceId: instance.ec2InstanceId,
    version: instance.version,
    versionInfo: instance.versionInfo,
    remainingResources: [
      integer('CPU', instance.registeredCpu - instance.usedCpu),
      integer('MEMORY', instance.registeredMemory - instance.usedMemory),
      stringSet('PORTS', used.tcp),
      stringSet('PORTS_UDP', used.udp),
    ],
    registeredResources: [
      integer('CPU', instance.registeredCpu),
      integer('MEMORY', instance.registeredMemory),
      stringSet('PORTS', instance.reservedPorts),
      stringSet('PORTS_UDP', instance.reservedUdpPorts),
    ],
    status: instance.status,
    agentConnected: instance.agentConnected,
    runningTasksCount: counts.running,
    pendingTasksCount: counts.pending,
    attributes: [...instance.attributes].map(([name, value]) => compact({ name, value })),
    registeredAt: seconds(instance.registeredAt),
    attachments: [],
    tags: include.includes('TAGS') ? instance.tags : undefined,
  });
}

export function taskWire(task: TaskState, includeTags: boolean): Json {
  return compact({
    taskArn: task.taskArn,
    clusterArn: task.clusterArn,
    taskDefinitionArn: task.taskDefinitionArn,
    containerInstanceArn: task.containerInstanceArn,
    overrides: { containerOverrides: task.overrides.containerOverrides ?? [], inferenceAcceleratorOverrides: [] },
    lastStatus: task.lastStatus,
    desiredStatus: task.desiredStatus,
    cpu: String(task.cpu),
    memory: String(task.memory),
    containers: task.containers.map((container) =>
      compact({
        containerArn: container.containerArn,
        taskArn: task.taskArn,
        name: container.name,
        image: container.image,
        runtimeId: container.runtimeId,
        lastStatus: container.lastStatus,
        exitCode: container.exitCode,
        reason: container.reason,
        networkBindings: container.networkBindings.map((binding) => ({ ...binding })),
        networkInterfaces: [],
        healthStatus: container.healthStatus,
        cpu: String(container.cpu),
        memory: container.memory === undefined ? undefined : String(container.memory),
        memoryReservation: container.memoryReservation === undefined ? undefined : String(container.memoryReservation),
      }),
    ),
    startedBy: task.startedBy,
    version: task.version,
    stopCode: task.stopCode,
    stoppedReason: task.stoppedReason,
    connectivity: 'CONNECTED',
    connectivityAt: seconds(task.createdAt),
    pullStartedAt: seconds(task.pullStartedAt),
    pullStoppedAt: seconds(task.pullStoppedAt),
    createdAt: seconds(task.createdAt),
    startedAt: seconds(task.startedAt),
    stoppingAt: seconds(task.stoppingAt),
    stoppedAt: seconds(task.stoppedAt),
    executionStoppedAt: seconds(task.stoppedAt),
    group: task.group,
    launchType: 'EC2',
    availabilityZone: task.availabilityZone,
    attributes: [{ name: 'ecs.cpu-architecture', value: task.instance.attributes.get('ecs.cpu-architecture') ?? 'x86_64' }],
    healthStatus: task.healthStatus,
    enableExecuteCommand: false,
    attachments: [],
    tags: includeTags ? task.tags : undefined,
  });
}

export function taskView(task: TaskState): EmulatedTask {
  return {
    taskArn: task.taskArn,
    clusterArn: task.clusterArn,
    clusterName: task.clusterName,
    containerInstanceArn: task.containerInstanceArn,
    ec2InstanceId: task.ec2InstanceId,
    availabilityZone: task.availabilityZone,
    taskDefinitionArn: task.taskDefinitionArn,
    family: task.family,
    revision: task.revision,
    lastStatus: task.lastStatus,
    desiredStatus: task.desiredStatus,
    healthStatus: task.healthStatus,
    startedBy: task.startedBy,
    group: task.group,
    cpu: task.cpu,
    memory: task.memory,
    createdAt: task.createdAt,
    pullStartedAt: task.pullStartedAt,
    pullStoppedAt: task.pullStoppedAt,
    startedAt: task.startedAt,
    stoppingAt: task.stoppingAt,
    stoppedAt: task.stoppedAt,
    stopCode: task.stopCode,
    stoppedReason: task.stoppedReason,
    containers: task.containers.map((container) => ({ ...container, networkBindings: container.networkBindings.map((binding) => ({ ...binding })) })),
    tags: task.tags.map((tag) => ({ ...tag })),
    version: task.version,
  };
}

export function instanceView(instance: InstanceState): EmulatedInstance {
  const counts = countTasks(instance);
  const used = usedPortsOf(instance);
  return {
    containerInstanceArn: instance.arn,
    clusterArn: instance.cluster.arn,
    clusterName: instance.cluster.name,
    ec2InstanceId: instance.ec2InstanceId,
    instanceType: instance.instanceType,
    availabilityZone: instance.availabilityZone,
    amiId: instance.amiId,
    status: instance.status,
    agentConnected: instance.agentConnected,
    registeredAt: instance.registeredAt,
    attributes: Object.fromEntries(instance.attributes),
    registeredCpu: instance.registeredCpu,
    registeredMemory: instance.registeredMemory,
    remainingCpu: instance.registeredCpu - instance.usedCpu,
    remainingMemory: instance.registeredMemory - instance.usedMemory,
    usedPorts: used.tcp,
    usedUdpPorts: used.udp,
    runningTasksCount: counts.running,
    pendingTasksCount: counts.pending,
    version: instance.version,
    tags: instance.tags.map((tag) => ({ ...tag })),
  };
}
