// The test helpers' own rules: what counts as CI (suites fail instead of skipping there), and that
// a unit test cannot reach the services of integration tests.
import { describe, expect, it } from 'vitest';
import { isCi } from '../../local/ci.js';
import { dockerAvailable, dynamoDbEndpoint, requireIntegrationProject } from '../support/services.js';

describe('isCi', () => {
  it('counts any non-empty CI value except false and 0', () => {
    for (const value of ['true', '1', 'yes', 'TRUE', 'github-actions', ' 1 ']) expect(isCi({ CI: value }), value).toBe(true);
    for (const value of [undefined, '', ' ', 'false', 'FALSE', 'False', '0']) expect(isCi({ CI: value }), String(value)).toBe(false);
  });

  it('reads process.env by default', () => {
    expect(isCi()).toBe(isCi(process.env));
  });
});

describe('the unit project', () => {
  it('runs with BLOX_TEST_PROJECT=unit (vitest.config.ts)', () => {
    expect(process.env.BLOX_TEST_PROJECT).toBe('unit');
  });

  it('refuses DynamoDB Local and the Docker engine to unit tests', async () => {
    expect(() => requireIntegrationProject('X')).toThrow(/X is for integration tests only: this test belongs under test\/integration\//);
    expect(() => dynamoDbEndpoint()).toThrow(/DynamoDB Local is for integration tests only/);
    await expect(dockerAvailable()).rejects.toThrow(/The Docker engine is for integration tests only/);
  });
});
