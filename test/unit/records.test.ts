import { describe, expect, it } from 'vitest';
import { InvalidInputError, InvalidRecordError } from '../../core/errors.js';
import { clusterNameOf, containerInstanceIdOf, keys } from '../../core/keys.js';
import {
  DEFAULT_DEPLOYMENT_CONFIGURATION,
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
  pk: 'CLUSTER#prod', sk: 'ENV#logs', kind: 'Environment', schemaVersion: 1, name: 'logs', cluster: 'prod',
  status: 'ACTIVE', health: 'healthy', currentRevision: 2, latestRevision: 3, token: 't-1', createdAt: at, updatedAt: at,
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
    kind: 'EnvironmentRevision', schemaVersion: 1, environment: 'logs', revision: 1, taskDefinition: 'fluent-bit:3',
    instanceGroup: { cluster: 'prod', expression: 'attribute:ecs.os-type == linux' }, createdAt: at,
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
    expect(parseRevision({ ...revision, taskDefinition: 'arn:aws:ecs:us-east-1:123456789012:task-definition/fluent-bit:3' }, acceptAnyExpression).taskDefinition).toContain('fluent-bit');
    expect(invalidRecord(() => parseRevision({ ...revision, taskDefinition: 'a b' }, acceptAnyExpression)).field).toBe('taskDefinition');
  });
});

describe('parseDeployment', () => {
  const deployment = {
    kind: 'Deployment', schemaVersion: 1, id: 'd1', environment: 'logs', targetRevision: 2, previousRevision: 1,
    status: 'in_progress', failedInstances: [{ containerInstanceArn: 'arn:x', reason: 'RESOURCE:MEMORY', at }], createdAt: at, updatedAt: at,
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
    kind: 'InstanceStatus', schemaVersion: 1, cluster: 'prod', containerInstanceArn: 'arn:x', agentVersion: '0.1.0', ready: true, degraded: false,
    daemons: [{ environment: 'logs', revision: 1, taskDefinition: 'fluent-bit:3', state: 'healthy', restarts: 0, since: at }], updatedAt: at, expiresAt: 1,
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
    expect(() => readDeploymentConfiguration(ObjectReader.of({ maxUnavailable: 0, maxSurge: '0%' }, 'deploymentConfiguration', fail))).toThrow(/cannot both be 0/);
  });
  it('rejects a cap below the first delay', () => {
    expect(() => readRestartPolicy(ObjectReader.of({ initialDelayMs: 5000, maxDelayMs: 10 }, 'restartPolicy', fail))).toThrow('restartPolicy.maxDelayMs');
    expect(() => readRestartPolicy(ObjectReader.of({ initialDelayMs: 0, maxDelayMs: 0 }, 'restartPolicy', fail))).toThrow('restartPolicy.maxDelayMs');
  });
});
