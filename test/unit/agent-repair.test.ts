// Critical-daemon repair: the decision (agent/decide/repair.ts) and the repair budget's semaphore
// rule (core/records/repair.ts), pure.
import { describe, expect, it } from 'vitest';
import { decideRepair, type RepairEnvInput, type RepairInput } from '../../agent/decide/repair.js';
import { holderGone, parseRepairBudget, takeSlot, type InstanceHeartbeat, type RepairHolder } from '../../core/records.js';
import { InvalidRecordError } from '../../core/errors.js';
import { parseCreateEnvironment, parseUpdateEnvironment } from '../../core/store/inputs.js';

const env = (over: Partial<RepairEnvInput> = {}): RepairEnvInput => ({
  environment: 'logs',
  critical: true,
  matching: true,
  revision: 2,
  order: 0,
  repair: 'drain',
  crashLoop: false,
  notReadyForMs: 0,
  healthyDeadlineMs: 300_000,
  rollout: 'none',
  holding: false,
  ...over,
});
const decide = (envs: RepairEnvInput[], over: Partial<RepairInput> = {}) =>
  decideRepair({ environments: envs, ecsStatus: 'ACTIVE', markedUnhealthy: false, ...over });
const types = (d: ReturnType<typeof decide>) => d.intents.map((i) => i.type);

describe('the repair decision', () => {
  it('a crash-looping or long unready critical daemon marks the instance degraded; a non-critical or non-matching one does not', () => {
    expect(decide([env({ crashLoop: true })]).degraded).toHaveLength(1);
    expect(decide([env({ notReadyForMs: 300_000 })]).degraded[0]?.reason).toMatch(/not ready for 300 s/);
    expect(decide([env({ notReadyForMs: 299_999 })]).degraded).toEqual([]);
    expect(decide([env({ crashLoop: true, critical: false })]).degraded).toEqual([]);
    expect(decide([env({ crashLoop: true, matching: false })]).degraded).toEqual([]);
  });

  it('repair none only marks', () => {
    const d = decide([env({ crashLoop: true, repair: 'none' })]);
    expect(d.degraded).toHaveLength(1);
    expect(d.intents).toEqual([]);
    expect(d.held).toMatch(/repair: none/);
  });

  it('takes a budget slot first, then drains; replace also sets the instance Unhealthy, once', () => {
    expect(types(decide([env({ crashLoop: true })]))).toEqual(['take-budget']);
    expect(types(decide([env({ crashLoop: true, holding: true })]))).toEqual(['drain-self']);
    expect(types(decide([env({ crashLoop: true, holding: true, repair: 'replace' })]))).toEqual(['drain-self', 'set-unhealthy']);
    expect(types(decide([env({ crashLoop: true, holding: true, repair: 'replace' })], { ecsStatus: 'DRAINING', markedUnhealthy: true }))).toEqual([]);
  });

  it('a restarted agent reads whether it holds the budget before anything else', () => {
    expect(types(decide([env({ crashLoop: true, holding: undefined })]))).toEqual(['read-budget']);
  });

  it('no repair while the environment is in its own rollout (or its control is not read yet)', () => {
    for (const rollout of ['unfinished', 'unknown'] as const) {
      const d = decide([env({ crashLoop: true, rollout })]);
      expect(d.intents).toEqual([]);
      expect(d.degraded).toHaveLength(1);
      expect(d.held).toMatch(/own rollout/);
    }
    // Already holding (the repair began before the rollout): the drain goes on.
    expect(types(decide([env({ crashLoop: true, rollout: 'unfinished', holding: true })]))).toEqual(['drain-self']);
  });

  it('on a DRAINING instance a stopped daemon is not a failure (daemons stop last), a crash loop still is', () => {
    expect(decide([env({ notReadyForMs: 1e9 })], { ecsStatus: 'DRAINING' }).degraded).toEqual([]);
    expect(decide([env({ crashLoop: true })], { ecsStatus: 'DRAINING' }).degraded).toHaveLength(1);
  });

  it('gives the slot back once the instance is ACTIVE and the daemon repairs it no more; keeps it while draining', () => {
    expect(types(decide([env({ holding: true })]))).toEqual(['release-budget']);
    expect(types(decide([env({ holding: true, crashLoop: true, repair: 'none' })]))).toEqual(['release-budget']);
    expect(types(decide([env({ holding: true })], { ecsStatus: 'DRAINING' }))).toEqual([]);
  });

  it('one environment repairs the instance: the lowest order first', () => {
    const d = decide([env({ environment: 'b', crashLoop: true, order: 1 }), env({ environment: 'a', crashLoop: true, order: 2 })]);
    expect(d.intents).toMatchObject([{ type: 'take-budget', environment: 'b' }]);
  });
});

