// The slow sweep describes only what ECS alone can tell: table test of agent/sweep.ts.
import { describe, expect, it } from 'vitest';
import { tasksToDescribe, type CataloguedTask } from '../../agent/observe/sweep.js';

const running = (ours = true): CataloguedTask => ({ lastStatus: 'RUNNING', ours });
const stopped: CataloguedTask = { lastStatus: 'STOPPED', ours: true };

describe('tasksToDescribe', () => {
  const catalog = new Map<string, CataloguedTask>([
    ['ours', running()],
    ['foreign', running(false)],
    ['gone', running()],
    ['done', stopped],
  ]);
  const cases: Array<{ name: string; listed: string[]; localStatus: boolean; localHealth: boolean; expected: string[] }> = [
    {
      name: 'steady state with local status and health: nothing but a task that vanished',
      listed: ['ours', 'foreign'],
      localStatus: true,
      localHealth: true,
      expected: ['gone'],
    },
    { name: 'a new task is always described', listed: ['ours', 'foreign', 'gone', 'new'], localStatus: true, localHealth: true, expected: ['new'] },
    {
      name: 'no Docker view: our tasks are described for their health, foreign ones not',
      listed: ['ours', 'foreign', 'gone'],
      localStatus: true,
      localHealth: false,
      expected: ['ours', 'gone'],
    },
    {
      name: 'no ECS agent answer: every listed task, for its status',
      listed: ['ours', 'foreign', 'gone'],
      localStatus: false,
      localHealth: true,
      expected: ['ours', 'foreign', 'gone'],
    },
    {
      name: 'a stopped task that ECS no longer lists is not described again',
      listed: [],
      localStatus: true,
      localHealth: true,
      expected: ['ours', 'foreign', 'gone'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(tasksToDescribe({ listed: c.listed, catalog, localStatus: c.localStatus, localHealth: c.localHealth }).sort()).toEqual([...c.expected].sort());
    });
  }

  it('an empty catalog describes exactly what was listed', () => {
    expect(tasksToDescribe({ listed: ['a', 'b'], catalog: new Map(), localStatus: true, localHealth: true })).toEqual(['a', 'b']);
  });
});
