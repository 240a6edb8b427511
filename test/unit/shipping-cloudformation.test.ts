// Structural check of deploy/cloudformation/blox-edge.json: every reference resolves, the table is
// the one core/dynamo-table.ts defines, the IAM wiring and confinement, and the launch template's
// user-data is the installer, small enough for EC2, and actually installs (run in a temporary root).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tableDefinition } from '../../core/dynamo-table.js';
import { TTL_ATTRIBUTE } from '../../core/keys.js';
import { DAEMONS_ATTRIBUTE, DAEMONS_PENDING, DAEMONS_READY, installerBody, installerScript, installerSettings } from '../../deploy/render.js';
import { asList, attOf, loadTemplate, PSEUDO, refOf, Resolver, statementsOf, type Template } from './shipping-cfn.js';
import { fakeBundle, repoRoot, runInstaller, tempDir } from './shipping-support.js';

const template = loadTemplate();
const base = { ClusterName: 'edge', VpcId: 'vpc-0123', SubnetIds: 'subnet-a,subnet-b', TableName: 'blox-edge' };
const stock = {
  ...base,
  BundleUrl: 's3://artifacts-bucket/blox-edge/0.1.0/agent.js',
  BundleSha256: 'a'.repeat(64),
  BundleBucket: 'artifacts-bucket',
  DaemonTaskRoleArns: 'arn:aws:iam::123456789012:role/daemons/*',
};
const baked = { ...base, BakedAmiId: 'ami-0123456789abcdef0' };
const clusterArn = `arn:aws:ecs:${PSEUDO['AWS::Region']}:${PSEUDO['AWS::AccountId']}:cluster/edge`;

function walk(value: unknown, visit: (key: string, arg: unknown) => void): void {
  if (Array.isArray(value)) value.forEach((v) => walk(v, visit));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      visit(k, v);
      walk(v, visit);
    }
  }
}

function userData(params: Record<string, string>): string {
  const resources = new Resolver(template, params).resources();
  const data = (resources.LaunchTemplate!.Properties.LaunchTemplateData as { UserData: string }).UserData;
  return Buffer.from(data, 'base64').toString('utf8');
}

describe('references', () => {
  it('every Ref, GetAtt, Sub variable and condition names something that exists, and every parameter and condition is used', () => {
    const t = template as Template;
    const known = new Set([...Object.keys(t.Parameters), ...Object.keys(t.Resources), ...Object.keys(PSEUDO), 'AWS::NoValue']);
    const usedParams = new Set<string>();
    const usedConditions = new Set(Object.values(t.Resources).flatMap((r) => (r.Condition ? [r.Condition] : [])));
    const problems: string[] = [];
    walk({ Resources: t.Resources, Outputs: t.Outputs, Conditions: t.Conditions, Rules: t.Rules }, (key, arg) => {
      const names: string[] = [];
      if (key === 'Ref') names.push(arg as string);
      if (key === 'Fn::GetAtt') names.push((arg as string[])[0]!);
      if (key === 'Fn::Sub') for (const m of (arg as string).matchAll(/\$\{([\w:]+)(\.\w+)?\}/g)) names.push(m[1]!);
      if (key === 'Fn::If') usedConditions.add((arg as string[])[0]!);
      if (key === 'Condition' && typeof arg === 'string') usedConditions.add(arg);
      for (const name of names) {
        if (!known.has(name)) problems.push(`unknown reference ${name}`);
        if (name in t.Parameters) usedParams.add(name);
      }
    });
    for (const name of usedConditions) if (!(name in t.Conditions)) problems.push(`unknown condition ${name}`);
    for (const name of Object.keys(t.Parameters)) if (!usedParams.has(name)) problems.push(`unused parameter ${name}`);
    for (const name of Object.keys(t.Conditions)) if (!usedConditions.has(name)) problems.push(`unused condition ${name}`);
    expect(problems).toEqual([]);
  });

  it('resolves completely for a stock-AMI and a baked-AMI stack', () => {
    for (const params of [stock, baked]) {
      const resources = new Resolver(template, params).resources();
      expect(JSON.stringify(resources)).not.toMatch(/"(Ref|Fn::\w+)"/);
    }
  });
});

