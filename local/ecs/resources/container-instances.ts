// Container instances: what the ECS agent registers (RegisterContainerInstance, and the emulator's
// own registerInstance hook), DeregisterContainerInstance, DescribeContainerInstances,
// ListContainerInstances (with Cluster Query Language filters), UpdateContainerInstancesState, and
// the sandbox's host events (termination, drain, agent disconnection).
import type { TaskRuntime } from '../../runtime/types.js';
import { includeOf, paginate, referencesOf, tagsOf } from '../checks.js';
import type { EcsContext, Operations } from '../context.js';
import { clientError, invalidParameter } from '../errors.js';
import { EPHEMERAL_PORT_FIRST, newId } from '../lifecycle.js';
import { compileCql } from '../placement.js';
import type { ClusterState, InstanceState, Json } from '../state.js';
import type { Tag } from '../types.js';
import { AGENT_VERSION, compact, instanceWire } from '../wire.js';

export interface RegisterInstanceInput {
  cluster: string;
  ec2InstanceId: string;
  instanceType: string;
  availabilityZone: string;
  amiId: string;
  osType?: 'linux';
  cpuArchitecture?: 'x86_64' | 'arm64';
  /** CPU units (1024 per vCPU). */
  cpu: number;
  /** MiB. */
  memory: number;
  attributes?: Record<string, string>;
}

/** Ports the ECS agent reserves on every instance (SSH, Docker, the agent's own). */
export const DEFAULT_RESERVED_PORTS = [22, 2375, 2376, 51678, 51679];

/** Capability attributes the ECS agent reports (no value). */
const CAPABILITIES = [
  'com.amazonaws.ecs.capability.docker-remote-api.1.17',
  'com.amazonaws.ecs.capability.docker-remote-api.1.21',
  'com.amazonaws.ecs.capability.docker-remote-api.1.25',
  'com.amazonaws.ecs.capability.docker-remote-api.1.29',
  'com.amazonaws.ecs.capability.logging-driver.json-file',
  'com.amazonaws.ecs.capability.task-iam-role',
  'ecs.capability.container-health-check',
  'ecs.capability.task-eni',
];

interface InstanceSpec {
  ec2InstanceId: string;
  instanceType: string;
  availabilityZone: string;
  amiId: string;
  osType: string;
  cpuArchitecture: string;
  cpu: number;
  memory: number;
  ports: number[];
  udpPorts: number[];
  attributes: Array<{ name: string; value?: string }>;
  tags: Tag[];
  versionInfo: Json | undefined;
}

/** `totalResources` as the ECS agent sends them, to CPU, MEMORY and reserved ports. */
function resourcesOf(input: Json): { cpu: number; memory: number; ports: number[]; udpPorts: number[] } {
  const resources = Array.isArray(input.totalResources) ? (input.totalResources as Json[]) : [];
  const resource = (name: string): Json | undefined => resources.find((item) => item.name === name);
  const integer = (item: Json | undefined): number | undefined =>
    typeof item?.integerValue === 'number' ? item.integerValue : typeof item?.longValue === 'number' ? item.longValue : undefined;
  const cpu = integer(resource('CPU'));
  const memory = integer(resource('MEMORY'));
  if (cpu === undefined || memory === undefined) throw clientError('totalResources must give CPU and MEMORY.');
  const ports = (list: Json | undefined, fallback: number[]): number[] =>
    Array.isArray(list?.stringSetValue) ? (list.stringSetValue as string[]).map(Number).filter(Number.isInteger) : fallback;
  return { cpu, memory, ports: ports(resource('PORTS'), DEFAULT_RESERVED_PORTS), udpPorts: ports(resource('PORTS_UDP'), []) };
}

function identityOf(input: Json): Json {
  if (typeof input.instanceIdentityDocument !== 'string') return {};
  try {
    return JSON.parse(input.instanceIdentityDocument) as Json;
  } catch {
    throw clientError('Unable to parse the instance identity document.');
  }
}

export class ContainerInstances {
  private readonly state: EcsContext['state'];

  constructor(
    private readonly context: EcsContext,
    private readonly runtime: TaskRuntime,
    /** Something placement reads of the cluster's instances changed (status, attributes, agent, a new one). */
    private readonly placementChanged: (cluster: ClusterState) => void,
  ) {
    this.state = context.state;
  }

  readonly operations: Operations = {
    RegisterContainerInstance: (input) => this.registerFromAgent(input),
    DeregisterContainerInstance: (input) => this.deregister(input),
    DescribeContainerInstances: (input) => this.describe(input),
    ListContainerInstances: (input) => this.list(input),
    UpdateContainerInstancesState: (input) => this.updateState(input),
  };

