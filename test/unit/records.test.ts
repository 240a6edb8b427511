import { describe, expect, it } from 'vitest';
import { InvalidInputError, InvalidRecordError } from '../../core/errors.js';
import { clusterNameOf, containerInstanceIdOf, keys } from '../../core/keys.js';
import {
  claimAttributes,
  DEFAULT_DEPLOYMENT_CONFIGURATION,
  parseClaimRecord,
  parseInstanceHeartbeat,
  statusIsLive,
  type InstanceStatus,
  parseDeployment,
  parseEnvironment,
  parseInstanceStatus,
  parseRevision,
  readDeploymentConfiguration,
  readRestartPolicy,
} from '../../core/records.js';
import { ObjectReader } from '../../core/validate.js';

const acceptAnyExpression = (): void => undefined;
const at = '2026-11-27T06:00:00.000Z';

const environment = {
  pk: 'CLUSTER#prod',
  sk: 'ENV#logs',
  kind: 'Environment',
  schemaVersion: 1,
  name: 'logs',
  cluster: 'prod',
  status: 'ACTIVE',
  health: 'healthy',
  currentRevision: 2,
  latestRevision: 3,
  token: 't-1',
  createdAt: at,
  updatedAt: at,
};

function invalidRecord(run: () => unknown): InvalidRecordError {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidRecordError) return error;
    throw error;
  }
  throw new Error('expected an InvalidRecordError');
}

describe('keys', () => {
  it('pads revision numbers so that they sort', () => {
    expect(keys.revision('logs', 7).sk).toBe('REV#0000000007');
    expect(keys.revision('logs', 10).sk > keys.revision('logs', 9).sk).toBe(true);
  });
  it('reduces ARNs to names and ids', () => {
    expect(clusterNameOf('arn:aws:ecs:us-east-1:123456789012:cluster/prod')).toBe('prod');
    expect(clusterNameOf('prod')).toBe('prod');
    expect(containerInstanceIdOf('arn:aws:ecs:us-east-1:123456789012:container-instance/prod/abc123')).toBe('abc123');
  });
});

describe('parseEnvironment', () => {
  it('accepts a well-formed head', () => {
    expect(parseEnvironment(environment)).toMatchObject({ name: 'logs', currentRevision: 2, status: 'ACTIVE' });
  });
  it.each([
    ['status', { status: 'RUNNING' }, 'must be one of ACTIVE, INACTIVE, DELETING'],
    ['currentRevision', { currentRevision: '2' }, 'must be an integer'],
    ['currentRevision', { currentRevision: 4 }, 'above latestRevision'],
    ['name', { name: 'no spaces' }, 'must match'],
    ['createdAt', { createdAt: 'yesterday' }, 'must match'],
    ['colour', { colour: 'blue' }, 'is not a known field'],
    ['schemaVersion', { schemaVersion: 99 }, 'newer than this software understands'],
    ['kind', { kind: 'Deployment' }, 'expected Environment'],
  ])('names the record and the field %s', (field, change, message) => {
    const error = invalidRecord(() => parseEnvironment({ ...environment, ...change }));
    expect(error.field).toBe(field);
    expect(error.record).toBe('CLUSTER#prod/ENV#logs');
    expect(error.message).toContain(message);
    expect(error.httpStatus).toBe(422);
  });
});

describe('parseRevision', () => {
  const revision = {
    kind: 'EnvironmentRevision',
    schemaVersion: 1,
    environment: 'logs',
    revision: 1,
    taskDefinition: 'fluent-bit:3',
    instanceGroup: { cluster: 'prod', expression: 'attribute:ecs.os-type == linux' },
    createdAt: at,
  };
  it('fills defaults for omitted configuration', () => {
    const parsed = parseRevision(revision, acceptAnyExpression);
    expect(parsed.deploymentConfiguration).toEqual(DEFAULT_DEPLOYMENT_CONFIGURATION);
    expect(parsed.critical).toBe(false);
    expect(parsed.order).toBe(0);
  });
  it('names nested fields', () => {
    const error = invalidRecord(() => parseRevision({ ...revision, deploymentConfiguration: { maxUnavailable: 'lots' } }, acceptAnyExpression));
    expect(error.field).toBe('deploymentConfiguration.maxUnavailable');
  });
  it('passes the expression field path to the validator', () => {
    const seen: string[] = [];
    parseRevision(revision, (_expression, field) => void seen.push(field));
    expect(seen).toEqual(['instanceGroup.expression']);
  });
  it('accepts task definition ARNs and rejects garbage', () => {
    expect(
      parseRevision({ ...revision, taskDefinition: 'arn:aws:ecs:us-east-1:123456789012:task-definition/fluent-bit:3' }, acceptAnyExpression).taskDefinition,
    ).toContain('fluent-bit');
    expect(invalidRecord(() => parseRevision({ ...revision, taskDefinition: 'a b' }, acceptAnyExpression)).field).toBe('taskDefinition');
  });
});

