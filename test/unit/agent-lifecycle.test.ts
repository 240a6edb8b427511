// The scale-in / Spot decision (agent/decide/lifecycle.ts): pure, so every case is a table row.
import { describe, expect, it } from 'vitest';
import { decideLifecycle, lifecycleWakeAt, type LifecycleInput, type LifecycleMemory } from '../../agent/decide/lifecycle.js';
import type { DrainPhase } from '../../agent/decide/drain.js';

const hook = { groupName: 'g', hookName: 'drain-hook', heartbeatTimeoutMs: 300_000, globalTimeoutMs: 30_000_000 };

function input(over: Partial<LifecycleInput> & { phase?: DrainPhase } = {}): LifecycleInput {
  const { phase, ...rest } = over;
  return {
    settings: { scaleIn: true, spot: true, hookName: undefined, completeBoundMs: 3_600_000 },
    observed: { targetLifecycleState: 'Terminated' },
    ecsStatus: 'ACTIVE',
    drain: { phase: phase ?? 'none', reason: 'r' },
    memory: {},
    nowMono: 1_000_000,
    ...rest,
  };
}
const types = (i: LifecycleInput) => decideLifecycle(i).intents.map((x) => x.type);

describe('the lifecycle decision', () => {
  it('does nothing while the instance stays in service, or when the opt-in is off', () => {
    expect(types(input({ observed: { targetLifecycleState: 'InService' } }))).toEqual([]);
    expect(types(input({ observed: undefined }))).toEqual([]);
    expect(types(input({ settings: { scaleIn: false, spot: true, hookName: undefined, completeBoundMs: 1 } }))).toEqual([]);
    const spotOff = input({
      observed: { spotAction: { action: 'terminate', time: 't' } },
      settings: { scaleIn: true, spot: false, hookName: undefined, completeBoundMs: 1 },
    });
    expect(decideLifecycle(spotOff).leaving).toBeUndefined();
  });

  it('on scale-in drains the instance and looks up the hook; waits for the ECS status first', () => {
    expect(types(input({ ecsStatus: undefined }))).toEqual([]);
    expect(types(input())).toEqual(['drain-self', 'find-hook']);
    expect(decideLifecycle(input()).leaving).toBe('scale-in');
  });

  it('a restarted agent finds the instance DRAINING: no second drain, the hook looked up again, then a heartbeat', () => {
    expect(types(input({ ecsStatus: 'DRAINING', phase: 'waiting-for-tasks' }))).toEqual(['find-hook']);
    expect(types(input({ ecsStatus: 'DRAINING', phase: 'waiting-for-tasks', memory: { hook, leavingSinceMono: 1_000_000 } }))).toEqual(['heartbeat']);
  });

  it('heartbeats at a third of the hook timeout while the drain runs', () => {
    const memory: LifecycleMemory = { hook, leavingSinceMono: 0, lastHeartbeatMono: 1_000_000 };
    expect(types(input({ ecsStatus: 'DRAINING', phase: 'stopping-daemons', memory, nowMono: 1_000_000 + 99_999 }))).toEqual([]);
    expect(types(input({ ecsStatus: 'DRAINING', phase: 'stopping-daemons', memory, nowMono: 1_000_000 + 100_000 }))).toEqual(['heartbeat']);
    expect(lifecycleWakeAt(input({ ecsStatus: 'DRAINING', memory, nowMono: 1_000_010 }))).toBe(1_100_000);
  });

  it('completes once drained, or at the bound (the lower of the setting and the hook’s global timeout)', () => {
    const memory: LifecycleMemory = { hook, leavingSinceMono: 0, lastHeartbeatMono: 0 };
    expect(types(input({ ecsStatus: 'DRAINING', phase: 'drained', memory }))).toEqual(['complete']);
    expect(types(input({ ecsStatus: 'DRAINING', phase: 'waiting-for-tasks', memory, nowMono: 3_600_000 }))).toEqual(['complete']);
    const shortHook = { ...hook, globalTimeoutMs: 60_000 };
    expect(types(input({ ecsStatus: 'DRAINING', phase: 'waiting-for-tasks', memory: { ...memory, hook: shortHook }, nowMono: 60_000 }))).toEqual(['complete']);
    expect(decideLifecycle(input({ ecsStatus: 'DRAINING', phase: 'waiting-for-tasks', memory, nowMono: 3_600_000 })).intents[0]?.reason).toMatch(
      /did not finish within 3600 s/,
    );
  });

  it('sends nothing more once the action is over (completed, or Auto Scaling has none open)', () => {
    expect(types(input({ ecsStatus: 'DRAINING', phase: 'drained', memory: { hook, actionOver: true } }))).toEqual([]);
  });

  it('with no group or no termination hook only drains', () => {
    expect(types(input({ ecsStatus: 'DRAINING', memory: { hook: null } }))).toEqual([]);
    expect(types(input({ memory: { hook: { groupName: 'g', heartbeatTimeoutMs: 0, globalTimeoutMs: 0 } } }))).toEqual(['drain-self']);
  });

  it('on a Spot notice drains at once and calls no Auto Scaling action', () => {
    const spot = input({ observed: { spotAction: { action: 'terminate', time: '2026-01-01T00:02:00Z' } } });
    expect(decideLifecycle(spot).leaving).toBe('spot');
    expect(types(spot)).toEqual(['drain-self']);
    expect(types({ ...spot, ecsStatus: 'DRAINING' })).toEqual([]);
    expect(lifecycleWakeAt(spot)).toBeUndefined();
  });
});