  /** What the ECS agent does at boot: RegisterContainerInstance with its resources and attributes. */
  register(input: RegisterInstanceInput): { containerInstanceArn: string } {
    const cluster = this.state.clusterRef(input.cluster);
    const instance = this.add(cluster, {
      ec2InstanceId: input.ec2InstanceId,
      instanceType: input.instanceType,
      availabilityZone: input.availabilityZone,
      amiId: input.amiId,
      osType: input.osType ?? 'linux',
      cpuArchitecture: input.cpuArchitecture ?? 'x86_64',
      cpu: input.cpu,
      memory: input.memory,
      ports: DEFAULT_RESERVED_PORTS,
      udpPorts: [],
      attributes: Object.entries(input.attributes ?? {}).map(([name, value]) => ({ name, value })),
      tags: [],
      versionInfo: undefined,
    });
    return { containerInstanceArn: instance.arn };
  }

  private registerFromAgent(input: Json): Json {
    const cluster = this.state.clusterRef(input.cluster);
    const identity = identityOf(input);
    const ec2InstanceId = typeof identity.instanceId === 'string' ? identity.instanceId : undefined;
    if (!ec2InstanceId) throw clientError('An instance identity document with an instanceId is required.');
    const resources = resourcesOf(input);
    const attributes = Array.isArray(input.attributes) ? (input.attributes as Array<{ name: string; value?: string }>) : [];
    const given = new Map(attributes.map((attribute) => [attribute.name, attribute.value]));
    // Re-registration with the same containerInstanceArn (an agent restart) answers that instance.
    if (typeof input.containerInstanceArn === 'string') {
      const existing = this.state.findInstance(cluster, input.containerInstanceArn);
      if (existing) {
        existing.agentConnected = true;
        existing.version++;
        this.placementChanged(cluster);
        return { containerInstance: instanceWire(existing, []) };
      }
    }
    const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
    const instance = this.add(cluster, {
      ec2InstanceId,
      instanceType: text(identity.instanceType) ?? given.get('ecs.instance-type') ?? 'unknown',
      availabilityZone: text(identity.availabilityZone) ?? given.get('ecs.availability-zone') ?? `${this.state.region}a`,
      amiId: text(identity.imageId) ?? given.get('ecs.ami-id') ?? 'ami-00000000',
      osType: given.get('ecs.os-type') ?? 'linux',
      cpuArchitecture: given.get('ecs.cpu-architecture') ?? (identity.architecture === 'arm64' ? 'arm64' : 'x86_64'),
      ...resources,
      attributes,
      tags: tagsOf(input.tags),
      versionInfo: input.versionInfo as Json | undefined,
    });
    return { containerInstance: instanceWire(instance, ['TAGS']) };
  }

  private add(cluster: ClusterState, spec: InstanceSpec): InstanceState {
    if (!Number.isInteger(spec.cpu) || spec.cpu < 0 || !Number.isInteger(spec.memory) || spec.memory < 0) {
      throw invalidParameter('CPU and MEMORY must be non-negative integers.');
    }
    for (const existing of cluster.instances.values()) {
      if (existing.ec2InstanceId === spec.ec2InstanceId) throw clientError(`EC2 instance ${spec.ec2InstanceId} is already registered as ${existing.arn}.`);
    }
    const attributes = new Map<string, string | undefined>();
    // Built-in attributes, as the ECS agent reports them.
    attributes.set('ecs.instance-type', spec.instanceType);
    attributes.set('ecs.availability-zone', spec.availabilityZone);
    attributes.set('ecs.ami-id', spec.amiId);
    attributes.set('ecs.os-type', spec.osType);
    attributes.set('ecs.os-family', 'LINUX');
    attributes.set('ecs.cpu-architecture', spec.cpuArchitecture);
    for (const capability of CAPABILITIES) attributes.set(capability, undefined);
    for (const attribute of spec.attributes) attributes.set(attribute.name, attribute.value);
    const id = newId();
    const instance: InstanceState = {
      seq: this.state.nextSeq(),
      id,
      arn: this.state.instanceArn(cluster.name, id),
      cluster,
      ec2InstanceId: spec.ec2InstanceId,
      instanceType: spec.instanceType,
      availabilityZone: spec.availabilityZone,
      amiId: spec.amiId,
      status: 'ACTIVE',
      agentConnected: true,
      registeredAt: this.context.clock.wallMs(),
      attributes,
      registeredCpu: spec.cpu,
      registeredMemory: spec.memory,
      reservedPorts: [...spec.ports],
      reservedUdpPorts: [...spec.udpPorts],
      usedCpu: 0,
      usedMemory: 0,
      usedPorts: new Map(),
      usedUdpPorts: new Map(),
      nextEphemeralPort: EPHEMERAL_PORT_FIRST,
      tasks: new Map(),
      version: 1,
      tags: spec.tags,
      versionInfo: spec.versionInfo ?? { agentVersion: AGENT_VERSION, agentHash: 'emulated', dockerVersion: 'DockerVersion: 24.0.5' },
    };
    cluster.instances.set(id, instance);
    this.state.instancesByArn.set(instance.arn, instance);
    this.placementChanged(cluster);
    return instance;
  }

