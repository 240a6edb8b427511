// Pure parts of the store and the coordinator: inputs, pagination tokens, ids, health, listen.
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { newDeploymentId, validateCluster } from '../../core/store/environments.js';
import { parseCreateEnvironment, parseDeploymentAction, parseStartDeployment, parseUpdateEnvironment } from '../../core/store/inputs.js';
import { decodeKeyToken, decodeMultiToken, encodeToken, keyToken, pageSize } from '../../core/store/paging.js';
import { deriveHealth } from '../../core/store/views.js';
import type { InstanceStatus } from '../../core/records.js';
import { parseListen } from '../../coordinator/server.js';
import { table } from '../../coordinator/cli/output.js';
import { PAGE_FILES } from '../../coordinator/ui/files.js';

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidInputError) return error.field;
    throw error;
  }
  return undefined;
};

describe('inputs', () => {
  it('parses a Blox v0.3 create body and fills defaults; ARNs become names', () => {
    const input = parseCreateEnvironment({
      name: 'logs',
      instanceGroup: { cluster: 'arn:aws:ecs:us-east-1:123456789012:cluster/prod' },
      taskDefinition: 'logs:3',
    });
    expect(input).toMatchObject({
      name: 'logs',
      instanceGroup: { cluster: 'prod' },
      critical: false,
      order: 0,
      deploymentConfiguration: { maxUnavailable: '1', maxSurge: '0' },
    });
  });

  it('names the field of every rejection', () => {
    expect(fieldOf(() => parseCreateEnvironment({ name: 'a', instanceGroup: { cluster: 'c' }, taskDefinition: 't', extra: 1 }))).toBe('extra');
    expect(fieldOf(() => parseCreateEnvironment({ name: 'a', instanceGroup: { cluster: 'c', expression: 'attribute:x ==' }, taskDefinition: 't' }))).toBe(
      'instanceGroup.expression',
    );
    expect(
      fieldOf(() =>
        parseCreateEnvironment({
          name: 'a',
          instanceGroup: { cluster: 'c' },
          taskDefinition: 't',
          deploymentConfiguration: { maxUnavailable: 0, maxSurge: 0 },
        }),
      ),
    ).toBe('deploymentConfiguration.maxUnavailable');
    expect(fieldOf(() => parseCreateEnvironment('x'))).toBe('(body)');
    expect(fieldOf(() => parseUpdateEnvironment({ taskDefinition: 'x:1' }, 'a'))).toBe('token');
    expect(fieldOf(() => parseUpdateEnvironment({ token: 'a', deploymentToken: 'b' }, 'a'))).toBe('deploymentToken');
    expect(fieldOf(() => parseUpdateEnvironment({ token: 'a', name: 'b' }, 'a'))).toBe('name');
    expect(fieldOf(() => parseStartDeployment({ revision: 0 }, 't'))).toBe('revision');
    expect(fieldOf(() => parseDeploymentAction({ token: '' }))).toBe('token');
  });

  it('accepts the token as token, deploymentToken or from the query', () => {
    expect(parseStartDeployment(undefined, 'q').token).toBe('q');
    expect(parseStartDeployment({ deploymentToken: 'b' }).token).toBe('b');
    expect(parseStartDeployment({ token: 'q' }, 'q').token).toBe('q');
    expect(parseUpdateEnvironment({ token: 't', deploy: false }, 'a')).toEqual({ token: 't', deploy: false });
    expect(parseDeploymentAction(undefined)).toEqual({});
  });

  it('validates cluster filters', () => {
    expect(validateCluster('arn:aws:ecs:eu-west-1:123456789012:cluster/x')).toBe('x');
    expect(fieldOf(() => validateCluster('no spaces'))).toBe('cluster');
  });
});

describe('pagination tokens', () => {
  it('round-trips and only continues the listing it came from', () => {
    const token = keyToken({ pk: 'CLUSTER#a', sk: 'ENV#x' }) as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeKeyToken(token, 'CLUSTER#a', 'ENV#')).toEqual({ pk: 'CLUSTER#a', sk: 'ENV#x' });
    expect(() => decodeKeyToken(token, 'CLUSTER#b', 'ENV#')).toThrow(/nextToken/);
    expect(() => decodeKeyToken(token, 'CLUSTER#a', 'INSTANCE#')).toThrow(/nextToken/);
    expect(() => decodeKeyToken(encodeToken({ pk: 'CLUSTER#a', sk: 'ENV#x', extra: 1 }), 'CLUSTER#a', 'ENV#')).toThrow(InvalidInputError);
    for (const bad of ['', '!!', 'a'.repeat(3000), Buffer.from('[1]').toString('base64url'), Buffer.from('nope').toString('base64url')]) {
      expect(() => decodeKeyToken(bad, 'CLUSTER#a', 'ENV#')).toThrow(InvalidInputError);
    }
    expect(decodeMultiToken(encodeToken({ p: 'c', s: 'INSTANCE#i' }))).toEqual({ partition: 'c', sk: 'INSTANCE#i' });
    // a forged key longer than DynamoDB allows is refused here, not by DynamoDB
    expect(() => decodeKeyToken(encodeToken({ pk: 'CLUSTER#a', sk: `ENV#${'é'.repeat(600)}` }), 'CLUSTER#a', 'ENV#')).toThrow(InvalidInputError);
    expect(() => decodeMultiToken(encodeToken({ p: 'c', s: `INSTANCE#${'x'.repeat(1100)}` }))).toThrow(InvalidInputError);
    expect(() => decodeMultiToken(encodeToken({ p: 1 }))).toThrow(InvalidInputError);
    expect(keyToken(undefined)).toBeUndefined();
  });

  it('bounds page sizes', () => {
    expect(pageSize(undefined)).toBe(50);
    expect(pageSize(100)).toBe(100);
    expect(() => pageSize(101)).toThrow(/limit/);
    expect(() => pageSize(0)).toThrow(/limit/);
  });
});

