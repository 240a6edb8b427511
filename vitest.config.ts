import { defineConfig } from 'vitest/config';

// Unit tests are pure; integration tests share one DynamoDB Local started by the global setup
// (each suite creates its own table) and, where they need it, the Docker engine.
// The machine runs Node 20; the SDK's notice about its future Node 22 floor is noise in test logs.
// Set here so the global setup and every worker (which inherit the environment) see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
