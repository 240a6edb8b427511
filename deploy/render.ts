// Renders the generated shipping files from their single sources:
//   userdata/install.sh            -> userdata/cloud-init/install.yaml (embedded verbatim)
//                                   -> the launch template's user-data in the CloudFormation template
//   core/dynamo-table.ts, core/keys.ts -> the table resource of the CloudFormation template
//   the permission lists below      -> the agent and coordinator IAM policies
//
//   npx tsx deploy/render.ts           # rewrite the generated files
//   npx tsx deploy/render.ts --check   # exit 1 when a committed file differs from its rendering
//
// test/unit/shipping-*.test.ts fails when a generated file is stale, and test/unit/permissions.test.ts
// fails when the permission lists differ from the AWS calls the code can make.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TABLE_NAME, tableDefinition } from '../core/dynamo-table.js';
import { TTL_ATTRIBUTE } from '../core/keys.js';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const repoPath = (relative: string): string => `${repoRoot}${relative}`;

/** The daemons-first ECS instance attribute: `pending` at registration, `ready` once set by the agent. */
export const DAEMONS_ATTRIBUTE = 'blox-edge.daemons';
export const DAEMONS_PENDING = 'pending';
export const DAEMONS_READY = 'ready';

export const GENERATED = {
  cloudInitInstall: 'userdata/cloud-init/install.yaml',
  cloudInitConfigure: 'userdata/cloud-init/configure.yaml',
  cloudFormation: 'deploy/cloudformation/blox-edge.json',
} as const;

// ---------------------------------------------------------------------------------------------
// IAM: what each role may do. test/unit/permissions.test.ts derives the AWS calls the code can make
// from the SDK commands it uses and fails unless these lists are exactly that set.

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

// ---------------------------------------------------------------------------------------------
// User-data

export function installerScript(): string {
  return readFileSync(repoPath('userdata/install.sh'), 'utf8');
}

/** install.sh without its `#!` line: what follows the settings a launch template puts in front. */
export function installerBody(script = installerScript()): string {
  if (!script.startsWith('#!/bin/bash\n')) throw new Error('userdata/install.sh must start with #!/bin/bash');
  return script.slice(script.indexOf('\n') + 1);
}

/** The settings install.sh reads (`NAME="${NAME:-default}"` lines before `# --- end of settings ---`). */
export function installerSettings(script = installerScript()): Map<string, string> {
  const end = script.indexOf('# --- end of settings ---');
  if (end < 0) throw new Error('userdata/install.sh has no "# --- end of settings ---" line');
  const settings = new Map<string, string>();
  for (const match of script.slice(0, end).matchAll(/^([A-Z0-9_]+)="\$\{\1:-([^}]*)\}"/gm)) settings.set(match[1]!, match[2]!);
  return settings;
}

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text
    .split('\n')
    .map((line) => (line === '' ? '' : pad + line))
    .join('\n');
}

const RUN_WITH_ENV = (command: string): string => `  - [bash, -c, 'set -a && . /etc/blox-edge/install.env && set +a && exec ${command}']\n`;

export function cloudInitInstall(script = installerScript()): string {
  return [
    '#cloud-config\n',
    '# blox-edge on a stock ECS-optimized Amazon Linux 2023 AMI (no baking): installs Node.js, the agent\n',
    '# bundle (checked against its SHA-256), the systemd unit and the configuration, then starts the agent.\n',
    '# Fill in /etc/blox-edge/install.env below; every setting is described at the top of the installer.\n',
    '# Generated from userdata/install.sh by `npx tsx deploy/render.ts`; edit that file, not this one.\n',
    'write_files:\n',
    '  - path: /etc/blox-edge/install.env\n',
    "    permissions: '0600'\n",
    '    content: |\n',
    '      BLOX_CLUSTER=\n',
    '      BLOX_BUNDLE_URL=\n',
    '      BLOX_BUNDLE_SHA256=\n',
    `      BLOX_TABLE=${DEFAULT_TABLE_NAME}\n`,
    '  - path: /usr/local/sbin/blox-edge-install\n',
    "    permissions: '0755'\n",
    '    content: |\n',
    indent(script, 6),
    script.endsWith('\n') ? '' : '\n',
    'runcmd:\n',
    RUN_WITH_ENV('/usr/local/sbin/blox-edge-install'),
  ].join('');
}