describe('deployment ids', () => {
  it('sort by creation time and fit in 36 characters', () => {
    const a = newDeploymentId(new Date('2026-01-01T00:00:00.000Z'));
    const b = newDeploymentId(new Date('2026-01-01T00:00:00.001Z'));
    const c = newDeploymentId(new Date('2031-06-01T00:00:00.000Z'));
    expect(a.length).toBeLessThanOrEqual(36);
    expect([c, a, b].sort()).toEqual([a, b, c]);
    expect(a).toMatch(/^[0-9a-z]{9}-[0-9a-z]{8}$/);
  });
});

describe('health', () => {
  const instance = (daemons: Array<Partial<InstanceStatus['daemons'][number]>>): InstanceStatus => ({
    kind: 'InstanceStatus',
    schemaVersion: 1,
    cluster: 'c',
    containerInstanceArn: 'arn',
    agentVersion: '1',
    ready: true,
    degraded: false,
    daemons: daemons.map((d) => ({ environment: 'e', revision: 1, taskDefinition: 't:1', state: 'healthy', restarts: 0, since: '2026-01-01T00:00:00Z', ...d })),
    updatedAt: '2026-01-01T00:00:00Z',
    expiresAt: 0,
  });
  it('is unknown without reports, unhealthy when any daemon is, healthy when every daemon is ready, else unknown', () => {
    expect(deriveHealth('e', 1, []).health).toBe('unknown');
    expect(deriveHealth('e', 1, [instance([{ environment: 'other' }])]).health).toBe('unknown');
    // one still starting: not known to be healthy yet
    expect(deriveHealth('e', 1, [instance([{}]), instance([{ state: 'starting', revision: 2 }])])).toEqual({
      health: 'unknown',
      counts: { reporting: 2, healthy: 1, unhealthy: 0, onCurrentRevision: 1 },
    });
    expect(deriveHealth('e', 1, [instance([{}]), instance([{ state: 'crash_loop' }])]).health).toBe('unhealthy');
    expect(deriveHealth('e', 1, [instance([{ state: 'running', health: 'UNHEALTHY' }])]).health).toBe('unhealthy');
    // RUNNING but its first health check has not answered: the agent says not ready
    expect(deriveHealth('e', 1, [instance([{ state: 'running', health: 'UNKNOWN', ready: false }])])).toEqual({
      health: 'unknown',
      counts: { reporting: 1, healthy: 0, unhealthy: 0, onCurrentRevision: 1 },
    });
    expect(deriveHealth('e', 1, [instance([{ state: 'running', ready: true }]), instance([{ state: 'healthy', ready: true }])]).health).toBe('healthy');
    // records of older agents, without the flag: running and healthy count as ready
    expect(deriveHealth('e', 1, [instance([{ state: 'running' }]), instance([{}])]).health).toBe('healthy');
  });
});

describe('coordinator helpers', () => {
  it('parses --listen', () => {
    expect(parseListen('127.0.0.1:7070')).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(parseListen(':8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen('0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0 });
    expect(parseListen('[::1]:7070')).toEqual({ host: '::1', port: 7070 });
    for (const bad of ['', 'host', 'a:b', '1.2.3.4:70000', 'a b:1']) expect(() => parseListen(bad), bad).toThrow(InvalidInputError);
  });

  it('ships the fleet page: index.html loads app.js as a module, every file has its content type, no inline script', () => {
    const index = PAGE_FILES.get('index.html');
    expect(index?.contentType).toBe('text/html; charset=utf-8');
    expect(index?.text).toContain('<script type="module" src="/ui/app.js"></script>');
    expect(index?.text).not.toMatch(/<script>/);
    expect(PAGE_FILES.get('app.js')?.contentType).toBe('text/javascript; charset=utf-8');
    expect(PAGE_FILES.get('style.css')?.contentType).toBe('text/css; charset=utf-8');
    expect(PAGE_FILES.has('files.ts')).toBe(false);
    // Every module the page imports is one of its files.
    for (const [name, file] of PAGE_FILES) {
      for (const [, imported] of file.text.matchAll(/from '\.\/([^']+)'/g))
        expect(PAGE_FILES.has(imported as string), `${name} imports ${imported}`).toBe(true);
    }
  });

  it('renders aligned tables with - for empty cells', () => {
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['x', undefined],
          ['yyyy', 2],
        ],
      ),
    ).toBe('A     LONGER\nx     -\nyyyy  2\n');
  });
});
