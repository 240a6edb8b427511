// The agent's configuration: file (/etc/blox-edge/agent.json or --config / BLOX_AGENT_CONFIG),
// then environment variables, then flags, in increasing precedence (docs/agent-config.md).
// Bad flags are a usage error (exit 64); a bad value anywhere is a configuration error (exit 78),
// so systemd (RestartPreventExitStatus=64 78) does not restart-loop on a typo.

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 64;
export const EXIT_CONFIG = 78;

export const DEFAULT_CONFIG_PATH = '/etc/blox-edge/agent.json';

export interface AgentConfig {
  table: string;
  region?: string;
  dynamodbEndpoint?: string;
  ecsEndpoint?: string;
  ecsAgentUrl: string;
  imdsUrl: string;
  dockerSocket: string;
  /** host:port of the health endpoint; '' or 'off' disables it. */
  listen: string;
  pollIntervalMs: number;
  ecsReconcileIntervalMs: number;
  leaseDurationMs: number;
  stateDir: string;
  logLevel: string;
  orphanGraceMs: number;
  statusHeartbeatMs: number;
  attemptSettleMs: number;
  /** A full reload even when the marker did not move: hand edits that forgot the marker still land. */
  fullReloadIntervalMs: number;
  /** The daemons-first ECS attribute this agent keeps at ready/pending; '' turns it off. */
  daemonsReadyAttribute: string;
  /** Rollout control reads while this instance waits to replace its daemon or is admitted. */
  rolloutPollMs: number;
  /** Rollout control reads while it only watches an unfinished deployment (steward stand-in). */
  rolloutIdlePollMs: number;
  /** The steward's count of the fleet, and the renewal of its lease (a third of the lease). */
  stewardIntervalMs: number;
  /** ECS StopTask/StartTask calls per second a rollout with no limit spreads its instances over. */
  rolloutEcsRatePerSecond: number;
  /** On a DRAINING instance, daemons wait for the other tasks to leave at most this long (ECS's own drain bound: 48 h). */
  drainDaemonsTimeoutMs: number;
  /** Opt-in: on scale-in (IMDS target lifecycle state Terminated) drain, heartbeat and complete the lifecycle action. */
  scaleInDrain: boolean;
  /** Opt-in: on a Spot interruption notice drain the instance at once. */
  spotDrain: boolean;
  /** The termination lifecycle hook; absent: the group's termination hook (DescribeLifecycleHooks). */
  lifecycleHookName?: string;
  /** How often IMDS's lifecycle paths are read (when scale-in or Spot handling is on). */
  lifecyclePollMs: number;
  /** The lifecycle action is completed at the latest this long after termination began (also capped by the hook's global timeout). */
  lifecycleCompleteBoundMs: number;
  /** A repair that found the budget full tries again after about this long (jittered 0.5x to 1.5x): a fleet's waits spread over the item. */
  repairRetryMs: number;
  /** Auto Scaling endpoint (the local world); absent: the region's. */
  autoscalingEndpoint?: string;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Kind = 'string' | 'url' | 'listen' | 'ms' | 'count' | 'level' | 'attribute' | 'boolean';
interface Key {
  key: keyof AgentConfig;
  env: string;
  flag: string;
  kind: Kind;
  default?: string | number | boolean;
  min?: number;
}

export const CONFIG_KEYS: Key[] = [
  { key: 'table', env: 'BLOX_TABLE', flag: '--table', kind: 'string', default: 'blox-edge' },
  { key: 'region', env: 'AWS_REGION', flag: '--region', kind: 'string' },
  { key: 'dynamodbEndpoint', env: 'BLOX_DYNAMODB_ENDPOINT', flag: '--dynamodb-endpoint', kind: 'url' },
  { key: 'ecsEndpoint', env: 'BLOX_ECS_ENDPOINT', flag: '--ecs-endpoint', kind: 'url' },
  { key: 'ecsAgentUrl', env: 'BLOX_ECS_AGENT_URL', flag: '--ecs-agent-url', kind: 'url', default: 'http://127.0.0.1:51678' },
  { key: 'imdsUrl', env: 'BLOX_IMDS_URL', flag: '--imds-url', kind: 'url', default: 'http://169.254.169.254' },
  { key: 'dockerSocket', env: 'BLOX_DOCKER_SOCKET', flag: '--docker-socket', kind: 'string', default: '/var/run/docker.sock' },
  { key: 'listen', env: 'BLOX_AGENT_LISTEN', flag: '--listen', kind: 'listen', default: '127.0.0.1:51680' },
  { key: 'pollIntervalMs', env: 'BLOX_POLL_INTERVAL_MS', flag: '--poll-interval-ms', kind: 'ms', default: 5_000, min: 100 },
  { key: 'ecsReconcileIntervalMs', env: 'BLOX_ECS_RECONCILE_INTERVAL_MS', flag: '--ecs-reconcile-interval-ms', kind: 'ms', default: 180_000, min: 1_000 },
  { key: 'leaseDurationMs', env: 'BLOX_LEASE_DURATION_MS', flag: '--lease-duration-ms', kind: 'ms', default: 180_000, min: 1_000 },
  { key: 'stateDir', env: 'BLOX_STATE_DIR', flag: '--state-dir', kind: 'string', default: '/var/lib/blox-edge' },
  { key: 'logLevel', env: 'BLOX_LOG_LEVEL', flag: '--log-level', kind: 'level', default: 'info' },
  { key: 'orphanGraceMs', env: 'BLOX_ORPHAN_GRACE_MS', flag: '--orphan-grace-ms', kind: 'ms', default: 60_000, min: 0 },
  { key: 'statusHeartbeatMs', env: 'BLOX_STATUS_HEARTBEAT_MS', flag: '--status-heartbeat-ms', kind: 'ms', default: 1_800_000, min: 1_000 },
  { key: 'attemptSettleMs', env: 'BLOX_ATTEMPT_SETTLE_MS', flag: '--attempt-settle-ms', kind: 'ms', default: 5_000, min: 0 },
  { key: 'daemonsReadyAttribute', env: 'BLOX_DAEMONS_READY_ATTRIBUTE', flag: '--daemons-ready-attribute', kind: 'attribute', default: 'blox-edge.daemons' },
  { key: 'fullReloadIntervalMs', env: 'BLOX_FULL_RELOAD_INTERVAL_MS', flag: '--full-reload-interval-ms', kind: 'ms', default: 600_000, min: 1_000 },
  { key: 'rolloutPollMs', env: 'BLOX_ROLLOUT_POLL_MS', flag: '--rollout-poll-ms', kind: 'ms', default: 1_000, min: 100 },
  { key: 'rolloutIdlePollMs', env: 'BLOX_ROLLOUT_IDLE_POLL_MS', flag: '--rollout-idle-poll-ms', kind: 'ms', default: 60_000, min: 100 },
  { key: 'stewardIntervalMs', env: 'BLOX_STEWARD_INTERVAL_MS', flag: '--steward-interval-ms', kind: 'ms', default: 10_000, min: 100 },
  { key: 'rolloutEcsRatePerSecond', env: 'BLOX_ROLLOUT_ECS_RATE', flag: '--rollout-ecs-rate', kind: 'count', default: 20, min: 1 },
  {
    key: 'drainDaemonsTimeoutMs',
    env: 'BLOX_DRAIN_DAEMONS_TIMEOUT_MS',
    flag: '--drain-daemons-timeout-ms',
    kind: 'ms',
    default: 172_800_000,
    min: 0,
  },
  { key: 'scaleInDrain', env: 'BLOX_SCALE_IN_DRAIN', flag: '--scale-in-drain', kind: 'boolean', default: false },
  { key: 'spotDrain', env: 'BLOX_SPOT_DRAIN', flag: '--spot-drain', kind: 'boolean', default: false },
  { key: 'lifecycleHookName', env: 'BLOX_LIFECYCLE_HOOK_NAME', flag: '--lifecycle-hook-name', kind: 'string' },
  { key: 'lifecyclePollMs', env: 'BLOX_LIFECYCLE_POLL_MS', flag: '--lifecycle-poll-ms', kind: 'ms', default: 5_000, min: 100 },
  {
    key: 'lifecycleCompleteBoundMs',
    env: 'BLOX_LIFECYCLE_COMPLETE_BOUND_MS',
    flag: '--lifecycle-complete-bound-ms',
    kind: 'ms',
    default: 172_800_000,
    min: 1_000,
  },
  { key: 'repairRetryMs', env: 'BLOX_REPAIR_RETRY_MS', flag: '--repair-retry-ms', kind: 'ms', default: 30_000, min: 100 },
  { key: 'autoscalingEndpoint', env: 'BLOX_AUTOSCALING_ENDPOINT', flag: '--autoscaling-endpoint', kind: 'url' },
];

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ParsedArgs {
  values: Map<keyof AgentConfig, string>;
  configPath?: string;
  version: boolean;
  help: boolean;
}

/** Flags: `--name value` or `--name=value`; unknown flags and missing values are usage errors. */
export function parseArgs(argv: string[]): ParsedArgs {
  const result: ParsedArgs = { values: new Map(), version: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--version' || arg === '-v') {
      result.version = true;
      continue;
    }
    if (arg === '--help' || arg === '-h') {
      result.help = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)} (the agent takes only --flags; see --help)`, EXIT_USAGE);
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const known = name === '--config' || CONFIG_KEYS.some((k) => k.flag === name);
    if (!known) throw new ConfigError(`unknown flag ${name} (see --help)`, EXIT_USAGE);
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new ConfigError(`flag ${name} needs a value`, EXIT_USAGE);
      i++;
    }
    if (name === '--config') result.configPath = value;
    else result.values.set(CONFIG_KEYS.find((k) => k.flag === name)!.key, value);
  }
  return result;
}

function check(key: Key, raw: unknown, where: string): string | number | boolean {
  const fail = (message: string) => new ConfigError(`invalid configuration: ${key.key} (${where}): ${message}`, EXIT_CONFIG);
  if (key.kind === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    const text = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
    if (text === 'true' || text === '1' || text === 'on') return true;
    if (text === 'false' || text === '0' || text === 'off') return false;
    throw fail(`must be true or false, got ${JSON.stringify(raw)}`);
  }
  if (key.kind === 'ms' || key.kind === 'count') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!Number.isInteger(n)) throw fail(`must be a whole number${key.kind === 'ms' ? ' of milliseconds' : ''}, got ${JSON.stringify(raw)}`);
    if (key.min !== undefined && n < key.min) throw fail(`must be at least ${key.min}, got ${n}`);
    return n;
  }
  if (typeof raw !== 'string') throw fail(`must be a string, got ${JSON.stringify(raw)}`);
  const text = raw.trim();
  if (key.kind === 'url') {
    try {
      const url = new URL(text);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw fail(`must be an http(s) URL, got ${JSON.stringify(raw)}`);
    }
    return text.replace(/\/+$/, '');
  }
  if (key.kind === 'listen') {
    if (text === '' || text === 'off') return '';
    const m = /^(.+):(\d{1,5})$/.exec(text);
    if (!m || Number(m[2]) > 65_535) throw fail(`must be host:port (or "off"), got ${JSON.stringify(raw)}`);
    return text;
  }
  if (key.kind === 'attribute') {
    if (text === '' || text === 'off') return '';
    // ECS custom attribute names: letters, digits, and - _ . / @ (up to 128).
    if (!/^[a-zA-Z0-9_.\-/@]{1,128}$/.test(text)) throw fail(`must be an ECS attribute name (or "off"), got ${JSON.stringify(raw)}`);
    return text;
  }
  if (key.kind === 'level' && !LEVELS.includes(text)) throw fail(`must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(raw)}`);
  if (text === '') throw fail('must not be empty');
  return text;
}

export interface ConfigSources {
  argv: string[];
  env: Record<string, string | undefined>;
  /** Reads a file; returns undefined when it does not exist. */
  readFile: (path: string) => string | undefined;
}

export function loadConfig(sources: ConfigSources): { config: AgentConfig; args: ParsedArgs; configPath: string | undefined } {
  const args = parseArgs(sources.argv);
  const explicitPath = args.configPath ?? sources.env.BLOX_AGENT_CONFIG;
  const path = explicitPath ?? DEFAULT_CONFIG_PATH;
  let file: Record<string, unknown> = {};
  let text: string | undefined;
  try {
    text = sources.readFile(path);
  } catch (error) {
    throw new ConfigError(`invalid configuration: cannot read ${path}: ${(error as Error).message}`, EXIT_CONFIG);
  }
  if (text === undefined && explicitPath !== undefined) throw new ConfigError(`invalid configuration: config file ${path} does not exist`, EXIT_CONFIG);
  if (text !== undefined) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('must be a JSON object');
      file = parsed as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`invalid configuration: ${path}: ${(error as Error).message}`, EXIT_CONFIG);
    }
    for (const name of Object.keys(file)) {
      if (!CONFIG_KEYS.some((k) => k.key === name))
        throw new ConfigError(
          `invalid configuration: ${path}: unknown key ${JSON.stringify(name)} (known: ${CONFIG_KEYS.map((k) => k.key).join(', ')})`,
          EXIT_CONFIG,
        );
    }
  }
  const config: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    let value: string | number | boolean | undefined = key.default;
    if (file[key.key] !== undefined) value = check(key, file[key.key], path);
    const fromEnv = sources.env[key.env];
    if (fromEnv !== undefined && fromEnv !== '') value = check(key, fromEnv, `environment ${key.env}`);
    const fromFlag = args.values.get(key.key);
    if (fromFlag !== undefined) value = check(key, fromFlag, `flag ${key.flag}`);
    if (value !== undefined) config[key.key] = value;
  }
  return { config: config as unknown as AgentConfig, args, configPath: text !== undefined ? path : undefined };
}

export function helpText(): string {
  const lines = [
    'Usage: blox-edge-agent [--config FILE] [--flag value ...] | --version | --help',
    '',
    'Configuration (file key / environment / flag, default):',
  ];
  for (const k of CONFIG_KEYS) lines.push(`  ${k.flag.padEnd(30)} ${k.env.padEnd(32)} ${k.key}${k.default !== undefined ? ` (default ${k.default})` : ''}`);
  lines.push('', 'Exit codes: 0 stopped by SIGTERM/SIGINT (daemons keep running), 1 failure, 64 bad command line, 78 invalid configuration.');
  return lines.join('\n');
}
