// IAM: what each role may do, and the policy documents the CloudFormation template attaches.
// test/unit/permissions.test.ts derives the AWS calls the code can make from the SDK commands it
// uses and fails unless these lists are exactly that set.
import { CLUSTER_ARN, ref, STREAM_ARN, sub, TABLE_ARN, type Json } from './cfn-json.js';

/** How an ECS action is confined to the agent's own cluster. */
type EcsScope =
  | 'cluster-condition' // Resource "*", Condition ArnEquals ecs:cluster = the cluster's ARN
  | 'cluster-resource' // Resource = the cluster's ARN
  | 'tag-on-start' // tagging the tasks it starts: the cluster's task ARNs, only as part of StartTask
  | 'unscoped'; // the action supports no resource-level permissions (Resource "*")

export const ECS_ACTION_SCOPES: Record<string, EcsScope> = {
  'ecs:StartTask': 'cluster-condition',
  'ecs:StopTask': 'cluster-condition',
  'ecs:DescribeTasks': 'cluster-condition',
  'ecs:ListTasks': 'cluster-condition',
  'ecs:DescribeContainerInstances': 'cluster-condition',
  'ecs:PutAttributes': 'cluster-condition',
  'ecs:DeleteAttributes': 'cluster-condition',
  'ecs:UpdateContainerInstancesState': 'cluster-condition',
  'ecs:ListContainerInstances': 'cluster-resource',
  'ecs:DescribeClusters': 'cluster-resource',
  'ecs:ListAttributes': 'cluster-resource',
  'ecs:TagResource': 'tag-on-start',
  'ecs:DescribeTaskDefinition': 'unscoped',
};

export const AGENT_ACTIONS = {
  ecs: [
    'ecs:StartTask',
    'ecs:TagResource',
    'ecs:StopTask',
    'ecs:DescribeTasks',
    'ecs:ListTasks',
    'ecs:DescribeContainerInstances',
    'ecs:PutAttributes',
    'ecs:UpdateContainerInstancesState',
    'ecs:DescribeTaskDefinition',
  ],
  // Scale-in, Spot and repair: reads of its own group, and the lifecycle action and health of its own instance.
  autoscaling: [
    'autoscaling:DescribeAutoScalingInstances',
    'autoscaling:DescribeLifecycleHooks',
    'autoscaling:RecordLifecycleActionHeartbeat',
    'autoscaling:CompleteLifecycleAction',
    'autoscaling:SetInstanceHealth',
  ],
  dynamodb: [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:DeleteItem',
    'dynamodb:UpdateItem',
    'dynamodb:ConditionCheckItem',
  ],
};

export const COORDINATOR_ACTIONS = {
  ecs: ['ecs:DescribeClusters', 'ecs:DescribeTaskDefinition', 'ecs:ListContainerInstances', 'ecs:DescribeContainerInstances'],
  dynamodb: [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:ConditionCheckItem',
    'dynamodb:DescribeTable',
  ],
  /** The live feeds (/v1/stream/*) read the table's stream: granted on the stream's ARN only. */
  dynamodbStreams: ['dynamodb:DescribeStream', 'dynamodb:GetShardIterator', 'dynamodb:GetRecords'],
};

/** The ECS container agent's own permissions, attached separately and left as AWS maintains them. */
export const ECS_AGENT_MANAGED_POLICY = 'service-role/AmazonEC2ContainerServiceforEC2Role';

