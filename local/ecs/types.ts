// The emulator's read-only views of its state, for the instance endpoints (the ECS agent
// introspection API is built from EmulatedTask) and for tests. Times are epoch milliseconds.
import type { ContainerHealth } from '../runtime/types.js';

export type TaskLastStatus = 'PROVISIONING' | 'PENDING' | 'RUNNING' | 'STOPPED';
export type TaskDesiredStatus = 'RUNNING' | 'STOPPED';
export type TaskStopCode = 'TaskFailedToStart' | 'EssentialContainerExited' | 'UserInitiated' | 'ServiceSchedulerInitiated';
export type ContainerInstanceStatus = 'ACTIVE' | 'DRAINING' | 'INACTIVE';

export interface Tag {
  key: string;
  value: string;
}

export interface EmulatedNetworkBinding {
  bindIP: string;
  containerPort: number;
  hostPort: number;
  protocol: 'tcp' | 'udp';
}

export interface EmulatedContainer {
  name: string;
  containerArn: string;
  image: string;
  essential: boolean;
  /** The runtime's container id (Docker id), once created. */
  runtimeId: string | undefined;
  lastStatus: 'PENDING' | 'RUNNING' | 'STOPPED';
  exitCode: number | undefined;
  /** UNKNOWN when the task definition gives the container no healthCheck. */
  healthStatus: ContainerHealth;
  hasHealthCheck: boolean;
  reason: string | undefined;
  networkBindings: EmulatedNetworkBinding[];
  cpu: number;
  memory: number | undefined;
  memoryReservation: number | undefined;
}

export interface EmulatedTask {
  taskArn: string;
  clusterArn: string;
  clusterName: string;
  containerInstanceArn: string;
  ec2InstanceId: string;
  availabilityZone: string;
  taskDefinitionArn: string;
  family: string;
  revision: number;
  lastStatus: TaskLastStatus;
  desiredStatus: TaskDesiredStatus;
  healthStatus: ContainerHealth;
  startedBy: string | undefined;
  group: string;
  cpu: number;
  memory: number;
  createdAt: number;
  pullStartedAt: number | undefined;
  pullStoppedAt: number | undefined;
  startedAt: number | undefined;
  stoppingAt: number | undefined;
  stoppedAt: number | undefined;
  stopCode: TaskStopCode | undefined;
  stoppedReason: string | undefined;
  containers: EmulatedContainer[];
  tags: Tag[];
  /** Bumped on every state change, as ECS's Task.version. */
  version: number;
}

export interface EmulatedInstance {
  containerInstanceArn: string;
  clusterArn: string;
  clusterName: string;
  ec2InstanceId: string;
  instanceType: string;
  availabilityZone: string;
  amiId: string;
  status: ContainerInstanceStatus;
  agentConnected: boolean;
  registeredAt: number;
  attributes: Record<string, string | undefined>;
  registeredCpu: number;
  registeredMemory: number;
  remainingCpu: number;
  remainingMemory: number;
  /** Host ports taken: the agent's reserved ports plus the static host ports of live tasks. */
  usedPorts: number[];
  usedUdpPorts: number[];
  runningTasksCount: number;
  pendingTasksCount: number;
  version: number;
  tags: Tag[];
}

/** What the emulator tells its listeners, like ECS's task state change events. */
export interface TaskStateChange {
  task: EmulatedTask;
  /** What happened, e.g. 'created', 'PENDING', 'RUNNING', 'health', 'stopping', 'STOPPED', 'container'. */
  change: string;
}