describe('the table', () => {
  const table = template.Resources.Table!;
  const p = table.Properties as Record<string, unknown>;
  const expected = tableDefinition('x');

  it('has exactly the key schema of core/dynamo-table.ts, on-demand', () => {
    expect(table.Type).toBe('AWS::DynamoDB::Table');
    expect(p.KeySchema).toEqual(expected.KeySchema);
    expect(p.AttributeDefinitions).toEqual(expected.AttributeDefinitions);
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.TableName).toEqual({ Ref: 'TableName' });
    expect(p).not.toHaveProperty('GlobalSecondaryIndexes');
  });

  it('expires records by the TTL attribute and keeps point-in-time recovery', () => {
    expect(p.TimeToLiveSpecification).toEqual({ AttributeName: TTL_ATTRIBUTE, Enabled: true });
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });

  it('has the stream of core/dynamo-table.ts (new and old images), which the coordinator alone reads', () => {
    expect(expected.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    // CloudFormation's form: the view type alone turns the stream on.
    expect(p.StreamSpecification).toEqual({ StreamViewType: expected.StreamSpecification?.StreamViewType });
    expect(template.Outputs.TableStreamArn).toEqual({ Value: { 'Fn::GetAtt': ['Table', 'StreamArn'] } });
  });

  it('survives the deletion of the stack', () => {
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
  });
});

