// What the emulator keeps of an ECS service (REPLICA strategy): its deployments (the PRIMARY one
// first), the tasks it started and which deployment each belongs to, and its events.
import type { PlacementConstraint, PlacementStrategy } from '../shapes.js';
import type { ClusterState, TaskDefinitionState, TaskState } from '../state.js';
import type { Tag } from '../types.js';

export type ServiceStatus = 'ACTIVE' | 'DRAINING' | 'INACTIVE';

export interface DeploymentState {
  /** `ecs-svc/<19 digits>`, as ECS names deployments; the tasks' startedBy. */
  id: string;
  definition: TaskDefinitionState;
  createdAt: number;
  updatedAt: number;
  rolloutState: 'IN_PROGRESS' | 'COMPLETED';
  rolloutStateReason: string;
  failedTasks: number;
}

export interface ServiceEvent {
  id: string;
  createdAt: number;
  message: string;
}

export interface ServiceState {
  seq: number;
  arn: string;
  name: string;
  cluster: ClusterState;
  status: ServiceStatus;
  desiredCount: number;
  placementConstraints: PlacementConstraint[];
  placementStrategy: PlacementStrategy[];
  maximumPercent: number;
  minimumHealthyPercent: number;
  /** The PRIMARY deployment first, then older ones that still have tasks. */
  deployments: DeploymentState[];
  /** Live tasks (desired RUNNING, or stopping) in launch order, with their deployment. */
  tasks: Map<TaskState, DeploymentState>;
  /** Newest first, at most EVENTS_KEPT. */
  events: ServiceEvent[];
  createdAt: number;
  tags: Tag[];
  /** Whether the last pass found the service steady (one deployment, desiredCount RUNNING). */
  steady: boolean;
}

export const EVENTS_KEPT = 100;

export const serviceGroup = (name: string): string => `service:${name}`;

export function primaryOf(service: ServiceState): DeploymentState {
  return service.deployments[0] as DeploymentState;
}