  private deregister(input: Json): Json {
    const cluster = this.state.clusterRef(input.cluster);
    if (typeof input.containerInstance !== 'string') throw invalidParameter('containerInstance is required.');
    const instance = this.state.findInstance(cluster, input.containerInstance);
    if (!instance) throw invalidParameter('The referenced container instance was not found.');
    const live = [...instance.tasks.values()].some((task) => task.lastStatus !== 'STOPPED');
    // Documented: without force, an instance with tasks cannot be deregistered; with force, its
    // tasks keep running, orphaned, until they stop some other way.
    if (live && input.force !== true) throw invalidParameter('Found running tasks on the instance.');
    this.deactivate(instance);
    return { containerInstance: instanceWire(instance, []) };
  }

  private deactivate(instance: InstanceState): void {
    instance.status = 'INACTIVE';
    instance.agentConnected = false;
    instance.version++;
    instance.cluster.instances.delete(instance.id);
    instance.cluster.inactiveInstances.set(instance.id, instance);
    this.placementChanged(instance.cluster);
  }

  /** The instance vanishes: its agent disconnects, its tasks stop, its containers are removed. */
  terminate(containerInstanceArn: string): Promise<void> {
    const instance = this.state.instancesByArn.get(containerInstanceArn);
    if (!instance) throw new Error(`no container instance ${containerInstanceArn}`);
    if (instance.status !== 'INACTIVE') {
      instance.agentConnected = false;
      // Modelled: ECS stops the tasks of a terminated host with the reason below and no stopCode
      // from the TaskStopCode list (none of them describe a host that vanished).
      const reason = `Host EC2 (instance ${instance.ec2InstanceId}) terminated.`;
      for (const task of [...instance.tasks.values()]) this.context.lifecycle.lostWithHost(task, reason);
      this.deactivate(instance);
    }
    return this.runtime.removeInstance(instance.arn);
  }

  drain(containerInstanceArn: string): void {
    this.setStatus(this.registered(containerInstanceArn), 'DRAINING');
  }

  /** Test hook: the agent loses (false) or regains (true) its connection to ECS. */
  setAgentConnected(containerInstanceArn: string, connected: boolean): void {
    const instance = this.registered(containerInstanceArn);
    instance.agentConnected = connected;
    instance.version++;
    this.placementChanged(instance.cluster);
  }

  private registered(containerInstanceArn: string): InstanceState {
    const instance = this.state.instancesByArn.get(containerInstanceArn);
    if (!instance || instance.status === 'INACTIVE') throw new Error(`no registered container instance ${containerInstanceArn}`);
    return instance;
  }

  private setStatus(instance: InstanceState, status: 'ACTIVE' | 'DRAINING'): void {
    if (instance.status === status) return;
    instance.status = status;
    instance.version++;
    // Documented: draining affects service tasks only (the service scheduler moves them);
    // standalone tasks (StartTask/RunTask) keep running on a DRAINING instance.
    this.placementChanged(instance.cluster);
  }

  private describe(input: Json): Json {
    const cluster = this.state.clusterRef(input.cluster);
    const refs = referencesOf(input.containerInstances, 'Container instances', 100);
    const include = includeOf(input);
    const containerInstances: Json[] = [];
    const failures: Json[] = [];
    for (const ref of refs) {
      const instance = this.state.findInstance(cluster, ref, true);
      if (instance) containerInstances.push(instanceWire(instance, include));
      else failures.push({ arn: this.state.instanceRefArn(cluster, ref), reason: 'MISSING' });
    }
    return { containerInstances, failures };
  }

  private list(input: Json): Json {
    const cluster = this.state.clusterRef(input.cluster);
    const status = input.status as string | undefined;
    if (status !== undefined && !['ACTIVE', 'DRAINING', 'REGISTERING', 'DEREGISTERING', 'REGISTRATION_FAILED'].includes(status)) {
      throw invalidParameter(`Invalid status: ${status}`);
    }
    const filter = typeof input.filter === 'string' && input.filter.trim() !== '' ? compileCql(input.filter) : undefined;
    const selected: InstanceState[] = [];
    // Documented: without status, every state but INACTIVE is listed.
    for (const instance of cluster.instances.values()) {
      if (status !== undefined && instance.status !== status) continue;
      if (filter && !filter(instance)) continue;
      selected.push(instance);
    }
    const { page, nextToken } = paginate(selected, (instance) => instance.seq, input);
    return compact({ containerInstanceArns: page.map((instance) => instance.arn), nextToken });
  }

  private updateState(input: Json): Json {
    const cluster = this.state.clusterRef(input.cluster);
    const refs = referencesOf(input.containerInstances, 'Container instances', 10);
    const status = input.status;
    if (status !== 'ACTIVE' && status !== 'DRAINING') throw invalidParameter('Container instance status can only be updated to ACTIVE or DRAINING.');
    const containerInstances: Json[] = [];
    const failures: Json[] = [];
    for (const ref of refs) {
      const instance = this.state.findInstance(cluster, ref);
      if (!instance) {
        failures.push({ arn: this.state.instanceRefArn(cluster, ref), reason: 'MISSING' });
        continue;
      }
      this.setStatus(instance, status);
      containerInstances.push(instanceWire(instance, []));
    }
    return { containerInstances, failures };
  }
}
