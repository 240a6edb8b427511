import { describe, expect, it } from 'vitest';
import { ConfigError, EXIT_CONFIG, EXIT_USAGE, loadConfig, parseArgs } from '../../agent/config.js';

const files = (map: Record<string, string>) => (path: string) => map[path];

describe('agent configuration', () => {
  it('has the documented defaults', () => {
    const { config } = loadConfig({ argv: [], env: {}, readFile: files({}) });
    expect(config).toMatchObject({
      table: 'blox-edge',
      ecsAgentUrl: 'http://127.0.0.1:51678',
      imdsUrl: 'http://169.254.169.254',
      dockerSocket: '/var/run/docker.sock',
      listen: '127.0.0.1:51680',
      pollIntervalMs: 5000,
      ecsReconcileIntervalMs: 180000,
      leaseDurationMs: 180000,
      statusHeartbeatMs: 1800000,
      stateDir: '/var/lib/blox-edge',
      logLevel: 'info',
    });
    expect(config.region).toBeUndefined();
  });
  it('file < environment < flags', () => {
    const readFile = files({ '/etc/blox-edge/agent.json': JSON.stringify({ table: 'from-file', pollIntervalMs: 1000, logLevel: 'warn' }) });
    const { config, configPath } = loadConfig({ argv: ['--table', 'from-flag'], env: { BLOX_TABLE: 'from-env', BLOX_POLL_INTERVAL_MS: '2000' }, readFile });
    expect(configPath).toBe('/etc/blox-edge/agent.json');
    expect(config.table).toBe('from-flag');
    expect(config.pollIntervalMs).toBe(2000);
    expect(config.logLevel).toBe('warn');
    expect(loadConfig({ argv: ['--config=/x.json', '--listen=off'], env: {}, readFile: files({ '/x.json': '{"region":"eu-west-1"}' }) }).config).toMatchObject({
      region: 'eu-west-1',
      listen: '',
    });
    expect(loadConfig({ argv: [], env: { BLOX_AGENT_CONFIG: '/y.json' }, readFile: files({ '/y.json': '{"table":"y"}' }) }).config.table).toBe('y');
  });
  it('bad flags are usage errors (64)', () => {
    for (const argv of [['--nope'], ['--table'], ['positional'], ['--table', '--region']]) {
      const error = (() => {
        try {
          parseArgs(argv);
        } catch (e) {
          return e;
        }
      })();
      expect(error, argv.join(' ')).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).exitCode).toBe(EXIT_USAGE);
    }
    expect(parseArgs(['--version']).version).toBe(true);
  });
  it('invalid values, unknown file keys, unreadable or missing explicit files are configuration errors (78) naming the key', () => {
    const cases: [string[], Record<string, string>, Record<string, string>, RegExp][] = [
      [['--poll-interval-ms', 'soon'], {}, {}, /pollIntervalMs.*flag --poll-interval-ms/],
      [[], { BLOX_LEASE_DURATION_MS: '10' }, {}, /leaseDurationMs.*at least 1000/],
      [['--ecs-endpoint', 'ftp://x'], {}, {}, /ecsEndpoint.*URL/],
      [['--listen', 'nowhere'], {}, {}, /listen.*host:port/],
      [['--log-level', 'loud'], {}, {}, /logLevel/],
      [[], {}, { '/etc/blox-edge/agent.json': '{"tabel":"x"}' }, /unknown key "tabel"/],
      [[], {}, { '/etc/blox-edge/agent.json': '{not json' }, /agent.json/],
      [['--config', '/missing.json'], {}, {}, /does not exist/],
    ];
    for (const [argv, env, map, message] of cases) {
      const error = (() => {
        try {
          loadConfig({ argv, env, readFile: files(map) });
        } catch (e) {
          return e;
        }
      })() as ConfigError;
      expect(error, argv.join(' ')).toBeInstanceOf(ConfigError);
      expect(error.exitCode).toBe(EXIT_CONFIG);
      expect(error.message).toMatch(message);
    }
  });
});
