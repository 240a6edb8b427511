// Services (REPLICA strategy): CreateService, UpdateService, DeleteService, DescribeServices,
// ListServices. The requests set what the service wants; services/scheduler.ts makes it so.
import { includeOf, paginate, tagsOf } from '../checks.js';
import type { EcsContext, Operations } from '../context.js';
import { clientError, EcsError, invalidParameter } from '../errors.js';
import { placementRulesOf } from '../placement.js';
import { newDeploymentId, type ServiceScheduler } from '../services/scheduler.js';
import type { DeploymentState, ServiceState } from '../services/state.js';
import { serviceWire } from '../services/wire.js';
import type { DeploymentConfiguration, PlacementConstraint, PlacementStrategy } from '../shapes.js';
import type { ClusterState, Json, TaskDefinitionState } from '../state.js';
import { compact } from '../wire.js';
import type { Taggable } from './tags.js';

const SERVICE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
const DEFAULT_MAXIMUM_PERCENT = 200;
const DEFAULT_MINIMUM_HEALTHY_PERCENT = 100;
const MAX_DESCRIBED = 10;
const LIST_DEFAULT_PAGE = 10;

const serviceNotFound = (): EcsError => new EcsError('ServiceNotFoundException', 'Service not found.');
const unsupported = (what: string): EcsError => new EcsError('UnsupportedFeatureException', `${what} is not modelled by this emulator.`);

function desiredCountOf(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalidParameter('desiredCount must be a non-negative integer.');
  return value;
}

/** The parts of the request ECS's EC2 REPLICA services have that this emulator leaves out. */
function refuseUnmodelled(input: Json): void {
  if (input.schedulingStrategy !== undefined && input.schedulingStrategy !== 'REPLICA')
    throw unsupported(`schedulingStrategy ${String(input.schedulingStrategy)}`);
  if (input.launchType !== undefined && input.launchType !== 'EC2') throw unsupported(`launchType ${String(input.launchType)}`);
  if (Array.isArray(input.loadBalancers) && input.loadBalancers.length > 0) throw unsupported('loadBalancers');
  if (Array.isArray(input.capacityProviderStrategy) && input.capacityProviderStrategy.length > 0) throw unsupported('capacityProviderStrategy');
  const controller = (input.deploymentController as { type?: string } | undefined)?.type;
  if (controller !== undefined && controller !== 'ECS') throw unsupported(`deploymentController ${controller}`);
}

function applyDeploymentConfiguration(service: ServiceState, value: unknown): void {
  if (value === undefined || value === null) return;
  const configuration = value as DeploymentConfiguration;
  const maximum = configuration.maximumPercent ?? service.maximumPercent;
  const minimum = configuration.minimumHealthyPercent ?? service.minimumHealthyPercent;
  if (!Number.isInteger(maximum) || maximum < 100) throw invalidParameter('maximumPercent must be at least 100 for a REPLICA service.');
  if (!Number.isInteger(minimum) || minimum < 0 || minimum > 100) throw invalidParameter('minimumHealthyPercent must be between 0 and 100.');
  service.maximumPercent = maximum;
  service.minimumHealthyPercent = minimum;
}

