// The simulation's parameters (command-line flags with their defaults) and fixed figures.
// readParams(argv, defaults) is the one parser: bench/rollout.ts reads its flags over
// DEFAULT_PARAMS; bench/rollout-realtime.ts reads the same flags over the local world's defaults.

export interface Params {
  seed: number;
  lagMs: number;
  stopMs: number;
  startMs: number;
  readyMs: number;
  bakeSeconds: number;
  ecsBurst: number;
  ecsRatePerSecond: number;
  rolloutPollMs: number;
  rolloutIdlePollMs: number;
  markerPollMs: number;
  stewardIntervalMs: number;
  tickMs: number;
  rolloutEcsRatePerSecond: number;
  bloxTickMs: number;
}

/** Each parameter's flag (`--lag-ms 100`); bloxTickMs has none. */
const FLAGS: Partial<Record<keyof Params, string>> = {
  seed: 'seed',
  lagMs: 'lag-ms',
  stopMs: 'stop-ms',
  startMs: 'start-ms',
  readyMs: 'ready-ms',
  bakeSeconds: 'bake-s',
  ecsBurst: 'ecs-burst',
  ecsRatePerSecond: 'ecs-rate',
  rolloutPollMs: 'rollout-poll-ms',
  rolloutIdlePollMs: 'rollout-idle-poll-ms',
  markerPollMs: 'marker-poll-ms',
  stewardIntervalMs: 'steward-interval-ms',
  tickMs: 'tick-ms',
  rolloutEcsRatePerSecond: 'rollout-ecs-rate',
};

/** The agent's defaults (agent/config.ts: rolloutPollMs, rolloutIdlePollMs, pollIntervalMs, stewardIntervalMs, rolloutEcsRatePerSecond; its local tick 1 s). */
export const DEFAULT_PARAMS: Params = {
  seed: 1,
  lagMs: 100,
  stopMs: 2_000,
  startMs: 5_000,
  readyMs: 5_000,
  bakeSeconds: 10,
  ecsBurst: 100,
  ecsRatePerSecond: 40,
  rolloutPollMs: 1_000,
  rolloutIdlePollMs: 60_000,
  markerPollMs: 5_000,
  stewardIntervalMs: 10_000,
  tickMs: 1_000,
  rolloutEcsRatePerSecond: 20,
  bloxTickMs: 10_000,
};

/** A number flag's value, or `fallback` when it is absent or not a number. */
export function numberArg(argv: readonly string[], name: string, fallback: number): number {
  const index = argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(argv[index + 1]) : Number.NaN;
  return Number.isFinite(value) ? value : fallback;
}

/** A comma-separated flag's values (`--sizes 100,1000`), or `fallback`. */
export function listArg(argv: readonly string[], name: string, fallback: string[]): string[] {
  const index = argv.indexOf(`--${name}`);
  return index >= 0 && argv[index + 1] !== undefined
    ? String(argv[index + 1])
        .split(',')
        .filter((s) => s !== '')
    : fallback;
}

/** Every parameter from its flag in `argv`, else from `defaults`. */
export function readParams(argv: readonly string[], defaults: Params = DEFAULT_PARAMS): Params {
  const params = { ...defaults };
  for (const [key, flag] of Object.entries(FLAGS) as [keyof Params, string][]) params[key] = numberArg(argv, flag, defaults[key]);
  return params;
}

/** The flags readParams knows, for a usage line. */
export const PARAM_FLAGS: readonly string[] = Object.values(FLAGS).map((f) => `--${f}`);

export const P: Params = readParams(process.argv);
export const SIZES = listArg(process.argv, 'sizes', ['100', '1000', '10000']).map(Number);
export const LIMITS = { wcu: 1_000, rcu: 3_000 };
export const T0 = Date.parse('2026-12-01T12:00:00.000Z');
export const HORIZON_MS = 6 * 3_600_000;