export function cloudInitConfigure(): string {
  return [
    '#cloud-config\n',
    '# blox-edge on the baked AMI (ami/): only writes the configuration and starts the agent.\n',
    '# Fill in /etc/blox-edge/install.env below (BLOX_REGION, BLOX_LOG_LEVEL and the others of\n',
    '# /opt/blox-edge/install.sh may be added). Generated by `npx tsx deploy/render.ts`.\n',
    'write_files:\n',
    '  - path: /etc/blox-edge/install.env\n',
    "    permissions: '0600'\n",
    '    content: |\n',
    '      BLOX_CLUSTER=\n',
    `      BLOX_TABLE=${DEFAULT_TABLE_NAME}\n`,
    'runcmd:\n',
    RUN_WITH_ENV('/opt/blox-edge/install.sh --configure'),
  ].join('');
}

/** Extracts the `content: |` block of a write_files entry from the cloud-config files above. */
export function cloudInitFileContent(yaml: string, path: string): string | undefined {
  const lines = yaml.split('\n');
  const start = lines.findIndex((line) => line.trim() === `- path: ${path}`);
  if (start < 0) return undefined;
  let i = start + 1;
  while (i < lines.length && !/^\s+content: \|$/.test(lines[i]!)) {
    if (/^\s*- path: /.test(lines[i]!)) return undefined;
    i++;
  }
  const out: string[] = [];
  for (i++; i < lines.length; i++) {
    const line = lines[i]!;
    if (line !== '' && !line.startsWith('      ')) break;
    out.push(line.slice(6));
  }
  while (out.length && out[out.length - 1] === '') out.pop();
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// CloudFormation

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
const ref = (name: string): Json => ({ Ref: name });
const sub = (text: string): Json => ({ 'Fn::Sub': text });
const getAtt = (resource: string, attribute: string): Json => ({ 'Fn::GetAtt': [resource, attribute] });

const CLUSTER_ARN = sub('arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/${ClusterName}');
const TABLE_ARN = getAtt('Table', 'Arn');
const STREAM_ARN = getAtt('Table', 'StreamArn');

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

function userDataInstall(script: string): Json {
  return {
    'Fn::Base64': {
      'Fn::Join': [
        '',
        [
          '#!/bin/bash\n',
          "BLOX_CLUSTER='",
          ref('ClusterName'),
          "'\n",
          "BLOX_BUNDLE_URL='",
          ref('BundleUrl'),
          "'\n",
          "BLOX_BUNDLE_SHA256='",
          ref('BundleSha256'),
          "'\n",
          "BLOX_TABLE='",
          ref('TableName'),
          "'\n",
          "BLOX_REGION='",
          ref('AWS::Region'),
          "'\n",
          installerBody(script),
        ],
      ],
    },
  };
}

function userDataConfigure(): Json {
  return {
    'Fn::Base64': {
      'Fn::Join': [
        '',
        [
          '#!/bin/bash\n',
          "export BLOX_CLUSTER='",
          ref('ClusterName'),
          "'\n",
          "export BLOX_TABLE='",
          ref('TableName'),
          "'\n",
          "export BLOX_REGION='",
          ref('AWS::Region'),
          "'\n",
          'exec /opt/blox-edge/install.sh --configure\n',
        ],
      ],
    },
  };
}

export function cloudFormationTemplate(script = installerScript()): Json {
  const table = tableDefinition(DEFAULT_TABLE_NAME);
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description:
      'blox-edge: the DynamoDB table, IAM for the agents (instance role and profile) and the coordinator, and an example launch template and Auto Scaling group of ECS container instances running the agent. Generated by deploy/render.ts.',
    Metadata: {
      'AWS::CloudFormation::Interface': {
        ParameterGroups: [
          { Label: { default: 'Cluster and table' }, Parameters: ['ClusterName', 'CreateCluster', 'TableName'] },
          { Label: { default: 'Agent bundle (stock ECS-optimized AMI)' }, Parameters: ['BundleUrl', 'BundleSha256', 'BundleBucket'] },
          {
            Label: { default: 'Instances' },
            Parameters: ['VpcId', 'SubnetIds', 'InstanceType', 'EcsAmiId', 'BakedAmiId', 'MinSize', 'MaxSize', 'DesiredCapacity'],
          },
          { Label: { default: 'Daemon tasks' }, Parameters: ['DaemonTaskRoleArns'] },
        ],
      },
    },
    Parameters: {
      ClusterName: { Type: 'String', Default: 'blox-edge', AllowedPattern: '^[A-Za-z0-9_-]{1,255}$', Description: 'ECS cluster the instances join.' },
      CreateCluster: {
        Type: 'String',
        Default: 'true',
        AllowedValues: ['true', 'false'],
        Description: 'Create the ECS cluster in this stack (false: it exists already).',
      },
      TableName: {
        Type: 'String',
        Default: DEFAULT_TABLE_NAME,
        AllowedPattern: '^[A-Za-z0-9_.-]{3,255}$',
        Description: 'Name of the blox-edge DynamoDB table.',
      },
      VpcId: { Type: 'AWS::EC2::VPC::Id', Description: 'VPC of the instances.' },
      SubnetIds: { Type: 'List<AWS::EC2::Subnet::Id>', Description: 'Subnets of the Auto Scaling group (with a route to the ECS, DynamoDB and S3 endpoints).' },
      InstanceType: {
        Type: 'String',
        Default: 't3.medium',
        AllowedPattern: '^[a-z0-9-]+\\.[a-z0-9]+$',
        Description: 'Instance type (its architecture must match the AMI).',
      },
      EcsAmiId: {
        Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
        Default: '/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id',
        Description: 'Stock ECS-optimized AMI (public SSM parameter), used when BakedAmiId is empty.',
      },
      BakedAmiId: {
        Type: 'String',
        Default: '',
        AllowedPattern: '^(ami-[0-9a-f]{8,17})?$',
        Description: 'AMI built from ami/ (Packer). Empty: the stock AMI plus the full user-data installer.',
      },
      BundleUrl: {
        Type: 'String',
        Default: '',
        AllowedPattern: "^((https|s3)://[^'\\s]+)?$",
        Description: 'https:// or s3:// URL of agent.js (stock AMI only). Prefer s3:// with BundleBucket: presigned URLs expire.',
      },
      BundleSha256: { Type: 'String', Default: '', AllowedPattern: '^([0-9a-fA-F]{64})?$', Description: 'SHA-256 of agent.js (stock AMI only).' },
      BundleBucket: {
        Type: 'String',
        Default: '',
        AllowedPattern: '^([a-z0-9.-]{3,63})?$',
        Description: 'S3 bucket of an s3:// BundleUrl: the instances may read its objects.',
      },
      DaemonTaskRoleArns: {
        Type: 'CommaDelimitedList',
        Default: '',
        Description: 'Task and execution role ARNs (wildcards allowed) of daemon task definitions: the agent may pass only these to ECS.',
      },
      MinSize: { Type: 'Number', Default: 1, MinValue: 0 },
      MaxSize: { Type: 'Number', Default: 3, MinValue: 1 },
      DesiredCapacity: { Type: 'Number', Default: 2, MinValue: 0 },
    },
    Rules: {
      StockAmiNeedsTheBundle: {
        RuleCondition: { 'Fn::Equals': [ref('BakedAmiId'), ''] },
        Assertions: [
          { Assert: { 'Fn::Not': [{ 'Fn::Equals': [ref('BundleUrl'), ''] }] }, AssertDescription: 'BundleUrl is required unless BakedAmiId is given.' },
          { Assert: { 'Fn::Not': [{ 'Fn::Equals': [ref('BundleSha256'), ''] }] }, AssertDescription: 'BundleSha256 is required unless BakedAmiId is given.' },
        ],
      },
    },
    Conditions: {
      CreateClusterCondition: { 'Fn::Equals': [ref('CreateCluster'), 'true'] },
      UseBakedAmi: { 'Fn::Not': [{ 'Fn::Equals': [ref('BakedAmiId'), ''] }] },
      HasBundleBucket: { 'Fn::Not': [{ 'Fn::Equals': [ref('BundleBucket'), ''] }] },
      HasDaemonTaskRoles: { 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', ref('DaemonTaskRoleArns')] }, ''] }] },
    },
    Resources: {
      Cluster: { Type: 'AWS::ECS::Cluster', Condition: 'CreateClusterCondition', Properties: { ClusterName: ref('ClusterName') } },
      Table: {
        Type: 'AWS::DynamoDB::Table',
        // The table holds every environment, revision and deployment: deleting the stack keeps it.
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          TableName: ref('TableName'),
          BillingMode: table.BillingMode as string,
          AttributeDefinitions: (table.AttributeDefinitions ?? []).map((d) => ({ AttributeName: d.AttributeName!, AttributeType: d.AttributeType! })),
          KeySchema: (table.KeySchema ?? []).map((k) => ({ AttributeName: k.AttributeName!, KeyType: k.KeyType! })),
          // CloudFormation's StreamSpecification takes only the view type (the stream is on when it is given).
          StreamSpecification: { StreamViewType: table.StreamSpecification?.StreamViewType as string },
          TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        },
      },
      AgentInstanceRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          Description: 'ECS container instances running the blox-edge agent',
          AssumeRolePolicyDocument: {
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
          },
          // The ECS container agent's own policy, kept separate from the blox-edge agent's.
          ManagedPolicyArns: [sub(`arn:\${AWS::Partition}:iam::aws:policy/${ECS_AGENT_MANAGED_POLICY}`)],
        },
      },
      AgentPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: { PolicyName: 'blox-edge-agent', Roles: [ref('AgentInstanceRole')], PolicyDocument: agentPolicyDocument() },
      },
      BundleReadPolicy: {
        Type: 'AWS::IAM::Policy',
        Condition: 'HasBundleBucket',
        Properties: {
          PolicyName: 'blox-edge-bundle-read',
          Roles: [ref('AgentInstanceRole')],
          // Used by the user-data installer (aws s3 cp), not by the agent.
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: sub('arn:${AWS::Partition}:s3:::${BundleBucket}/*') }],
          },
        },
      },
      AgentInstanceProfile: { Type: 'AWS::IAM::InstanceProfile', Properties: { Roles: [ref('AgentInstanceRole')] } },
      CoordinatorRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          Description: 'blox-edge coordinator (REST API, web page): stores environments; never starts or stops tasks',
          AssumeRolePolicyDocument: {
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
          },
        },
      },
      CoordinatorPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: { PolicyName: 'blox-edge-coordinator', Roles: [ref('CoordinatorRole')], PolicyDocument: coordinatorPolicyDocument() },
      },
      InstanceSecurityGroup: {
        Type: 'AWS::EC2::SecurityGroup',
        Properties: {
          GroupDescription: 'blox-edge container instances: no inbound traffic; the agent only calls out (ECS, DynamoDB)',
          VpcId: ref('VpcId'),
          SecurityGroupEgress: [{ IpProtocol: '-1', CidrIp: '0.0.0.0/0', Description: 'AWS APIs, image registries' }],
        },
      },
      LaunchTemplate: {
        Type: 'AWS::EC2::LaunchTemplate',
        Properties: {
          LaunchTemplateData: {
            ImageId: { 'Fn::If': ['UseBakedAmi', ref('BakedAmiId'), ref('EcsAmiId')] },
            InstanceType: ref('InstanceType'),
            IamInstanceProfile: { Arn: getAtt('AgentInstanceProfile', 'Arn') },
            SecurityGroupIds: [ref('InstanceSecurityGroup')],
            // IMDSv2 only, one hop: the agent on the host reaches it, bridge-mode task containers
            // do not (they must not borrow the instance role's credentials).
            MetadataOptions: { HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
            UserData: { 'Fn::If': ['UseBakedAmi', userDataConfigure(), userDataInstall(script)] },
            TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'blox-edge:cluster', Value: ref('ClusterName') }] }],
          },
        },
      },
      AutoScalingGroup: {
        Type: 'AWS::AutoScaling::AutoScalingGroup',
        // Instances boot with their permissions, their table and (when created here) their cluster.
        DependsOn: ['AgentPolicy', 'Table'],
        Properties: {
          LaunchTemplate: { LaunchTemplateId: ref('LaunchTemplate'), Version: getAtt('LaunchTemplate', 'LatestVersionNumber') },
          MinSize: ref('MinSize'),
          MaxSize: ref('MaxSize'),
          DesiredCapacity: ref('DesiredCapacity'),
          VPCZoneIdentifier: ref('SubnetIds'),
          Tags: [
            { Key: 'Name', Value: sub('blox-edge-${ClusterName}'), PropagateAtLaunch: true },
            // The agent's lifecycle and health calls are confined to groups with this tag.
            { Key: CLUSTER_TAG, Value: ref('ClusterName'), PropagateAtLaunch: false },
          ],
        },
        // DependsOn cannot name a resource whose condition may be false; a conditional Ref can, and it
        // makes a cluster created here exist before the instances register with it.
        Metadata: { ClusterDependency: { 'Fn::If': ['CreateClusterCondition', ref('Cluster'), ref('ClusterName')] } },
      },
    },
    Outputs: {
      TableName: { Value: ref('Table') },
      TableArn: { Value: TABLE_ARN },
      TableStreamArn: { Value: STREAM_ARN },
      ClusterArn: { Value: CLUSTER_ARN },
      AgentInstanceRoleArn: { Value: getAtt('AgentInstanceRole', 'Arn') },
      AgentInstanceProfileArn: { Value: getAtt('AgentInstanceProfile', 'Arn') },
      CoordinatorRoleArn: { Value: getAtt('CoordinatorRole', 'Arn') },
      LaunchTemplateId: { Value: ref('LaunchTemplate') },
      AutoScalingGroupName: { Value: ref('AutoScalingGroup') },
    },
  };
}

export function renderCloudFormation(script = installerScript()): string {
  return `${JSON.stringify(cloudFormationTemplate(script), null, 2)}\n`;
}

export function renderAll(): Record<string, string> {
  const script = installerScript();
  return {
    [GENERATED.cloudInitInstall]: cloudInitInstall(script),
    [GENERATED.cloudInitConfigure]: cloudInitConfigure(),
    [GENERATED.cloudFormation]: renderCloudFormation(script),
  };
}

function main(args: string[]): number {
  const check = args.includes('--check');
  let stale = 0;
  for (const [path, content] of Object.entries(renderAll())) {
    let current = '';
    try {
      current = readFileSync(repoPath(path), 'utf8');
    } catch {
      current = '';
    }
    if (current === content) continue;
    if (check) {
      console.error(`${path} is stale: run npx tsx deploy/render.ts`);
      stale++;
    } else {
      writeFileSync(repoPath(path), content);
      console.log(`wrote ${path}`);
    }
  }
  return stale ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