export function serviceOperations(context: EcsContext, scheduler: ServiceScheduler): Operations {
  const { state, clock } = context;
  const wire = (service: ServiceState, includeTags = false): Json => serviceWire(service, includeTags, state.accountId);

  const serviceNameOf = (ref: unknown): string => {
    if (typeof ref !== 'string' || ref === '') throw invalidParameter('service cannot be empty.');
    const match = /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:service\/(?:[^/]+\/)?([^/]+)$/.exec(ref);
    return match ? (match[1] as string) : ref;
  };
  const activeService = (cluster: ClusterState, ref: unknown): ServiceState => {
    const service = cluster.services.get(serviceNameOf(ref));
    if (!service) throw serviceNotFound();
    return service;
  };
  const deploymentOf = (definition: TaskDefinitionState): DeploymentState => {
    const now = clock.wallMs();
    return {
      id: newDeploymentId(),
      definition,
      createdAt: now,
      updatedAt: now,
      rolloutState: 'IN_PROGRESS',
      rolloutStateReason: 'ECS deployment in progress.',
      failedTasks: 0,
    };
  };
  const activeDefinition = (ref: unknown): TaskDefinitionState => {
    const definition = state.taskDefinitionRef(ref);
    if (definition.status !== 'ACTIVE') throw clientError('TaskDefinition is inactive');
    return definition;
  };
  const placementOf = (service: ServiceState, input: Json): void => {
    const constraints = (input.placementConstraints as PlacementConstraint[] | undefined) ?? service.placementConstraints;
    const strategies = (input.placementStrategy as PlacementStrategy[] | undefined) ?? service.placementStrategy;
    placementRulesOf(constraints, strategies); // the checks; the scheduler compiles its own copy
    service.placementConstraints = constraints;
    service.placementStrategy = strategies;
  };

  return {
    CreateService(input) {
      const cluster = state.clusterRef(input.cluster);
      const name = input.serviceName;
      if (typeof name !== 'string' || !SERVICE_NAME_PATTERN.test(name)) {
        throw invalidParameter('Service name can only contain up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.');
      }
      refuseUnmodelled(input);
      const existing = cluster.services.get(name);
      if (existing && existing.status !== 'INACTIVE') throw invalidParameter('Creation of service was not idempotent.');
      if (input.taskDefinition === undefined) throw invalidParameter('TaskDefinition must be specified for a service using the ECS deployment controller.');
      if (input.desiredCount === undefined) throw invalidParameter('desiredCount is required for a REPLICA service.');
      const definition = activeDefinition(input.taskDefinition);
      const now = clock.wallMs();
      const service: ServiceState = {
        seq: state.nextSeq(),
        arn: state.serviceArn(cluster.name, name),
        name,
        cluster,
        status: 'ACTIVE',
        desiredCount: desiredCountOf(input.desiredCount),
        placementConstraints: [],
        placementStrategy: [],
        maximumPercent: DEFAULT_MAXIMUM_PERCENT,
        minimumHealthyPercent: DEFAULT_MINIMUM_HEALTHY_PERCENT,
        deployments: [deploymentOf(definition)],
        tasks: new Map(),
        events: [],
        createdAt: now,
        tags: tagsOf(input.tags),
        steady: false,
      };
      applyDeploymentConfiguration(service, input.deploymentConfiguration);
      placementOf(service, input);
      cluster.services.delete(name);
      cluster.services.set(name, service);
      scheduler.reconcile(service);
      return { service: wire(service, true) };
    },

    UpdateService(input) {
      const cluster = state.clusterRef(input.cluster);
      const service = activeService(cluster, input.service);
      if (service.status !== 'ACTIVE') throw new EcsError('ServiceNotActiveException', 'Service was not ACTIVE.');
      refuseUnmodelled(input);
      if (input.desiredCount !== undefined && input.desiredCount !== null) service.desiredCount = desiredCountOf(input.desiredCount);
      applyDeploymentConfiguration(service, input.deploymentConfiguration);
      placementOf(service, input);
      const current = service.deployments[0] as DeploymentState;
      const definition = input.taskDefinition !== undefined && input.taskDefinition !== null ? activeDefinition(input.taskDefinition) : current.definition;
      // A new deployment when the task definition changes or one is forced, as ECS starts one.
      if (definition !== current.definition || input.forceNewDeployment === true) {
        service.deployments.unshift(deploymentOf(definition));
        service.steady = false;
      }
      scheduler.reconcile(service);
      return { service: wire(service) };
    },

    DeleteService(input) {
      const cluster = state.clusterRef(input.cluster);
      const service = activeService(cluster, input.service);
      if (service.status === 'INACTIVE') throw new EcsError('ServiceNotActiveException', 'Service was not ACTIVE.');
      // Documented: without force, a service must be scaled to 0 tasks before it can be deleted.
      if (service.desiredCount > 0 && input.force !== true) throw invalidParameter('The service cannot be stopped while it is scaled above 0.');
      service.desiredCount = 0;
      service.status = 'DRAINING';
      scheduler.reconcile(service);
      return { service: wire(service) };
    },

    DescribeServices(input) {
      const cluster = state.clusterRef(input.cluster);
      const refs = input.services;
      if (!Array.isArray(refs) || refs.length === 0) throw invalidParameter('Services cannot be empty.');
      if (refs.length > MAX_DESCRIBED) throw invalidParameter(`Services can contain at most ${MAX_DESCRIBED} entries.`);
      const includeTags = includeOf(input).includes('TAGS');
      const services: Json[] = [];
      const failures: Json[] = [];
      for (const ref of refs as unknown[]) {
        const service = cluster.services.get(serviceNameOf(ref));
        if (service) services.push(wire(service, includeTags));
        else failures.push({ arn: typeof ref === 'string' && ref.startsWith('arn:') ? ref : state.serviceArn(cluster.name, String(ref)), reason: 'MISSING' });
      }
      return { services, failures };
    },

    ListServices(input) {
      const cluster = state.clusterRef(input.cluster);
      if (input.schedulingStrategy === 'DAEMON' || (input.launchType !== undefined && input.launchType !== 'EC2')) return { serviceArns: [] };
      const listed = [...cluster.services.values()].filter((service) => service.status !== 'INACTIVE').sort((a, b) => a.seq - b.seq);
      const { page, nextToken } = paginate(listed, (service) => service.seq, { ...input, maxResults: input.maxResults ?? LIST_DEFAULT_PAGE });
      return compact({ serviceArns: page.map((service) => service.arn), nextToken });
    },
  };
}

/** TagResource and friends on `service/` ARNs. */
export function serviceTaggable(context: EcsContext): (resourceArn: string) => Taggable {
  return (resourceArn) => {
    const match = /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:service\/([^/]+)\/([^/]+)$/.exec(resourceArn);
    const service = match ? context.state.clusters.get(match[1] as string)?.services.get(match[2] as string) : undefined;
    if (!service || service.status === 'INACTIVE') throw new EcsError('ResourceNotFoundException', 'The specified resource could not be found.');
    return { tags: service.tags, set: (tags) => void (service.tags = tags) };
  };
}