describe('parseDeployment', () => {
  const deployment = {
    kind: 'Deployment',
    schemaVersion: 1,
    id: 'd1',
    environment: 'logs',
    targetRevision: 2,
    previousRevision: 1,
    status: 'in_progress',
    failedInstances: [{ containerInstanceArn: 'arn:x', reason: 'RESOURCE:MEMORY', at }],
    createdAt: at,
    updatedAt: at,
  };
  it('reads failed instances', () => {
    expect(parseDeployment(deployment).failedInstances).toHaveLength(1);
    expect(parseDeployment(deployment).paused).toBe(false);
  });
  it('names the index of a bad failed instance', () => {
    const error = invalidRecord(() => parseDeployment({ ...deployment, failedInstances: [{ containerInstanceArn: 'arn:x', at }] }));
    expect(error.field).toBe('failedInstances[0].reason');
  });
});

describe('parseInstanceStatus', () => {
  const status = {
    kind: 'InstanceStatus',
    schemaVersion: 1,
    cluster: 'prod',
    containerInstanceArn: 'arn:x',
    agentVersion: '0.1.0',
    ready: true,
    degraded: false,
    daemons: [{ environment: 'logs', revision: 1, taskDefinition: 'fluent-bit:3', state: 'healthy', restarts: 0, since: at }],
    updatedAt: at,
    expiresAt: 1,
  };
  it('accepts a status record', () => expect(parseInstanceStatus(status).daemons[0]?.state).toBe('healthy'));
  it('names a bad daemon state', () => {
    const error = invalidRecord(() => parseInstanceStatus({ ...status, daemons: [{ ...status.daemons[0], state: 'sleepy' }] }));
    expect(error.field).toBe('daemons[0].state');
  });
});

describe('configuration readers (API input)', () => {
  const fail = (field: string, message: string) => new InvalidInputError(field, message);
  it('accepts counts and percentages', () => {
    const config = readDeploymentConfiguration(ObjectReader.of({ maxUnavailable: '25%', maxSurge: 1 }, 'deploymentConfiguration', fail));
    expect(config).toMatchObject({ maxUnavailable: '25%', maxSurge: '1' });
  });
  it('rejects a rollout that can never progress', () => {
    expect(() => readDeploymentConfiguration(ObjectReader.of({ maxUnavailable: 0, maxSurge: '0%' }, 'deploymentConfiguration', fail))).toThrow(
      /cannot both be 0/,
    );
  });
  it('rejects a cap below the first delay', () => {
    expect(() => readRestartPolicy(ObjectReader.of({ initialDelayMs: 5000, maxDelayMs: 10 }, 'restartPolicy', fail))).toThrow('restartPolicy.maxDelayMs');
    expect(() => readRestartPolicy(ObjectReader.of({ initialDelayMs: 0, maxDelayMs: 0 }, 'restartPolicy', fail))).toThrow('restartPolicy.maxDelayMs');
  });
});