const holder = (id: string): RepairHolder => ({ owner: `o-${id}`, action: 'drain', revision: 2, reason: 'r', since: '2026-01-01T00:00:00.000Z' });

describe('the repair budget', () => {
  it('caps the holders at the limit; a holder takes again idempotently', () => {
    const one = takeSlot({}, 'a', holder('a'), 2, new Set());
    expect(one.taken).toBe(true);
    const held = one.taken ? one.holders : {};
    const two = takeSlot(held, 'b', holder('b'), 2, new Set());
    const both = two.taken ? two.holders : {};
    expect(Object.keys(both).sort()).toEqual(['a', 'b']);
    const third = takeSlot(both, 'c', holder('c'), 2, new Set());
    expect(third).toMatchObject({ taken: false });
    expect(takeSlot(both, 'a', holder('a'), 2, new Set())).toEqual({ taken: true, holders: both, freed: [] });
  });

  it('frees only the holders proven gone', () => {
    const held = { a: holder('a'), b: holder('b') };
    const out = takeSlot(held, 'c', holder('c'), 2, new Set(['b']));
    expect(out).toMatchObject({ taken: true, freed: ['b'] });
    expect(out.taken && Object.keys(out.holders).sort()).toEqual(['a', 'c']);
  });

  it('evidence: no heartbeat, or one past validUntil by the margin', () => {
    const hb = { validUntil: 1_000 } as InstanceHeartbeat;
    expect(holderGone(null, 0)).toBe(true);
    expect(holderGone(hb, 1_029_000)).toBe(false);
    expect(holderGone(hb, 1_031_000)).toBe(true);
  });

  it('a malformed stored budget names the record and the field', () => {
    const item = {
      pk: 'ENV#logs',
      sk: 'REPAIR',
      kind: 'RepairBudget',
      schemaVersion: 1,
      environment: 'logs',
      recordVersion: 'v',
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    expect(parseRepairBudget({ ...item, holders: { a: holder('a') } }).holders.a?.owner).toBe('o-a');
    expect(() => parseRepairBudget({ ...item, holders: { a: { ...holder('a'), action: 'explode' } } })).toThrow(InvalidRecordError);
    expect(() => parseRepairBudget({ ...item, holders: { a: { ...holder('a'), action: 'explode' } } })).toThrow(/holders\.a\.action/);
  });
});

describe('the repair fields of an environment', () => {
  const body = { name: 'logs', taskDefinition: 'logs:1', instanceGroup: { cluster: 'c' } };
  it('default to none and a budget of 1; take a count or a percentage', () => {
    expect(parseCreateEnvironment(body)).toMatchObject({ repair: 'none', repairBudget: '1' });
    expect(parseCreateEnvironment({ ...body, repair: 'replace', repairBudget: '20%' })).toMatchObject({ repair: 'replace', repairBudget: '20%' });
    expect(parseCreateEnvironment({ ...body, repairBudget: 3 })).toMatchObject({ repairBudget: '3' });
    expect(parseUpdateEnvironment({ token: 't', repair: 'drain' }, 'logs')).toMatchObject({ repair: 'drain' });
    expect(parseUpdateEnvironment({ token: 't' }, 'logs').repair).toBeUndefined();
  });

  it('refuse bad values with the field named', () => {
    expect(() => parseCreateEnvironment({ ...body, repair: 'reboot' })).toThrow(/repair/);
    expect(() => parseCreateEnvironment({ ...body, repairBudget: '0' })).toThrow(/repairBudget.*at least 1/);
    expect(() => parseUpdateEnvironment({ token: 't', repairBudget: 'many' }, 'logs')).toThrow(/repairBudget/);
  });
});
