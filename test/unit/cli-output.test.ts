// What `blox` prints about rollouts (the status line's parts, the terminal's progress bar, env
// history) and about instances (a drain's phase).
import { describe, expect, it } from 'vitest';
import { countsText, historyTable, instancesTable, progressBar, revisionsText, statusText } from '../../coordinator/cli/output.js';
import { viewStatus, type DeploymentView } from '../../core/store/views.js';
import type { DeploymentCounts } from '../../core/records.js';

const counts = (over: Partial<DeploymentCounts> = {}): DeploymentCounts => ({
  desired: 8,
  current: 8,
  updated: 2,
  ready: 7,
  available: 2,
  unavailable: 1,
  misscheduled: 0,
  revisions: { '10': 2, '9': 6 },
  ...over,
});

const deployment = (over: Partial<DeploymentView> = {}): DeploymentView => ({
  id: 'dep-1',
  environmentName: 'logs',
  status: 'in_progress',
  taskDefinition: 'logs:10',
  failedInstances: [],
  failures: [],
  targetRevision: 10,
  paused: false,
  reasons: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

describe('deployment status in views and output', () => {
  it('shows paused for a paused unfinished deployment, and how a finished one ended', () => {
    expect(viewStatus('in_progress', true)).toBe('paused');
    expect(viewStatus('awaiting_promotion', true)).toBe('paused');
    expect(viewStatus('in_progress', false)).toBe('in_progress');
    expect(viewStatus('stopped', true)).toBe('stopped');
    expect(statusText({ status: 'paused', paused: true })).toBe('paused');
    expect(statusText({ status: 'stopped', paused: true })).toBe('stopped (paused)');
  });

  it('says the count in Kubernetes words, revisions in numeric order', () => {
    expect(countsText(counts())).toBe('2 of 8 instances updated, 2 available, 1 unavailable');
    expect(countsText(counts({ misscheduled: 1 }))).toBe('2 of 8 instances updated, 2 available, 1 unavailable, 1 misscheduled');
    expect(revisionsText(counts())).toBe('9: 6, 10: 2');
    expect(revisionsText(counts({ revisions: {} }))).toBe('none');
  });
});

describe('progress bar', () => {
  it('fills with updated/desired and names the rest', () => {
    expect(progressBar(deployment({ counts: counts(), phase: 'rolling' }), 200)).toBe(
      `[${'#'.repeat(6)}${'-'.repeat(18)}] 2/8 updated | 2 available | 1 unavailable | 0 failed | revisions 9: 6, 10: 2 | phase rolling | in_progress`,
    );
    expect(progressBar(deployment({ counts: counts({ updated: 8 }) }), 200)).toMatch(/^\[#{24}\] 8\/8 updated/);
  });

  it('before the first count, with nothing to update, and awaiting promotion', () => {
    expect(progressBar(deployment({ status: 'pending' }), 200)).toBe(`[${'-'.repeat(24)}] waiting for the agents' first count | 0 failed | pending`);
    expect(progressBar(deployment({ counts: counts({ desired: 0, updated: 0, revisions: {} }) }), 200)).toMatch(/^\[-{24}\] 0\/0 updated/);
    // more updated than desired (instances leaving mid-rollout) never overfills the bar
    expect(progressBar(deployment({ counts: counts({ desired: 2, updated: 3 }) }), 200)).toMatch(/^\[#{24}\] 3\/2 updated/);
    expect(progressBar(deployment({ status: 'awaiting_promotion', counts: counts() }), 300)).toMatch(
      /\| awaiting_promotion \| promote: blox deploy promote logs dep-1$/,
    );
  });

  it('is cut below the terminal width, so that a carriage return can redraw it', () => {
    for (const columns of [1, 2, 20, 80]) expect(progressBar(deployment({ counts: counts() }), columns).length).toBeLessThan(Math.max(2, columns));
    const failures = [{ containerInstanceArn: 'arn:x', reason: 'exit 1', at: '2026-01-01T00:00:00.000Z' }];
    expect(progressBar(deployment({ counts: counts(), failures }), 200)).toContain('| 1 failed |');
  });
});

describe('env history', () => {
  it('marks the current revision and whether one of its deployments completed', () => {
    const text = historyTable([
      {
        revision: 2,
        taskDefinition: 'logs:2',
        current: true,
        completed: false,
        deployments: [{ id: 'd2', status: 'failed', createdAt: 't' }],
        createdAt: 't2',
      },
      {
        revision: 1,
        taskDefinition: 'logs:1',
        current: false,
        completed: true,
        deployments: [
          { id: 'd1b', status: 'completed', createdAt: 't' },
          { id: 'd1a', status: 'stopped', createdAt: 't' },
        ],
        createdAt: 't1',
      },
    ]).split('\n');
    expect(text[1]).toMatch(/^2 \(current\)\s+logs:2\s+-\s+t2\s+no\s+d2 failed$/);
    expect(text[2]).toMatch(/^1\s+logs:1\s+-\s+t1\s+yes\s+d1b completed, d1a stopped$/);
  });
});

describe('blox instances', () => {
  it("shows a draining instance's drain phase beside its ECS status", () => {
    const base = {
      cluster: 'c',
      containerInstanceArn: 'arn:aws:ecs:us-east-1:000000000000:container-instance/c/abc',
      agentVersion: '1',
      ready: false,
      degraded: false,
      daemons: [],
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    const text = instancesTable([
      { ...base, ecsStatus: 'DRAINING', drain: { phase: 'waiting-for-tasks', reason: '2 other tasks' } },
      { ...base, containerInstanceArn: `${base.containerInstanceArn}2`, ecsStatus: 'ACTIVE', drain: { phase: 'none', reason: '' } },
    ]);
    expect(text).toContain('DRAINING (waiting-for-tasks)');
    expect(text).toMatch(/ACTIVE(?! \()/);
  });
});
