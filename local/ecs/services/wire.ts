// Pure serializers of services to ECS's wire shapes (DescribeServices, CreateService, ...).
import type { Json } from '../state.js';
import { compact, seconds } from '../wire.js';
import { primaryOf, type DeploymentState, type ServiceState } from './state.js';

function counts(service: ServiceState, deployment?: DeploymentState): { running: number; pending: number } {
  let running = 0;
  let pending = 0;
  for (const [task, owner] of service.tasks) {
    if (deployment && owner !== deployment) continue;
    if (task.lastStatus === 'RUNNING') running++;
    else if (task.lastStatus === 'PENDING' || task.lastStatus === 'PROVISIONING') pending++;
  }
  return { running, pending };
}

/** How many of the service's tasks are RUNNING (of one deployment, when given). */
export function runningCountOf(service: ServiceState, deployment?: DeploymentState): number {
  return counts(service, deployment).running;
}

export function serviceWire(service: ServiceState, includeTags: boolean, accountId: string): Json {
  const total = counts(service);
  const primary = primaryOf(service);
  return compact({
    serviceArn: service.arn,
    serviceName: service.name,
    clusterArn: service.cluster.arn,
    loadBalancers: [],
    serviceRegistries: [],
    status: service.status,
    desiredCount: service.desiredCount,
    runningCount: total.running,
    pendingCount: total.pending,
    launchType: 'EC2',
    taskDefinition: primary.definition.arn,
    deploymentConfiguration: {
      deploymentCircuitBreaker: { enable: false, rollback: false },
      maximumPercent: service.maximumPercent,
      minimumHealthyPercent: service.minimumHealthyPercent,
    },
    deployments: service.deployments.map((deployment) => {
      const own = counts(service, deployment);
      return {
        id: deployment.id,
        status: deployment === primary ? 'PRIMARY' : 'ACTIVE',
        taskDefinition: deployment.definition.arn,
        desiredCount: deployment === primary ? service.desiredCount : 0,
        pendingCount: own.pending,
        runningCount: own.running,
        failedTasks: deployment.failedTasks,
        createdAt: seconds(deployment.createdAt),
        updatedAt: seconds(deployment.updatedAt),
        launchType: 'EC2',
        rolloutState: deployment.rolloutState,
        rolloutStateReason: deployment.rolloutStateReason,
      };
    }),
    events: service.events.map((event) => ({ id: event.id, createdAt: seconds(event.createdAt), message: event.message })),
    createdAt: seconds(service.createdAt),
    placementConstraints: service.placementConstraints,
    placementStrategy: service.placementStrategy,
    schedulingStrategy: 'REPLICA',
    deploymentController: { type: 'ECS' },
    createdBy: `arn:aws:iam::${accountId}:root`,
    enableECSManagedTags: false,
    propagateTags: 'NONE',
    enableExecuteCommand: false,
    tags: includeTags ? service.tags : undefined,
  });
}
