// Standalone tasks: StartTask (manual placement), RunTask (placed by placement.ts, idempotent with
// clientToken), StopTask, DescribeTasks, ListTasks. The lifecycle after launch is lifecycle.ts's.
import { mergeTags, paginate, referencesOf, startedByOf, tagsOf } from '../checks.js';
import type { EcsContext, Operations } from '../context.js';
import { clientError, EcsError, invalidParameter } from '../errors.js';
import type { TaskLaunch } from '../lifecycle.js';
import { placeOne, placementRulesOf, requirementOf, unfitReason, type PlacementInstance } from '../placement.js';
import type { PlacementConstraint, PlacementStrategy, TaskOverride } from '../shapes.js';
import type { ClusterState, Json, TaskState } from '../state.js';
import { compact, taskWire } from '../wire.js';

/** What StartTask and RunTask share: the definition, startedBy, group, tags and overrides. */
function launchOf(context: EcsContext, input: Json): TaskLaunch {
  const definition = context.state.taskDefinitionRef(input.taskDefinition);
  // Documented: an INACTIVE revision can't be used to run new tasks.
  if (definition.status !== 'ACTIVE') throw clientError('TaskDefinition is inactive');
  const startedBy = startedByOf(input.startedBy);
  const group = input.group === undefined || input.group === null ? `family:${definition.family}` : input.group;
  if (typeof group !== 'string' || group.length === 0 || group.length > 255) throw invalidParameter('group must be 1 to 255 characters.');
  let tags = tagsOf(input.tags);
  // propagateTags TASK_DEFINITION copies the task definition's tags to the task (request tags win).
  if (input.propagateTags === 'TASK_DEFINITION') tags = mergeTags(definition.tags, tags);
  const overrides = (input.overrides ?? {}) as TaskOverride;
  for (const override of overrides.containerOverrides ?? []) {
    if (!definition.containerDefinitions.some((container) => container.name === override.name)) {
      throw invalidParameter(`Override for container named ${String(override.name)} is not a container in the TaskDefinition.`);
    }
  }
  return { definition, startedBy, group, tags, overrides };
}

/** How ListTasks finds a service's tasks; undefined when the cluster has no such service. */
export type ServiceTasks = (cluster: ClusterState, serviceName: string) => Iterable<TaskState> | undefined;

