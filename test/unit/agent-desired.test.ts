import { describe, expect, it } from 'vitest';
import { DEFAULT_DEPLOYMENT_CONFIGURATION, DEFAULT_RESTART_POLICY, type EnvironmentRevision } from '../../core/records.js';
import { buildDesired, matchInstance, nameOfHead } from '../../agent/observe/desired.js';

const rev = (expression?: string): EnvironmentRevision => ({
  kind: 'EnvironmentRevision',
  schemaVersion: 1,
  environment: 'logs',
  revision: 1,
  taskDefinition: 'logs:1',
  instanceGroup: expression === undefined ? { cluster: 'c' } : { cluster: 'c', expression },
  deploymentConfiguration: DEFAULT_DEPLOYMENT_CONFIGURATION,
  restartPolicy: DEFAULT_RESTART_POLICY,
  critical: false,
  order: 0,
  repair: 'none',
  repairBudget: '1',
  createdAt: '2026-01-01T00:00:00Z',
});

describe('desired state', () => {
  it('matches the instance group expression on the instance attributes with the shared evaluator', () => {
    const facts = { attributes: { 'ecs.instance-type': 't2.micro', 'ecs.availability-zone': 'us-east-1a' } };
    expect(matchInstance(rev('attribute:ecs.instance-type =~ t2.*'), facts).matches).toBe(true);
    expect(matchInstance(rev('attribute:ecs.instance-type =~ m5.*'), facts).matches).toBe(false);
    expect(matchInstance(rev('attribute:ecs.availability-zone in [us-east-1a, us-east-1b]'), facts).matches).toBe(true);
    expect(matchInstance(rev(), undefined).matches).toBe(true);
    expect(matchInstance(rev('attribute:x == y'), undefined).matches).toBeUndefined();
    expect(matchInstance(rev('attribute:x =='), facts)).toMatchObject({ matches: undefined, reason: expect.stringMatching(/cannot be evaluated/) });
  });
  it('keeps invalid entries as they are and marks an unread list as not loaded', () => {
    const d = buildDesired(
      [
        { name: 'bad', kind: 'invalid', error: 'field x' },
        { name: 'logs', kind: 'valid', environment: {} as never, revision: rev('attribute:a == b') },
      ],
      { attributes: { a: 'b' } },
      true,
    );
    expect(d.environments?.map((e) => (e.kind === 'valid' ? e.matches : e.error))).toEqual(['field x', true]);
    expect(buildDesired(undefined, undefined, true)).toEqual({ environments: undefined, fresh: false });
  });
  it('names a malformed head by its sort key', () => {
    expect(nameOfHead({ sk: 'ENV#broken', name: 7 })).toBe('broken');
    expect(nameOfHead({ name: 'x' })).toBe('x');
  });
});
