// Task placement, as ECS documents it, as pure functions over instances: what a task needs
// (requirements), whether an instance can take it (fit and constraints: memberOf with the Cluster
// Query Language, distinctInstance), and which of the instances that can is chosen (strategies:
// binpack, spread, random, applied in order). RunTask and the service scheduler both place
// through here; nothing here starts a task or touches a runtime.
import { evaluate, parseExpression, type Expression, type InstanceFacts } from '../../core/cql.js';
import { parseCpu, parseMemory } from './checks.js';
import { invalidParameter } from './errors.js';
import type { ContainerDefinition, ContainerOverride, PlacementConstraint, PlacementStrategy, TaskOverride } from './shapes.js';
import type { ContainerInstanceStatus } from './types.js';
import { AGENT_VERSION } from './wire.js';

/** What placement reads of a task already on an instance. */
export interface PlacementTask {
  lastStatus: string;
  group: string;
}

/** What placement reads of a container instance. */
export interface PlacementInstance {
  id: string;
  arn: string;
  status: ContainerInstanceStatus;
  agentConnected: boolean;
  ec2InstanceId: string;
  registeredAt: number;
  attributes: ReadonlyMap<string, string | undefined>;
  registeredCpu: number;
  registeredMemory: number;
  usedCpu: number;
  usedMemory: number;
  reservedPorts: readonly number[];
  reservedUdpPorts: readonly number[];
  usedPorts: ReadonlyMap<number, number>;
  usedUdpPorts: ReadonlyMap<number, number>;
  tasks: ReadonlyMap<string, PlacementTask>;
  versionInfo: Record<string, unknown>;
}

/** What a task definition (with overrides) reserves on an instance. */
export interface Requirement {
  cpu: number;
  memory: number;
  ports: number[];
  udpPorts: number[];
}

/** The parts of a task definition placement reads. */
export interface PlacedDefinition {
  containerDefinitions: ContainerDefinition[];
  networkMode: string | undefined;
  cpu: number | undefined;
  memory: number | undefined;
}

export interface PlacementRules {
  memberOf: Array<(instance: PlacementInstance) => boolean>;
  distinctInstance: boolean;
  strategies: PlacementStrategy[];
}

export const MEMBER_OF_UNSATISFIED = 'MemberOf placement constraint unsatisfied.';
export const DISTINCT_INSTANCE_UNSATISFIED = 'DistinctInstance placement constraint unsatisfied.';

export function requirementOf(definition: PlacedDefinition, overrides: TaskOverride): Requirement {
  const containerOverride = (name: string | undefined): ContainerOverride | undefined => overrides.containerOverrides?.find((item) => item.name === name);
  let cpu = parseCpu(overrides.cpu) ?? definition.cpu;
  let memory = parseMemory(overrides.memory) ?? definition.memory;
  if (cpu === undefined) {
    cpu = 0;
    for (const container of definition.containerDefinitions) cpu += containerOverride(container.name)?.cpu ?? container.cpu ?? 0;
  }
  if (memory === undefined) {
    memory = 0;
    for (const container of definition.containerDefinitions) {
      const override = containerOverride(container.name);
      // Documented: the hard limit (memory) is what is reserved; memoryReservation when no limit.
      memory += override?.memory ?? container.memory ?? override?.memoryReservation ?? container.memoryReservation ?? 0;
    }
  }
  const ports: number[] = [];
  const udpPorts: number[] = [];
  for (const container of definition.containerDefinitions) {
    for (const mapping of container.portMappings ?? []) {
      const hostPort = definition.networkMode === 'host' ? (mapping.hostPort ?? mapping.containerPort) : mapping.hostPort;
      if (!hostPort) continue; // 0 or absent in bridge mode: a dynamic host port
      (mapping.protocol === 'udp' ? udpPorts : ports).push(hostPort);
    }
  }
  return { cpu, memory, ports, udpPorts };
}

