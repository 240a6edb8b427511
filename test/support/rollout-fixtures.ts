// Records the rollout's unit tests share: a rollout control, its read, an instance's part in it.
import type { ControlView } from '../../agent/decide/rollout.js';
import type { ClaimRollout, RolloutControl } from '../../core/records.js';

export const NOW = Date.parse('2026-12-01T12:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();

export function control(overrides: Partial<RolloutControl> = {}): RolloutControl {
  return {
    kind: 'RolloutControl',
    schemaVersion: 1,
    environment: 'logs',
    deploymentId: 'dep-2',
    targetRevision: 2,
    stableRevision: 1,
    phase: 'rolling',
    paused: false,
    cap: 3,
    inFlight: 0,
    admitted: 0,
    canary: 0,
    desired: 20,
    spreadMs: 0,
    unlimited: false,
    updatedAt: iso(NOW),
    ...overrides,
  };
}

export const read = (c: Partial<RolloutControl> = {}): ControlView => ({ state: 'read', control: control(c) });

export const part = (state: ClaimRollout['state'], at = NOW, counted = true): ClaimRollout => ({ deploymentId: 'dep-2', state, at: iso(at), counted });
