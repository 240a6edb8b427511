// The simulation's parameters (command-line flags with their defaults) and fixed figures.

const arg = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : Number.NaN;
  return Number.isFinite(value) ? value : fallback;
};
const listArg = (name: string, fallback: number[]): number[] => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0
    ? String(process.argv[index + 1])
        .split(',')
        .map(Number)
    : fallback;
};

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

export const P: Params = {
  seed: arg('seed', 1),
  lagMs: arg('lag-ms', 100),
  stopMs: arg('stop-ms', 2_000),
  startMs: arg('start-ms', 5_000),
  readyMs: arg('ready-ms', 5_000),
  bakeSeconds: arg('bake-s', 10),
  ecsBurst: arg('ecs-burst', 100),
  ecsRatePerSecond: arg('ecs-rate', 40),
  rolloutPollMs: 1_000,
  rolloutIdlePollMs: 60_000,
  markerPollMs: 5_000,
  stewardIntervalMs: 10_000,
  tickMs: 1_000,
  rolloutEcsRatePerSecond: 20,
  bloxTickMs: 10_000,
};
export const SIZES = listArg('sizes', [100, 1_000, 10_000]);
export const LIMITS = { wcu: 1_000, rcu: 3_000 };
export const T0 = Date.parse('2026-12-01T12:00:00.000Z');
export const HORIZON_MS = 6 * 3_600_000;
