// Task definitions: RegisterTaskDefinition (with ECS's registration checks), DescribeTaskDefinition,
// DeregisterTaskDefinition, ListTaskDefinitions, ListTaskDefinitionFamilies.
import { CONTAINER_NAME_PATTERN, FAMILY_PATTERN, includeOf, paginate, parseCpu, parseMemory, tagsOf } from '../checks.js';
import type { EcsContext, Operations } from '../context.js';
import { clientError } from '../errors.js';
import type { ContainerDefinition, PlacementConstraint, RegisterTaskDefinitionRequest } from '../shapes.js';
import type { Json, TaskDefinitionState } from '../state.js';
import { compact, taskDefinitionWire } from '../wire.js';

/** ECS's checks of one container definition (names, unique among `names`, memory, health check ranges). */
function checkContainer(container: ContainerDefinition, taskMemory: number | undefined, names: Set<string>): void {
  if (typeof container.name !== 'string' || !CONTAINER_NAME_PATTERN.test(container.name)) {
    throw clientError(
      'Container.name should not be null or empty, and may contain up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.',
    );
  }
  if (names.has(container.name)) throw clientError(`Duplicate container name found: ${container.name}`);
  names.add(container.name);
  if (typeof container.image !== 'string' || container.image === '') throw clientError('Container.image should not be null or empty.');
  // Documented: without task-level memory, every container needs memory or memoryReservation.
  if (taskMemory === undefined && container.memory === undefined && container.memoryReservation === undefined) {
    throw clientError(`Invalid setting for container '${container.name}'. At least one of 'memory' or 'memoryReservation' must be specified.`);
  }
  if (container.memory !== undefined && container.memoryReservation !== undefined && container.memoryReservation > container.memory) {
    throw clientError(`Invalid setting for container '${container.name}'. 'memoryReservation' must be less than or equal to 'memory'.`);
  }
  if (container.memory !== undefined && container.memory < 6)
    throw clientError(`Invalid 'memory' setting for container '${container.name}': the minimum is 6 MiB.`);
  const check = container.healthCheck;
  if (check) {
    if (!Array.isArray(check.command) || check.command.length === 0)
      throw clientError(`Invalid healthCheck for container '${container.name}': command is required.`);
    if (check.interval !== undefined && (check.interval < 5 || check.interval > 300))
      throw clientError('Health check interval must be between 5 and 300 seconds.');
    if (check.timeout !== undefined && (check.timeout < 2 || check.timeout > 120)) throw clientError('Health check timeout must be between 2 and 120 seconds.');
    if (check.retries !== undefined && (check.retries < 1 || check.retries > 10)) throw clientError('Health check retries must be between 1 and 10.');
    if (check.startPeriod !== undefined && (check.startPeriod < 0 || check.startPeriod > 300))
      throw clientError('Health check startPeriod must be between 0 and 300 seconds.');
  }
}

export function taskDefinitionOperations({ state, clock }: EcsContext): Operations {
  const wire = (definition: TaskDefinitionState): Json => taskDefinitionWire(definition, state.accountId);

  return {
    RegisterTaskDefinition(request) {
      const input = request as RegisterTaskDefinitionRequest & Json;
      const family = input.family;
      if (typeof family !== 'string' || !FAMILY_PATTERN.test(family)) {
        throw clientError('Family contains invalid characters; up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.');
      }
      const containers = input.containerDefinitions;
      if (!Array.isArray(containers) || containers.length === 0) throw clientError('Container list cannot be empty.');
      if (containers.length > 10) throw clientError('Too many containers: a task definition can have at most 10.');
      const taskCpu = parseCpu(input.cpu);
      const taskMemory = parseMemory(input.memory);
      if (input.cpu !== undefined && taskCpu === undefined) throw clientError(`Invalid 'cpu' setting for task.`);
      if (input.memory !== undefined && taskMemory === undefined) throw clientError(`Invalid 'memory' setting for task.`);
      const names = new Set<string>();
      let essentials = 0;
      for (const container of containers) {
        checkContainer(container, taskMemory, names);
        if (container.essential !== false) essentials++;
      }
      if (essentials === 0) throw clientError('Task definition does not have any essential container.');
      const tags = tagsOf(input.tags);
      const revisions = state.families.get(family) ?? [];
      state.families.set(family, revisions);
      const revision = revisions.length + 1;
      const body: Json = { ...input };
      delete body.tags;
      const definition: TaskDefinitionState = {
        seq: state.nextSeq(),
        arn: state.taskDefinitionArn(family, revision),
        family,
        revision,
        status: 'ACTIVE',
        registeredAt: clock.wallMs(),
        deregisteredAt: undefined,
        containerDefinitions: containers.map((container) => ({ ...container })),
        networkMode: input.networkMode,
        cpu: taskCpu,
        memory: taskMemory,
        placementConstraints: (input.placementConstraints ?? []) as PlacementConstraint[],
        body,
        tags,
      };
      revisions.push(definition);
      return { taskDefinition: wire(definition), tags };
    },

    DescribeTaskDefinition(input) {
      const definition = state.taskDefinitionRef(input.taskDefinition);
      return compact({ taskDefinition: wire(definition), tags: includeOf(input).includes('TAGS') ? definition.tags : undefined });
    },

    DeregisterTaskDefinition(input) {
      const ref = input.taskDefinition;
      if (typeof ref !== 'string' || !/:\d+$/.test(ref)) throw clientError('A revision must be specified: use family:revision or the full ARN.');
      const definition = state.taskDefinitionRef(ref);
      if (definition.status === 'ACTIVE') {
        definition.status = 'INACTIVE';
        definition.deregisteredAt = clock.wallMs();
      }
      return { taskDefinition: wire(definition) };
    },

    ListTaskDefinitions(input) {
      const status = input.status ?? 'ACTIVE';
      const familyFilter = typeof input.familyPrefix === 'string' ? input.familyPrefix : undefined;
      const all: TaskDefinitionState[] = [];
      // Documented: familyPrefix is "the full family name" to filter with.
      for (const [family, revisions] of state.families) {
        if (familyFilter !== undefined && family !== familyFilter) continue;
        for (const revision of revisions) if (revision.status === status) all.push(revision);
      }
      // ASC: by family name, then revision; DESC reverses it. Sequence numbers follow that order.
      all.sort((a, b) => (a.family < b.family ? -1 : a.family > b.family ? 1 : a.revision - b.revision));
      if (input.sort === 'DESC') all.reverse();
      const ordered = all.map((definition, index) => ({ definition, index }));
      const { page, nextToken } = paginate(ordered, (item) => item.index, input);
      return compact({ taskDefinitionArns: page.map((item) => item.definition.arn), nextToken });
    },

    ListTaskDefinitionFamilies(input) {
      const prefix = typeof input.familyPrefix === 'string' ? input.familyPrefix : '';
      const status = input.status ?? 'ACTIVE';
      const families = [...state.families]
        .filter(([family, revisions]) => family.startsWith(prefix) && (status === 'ALL' || revisions.some((revision) => revision.status === status)))
        .map(([family]) => family)
        .sort();
      const ordered = families.map((family, index) => ({ family, index }));
      const { page, nextToken } = paginate(ordered, (item) => item.index, input);
      return compact({ families: page.map((item) => item.family), nextToken });
    },
  };
}
