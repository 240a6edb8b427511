// The agent's DynamoDB adapter against DynamoDB Local: conditional lease writes, the typed conflict
// carrying the item that won, the marker/Query/revision-cache reads.
import { CreateTableCommand, DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentDynamo, LeaseConflictError } from '../../agent/adapters/dynamo.js';
import { judgeLease } from '../../agent/lease.js';
import { tableDefinition } from '../../core/dynamo-table.js';
import { DEFAULT_DEPLOYMENT_CONFIGURATION, DEFAULT_RESTART_POLICY } from '../../core/records.js';
import { DynamoTable } from '../../core/store/dynamo.js';
import { EnvironmentStore } from '../../core/store/environments.js';
import { dynamoDbClient, dynamoDbEndpoint, localCredentials } from '../support/services.js';

const endpoint = dynamoDbEndpoint();
const now = () => ({ nowIso: new Date().toISOString(), nowEpochSeconds: Math.floor(Date.now() / 1000) });

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

  it('acquires, heartbeats, records attempts and tasks conditionally; a lost condition carries the winning item', async () => {
    const a = await dynamo.acquireLease({ environment: 'logs', containerInstanceId: 'ci-1', owner: 'agent-a', recordVersion: 'a1', leaseDurationMs: 5_000, ...now() });
    expect(a).toMatchObject({ kind: 'Lease', owner: 'agent-a', recordVersion: 'a1', released: false });
    // a second agent loses, and learns who holds it
    const lost = await dynamo.acquireLease({ environment: 'logs', containerInstanceId: 'ci-1', owner: 'agent-b', recordVersion: 'b1', leaseDurationMs: 5_000, ...now() }).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(LeaseConflictError);
    expect((lost as LeaseConflictError).current).toMatchObject({ owner: 'agent-a', recordVersion: 'a1' });
    expect(judgeLease((lost as LeaseConflictError).current ?? null, 'agent-b', undefined, 0).state).toBe('other');
    // the holder records an attempt, then the task; each write needs the version it last wrote
    const withAttempt = await dynamo.writeLease(a, { recordVersion: 'a2', attempt: { token: 'bx-token', revision: 3, issuedAt: now().nowIso }, ...now() });
    expect(withAttempt.attempt).toEqual({ token: 'bx-token', revision: 3, issuedAt: expect.any(String) });
    const stale = await dynamo.writeLease(a, { recordVersion: 'a3', ...now() }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(LeaseConflictError);
    expect((stale as LeaseConflictError).current?.recordVersion).toBe('a2');
    const adopted = await dynamo.writeLease(withAttempt, { recordVersion: 'a3', attempt: null, task: { taskArn: 'arn:task/1', revision: 3 }, ...now() });
    expect(adopted.attempt).toBeUndefined();
    expect(adopted).toMatchObject({ taskArn: 'arn:task/1', revision: 3 });
    // the other agent takes it over only on the version it watched expire, keeping what it guards
    const early = await dynamo.acquireLease({ environment: 'logs', containerInstanceId: 'ci-1', owner: 'agent-b', recordVersion: 'b1', leaseDurationMs: 5_000, expectedRecordVersion: 'a2', ...now() }).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(LeaseConflictError);
    const taken = await dynamo.acquireLease({ environment: 'logs', containerInstanceId: 'ci-1', owner: 'agent-b', recordVersion: 'b1', leaseDurationMs: 5_000, expectedRecordVersion: 'a3', ...now() });
    expect(taken).toMatchObject({ owner: 'agent-b', taskArn: 'arn:task/1', revision: 3 });
    // release on shutdown: anyone may take it at once
    const released = await dynamo.writeLease(taken, { recordVersion: 'b2', released: true, ...now() });
    expect(judgeLease(released, 'agent-c', undefined, 0).state).toBe('free');
    const c = await dynamo.acquireLease({ environment: 'logs', containerInstanceId: 'ci-1', owner: 'agent-c', recordVersion: 'c1', leaseDurationMs: 5_000, ...now() });
    expect(c.owner).toBe('agent-c');
    await expect(dynamo.deleteLease(taken)).rejects.toBeInstanceOf(LeaseConflictError);
    await dynamo.deleteLease(c);
    expect(await dynamo.getLease('logs', 'ci-1')).toBeNull();
  });

  it('reads environments only through the marker, caches revisions, and reports a malformed one as invalid', async () => {
    const store = new EnvironmentStore({ table: new DynamoTable({ tableName: table, client: client! }) });
    const base = { deploymentConfiguration: DEFAULT_DEPLOYMENT_CONFIGURATION, restartPolicy: DEFAULT_RESTART_POLICY, critical: false, order: 0 };
    await store.createEnvironment({ name: 'one', taskDefinition: 'one:1', instanceGroup: { cluster: 'c1', expression: 'attribute:x == y' }, ...base });
    await store.createEnvironment({ name: 'two', taskDefinition: 'two:1', instanceGroup: { cluster: 'c1' }, ...base });
    const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
    const { marshall } = await import('@aws-sdk/util-dynamodb');
    await client!.send(new PutItemCommand({ TableName: table, Item: marshall({ pk: 'ENV#two', sk: 'REV#0000000002', kind: 'EnvironmentRevision', schemaVersion: 1, environment: 'two', revision: 2, taskDefinition: 'two:2', instanceGroup: { cluster: 'c1', expression: 'attribute:x ==' }, createdAt: '2026-01-01T00:00:00Z' }) }));
    const marker = await dynamo.getMarker('c1');
    expect(marker?.version).toBe(2);
    calls = [];
    const entries = await dynamo.loadEnvironments('c1');
    expect(calls).toEqual(['Query', 'BatchGetItem']);
    expect(entries.map((e) => [e.name, e.kind])).toEqual([['one', 'valid'], ['two', 'valid']]);
    calls = [];
    await dynamo.loadEnvironments('c1');
    expect(calls).toEqual(['Query']); // revisions are immutable: cached
    // an environment pointing at a malformed revision is invalid, naming record and field
    const head = await store.getEnvironment('two');
    const { UpdateItemCommand } = await import('@aws-sdk/client-dynamodb');
    await client!.send(new UpdateItemCommand({ TableName: table, Key: marshall({ pk: 'CLUSTER#c1', sk: 'ENV#two' }), UpdateExpression: 'SET currentRevision = :r, latestRevision = :r', ExpressionAttributeValues: marshall({ ':r': 2 }) }));
    const again = await dynamo.loadEnvironments('c1');
    expect(head.currentRevision).toBe(1);
    expect(again.find((e) => e.name === 'two')).toMatchObject({ kind: 'invalid', error: expect.stringMatching(/ENV#two\/REV#0000000002.*instanceGroup\.expression/) });
    expect(again.find((e) => e.name === 'one')?.kind).toBe('valid');
  });
});
