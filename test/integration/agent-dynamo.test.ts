// The agent's DynamoDB adapter against DynamoDB Local: conditional heartbeat and claim writes, the
// typed conflict carrying the item that won, v1 leases at the claim key, the marker/Query/revision
// cache reads.
import { CreateTableCommand, DeleteTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentDynamo } from '../../agent/adapters/dynamo.js';
import { WriteConflictError } from '../../agent/ports.js';
import { tableDefinition } from '../../core/dynamo-table.js';
import { keys } from '../../core/keys.js';
import { DEFAULT_DEPLOYMENT_CONFIGURATION, DEFAULT_RESTART_POLICY, type Claim, type ClaimRecord, type InstanceHeartbeat } from '../../core/records.js';
import { DynamoTable } from '../../core/store/dynamo.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { dynamoDbClient, dynamoDbEndpoint, localCredentials } from '../support/services.js';

const endpoint = dynamoDbEndpoint();

describe.skipIf(!endpoint)('agent DynamoDB adapter (integration)', () => {
  const table = `agent-dynamo-${process.pid}-${Date.now()}`;
  const client = endpoint ? dynamoDbClient(endpoint) : undefined;
  let calls: string[] = [];
  let dynamo: AgentDynamo;
  beforeAll(async () => {
    await client!.send(new CreateTableCommand(tableDefinition(table)));
    dynamo = new AgentDynamo({ table, region: 'us-east-1', endpoint, credentials: localCredentials, call: (op, run) => (calls.push(op), run()) });
  });
  afterAll(async () => {
    dynamo?.destroy();
    await client?.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    client?.destroy();
  });

  it('heartbeat and claims: conditional on absence or exactly the version read; a lost condition carries the winning item', async () => {
    const wall = Date.UTC(2026, 0, 1);
    const heartbeat = (owner: string, recordVersion: string): InstanceHeartbeat => ({
      kind: 'InstanceHeartbeat',
      schemaVersion: 1,
      cluster: 'c1',
      containerInstanceId: 'ci-1',
      owner,
      recordVersion,
      leaseDurationMs: 180_000,
      released: false,
      agentVersion: 'test',
      updatedAt: new Date(wall).toISOString(),
      validUntil: wall / 1000 + 180,
      expiresAt: wall / 1000 + 7 * 86_400,
    });
    expect(await dynamo.getHeartbeat('ci-1')).toBeNull();
    await dynamo.putHeartbeat(heartbeat('agent-a', 'h1'), undefined);
    const lost = await dynamo.putHeartbeat(heartbeat('agent-b', 'h9'), undefined).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(WriteConflictError);
    expect((lost as WriteConflictError<InstanceHeartbeat>).current).toMatchObject({ owner: 'agent-a', recordVersion: 'h1' });
    await dynamo.putHeartbeat(heartbeat('agent-a', 'h2'), 'h1');
    await expect(dynamo.putHeartbeat(heartbeat('agent-b', 'h9'), 'h1')).rejects.toBeInstanceOf(WriteConflictError); // watched an old version
    expect(await dynamo.getHeartbeat('ci-1')).toMatchObject({ owner: 'agent-a', recordVersion: 'h2' });
    expect((await client!.send(new GetItemCommand({ TableName: table, Key: marshall(keys.heartbeat('ci-1')) }))).Item?.pk?.S).toBe('INSTANCE#ci-1');

    const claim = (recordVersion: string, over: Partial<Claim> = {}): Claim => ({
      kind: 'Claim',
      schemaVersion: 1,
      environment: 'logs',
      containerInstanceId: 'ci-1',
      owner: 'agent-a',
      recordVersion,
      attempts: [],
      updatedAt: new Date(wall).toISOString(),
      expiresAt: wall / 1000 + 30 * 86_400,
      ...over,
    });
    expect((await dynamo.getClaims(['logs'], 'ci-1')).get('logs')).toBeNull();
    await dynamo.putClaim(claim('c1', { attempts: [{ token: 'bx-token', revision: 3, issuedAt: new Date(wall).toISOString(), role: 'current' }] }), undefined);
    await dynamo.putClaim(claim('c2', { current: { taskArn: 'arn:task/1', revision: 3, since: new Date(wall).toISOString() } }), 'c1');
    const stale = await dynamo.putClaim(claim('c3'), 'c1').catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(WriteConflictError);
    expect((stale as WriteConflictError<ClaimRecord>).current).toMatchObject({ recordVersion: 'c2', current: { taskArn: 'arn:task/1' }, attempts: [] });
    await expect(dynamo.deleteClaim('logs', 'ci-1', 'c1')).rejects.toBeInstanceOf(WriteConflictError);
    await dynamo.deleteClaim('logs', 'ci-1', 'c2');
    expect((await dynamo.getClaims(['logs'], 'ci-1')).get('logs')).toBeNull();
    const gone = await dynamo.deleteClaim('logs', 'ci-1', 'c2').catch((e: unknown) => e);
    expect((gone as WriteConflictError<ClaimRecord>).current).toBeNull();
  });

  it('reads a v1 lease at the claim key, and takes it over conditionally on its version (a v1 agent then refuses the claim)', async () => {
    const v1 = {
      ...keys.claim('old', 'ci-2'),
      kind: 'Lease',
      schemaVersion: 1,
      environment: 'old',
      containerInstanceId: 'ci-2',
      owner: 'agent-0123456789ab',
      recordVersion: 'v1rv',
      leaseDurationMs: 60_000,
      released: true,
      taskArn: 'arn:task/9',
      revision: 1,
      updatedAt: '2026-12-02T11:28:08.075Z',
      expiresAt: 1_796_815_688,
    };
    await client!.send(new PutItemCommand({ TableName: table, Item: marshall(v1) }));
    const both = await dynamo.getClaims(['old', 'none'], 'ci-2');
    expect(both.get('none')).toBeNull();
    const read = both.get('old') as ClaimRecord;
    expect(read).toMatchObject({ legacy: { released: true }, current: { taskArn: 'arn:task/9', revision: 1 } });
    await dynamo.putClaim(
      {
        kind: 'Claim',
        schemaVersion: 1,
        environment: 'old',
        containerInstanceId: 'ci-2',
        owner: 'agent-b',
        recordVersion: 'n1',
        current: read!.current!,
        attempts: [],
        updatedAt: '2026-12-02T11:30:00.000Z',
      },
      'v1rv',
    );
    const item = unmarshall(
      (await client!.send(new GetItemCommand({ TableName: table, Key: marshall(keys.claim('old', 'ci-2')), ConsistentRead: true }))).Item!,
    );
    expect(item).toMatchObject({ kind: 'Claim', owner: 'agent-b', current: { taskArn: 'arn:task/9' } });
    expect(item.released).toBeUndefined(); // a v1 agent's acquire (released = true) cannot match a claim
  });

  it('reads environments only through the marker, caches revisions, and reports a malformed one as invalid', async () => {
    const store = new EnvironmentStore({ table: new DynamoTable({ tableName: table, client: client! }) });
    const base = { deploymentConfiguration: DEFAULT_DEPLOYMENT_CONFIGURATION, restartPolicy: DEFAULT_RESTART_POLICY, critical: false, order: 0 };
    await store.createEnvironment({ name: 'one', taskDefinition: 'one:1', instanceGroup: { cluster: 'c1', expression: 'attribute:x == y' }, ...base });
    await store.createEnvironment({ name: 'two', taskDefinition: 'two:1', instanceGroup: { cluster: 'c1' }, ...base });
    await client!.send(
      new PutItemCommand({
        TableName: table,
        Item: marshall({
          pk: 'ENV#two',
          sk: 'REV#0000000002',
          kind: 'EnvironmentRevision',
          schemaVersion: 1,
          environment: 'two',
          revision: 2,
          taskDefinition: 'two:2',
          instanceGroup: { cluster: 'c1', expression: 'attribute:x ==' },
          createdAt: '2026-01-01T00:00:00Z',
        }),
      }),
    );
    const marker = await dynamo.getMarker('c1');
    expect(marker?.version).toBe(2);
    calls = [];
    const entries = await dynamo.loadEnvironments('c1');
    expect(calls).toEqual(['Query', 'BatchGetItem']);
    expect(entries.map((e) => [e.name, e.kind])).toEqual([
      ['one', 'valid'],
      ['two', 'valid'],
    ]);
    calls = [];
    await dynamo.loadEnvironments('c1');
    expect(calls).toEqual(['Query']); // revisions are immutable: cached
    // an environment pointing at a malformed revision is invalid, naming record and field
    const head = await store.getEnvironment('two');
    const { UpdateItemCommand } = await import('@aws-sdk/client-dynamodb');
    await client!.send(
      new UpdateItemCommand({
        TableName: table,
        Key: marshall({ pk: 'CLUSTER#c1', sk: 'ENV#two' }),
        UpdateExpression: 'SET currentRevision = :r, latestRevision = :r',
        ExpressionAttributeValues: marshall({ ':r': 2 }),
      }),
    );
    const again = await dynamo.loadEnvironments('c1');
    expect(head.currentRevision).toBe(1);
    expect(again.find((e) => e.name === 'two')).toMatchObject({
      kind: 'invalid',
      error: expect.stringMatching(/ENV#two\/REV#0000000002.*instanceGroup\.expression/),
    });
    expect(again.find((e) => e.name === 'one')?.kind).toBe('valid');
  });
});
