// The Docker labels the ECS container agent puts on every container it runs. The agent finds its
// daemons' containers by them; the local world's runtimes put the same ones on theirs.
/** The labels the ECS agent puts on every container it runs; ours do the same. */
export const ECS_LABELS = {
  taskArn: 'com.amazonaws.ecs.task-arn',
  containerName: 'com.amazonaws.ecs.container-name',
  family: 'com.amazonaws.ecs.task-definition-family',
  version: 'com.amazonaws.ecs.task-definition-version',
  cluster: 'com.amazonaws.ecs.cluster',
} as const;

// What blox-edge puts on the daemon tasks it starts, so that any agent (and the tests' checks) can
// tell them apart from other work: the ECS task group `blox:<environment>`, three tags, and a
// `startedBy` of the attempt token (`bx-...`, at most 36 characters as ECS allows).
export const GROUP_PREFIX = 'blox:';
export const TAG_ENVIRONMENT = 'blox:environment';
export const TAG_REVISION = 'blox:revision';
export const TAG_MANAGED_BY = 'blox:managed-by';
export const MANAGED_BY = 'blox-edge';
export const TOKEN_PREFIX = 'bx-';
export const TOKEN_MAX_LENGTH = 36;