/** Why an instance cannot take a task now, as ECS names it in `failures`; undefined if it can. */
export function unfitReason(instance: PlacementInstance, need: Requirement): string | undefined {
  if (instance.status === 'INACTIVE') return 'INACTIVE';
  if (!instance.agentConnected) return 'AGENT';
  if (need.cpu > instance.registeredCpu - instance.usedCpu) return 'RESOURCE:CPU';
  if (need.memory > instance.registeredMemory - instance.usedMemory) return 'RESOURCE:MEMORY';
  for (const port of need.ports) if (instance.reservedPorts.includes(port) || instance.usedPorts.has(port)) return 'RESOURCE:PORTS';
  for (const port of need.udpPorts) if (instance.reservedUdpPorts.includes(port) || instance.usedUdpPorts.has(port)) return 'RESOURCE:PORTS_UDP';
  return undefined;
}

/** The facts a Cluster Query Language expression reads of an instance. */
export function cqlFacts(instance: PlacementInstance): InstanceFacts {
  const attributes: Record<string, string> = {};
  for (const [name, value] of instance.attributes) attributes[name] = value ?? '';
  const groups = new Set<string>();
  let running = 0;
  for (const task of instance.tasks.values()) {
    if (task.lastStatus === 'STOPPED') continue;
    groups.add(task.group);
    if (task.lastStatus === 'RUNNING') running++;
  }
  return {
    attributes,
    ec2InstanceId: instance.ec2InstanceId,
    registeredAt: new Date(instance.registeredAt),
    runningTasksCount: running,
    taskGroups: [...groups],
    agentConnected: instance.agentConnected,
    agentVersion: typeof instance.versionInfo.agentVersion === 'string' ? instance.versionInfo.agentVersion : AGENT_VERSION,
  };
}

/** A CqlSyntaxError's message, with its column when the message lacks it. */
function cqlErrorMessage(error: unknown): string {
  const column = (error as { column?: unknown }).column;
  const message = error instanceof Error ? error.message : String(error);
  return typeof column === 'number' && !message.includes(`column ${column}`) ? `${message} (column ${column})` : message;
}

export function compileCql(text: string): (instance: PlacementInstance) => boolean {
  let expression: Expression;
  try {
    expression = parseExpression(text);
  } catch (error) {
    throw invalidParameter(`Invalid cluster query expression: ${cqlErrorMessage(error)}`);
  }
  return (instance) => {
    try {
      return evaluate(expression, cqlFacts(instance));
    } catch (error) {
      throw invalidParameter(`Invalid cluster query expression: ${cqlErrorMessage(error)}`);
    }
  };
}

function checkStrategy(strategy: PlacementStrategy): void {
  if (strategy.type === 'random') return;
  if (strategy.type === 'binpack') {
    if (strategy.field !== 'cpu' && strategy.field !== 'memory') throw invalidParameter('binpack field must be cpu or memory.');
    return;
  }
  if (strategy.type === 'spread') {
    const field = strategy.field ?? '';
    if (field === 'instanceId' || field === 'host' || /^attribute:.+/.test(field)) return;
    throw invalidParameter('spread field must be instanceId, host or attribute:<name>.');
  }
  throw invalidParameter(`Unknown placement strategy type: ${String(strategy.type)}`);
}

/** Checks constraints (the task definition's and the request's) and strategies, as ECS limits them. */
export function placementRulesOf(constraints: PlacementConstraint[], strategies: PlacementStrategy[]): PlacementRules {
  if (constraints.length > 10) throw invalidParameter('You can specify up to 10 placement constraints.');
  if (strategies.length > 5) throw invalidParameter('You can specify up to 5 placement strategies.');
  for (const strategy of strategies) checkStrategy(strategy);
  const rules: PlacementRules = { memberOf: [], distinctInstance: false, strategies };
  for (const constraint of constraints) {
    if (constraint.type === 'distinctInstance') {
      if (constraint.expression) throw invalidParameter('distinctInstance takes no expression.');
      rules.distinctInstance = true;
    } else if (constraint.type === 'memberOf') {
      if (!constraint.expression) throw invalidParameter('memberOf needs an expression.');
      rules.memberOf.push(compileCql(constraint.expression));
    } else {
      throw invalidParameter(`Unknown placement constraint type: ${String(constraint.type)}`);
    }
  }
  return rules;
}