describe('instances', () => {
  const resources = new Resolver(template, stock).resources();

  it('the agent role is for EC2, keeps the ECS agent’s managed policy separate, and is the instance profile', () => {
    const role = resources.AgentInstanceRole!.Properties;
    expect(resources.AgentInstanceRole!.Type).toBe('AWS::IAM::Role');
    expect(JSON.stringify(role.AssumeRolePolicyDocument)).toContain('"Service":"ec2.amazonaws.com"');
    expect(role.ManagedPolicyArns).toEqual(['arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role']);
    expect(role).not.toHaveProperty('Policies');
    expect(resources.AgentInstanceProfile!.Type).toBe('AWS::IAM::InstanceProfile');
    expect(resources.AgentInstanceProfile!.Properties.Roles).toEqual([refOf('AgentInstanceRole')]);
  });

  it('the coordinator role is for ECS tasks', () => {
    expect(resources.CoordinatorRole!.Type).toBe('AWS::IAM::Role');
    expect(JSON.stringify(resources.CoordinatorRole!.Properties.AssumeRolePolicyDocument)).toContain('"Service":"ecs-tasks.amazonaws.com"');
  });

  it('the launch template: the profile, IMDSv2 with one hop, the stock ECS AMI unless a baked one is given', () => {
    const data = resources.LaunchTemplate!.Properties.LaunchTemplateData as Record<string, unknown>;
    expect(resources.LaunchTemplate!.Type).toBe('AWS::EC2::LaunchTemplate');
    expect(data.IamInstanceProfile).toEqual({ Arn: attOf('AgentInstanceProfile', 'Arn') });
    expect(data.MetadataOptions).toEqual({ HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    expect(data.ImageId).toBe('/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id');
    expect(template.Parameters.EcsAmiId!.Type).toBe('AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
    const bakedData = new Resolver(template, baked).resources().LaunchTemplate!.Properties.LaunchTemplateData as Record<string, unknown>;
    expect(bakedData.ImageId).toBe('ami-0123456789abcdef0');
  });

  it('the Auto Scaling group runs the launch template in the given subnets, after its permissions and table exist', () => {
    const asg = resources.AutoScalingGroup!;
    expect(asg.Type).toBe('AWS::AutoScaling::AutoScalingGroup');
    expect(asg.Properties.LaunchTemplate).toEqual({ LaunchTemplateId: refOf('LaunchTemplate'), Version: attOf('LaunchTemplate', 'LatestVersionNumber') });
    expect(asg.Properties.VPCZoneIdentifier).toEqual(['subnet-a', 'subnet-b']);
    expect(template.Resources.AutoScalingGroup!.DependsOn).toEqual(expect.arrayContaining(['AgentPolicy', 'Table']));
  });

  it('creates the cluster only when asked to', () => {
    expect(resources.Cluster?.Properties.ClusterName).toBe('edge');
    expect(new Resolver(template, { ...stock, CreateCluster: 'false' }).resources().Cluster).toBeUndefined();
  });

  it('a stock-AMI stack requires the bundle URL and SHA-256 (a rule)', () => {
    const rule = JSON.stringify(template.Rules);
    expect(rule).toContain('BundleUrl');
    expect(rule).toContain('BundleSha256');
  });

  it('parameter patterns keep shell quoting out of the user-data', () => {
    const accepts = (name: string, value: string) => new RegExp(template.Parameters[name]!.AllowedPattern!).test(value);
    expect(accepts('ClusterName', 'edge-1')).toBe(true);
    expect(accepts('ClusterName', "edge'; reboot")).toBe(false);
    expect(accepts('BundleUrl', stock.BundleUrl)).toBe(true);
    expect(accepts('BundleUrl', 'https://bucket.example/agent.js?X-Amz-Signature=abc&X-Amz-Expires=600')).toBe(true);
    expect(accepts('BundleUrl', "https://x/a.js'; reboot; '")).toBe(false);
    expect(accepts('BundleUrl', 'http://x/agent.js')).toBe(false);
    expect(accepts('BundleSha256', stock.BundleSha256)).toBe(true);
    expect(accepts('BundleSha256', 'abc')).toBe(false);
    expect(accepts('TableName', 'blox-edge')).toBe(true);
  });
});

describe('user-data', () => {
  it('on the stock AMI is the installer with the stack’s settings in front, within EC2’s 16 KB', () => {
    const text = userData(stock);
    expect(text).toBe(
      `#!/bin/bash\nBLOX_CLUSTER='edge'\nBLOX_BUNDLE_URL='${stock.BundleUrl}'\nBLOX_BUNDLE_SHA256='${stock.BundleSha256}'\nBLOX_TABLE='blox-edge'\nBLOX_REGION='${PSEUDO['AWS::Region']}'\n${installerBody()}`,
    );
    const presigned = `https://bucket.s3.amazonaws.example/agent.js?${'X'.repeat(1500)}`;
    expect(Buffer.byteLength(userData({ ...stock, BundleUrl: presigned }))).toBeLessThan(16 * 1024);
  });

  it('on the stock AMI installs from the bundle URL into a temporary root', () => {
    const bundle = fakeBundle();
    const root = tempDir('cfn');
    // Written as a file, the way cloud-init runs user-data scripts.
    const script = join(tempDir('cfn-user-data'), 'part-001');
    writeFileSync(script, userData({ ...stock, BundleUrl: bundle.url, BundleSha256: bundle.sha256 }), { mode: 0o755 });
    const result = runInstaller(script, root, {});
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(join(root, 'etc/ecs/ecs.config'), 'utf8')).toContain('ECS_CLUSTER=edge\n');
    expect(JSON.parse(readFileSync(join(root, 'etc/blox-edge/agent.json'), 'utf8'))).toEqual({ table: 'blox-edge', region: PSEUDO['AWS::Region'] });
    expect(readFileSync(join(root, 'opt/blox-edge/agent.js'), 'utf8')).toBe(readFileSync(bundle.path, 'utf8'));
    // The copy kept for --configure and --upgrade is the canonical installer, without the stack's settings.
    expect(readFileSync(join(root, 'opt/blox-edge/install.sh'), 'utf8')).toBe(installerScript());
  });

  it('on the baked AMI only configures, through the baked installer', () => {
    const text = userData(baked);
    expect(text).toContain('exec /opt/blox-edge/install.sh --configure\n');
    expect(text).not.toContain('BLOX_BUNDLE_URL');
    // Bake a temporary root, then run the baked AMI's user-data against it.
    const bundle = fakeBundle();
    const root = tempDir('cfn-baked');
    const bake = runInstaller(join(repoRoot, 'userdata/install.sh'), root, { BLOX_BUNDLE_URL: bundle.url, BLOX_BUNDLE_SHA256: bundle.sha256 }, ['--bake']);
    expect(bake.status, bake.stderr).toBe(0);
    const script = join(tempDir('cfn-user-data'), 'part-001');
    writeFileSync(script, text.replace('exec /opt/blox-edge/install.sh', 'exec "$ROOT/opt/blox-edge/install.sh"'), { mode: 0o755 });
    const result = runInstaller(script, root, {});
    expect(result.status, result.stderr).toBe(0);
    expect(existsSync(join(root, 'etc/blox-edge/agent.json'))).toBe(true);
    expect(readFileSync(join(root, 'etc/ecs/ecs.config'), 'utf8')).toContain('ECS_CLUSTER=edge\n');
  });
});

describe('IAM confinement', () => {
  const resources = new Resolver(template, stock).resources();
  const agent = statementsOf(resources, 'AgentInstanceRole');
  const coordinator = statementsOf(resources, 'CoordinatorRole');
  const actionsOf = (statements: typeof agent) => statements.flatMap((s) => asList(s.Action));

  it('names every action exactly: no wildcards, no Deny tricks', () => {
    for (const s of [...agent, ...coordinator]) {
      expect(s.Effect).toBe('Allow');
      for (const action of asList(s.Action)) expect(action).toMatch(/^[a-z0-9]+:[A-Za-z]+$/);
    }
  });

  it('the agent starts and stops tasks only in its own cluster', () => {
    const startStop = agent.filter((s) => asList(s.Action).some((a) => a === 'ecs:StartTask' || a === 'ecs:StopTask'));
    expect(startStop.length).toBeGreaterThan(0);
    for (const s of startStop) expect(s.Condition).toEqual({ ArnEquals: { 'ecs:cluster': clusterArn } });
  });

  it('every ECS permission of the agent is confined to its cluster unless the action has no resource-level permissions', () => {
    for (const s of agent.filter((x) => asList(x.Action).some((a) => a.startsWith('ecs:')))) {
      const inCluster = (r: string) =>
        r === clusterArn ||
        r.startsWith(`${clusterArn.replace(':cluster/edge', ':task/edge/')}`) ||
        r.startsWith(`${clusterArn.replace(':cluster/edge', ':container-instance/edge/')}`);
      const confined = JSON.stringify(s.Condition) === JSON.stringify({ ArnEquals: { 'ecs:cluster': clusterArn } }) || asList(s.Resource).every(inCluster);
      const unscoped = asList(s.Action).every((a) => a === 'ecs:DescribeTaskDefinition');
      expect(confined || unscoped, JSON.stringify(s)).toBe(true);
    }
  });

  it('the agent tags only the tasks it starts, in its cluster', () => {
    for (const s of agent.filter((x) => asList(x.Action).includes('ecs:TagResource'))) {
      expect(asList(s.Action)).toEqual(['ecs:TagResource']);
      expect(s.Condition).toEqual({ StringEquals: { 'ecs:CreateAction': 'StartTask' } });
      expect(asList(s.Resource)).toEqual([`arn:aws:ecs:${PSEUDO['AWS::Region']}:${PSEUDO['AWS::AccountId']}:task/edge/*`]);
    }
  });

  it('table permissions name only the blox-edge table, and its stream', () => {
    const streamReads = ['dynamodb:DescribeStream', 'dynamodb:GetShardIterator', 'dynamodb:GetRecords'];
    for (const s of [...agent, ...coordinator].filter((x) => asList(x.Action).some((a) => a.startsWith('dynamodb:')))) {
      expect(asList(s.Action).every((a) => a.startsWith('dynamodb:'))).toBe(true);
      const onStream = asList(s.Action).every((a) => streamReads.includes(a));
      expect(asList(s.Resource)).toEqual([attOf('Table', onStream ? 'StreamArn' : 'Arn')]);
    }
    // Only the coordinator reads the stream (its live feeds); the agents never do.
    expect(agent.flatMap((s) => asList(s.Action)).filter((a) => streamReads.includes(a))).toEqual([]);
    expect(coordinator.filter((s) => asList(s.Resource).includes(attOf('Table', 'StreamArn'))).flatMap((s) => asList(s.Action))).toEqual(streamReads);
  });

  it('the coordinator may not start, stop or run tasks', () => {
    for (const forbidden of ['ecs:StartTask', 'ecs:StopTask', 'ecs:RunTask']) expect(actionsOf(coordinator)).not.toContain(forbidden);
  });

  it('the agent may pass only the daemon task roles it is given, and only to ECS tasks', () => {
    const pass = agent.filter((s) => asList(s.Action).includes('iam:PassRole'));
    expect(pass).toHaveLength(1);
    expect(asList(pass[0]!.Action)).toEqual(['iam:PassRole']);
    expect(pass[0]!.Resource).toEqual(['arn:aws:iam::123456789012:role/daemons/*']);
    expect(pass[0]!.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    const without = statementsOf(new Resolver(template, { ...stock, DaemonTaskRoleArns: '' }).resources(), 'AgentInstanceRole');
    expect(without.some((s) => asList(s.Action).includes('iam:PassRole'))).toBe(false);
  });

  it('the bundle bucket is readable only when given, and only objects of it', () => {
    const bundleRead = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.PolicyName as string) === 'blox-edge-bundle-read');
    expect(bundleRead).toHaveLength(1);
    expect(JSON.stringify(bundleRead[0]!.Properties.PolicyDocument)).toBe(
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::artifacts-bucket/*' }] }),
    );
    const none = Object.values(new Resolver(template, { ...stock, BundleBucket: '' }).resources()).filter(
      (r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.PolicyName as string) === 'blox-edge-bundle-read',
    );
    expect(none).toHaveLength(0);
  });
});

describe('docs/deploying.md', () => {
  const guide = readFileSync(join(repoRoot, 'docs/deploying.md'), 'utf8');

  it('documents every parameter of the stack', () => {
    const undocumented = Object.keys(template.Parameters).filter((name) => !guide.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });

  it('documents every operator setting of the installer', () => {
    const internal = new Set(['ROOT', 'BLOX_NODE_BIN', 'BLOX_SKIP_NODE_INSTALL', 'BLOX_SKIP_SYSTEMD']);
    const undocumented = [...installerSettings().keys()].filter((name) => !internal.has(name) && !guide.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });

  it('names the daemons-first attribute and its placement constraint', () => {
    expect(guide).toContain(`${DAEMONS_ATTRIBUTE}=${DAEMONS_PENDING}`);
    expect(guide).toContain(`memberOf(attribute:${DAEMONS_ATTRIBUTE} == ${DAEMONS_READY})`);
  });
});
