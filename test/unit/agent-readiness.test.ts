import { describe, expect, it } from 'vitest';
import type { Report } from '../../agent/model.js';
import { readinessAttributeChange } from '../../agent/report/readiness.js';

const report = (environment: string, ready: boolean, matching = true): Report => ({
  environment,
  state: ready ? 'healthy' : 'starting',
  revision: 1,
  taskDefinition: 'td:1',
  matching,
  ready,
  reason: 'test',
});
const attribute = 'blox-edge.daemons';

describe('the daemons-first attribute', () => {
  it.each([
    ['a critical daemon not ready yet keeps the instance pending', [report('logs', false)], ['logs'], 'pending', undefined],
    ['every critical daemon ready: ready', [report('logs', true)], ['logs'], 'pending', 'ready'],
    ['a non-critical daemon does not gate', [report('logs', true), report('metrics', false)], ['logs'], 'pending', 'ready'],
    ['a critical daemon that does not match this instance does not gate', [report('logs', false, false)], ['logs'], 'pending', 'ready'],
    ['a critical daemon that stops being ready flips back', [report('logs', false)], ['logs'], 'ready', 'pending'],
    ['no daemons at all: ready', [], [], undefined, 'ready'],
    ['already right: nothing to write', [report('logs', true)], ['logs'], 'ready', undefined],
  ] as const)('%s', (_name, reports, critical, current, expected) => {
    const attributes = current === undefined ? {} : { [attribute]: current };
    expect(readinessAttributeChange({ attribute, attributes, reports, critical: new Set(critical) })).toBe(expected);
  });

  it('a DRAINING instance is closed whatever its daemons do (and opens again only once it is not draining)', () => {
    const reports = [report('logs', true)];
    const critical = new Set(['logs']);
    expect(readinessAttributeChange({ attribute, attributes: { [attribute]: 'ready' }, reports, critical, draining: true })).toBe('pending');
    expect(readinessAttributeChange({ attribute, attributes: { [attribute]: 'pending' }, reports, critical, draining: true })).toBeUndefined();
    expect(readinessAttributeChange({ attribute, attributes: { [attribute]: 'pending' }, reports: [], critical: new Set(), draining: true })).toBeUndefined();
    expect(readinessAttributeChange({ attribute, attributes: { [attribute]: 'pending' }, reports, critical, draining: false })).toBe('ready');
  });

  it('decides nothing before the attributes or the desired state are known, or when turned off', () => {
    const reports = [report('logs', true)];
    const critical = new Set(['logs']);
    expect(readinessAttributeChange({ attribute, attributes: undefined, reports, critical })).toBeUndefined();
    expect(readinessAttributeChange({ attribute, attributes: {}, reports: undefined, critical })).toBeUndefined();
    expect(readinessAttributeChange({ attribute: '', attributes: {}, reports, critical })).toBeUndefined();
  });
});