export function hasGroupTask(instance: PlacementInstance, group: string): boolean {
  for (const task of instance.tasks.values()) if (task.lastStatus !== 'STOPPED' && task.group === group) return true;
  return false;
}

/**
 * Why an ACTIVE instance cannot take one more task of `group` under `rules`; undefined if it can.
 * `placedHere` holds the instances this same call already placed on (distinctInstance).
 */
export function rejectionOf(
  instance: PlacementInstance,
  need: Requirement,
  rules: PlacementRules,
  group: string,
  placedHere: ReadonlySet<PlacementInstance>,
): string | undefined {
  const reason = unfitReason(instance, need);
  if (reason) return reason;
  if (rules.memberOf.some((test) => !test(instance))) return MEMBER_OF_UNSATISFIED;
  if (rules.distinctInstance && (placedHere.has(instance) || hasGroupTask(instance, group))) return DISTINCT_INSTANCE_UNSATISFIED;
  return undefined;
}

/**
 * Applies the strategies in order, each narrowing the candidates to its best ones; ties left at
 * the end are broken with `rng`. Modelled: spread counts the live tasks of the same group (the
 * tasks the strategy is spreading) on every registered instance, `all`; no strategy is random.
 */
export function choose<I extends PlacementInstance>(
  all: Iterable<PlacementInstance>,
  candidates: I[],
  strategies: PlacementStrategy[],
  group: string,
  rng: () => number,
): I {
  let pool = candidates;
  for (const strategy of strategies) {
    if (pool.length <= 1) break;
    if (strategy.type === 'binpack') {
      const remaining = (instance: PlacementInstance): number =>
        strategy.field === 'cpu' ? instance.registeredCpu - instance.usedCpu : instance.registeredMemory - instance.usedMemory;
      const best = Math.min(...pool.map(remaining));
      pool = pool.filter((instance) => remaining(instance) === best);
    } else if (strategy.type === 'spread') {
      const field = strategy.field ?? 'instanceId';
      const keyOf = (instance: PlacementInstance): string =>
        field === 'instanceId' || field === 'host' ? instance.id : (instance.attributes.get(field.slice('attribute:'.length)) ?? '');
      const counts = new Map<string, number>();
      // Tasks count wherever they run in the cluster, on instances that cannot take this one too.
      for (const instance of all) {
        let n = 0;
        for (const task of instance.tasks.values()) if (task.lastStatus !== 'STOPPED' && task.group === group) n++;
        counts.set(keyOf(instance), (counts.get(keyOf(instance)) ?? 0) + n);
      }
      const best = Math.min(...pool.map((instance) => counts.get(keyOf(instance)) ?? 0));
      pool = pool.filter((instance) => (counts.get(keyOf(instance)) ?? 0) === best);
    }
    // random: leaves the pool as it is; the final pick is random.
  }
  return pool[Math.floor(rng() * pool.length)] ?? (pool[0] as I);
}

/**
 * One placement: the chosen instance among the ACTIVE `instances`, or, when none can take the
 * task, why each could not (by ARN, the first reason per instance).
 */
export function placeOne<I extends PlacementInstance>(
  instances: Iterable<I>,
  need: Requirement,
  rules: PlacementRules,
  group: string,
  placedHere: ReadonlySet<PlacementInstance>,
  rng: () => number,
): { chosen: I; failures: Map<string, string> } | { chosen: undefined; failures: Map<string, string> } {
  const candidates: I[] = [];
  const failures = new Map<string, string>();
  const all: I[] = [];
  for (const instance of instances) {
    all.push(instance);
    // The schedulers never place on DRAINING instances.
    if (instance.status !== 'ACTIVE') continue;
    const reason = rejectionOf(instance, need, rules, group, placedHere);
    if (reason) failures.set(instance.arn, reason);
    else candidates.push(instance);
  }
  if (candidates.length === 0) return { chosen: undefined, failures };
  return { chosen: choose(all, candidates, rules.strategies, group, rng), failures };
}
