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
