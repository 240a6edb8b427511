// Least privilege, checked against the code as it is at test time: the AWS calls the agent and the
// coordinator can make are derived from the AWS SDK commands their code uses (see
// permissions-scan.ts), and each role of deploy/cloudformation/blox-edge.json must grant exactly
// those calls: every one of them, and nothing more.
//
//   agent code:       agent/**        + what it uses of core/**
//   coordinator code: coordinator/**  + what it uses of core/**
// "Uses" as esbuild's tree shaking sees it: the agent imports a record parser from the store module,
// which does not make the store's transactions agent calls. (local/** is the local world; it never
// runs under these roles.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_ACTIONS, COORDINATOR_ACTIONS } from '../../deploy/iam.js';
import { deriveShippedCalls, PROVISIONING_FUNCTIONS, scanSource } from './permissions-scan.js';
import { asList, loadTemplate, Resolver, statementsOf } from './shipping-cfn.js';
import { repoRoot } from './shipping-support.js';

/** Actions a role holds because a call of the code needs them in addition to its own action. */
const DEPENDENT_ACTIONS: Record<string, string[]> = {
  // StartTask of a task definition with a task or execution role: iam:PassRole on that role
  // (granted only for the DaemonTaskRoleArns the operator names).
  'ecs:StartTask': ['iam:PassRole'],
};

const template = loadTemplate();
const resources = new Resolver(template, {
  ClusterName: 'edge',
  VpcId: 'vpc-0123',
  SubnetIds: 'subnet-a',
  BundleUrl: 'https://bucket.example/agent.js',
  BundleSha256: 'a'.repeat(64),
  BundleBucket: 'bucket',
  DaemonTaskRoleArns: 'arn:aws:iam::123456789012:role/daemons/*',
}).resources();

/** Actions granted by the role's own policies (the bundle-read policy is the installer's, not the code's). */
function granted(role: string): Set<string> {
  const own = Object.entries(resources)
    .filter(([name]) => name !== 'BundleReadPolicy')
    .map(([, r]) => r);
  return new Set(statementsOf(Object.fromEntries(own.map((r, i) => [`r${i}`, r])), role).flatMap((s) => asList(s.Action)));
}

function compare(role: string, needed: Set<string>) {
  const grants = granted(role);
  const allowedExtra = new Set([...needed].flatMap((a) => DEPENDENT_ACTIONS[a] ?? []));
  return {
    missing: [...needed].filter((a) => !grants.has(a)).sort(),
    excess: [...grants].filter((a) => !needed.has(a) && !allowedExtra.has(a)).sort(),
  };
}

const agentCode = await deriveShippedCalls(repoRoot, ['agent'], ['local', 'coordinator']);
const coordinatorCode = await deriveShippedCalls(repoRoot, ['coordinator'], ['local', 'agent']);

function describeCalls(derivation: typeof agentCode): string {
  return [...new Set(derivation.calls.map((c) => `${c.operation} in ${c.file} (${c.inFunction})`))].join('\n');
}

describe('the calls the code can make', () => {
  it('are derived without problems (only ECS, Auto Scaling and DynamoDB, through Commands)', () => {
    expect(agentCode.problems).toEqual([]);
    expect(coordinatorCode.problems).toEqual([]);
  });

  it('include the store’s reads and writes, reached through core/ (the derivation sees through imports)', () => {
    // The coordinator stores environments through core/store: the scan must have followed it there.
    expect(coordinatorCode.files.some((f) => f.startsWith('core/'))).toBe(true);
    expect(coordinatorCode.actions.has('dynamodb:GetItem') || coordinatorCode.actions.has('dynamodb:Query')).toBe(true);
  });

  it('the coordinator’s code never starts, stops or runs a task', () => {
    const forbidden = coordinatorCode.calls.filter((c) => ['ecs:StartTask', 'ecs:StopTask', 'ecs:RunTask'].includes(c.operation));
    expect(forbidden.map((c) => `${c.operation} in ${c.file} (${c.inFunction})`)).toEqual([]);
  });

  it('agent and coordinator server code never provision the table (CloudFormation does)', () => {
    // The store library has createTable (the CLI's `table create` and the sandbox use it); the agent
    // must not call it at run time, or its role would need CreateTable.
    const calls = [...PROVISIONING_FUNCTIONS].map((name) => new RegExp(`\\.${name}\\(`));
    const offenders = agentCode.files.filter((f) => f.startsWith('agent/')).filter((f) => calls.some((re) => re.test(readFileSync(join(repoRoot, f), 'utf8'))));
    expect(offenders).toEqual([]);
  });
});

