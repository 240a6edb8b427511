import { defineConfig } from 'vitest/config';

// Two projects, run together by `vitest run` (`npm test`), alone by `--project unit|integration`:
// - unit: pure, in-process tests and local static checks; no DynamoDB Local, no Docker engine, no
//   AWS CLI, no bundles run as processes, and no global setup.
// - integration: suites that share one DynamoDB Local started by the global setup (each suite
//   creates its own table) and, where they need it, the Docker engine, the AWS CLI or the bundles.
// The machine runs Node 20; the SDK's notice about its future Node 22 floor is noise in test logs.
// Set here so the global setup and every worker (which inherit the environment) see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export default defineConfig({
  test: {
    // Shared by both projects (`extends: true`). Arrays such as `include` and `globalSetup` would be
    // concatenated with a project's own, so they are set per project only.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One pool for the whole run: at most two test files at once across both projects.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
    projects: [
      {
        extends: true,
        // BLOX_TEST_PROJECT: test/support refuses DynamoDB Local, Docker and the bundles to a unit test.
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], env: { BLOX_TEST_PROJECT: 'unit' } },
      },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: ['test/support/global-setup.ts'] },
      },
    ],
  },
});