export function taskOperations(context: EcsContext, serviceTasks: ServiceTasks): Operations {
  const { state, lifecycle } = context;

  const placeTasks = (cluster: ClusterState, input: Json): Json => {
    const count = input.count === undefined || input.count === null ? 1 : input.count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 10) throw invalidParameter('count must be between 1 and 10.');
    if (input.launchType !== undefined && input.launchType !== 'EC2')
      throw invalidParameter(`launchType ${String(input.launchType)} is not supported by this emulator; use EC2.`);
    const launch = launchOf(context, input);
    const need = requirementOf(launch.definition, launch.overrides);
    const rules = placementRulesOf(
      [...launch.definition.placementConstraints, ...((input.placementConstraints as PlacementConstraint[] | undefined) ?? [])],
      (input.placementStrategy as PlacementStrategy[] | undefined) ?? [],
    );
    // Documented (RunTask): "No Container Instances were found in your cluster." when it has none.
    if (cluster.instances.size === 0) throw invalidParameter('No Container Instances were found in your cluster.');
    const tasks: Json[] = [];
    const failures = new Map<string, string>();
    const placedHere = new Set<PlacementInstance>();
    for (let i = 0; i < count; i++) {
      const placement = placeOne(cluster.instances.values(), need, rules, launch.group, placedHere, context.rng);
      for (const [arn, reason] of placement.failures) if (!failures.has(arn)) failures.set(arn, reason);
      if (!placement.chosen) break;
      placedHere.add(placement.chosen);
      failures.delete(placement.chosen.arn);
      tasks.push(taskWire(lifecycle.launch(cluster, placement.chosen, need, launch), false));
    }
    if (tasks.length === count) failures.clear();
    return { tasks, failures: [...failures].map(([arn, reason]) => ({ arn, reason })) };
  };

  return {
    StartTask(input) {
      const cluster = state.clusterRef(input.cluster);
      // Documented: "You can specify up to 10 container instances."
      const refs = referencesOf(input.containerInstances, 'Container instances', 10);
      const launch = launchOf(context, input);
      const need = requirementOf(launch.definition, launch.overrides);
      const tasks: Json[] = [];
      const failures: Json[] = [];
      for (const ref of refs) {
        const instance = typeof ref === 'string' ? state.findInstance(cluster, ref) : undefined;
        if (!instance) {
          failures.push({ arn: state.instanceRefArn(cluster, String(ref)), reason: 'MISSING' });
          continue;
        }
        // Modelled: StartTask is manual placement and bypasses the scheduler, so it is accepted on a
        // DRAINING instance (draining keeps the *scheduler* away; RunTask never places there).
        const reason = unfitReason(instance, need);
        if (reason) {
          failures.push({ arn: instance.arn, reason });
          continue;
        }
        tasks.push(taskWire(lifecycle.launch(cluster, instance, need, launch), false));
      }
      return { tasks, failures };
    },

    RunTask(input) {
      const cluster = state.clusterRef(input.cluster);
      // RunTask's clientToken (newer than some service models): a retry with the same token answers
      // the tasks the first call started instead of starting more, as ECS documents for idempotency.
      const clientToken = typeof input.clientToken === 'string' && input.clientToken !== '' ? input.clientToken : undefined;
      if (clientToken !== undefined) {
        if (clientToken.length > 64) throw invalidParameter('clientToken can be at most 64 characters.');
        const earlier = cluster.runTaskTokens.get(clientToken);
        if (earlier) {
          const tasks = earlier.map((arn) => state.tasksByArn.get(arn)).filter((task): task is TaskState => !!task);
          return { tasks: tasks.map((task) => taskWire(task, false)), failures: [] };
        }
      }
      const answer = placeTasks(cluster, input);
      if (clientToken !== undefined)
        cluster.runTaskTokens.set(
          clientToken,
          (answer.tasks as Json[]).map((task) => task.taskArn as string),
        );
      return answer;
    },

    StopTask(input) {
      const cluster = state.clusterRef(input.cluster);
      if (typeof input.task !== 'string' || input.task === '') throw invalidParameter('Task cannot be empty.');
      const reason = input.reason;
      if (reason !== undefined && (typeof reason !== 'string' || reason.length > 255)) throw invalidParameter('reason can be at most 255 characters.');
      const task = state.findTask(cluster, input.task);
      if (!task) throw invalidParameter('The referenced task was not found.');
      if (task.lastStatus !== 'STOPPED' && task.desiredStatus === 'RUNNING') {
        task.stopRequested = true;
        // Modelled: without a reason, DescribeTasks shows "Task stopped by user".
        lifecycle.beginStop(task, 'UserInitiated', typeof reason === 'string' && reason !== '' ? reason : 'Task stopped by user');
        // ECS's StopTask reference: "Any tags associated with the task will be deleted."
        task.tags = [];
      }
      return { task: taskWire(task, true) };
    },

    DescribeTasks(input) {
      const cluster = state.clusterRef(input.cluster);
      const refs = input.tasks;
      if (!Array.isArray(refs) || refs.length === 0) throw invalidParameter('Tasks cannot be empty.');
      if (refs.length > 100) throw invalidParameter('Tasks can have at most 100 items.');
      const include = Array.isArray(input.include) && (input.include as string[]).includes('TAGS');
      const tasks: Json[] = [];
      const failures: Json[] = [];
      for (const ref of refs as string[]) {
        const task = typeof ref === 'string' ? state.findTask(cluster, ref) : undefined;
        if (task) tasks.push(taskWire(task, include));
        else failures.push({ arn: typeof ref === 'string' && ref.startsWith('arn:') ? ref : state.taskArn(cluster.name, String(ref)), reason: 'MISSING' });
      }
      return { tasks, failures };
    },

    ListTasks(input) {
      const cluster = state.clusterRef(input.cluster);
      let ofService: Iterable<TaskState> | undefined;
      if (input.serviceName !== undefined) {
        ofService = typeof input.serviceName === 'string' ? serviceTasks(cluster, input.serviceName) : undefined;
        if (!ofService) throw new EcsError('ServiceNotFoundException', 'Service not found.');
      }
      const startedBy = input.startedBy as string | undefined;
      if (startedBy !== undefined) {
        // Documented: "When you specify startedBy as the filter, it must be the only filter that you
        // use." Modelled: any other filter besides cluster (and paging) is an InvalidParameterException.
        const others = ['containerInstance', 'family', 'serviceName', 'desiredStatus', 'launchType'].filter(
          (name) => input[name] !== undefined && input[name] !== null,
        );
        if (others.length > 0) throw invalidParameter(`startedBy must be the only filter when it is given; drop ${others.join(', ')}.`);
      }
      if (input.launchType !== undefined && input.launchType !== 'EC2') {
        return {};
      }
      const instance = typeof input.containerInstance === 'string' ? state.findInstance(cluster, input.containerInstance, true) : undefined;
      if (typeof input.containerInstance === 'string' && !instance) throw invalidParameter('The referenced container instance was not found.');
      const source: Iterable<TaskState> =
        ofService ??
        (startedBy !== undefined ? (cluster.tasksByStartedBy.get(startedBy)?.values() ?? []) : instance ? instance.tasks.values() : cluster.tasks.values());
      const desired = (input.desiredStatus as string | undefined) ?? 'RUNNING';
      const family = input.family as string | undefined;
      const selected: TaskState[] = [];
      for (const task of source) {
        // Documented: the default filter is desiredStatus RUNNING (PENDING never matches anything).
        if (startedBy === undefined && task.desiredStatus !== desired) continue;
        if (startedBy !== undefined && task.desiredStatus !== 'RUNNING') continue;
        if (family !== undefined && task.family !== family) continue;
        if (instance !== undefined && task.instance !== instance) continue;
        selected.push(task);
      }
      const { page, nextToken } = paginate(selected, (task) => task.seq, input);
      return compact({ taskArns: page.map((task) => task.taskArn), nextToken });
    },
  };
}