describe('the agent role (AgentInstanceRole)', () => {
  it('grants every call the agent code makes, and nothing more', () => {
    const { missing, excess } = compare('AgentInstanceRole', agentCode.actions);
    expect({ missing, excess }, `agent calls:\n${describeCalls(agentCode)}`).toEqual({ missing: [], excess: [] });
  });

  it('grants none of the table-provisioning calls', () => {
    const grants = granted('AgentInstanceRole');
    for (const op of agentCode.provisioning) expect(grants.has(op), op).toBe(false);
  });

  it('deploy/iam.ts lists the same actions (the template is rendered from them)', () => {
    expect(new Set([...AGENT_ACTIONS.ecs, ...AGENT_ACTIONS.autoscaling, ...AGENT_ACTIONS.dynamodb])).toEqual(agentCode.actions);
  });
});

describe('the coordinator role (CoordinatorRole)', () => {
  it('grants every call the coordinator code makes, and nothing more', () => {
    const { missing, excess } = compare('CoordinatorRole', coordinatorCode.actions);
    expect({ missing, excess }, `coordinator calls:\n${describeCalls(coordinatorCode)}`).toEqual({ missing: [], excess: [] });
  });

  it('grants none of the table-provisioning calls', () => {
    const grants = granted('CoordinatorRole');
    for (const op of coordinatorCode.provisioning) expect(grants.has(op), op).toBe(false);
  });

  it('deploy/iam.ts lists the same actions (the template is rendered from them)', () => {
    expect(new Set([...COORDINATOR_ACTIONS.ecs, ...COORDINATOR_ACTIONS.dynamodb, ...COORDINATOR_ACTIONS.dynamodbStreams])).toEqual(coordinatorCode.actions);
  });
});

describe('the derivation itself', () => {
  const scan = (text: string) => scanSource('x.ts', text);

  it('counts constructed commands, paginators and waiters, ignoring type-only imports', () => {
    const result = scan(`
      import { StartTaskCommand, paginateListTasks, waitUntilTasksStopped, type StopTaskCommand } from '@aws-sdk/client-ecs';
      import type { PutItemCommand } from '@aws-sdk/client-dynamodb';
      import * as ddb from '@aws-sdk/client-dynamodb';
      export async function go(c: any) {
        await c.send(new StartTaskCommand({}));
        for await (const _ of paginateListTasks({ client: c }, {})) {}
        await waitUntilTasksStopped({ client: c, maxWaitTime: 1 }, {});
        await c.send(new ddb.GetItemCommand({}));
      }`);
    expect(result.calls.map((c) => c.operation)).toEqual(['ecs:StartTask', 'ecs:ListTasks', 'ecs:DescribeTasks', 'dynamodb:GetItem']);
    expect(result.calls.every((c) => c.inFunction === 'go')).toBe(true);
  });

  it('names the enclosing method, so that table provisioning is told apart', () => {
    const result = scan(`
      import { CreateTableCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
      class Store {
        async createTable() { const run = async () => this.c.send(new CreateTableCommand({})); await run(); }
        query = async () => this.c.send(new QueryCommand({}));
      }`);
    expect(result.calls.map((c) => [c.operation, c.functions])).toEqual([
      ['dynamodb:CreateTable', ['run', 'createTable']],
      ['dynamodb:Query', ['query']],
    ]);
  });

  it('adds ecs:TagResource to a StartTask that tags its task', () => {
    const result = scan(`
      import { StartTaskCommand } from '@aws-sdk/client-ecs';
      export const a = (c: any) => c.send(new StartTaskCommand({ cluster: 'x', tags: [{ key: 'k', value: 'v' }] }));
      export const b = (c: any) => c.send(new StartTaskCommand({ cluster: 'x' }));`);
    expect(result.calls.map((c) => c.extraActions)).toEqual([['ecs:TagResource'], []]);
  });

  it('sees the item kinds of a transaction', () => {
    const result = scan(`
      import { TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
      const items = [{ Put: {} }, { ConditionCheck: {} }];
      export const write = (c: any) => c.send(new TransactWriteItemsCommand({ TransactItems: items }));`);
    expect([...result.writeItemKeys].sort()).toEqual(['ConditionCheck', 'Put']);
  });

  it('reports services the roles do not cover and aggregated clients', () => {
    expect(scan(`import { PutObjectCommand } from '@aws-sdk/client-s3';`).problems).toHaveLength(1);
    expect(scan(`import { ECS } from '@aws-sdk/client-ecs';`).problems).toHaveLength(1);
  });
});