function ecsStatements(actions: string[], clusterArn: Json, sidPrefix: string): Json[] {
  const byScope = new Map<EcsScope, string[]>();
  for (const action of actions) {
    const scope = ECS_ACTION_SCOPES[action];
    if (!scope) throw new Error(`no IAM scope is defined for ${action}: add it to ECS_ACTION_SCOPES in deploy/render.ts`);
    byScope.set(scope, [...(byScope.get(scope) ?? []), action]);
  }
  const statements: Json[] = [];
  const condition = byScope.get('cluster-condition');
  // ArnLike when the cluster ARN is a pattern (the coordinator's), ArnEquals for the agent's one cluster.
  const operator = JSON.stringify(clusterArn).includes('*') ? 'ArnLike' : 'ArnEquals';
  if (condition)
    statements.push({
      Sid: `${sidPrefix}ByClusterCondition`,
      Effect: 'Allow',
      Action: condition,
      Resource: '*',
      Condition: { [operator]: { 'ecs:cluster': clusterArn } },
    });
  const resource = byScope.get('cluster-resource');
  if (resource) statements.push({ Sid: `${sidPrefix}ByClusterArn`, Effect: 'Allow', Action: resource, Resource: clusterArn });
  const tagging = byScope.get('tag-on-start');
  if (tagging) {
    const tasks = sub('arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${ClusterName}/*');
    statements.push({
      Sid: `${sidPrefix}TagStartedTasks`,
      Effect: 'Allow',
      Action: tagging,
      Resource: tasks,
      Condition: { StringEquals: { 'ecs:CreateAction': 'StartTask' } },
    });
  }
  const unscoped = byScope.get('unscoped');
  if (unscoped) statements.push({ Sid: `${sidPrefix}NoResourceLevel`, Effect: 'Allow', Action: unscoped, Resource: '*' });
  return statements;
}

/** The Auto Scaling actions that take a group resource (confined to groups tagged with the cluster); the Describe ones take none. */
const AUTOSCALING_GROUP_ACTIONS = new Set([
  'autoscaling:RecordLifecycleActionHeartbeat',
  'autoscaling:CompleteLifecycleAction',
  'autoscaling:SetInstanceHealth',
]);
export const CLUSTER_TAG = 'blox-edge:cluster';

function autoScalingStatements(actions: string[]): Json[] {
  const group = actions.filter((a) => AUTOSCALING_GROUP_ACTIONS.has(a));
  const reads = actions.filter((a) => !AUTOSCALING_GROUP_ACTIONS.has(a));
  return [
    { Sid: 'AgentAutoScalingReads', Effect: 'Allow', Action: reads, Resource: '*' },
    {
      Sid: 'AgentAutoScalingOwnGroup',
      Effect: 'Allow',
      Action: group,
      Resource: sub('arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*'),
      Condition: { StringEquals: { [`autoscaling:ResourceTag/${CLUSTER_TAG}`]: ref('ClusterName') } },
    },
  ];
}

function tableStatement(actions: string[]): Json {
  return { Sid: 'BloxEdgeTable', Effect: 'Allow', Action: actions, Resource: TABLE_ARN };
}

export function agentPolicyDocument(): Json {
  const statements: Json[] = [
    ...ecsStatements(AGENT_ACTIONS.ecs, CLUSTER_ARN, 'AgentEcs'),
    ...autoScalingStatements(AGENT_ACTIONS.autoscaling),
    tableStatement(AGENT_ACTIONS.dynamodb),
  ];
  // StartTask of a task definition with a task or execution role needs iam:PassRole on that role.
  statements.push({
    'Fn::If': [
      'HasDaemonTaskRoles',
      {
        Sid: 'PassDaemonTaskRoles',
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: ref('DaemonTaskRoleArns'),
        Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      },
      ref('AWS::NoValue'),
    ],
  });
  return { Version: '2012-10-17', Statement: statements };
}

export function coordinatorPolicyDocument(): Json {
  // The coordinator serves every cluster's environments, so its cluster-level reads are not confined.
  const anyCluster = sub('arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/*');
  return {
    Version: '2012-10-17',
    Statement: [
      ...ecsStatements(COORDINATOR_ACTIONS.ecs, anyCluster, 'CoordinatorEcs'),
      tableStatement(COORDINATOR_ACTIONS.dynamodb),
      { Sid: 'BloxEdgeTableStream', Effect: 'Allow', Action: COORDINATOR_ACTIONS.dynamodbStreams, Resource: STREAM_ARN },
    ],
  };
}