describe('claims and the v1 leases at their key', () => {
  const v2 = {
    pk: 'ENV#logs',
    sk: 'LEASE#ci-1',
    kind: 'Claim',
    schemaVersion: 1,
    environment: 'logs',
    containerInstanceId: 'ci-1',
    owner: 'agent-000000000001',
    recordVersion: 'r1',
    current: { taskArn: 'arn:t1', revision: 1, since: '2026-01-01T00:00:00.000Z' },
    next: { taskArn: 'arn:t2', revision: 2 },
    attempts: [{ token: 'bx-a', revision: 2, issuedAt: '2026-01-01T00:00:00.000Z', role: 'next' }],
    updatedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: 1_800_000_000,
  };
  // The exact shape the v1 agent wrote (captured from a running v1 agent; see agent-upgrade.test.ts).
  const v1 = {
    pk: 'ENV#logs',
    sk: 'LEASE#ci-1',
    kind: 'Lease',
    schemaVersion: 1,
    environment: 'logs',
    containerInstanceId: 'ci-1',
    owner: 'agent-0123456789ab',
    recordVersion: 'a6449e129638a4189760ce63f9a31c97',
    leaseDurationMs: 60_000,
    released: false,
    taskArn: 'arn:t1',
    revision: 1,
    attempt: { token: 'bx-b', revision: 1, issuedAt: '2026-12-02T11:28:07.030Z' },
    updatedAt: '2026-12-02T11:28:08.075Z',
    expiresAt: 1_796_815_688,
  };
  it('a claim round-trips through its stored attributes', () => {
    const claim = parseClaimRecord(v2);
    expect(claim).toMatchObject({
      owner: 'agent-000000000001',
      current: { taskArn: 'arn:t1', revision: 1 },
      next: { taskArn: 'arn:t2' },
      attempts: [{ token: 'bx-a', role: 'next' }],
      expiresAt: 1_800_000_000,
    });
    expect(claim.legacy).toBeUndefined();
    expect(parseClaimRecord({ ...keys.claim('logs', 'ci-1'), ...claimAttributes(claim) })).toEqual(claim);
  });
  it('a v1 lease reads as a claim with its legacy heartbeat (attempt as the current role)', () => {
    expect(parseClaimRecord(v1)).toMatchObject({
      kind: 'Claim',
      owner: 'agent-0123456789ab',
      current: { taskArn: 'arn:t1', revision: 1 },
      attempts: [{ token: 'bx-b', revision: 1, role: 'current' }],
      legacy: { leaseDurationMs: 60_000, released: false },
    });
  });
  it('malformed records name the field', () => {
    expect(() => parseClaimRecord({ ...v2, attempts: [{ token: 'x'.repeat(37), revision: 1, issuedAt: 'x', role: 'current' }] })).toThrow(
      /attempts\[0\]\.token/,
    );
    expect(() => parseClaimRecord({ ...v2, attempts: [v2.attempts[0], v2.attempts[0]] })).toThrow(/attempts: at most one attempt per role/);
    expect(() => parseClaimRecord({ ...v2, current: { taskArn: 'arn:t1', extra: 1 } })).toThrow(/current\.extra/);
    expect(() => parseClaimRecord({ ...v1, owner: 42 })).toThrow(InvalidRecordError);
    expect(() => parseClaimRecord({ ...v2, schemaVersion: 9 })).toThrow(/newer than this software/);
  });
  it('the instance heartbeat, and whether a status record is live for readers', () => {
    const heartbeat = {
      ...keys.heartbeat('ci-1'),
      kind: 'InstanceHeartbeat',
      schemaVersion: 1,
      cluster: 'c',
      containerInstanceId: 'ci-1',
      owner: 'agent-000000000001',
      recordVersion: 'h1',
      leaseDurationMs: 180_000,
      released: false,
      agentVersion: '0.2.0',
      updatedAt: '2026-01-01T00:00:00.000Z',
      validUntil: 1_000,
      expiresAt: 2_000,
    };
    expect(heartbeat.pk).toBe('INSTANCE#ci-1');
    const parsed = parseInstanceHeartbeat(heartbeat);
    expect(() => parseInstanceHeartbeat({ ...heartbeat, validUntil: 'soon' })).toThrow(/validUntil/);
    const status = { expiresAt: 5_000 } as InstanceStatus;
    expect(statusIsLive(status, undefined, 4_999_000)).toBe(true); // a v1 agent: its own validity
    expect(statusIsLive(status, parsed, 999_000)).toBe(true);
    expect(statusIsLive(status, parsed, 1_000_000)).toBe(false); // the agent stopped heartbeating
    expect(statusIsLive(status, undefined, 5_000_000)).toBe(false);
  });
});
