// The fleet page in a real browser: Debian's Chromium driven by playwright-core against the bundled
// coordinator (`node dist/blox.js coordinator`) and DynamoDB Local. The test writes what the agents
// would (status records, the steward's counts and phases) step by step and watches the page follow.
// BLOX_PAGE_SCREENSHOT=docs/images/fleet-page.png also saves the README's picture mid-rollout.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, dynamoDbEndpoint } from '../support/services.js';
import { CuttablePipe, launchChromium, offersStreams, openPage, pageErrors, PageWorld, stewardCounts } from './coordinator-page-support.js';

const endpoint = dynamoDbEndpoint();
const executable = chromiumPath();
const TOKEN = 'page-suite-token-0123456789';
const WAIT = { timeout: 15_000 };
/** For the README's picture only: steps a second or two apart, so its rollout over time has a shape. */
const pace = () => new Promise((r) => setTimeout(r, process.env.BLOX_PAGE_SCREENSHOT ? 1500 : 0));

/** Waits until an element matching `selector` shows `text`. */
async function shows(page: Page, selector: string, text: string | RegExp): Promise<void> {
  try {
    await page.locator(selector).filter({ hasText: text }).first().waitFor(WAIT);
  } catch (error) {
    // What the page showed instead, to read in the failure.
    const shown = await page.locator(selector).allInnerTexts();
    throw new Error(`${selector} did not show ${String(text)}; it shows ${JSON.stringify(shown)}\n${String(error)}`);
  }
}

/** Waits until the instance table lists exactly `keys` (a filter applies at the next frame). */
async function instanceRowsAre(page: Page, keys: string[]): Promise<void> {
  // Polled from here: the page's Content-Security-Policy refuses waitForFunction's evaluated predicate.
  const listed = `JSON.stringify([...document.querySelectorAll('tr[data-instance]')].map((r) => r.dataset.instance))`;
  let shown = '';
  for (const deadline = Date.now() + WAIT.timeout; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    shown = (await page.evaluate(listed)) as string;
    if (shown === JSON.stringify(keys)) return;
  }
  throw new Error(`the instances listed are ${shown}, not ${JSON.stringify(keys)}`);
}

/** Gives the page a token through its Token dialog. */
async function enterToken(page: Page, token: string): Promise<void> {
  await page.click('#token-button');
  await page.fill('#token-input', token);
  await page.click('#token-form button[value="save"]');
}

describe.skipIf(!endpoint || !executable)('the fleet page in Chromium (bundled coordinator, DynamoDB Local)', () => {
  let world: PageWorld;
  let browser: Browser;
  beforeAll(async () => {
    [world, browser] = await Promise.all([PageWorld.start(endpoint, { token: TOKEN }), launchChromium(executable)]);
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('follows a rollout from pending to completed, live', async () => {
    const created = await world.create({ name: 'web', instanceGroup: { cluster: 'prod' }, taskDefinition: 'web:1' });
    const first = created.activeDeployment?.id as string;
    const ids = ['i-01', 'i-02', 'i-03', 'i-04'];
    for (const id of ids) await world.instance('prod', id, [{ environment: 'web', revision: 1, state: 'healthy' }]);
    await world.steward('web', first, {
      status: 'completed',
      phase: 'done',
      counts: stewardCounts(4, 4, 4, 4, { '1': 4 }),
      finishedAt: new Date().toISOString(),
    });

    const page = await openPage(browser, world.url, { token: TOKEN });
    await shows(page, 'tr[data-environment="web"]', 'completed');
    // Through the streams where the coordinator has them, else by polling the list routes.
    await shows(page, '#connection', (await offersStreams(world.url)) ? /^live$/ : 'live (polling every 2 s');
    await shows(page, 'tr[data-instance="prod/i-01"]', 'web @ revision 1');

    await pace();
    // A new revision: its deployment is pending until the agents' steward counts the fleet.
    const second = await world.update('web', { taskDefinition: 'web:2' });
    await shows(page, 'tr[data-environment="web"]', 'pending');
    await shows(page, 'tr[data-environment="web"]', 'no count from the agents yet');
    await page.click('a[href="#/environments/web"]');
    await shows(page, '.revisions li[data-revision="2"]', /taskDefinition\s*web:1\s*→\s*web:2/);

    // Rolling: one instance admitted, its new daemon starting.
    await world.steward('web', second, {
      status: 'in_progress',
      phase: 'rolling',
      startedAt: new Date().toISOString(),
      counts: stewardCounts(4, 1, 3, 0, { '1': 3, '2': 1 }),
    });
    await world.instance('prod', 'i-01', [{ environment: 'web', revision: 2, state: 'starting' }]);
    await shows(page, `li[data-deployment="${second}"]`, 'updated 1 · ready 3 · available 0 · failed 0 of 4');
    await shows(page, `li[data-deployment="${second}"]`, 'phase rolling');
    await shows(page, '.group[data-revision="2"]', 'Revision 2: 1 instance');
    await pace();

    // Half way.
    await world.instance('prod', 'i-01', [{ environment: 'web', revision: 2, state: 'healthy' }]);
    await pace();
    await world.instance('prod', 'i-02', [{ environment: 'web', revision: 2, state: 'starting' }]);
    await pace();
    await world.instance('prod', 'i-02', [{ environment: 'web', revision: 2, state: 'healthy' }]);
    await world.steward('web', second, { counts: stewardCounts(4, 2, 4, 2, { '1': 2, '2': 2 }) });
    await shows(page, `li[data-deployment="${second}"]`, 'updated 2 · ready 4 · available 2 · failed 0 of 4');
    await shows(page, '.group[data-revision="1"]', 'Revision 1: 2 instances');
    if (process.env.BLOX_PAGE_SCREENSHOT) {
      await pace();
      await page.click('a[href="#/"]');
      await page.locator('.rollout-chart').first().waitFor(WAIT);
      mkdirSync(dirname(process.env.BLOX_PAGE_SCREENSHOT), { recursive: true });
      await page.screenshot({ path: process.env.BLOX_PAGE_SCREENSHOT, fullPage: true });
      await page.click('a[href="#/environments/web"]');
    }

    // Done.
    for (const id of ['i-03', 'i-04']) await world.instance('prod', id, [{ environment: 'web', revision: 2, state: 'healthy' }]);
    await world.steward('web', second, {
      status: 'completed',
      phase: 'done',
      counts: stewardCounts(4, 4, 4, 4, { '2': 4 }),
      finishedAt: new Date().toISOString(),
    });
    await shows(page, `li[data-deployment="${second}"]`, 'completed');
    await shows(page, `li[data-deployment="${second}"]`, 'updated 4 · ready 4 · available 4 · failed 0 of 4');
    await shows(page, '.group[data-revision="2"]', 'Revision 2: 4 instances');
    expect(await page.locator('.group[data-revision="1"]').count()).toBe(0);
    // The picture of the rollout drew both revisions, from what the page saw over time.
    expect(await page.locator('.rollout-chart path[data-revision="1"]').count()).toBe(1);
    expect(await page.locator('.rollout-chart path[data-revision="2"]').count()).toBe(1);
    expect(await page.locator('.rollout-chart svg').getAttribute('aria-label')).toMatch(/now revision 1: 0, revision 2: 4$/);
    expect(pageErrors(page)).toEqual([]);
    await page.context().close();
  }, 90_000);

  it('shows a failed deployment with its reasons, its failed instances and their daemons', async () => {
    const created = await world.create({ name: 'api', instanceGroup: { cluster: 'prod' }, taskDefinition: 'api:1' });
    await world.steward('api', created.activeDeployment?.id as string, { status: 'completed', phase: 'done', counts: stewardCounts(2, 2, 2, 2, { '1': 2 }) });
    await world.instance('prod', 'i-11', [{ environment: 'api', revision: 1, state: 'healthy' }]);
    await world.instance('prod', 'i-12', [{ environment: 'api', revision: 1, state: 'healthy' }]);
    const id = await world.update('api', { taskDefinition: 'api:2', deploymentConfiguration: { healthyDeadlineSeconds: 60 } });
    const page = await openPage(browser, `${world.url}/#/environments/api`);
    await shows(page, `li[data-deployment="${id}"]`, 'pending');
    // The revision's diff names both changed fields.
    await shows(page, '.revisions li[data-revision="2"]', /deploymentConfiguration\.healthyDeadlineSeconds\s*300\s*→\s*60/);

    const arn = 'arn:aws:ecs:us-east-1:123456789012:container-instance/prod/i-12';
    await world.instance('prod', 'i-12', [{ environment: 'api', revision: 2, state: 'crash_loop', restarts: 3, reason: 'exit code 1 three times in a row' }], {
      ready: false,
      lastError: { message: 'task stopped: Essential container in task exited', at: new Date().toISOString() },
    });
    await world.steward('api', id, {
      status: 'failed',
      phase: 'done',
      counts: stewardCounts(2, 1, 1, 0, { '1': 1, '2': 1 }),
      failedInstances: [{ containerInstanceArn: arn, reason: 'not ready within healthyDeadlineSeconds (60 s): crash_loop', at: new Date().toISOString() }],
      reasons: ['environment updated to revision 2', 'failed: 1 instance failed (failureThreshold 1)'],
      finishedAt: new Date().toISOString(),
    });
    const deployment = `li[data-deployment="${id}"]`;
    await shows(page, deployment, 'failed');
    await shows(page, `${deployment} .reasons`, 'failed: 1 instance failed (failureThreshold 1)');
    await shows(page, `${deployment} .failures`, 'i-12: not ready within healthyDeadlineSeconds (60 s): crash_loop');
    await shows(page, deployment, 'updated 1 · ready 1 · available 0 · failed 1 of 2');
    await shows(page, '.group[data-revision="2"]', 'crash loop');

    // The fleet: the environment is unhealthy; the instance says why, and the filters find it.
    await page.click('a[href="#/"]');
    await shows(page, 'tr[data-environment="api"]', 'unhealthy');
    const row = 'tr[data-instance="prod/i-12"]';
    await shows(page, row, 'not ready');
    await shows(page, row, 'crash loop api @ revision 2 · 3 restarts');
    await shows(page, row, 'exit code 1 three times in a row');
    await shows(page, row, 'task stopped: Essential container in task exited');
    await page.selectOption('select[name="environment"]', 'api');
    await page.selectOption('select[name="state"]', 'crash_loop');
    await shows(page, '.count', '1 of');
    await instanceRowsAre(page, ['prod/i-12']);
    await page.selectOption('select[name="state"]', 'ready');
    await instanceRowsAre(page, ['prod/i-11']);
    expect(pageErrors(page)).toEqual([]);
    await page.context().close();
  }, 60_000);

  it('offers the actions only with a token; the API refuses a wrong one in its own words; with the right one each action works', async () => {
    const created = await world.create({
      name: 'jobs',
      instanceGroup: { cluster: 'prod' },
      taskDefinition: 'jobs:1',
      deploymentConfiguration: { canary: '1' },
    });
    await world.steward('jobs', created.activeDeployment?.id as string, { status: 'completed', phase: 'done' });
    const id = await world.update('jobs', { taskDefinition: 'jobs:2' });
    await world.steward('jobs', id, { status: 'awaiting_promotion', phase: 'awaiting_promotion', counts: stewardCounts(3, 1, 3, 1, { '1': 2, '2': 1 }) });
    const deployment = `li[data-deployment="${id}"]`;

    // No token: no action is offered, and the API refuses a change without one.
    const page = await openPage(browser, `${world.url}/#/environments/jobs`);
    await shows(page, deployment, 'canary waiting for promotion');
    expect(await page.locator('button.action').count()).toBe(0);
    await shows(page, '#auth-note', 'Enter a token');
    const refused = await page.evaluate(
      `fetch('/v1/environments/jobs/deployments/${id}/promote', { method: 'POST' }).then(async (r) => [r.status, await r.json()])`,
    );
    expect(refused).toMatchObject([401, { code: 'Unauthorized' }]);

    // A wrong token, entered with the keyboard: the actions appear; the API's refusal is shown as it words it.
    await page.focus('#token-button');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement.id')).toBe('token-input');
    await page.keyboard.type('not-the-token');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement.id')).toBe('token-button');
    const promote = `${deployment} button.a-promote`;
    await page.locator(promote).waitFor(WAIT);
    await page.focus(promote);
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement.id')).toBe('confirm-cancel');
    await page.keyboard.press('Escape');
    expect(await page.evaluate('document.activeElement.dataset.focus')).toBe(`action:jobs:${id}:promote`);
    await page.click(promote);
    await page.click('#confirm-ok');
    await shows(page, '#confirm-error', 'Unauthorized: the bearer token is not valid');
    expect((await world.t.store.getDeployment('jobs', id)).status).toBe('awaiting_promotion');
    await page.click('#confirm-cancel');

    // The right token: promote, pause, resume, stop, roll back, each confirmed, each as the API did it.
    await enterToken(page, TOKEN);
    const act = async (action: string) => {
      await page.click(`${deployment} button.a-${action}`);
      await shows(page, '#confirm-text', /\?/);
      await page.click('#confirm-ok');
      await shows(page, '#notice', 'done');
      await page.evaluate(`document.getElementById('notice').textContent = ''`);
    };
    await act('promote');
    expect((await world.t.store.getDeployment('jobs', id)).status).toBe('in_progress');
    await shows(page, deployment, 'in progress');
    await act('pause');
    expect((await world.t.store.getDeployment('jobs', id)).paused).toBe(true);
    await page.locator(`${deployment} button.a-resume`).waitFor(WAIT);
    await act('resume');
    expect((await world.t.store.getDeployment('jobs', id)).paused).toBe(false);
    await page.locator(`${deployment} button.a-pause`).waitFor(WAIT);
    await act('stop');
    expect((await world.t.store.getDeployment('jobs', id)).status).toBe('stopped');
    await shows(page, deployment, 'stopped by request');
    await act('rollback');
    expect((await world.t.store.getDeployment('jobs', id)).status).toBe('rolled_back');
    const env = await world.t.store.getEnvironment('jobs');
    expect(env.currentRevision).toBe(3);
    await shows(page, `li[data-deployment="${env.activeDeployment?.id}"]`, 'revision 2 → 3');
    await shows(page, '.revisions li[data-revision="3"]', 'copy of revision 1');
    // A conflict is worded by the API too: the rolled-back deployment cannot be stopped again (its button is gone).
    expect(await page.locator(`${deployment} button.action`).count()).toBe(0);
    expect(pageErrors(page)).toEqual([]);
    await page.context().close();
  }, 90_000);

  it('offers no action from a coordinator without tokens, whatever token the page holds', async () => {
    const open = await PageWorld.start(endpoint, { table: world.t });
    try {
      const page = await openPage(browser, `${open.url}/#/environments/jobs`, { token: TOKEN });
      await shows(page, '#auth-note', 'Read-only: this coordinator has no tokens configured');
      await shows(page, '.deployments', 'rolled back');
      expect(await page.locator('button.action').count()).toBe(0);
      await page.context().close();
    } finally {
      await open.close();
    }
  }, 60_000);

  it('from a coordinator whose reads need a token, shows nothing but how to give one, then everything once given', async () => {
    // The same table: the fleet of the first test (environment web, instance i-01).
    const guarded = await PageWorld.start(endpoint, { table: world.t, token: TOKEN, args: ['--require-token-for-reads'] });
    try {
      const page = await openPage(browser, guarded.url, { rendered: false });
      await shows(page, '#connection', 'reading needs a token');
      await shows(page, 'main', 'Unauthorized');
      expect(await page.locator('tr[data-instance]').count()).toBe(0);
      await enterToken(page, TOKEN);
      await page.waitForSelector('body[data-rendered="true"]', WAIT);
      await shows(page, 'tr[data-environment="web"]', 'healthy');
      await shows(page, 'tr[data-instance="prod/i-01"]', 'web @ revision 2');
      await shows(page, '#connection', /^live/);
      expect(pageErrors(page)).toEqual([]);
      await page.context().close();
    } finally {
      await guarded.close();
    }
  }, 60_000);

  it('shows what was written while the coordinator was down once it is back on the same port: no gap', async () => {
    const created = await world.create({ name: 'logs', instanceGroup: { cluster: 'edge' }, taskDefinition: 'logs:1' });
    await world.steward('logs', created.activeDeployment?.id as string, { status: 'completed', phase: 'done' });
    for (const n of [1, 2, 3]) await world.instance('edge', `i-2${n}`, [{ environment: 'logs', revision: 1, state: 'healthy' }]);
    const id = await world.update('logs', { taskDefinition: 'logs:2' });
    await world.steward('logs', id, { status: 'in_progress', phase: 'rolling', counts: stewardCounts(3, 0, 3, 0, { '1': 3 }) });
    const page = await openPage(browser, `${world.url}/#/environments/logs`, { token: TOKEN });
    await shows(page, `li[data-deployment="${id}"]`, 'updated 0 · ready 3 · available 0 · failed 0 of 3');

    await world.killCoordinator();
    await shows(page, '#connection', 'reconnecting');
    // Written while nothing serves the page.
    await world.instance('edge', 'i-21', [{ environment: 'logs', revision: 2, state: 'healthy' }]);
    await world.instance('edge', 'i-22', [{ environment: 'logs', revision: 2, state: 'healthy' }]);
    await world.steward('logs', id, { counts: stewardCounts(3, 2, 3, 2, { '1': 1, '2': 2 }) });
    await world.instance('edge', 'i-23', [{ environment: 'logs', revision: 2, state: 'starting' }]);
    await world.startCoordinator();

    await shows(page, `li[data-deployment="${id}"]`, 'updated 2 · ready 3 · available 2 · failed 0 of 3');
    await shows(page, '.group[data-revision="2"]', 'Revision 2: 3 instances');
    await shows(page, '#connection', /^live/);
    await page.click('a[href="#/"]');
    await shows(page, 'tr[data-instance="edge/i-23"]', 'starting logs @ revision 2');
    expect(pageErrors(page)).toEqual([]);
    await page.context().close();
  }, 60_000);

  it('resumes a dropped stream after the last event it had (Last-Event-ID) and shows what was written meanwhile', async () => {
    const created = await world.create({ name: 'metrics', instanceGroup: { cluster: 'edge' }, taskDefinition: 'metrics:1' });
    await world.steward('metrics', created.activeDeployment?.id as string, { status: 'completed', phase: 'done' });
    for (const n of [1, 2]) await world.instance('edge', `i-3${n}`, [{ environment: 'metrics', revision: 1, state: 'healthy' }]);
    const id = await world.update('metrics', { taskDefinition: 'metrics:2' });
    await world.steward('metrics', id, { status: 'in_progress', phase: 'rolling', counts: stewardCounts(2, 0, 2, 0, { '1': 2 }) });
    const pipe = await CuttablePipe.start(world.port);
    try {
      const page = await openPage(browser, `${pipe.url}/#/environments/metrics`);
      await shows(page, `li[data-deployment="${id}"]`, 'updated 0 · ready 2 · available 0 · failed 0 of 2');
      pipe.takeDown();
      await shows(page, '#connection', 'reconnecting');
      await world.instance('edge', 'i-31', [{ environment: 'metrics', revision: 2, state: 'healthy' }]);
      await world.steward('metrics', id, { counts: stewardCounts(2, 1, 2, 1, { '1': 1, '2': 1 }) });
      // Long enough for the coordinator to have taken the writes in while nobody was connected.
      await new Promise((r) => setTimeout(r, 1500));
      pipe.bringBack();
      await shows(page, `li[data-deployment="${id}"]`, 'updated 1 · ready 2 · available 1 · failed 0 of 2');
      await shows(page, '.group[data-revision="2"]', 'Revision 2: 1 instance');
      await shows(page, '#connection', /^live/);
      if (await offersStreams(world.url)) {
        // The page asked to resume both streams after the last event it had seen.
        expect(pipe.sent).toMatch(/GET \/v1\/stream\/instances HTTP\/1\.1\r\n(?:[^\r]+\r\n)*last-event-id: \S+/i);
        expect(pipe.sent).toMatch(/GET \/v1\/stream\/deployments HTTP\/1\.1\r\n(?:[^\r]+\r\n)*last-event-id: \S+/i);
      }
      expect(pageErrors(page)).toEqual([]);
      await page.context().close();
    } finally {
      await pipe.close();
    }
  }, 60_000);

  it('is readable on a phone and at 1,280 px: nothing wider than the screen', async () => {
    for (const width of [390, 1280]) {
      const page = await openPage(browser, world.url, { token: TOKEN, width, height: 800 });
      await shows(page, 'tr[data-environment="web"]', 'web');
      for (const view of ['#/', '#/environments/web']) {
        await page.evaluate(`location.hash = ${JSON.stringify(view)}`);
        await page.locator('main .card').first().waitFor(WAIT);
        expect(await page.evaluate('document.documentElement.scrollWidth'), `${view} at ${width} px`).toBeLessThanOrEqual(width);
      }
      await page.context().close();
    }
  }, 60_000);

  it('parses the event stream however the network splits it', async () => {
    const page = await openPage(browser, world.url);
    const events = await page.evaluate(`(async () => {
      const { sseParser } = await import('/ui/live.js');
      const text = 'retry: 1000\\r\\n\\r\\n: keepalive\\r\\nid: 7\\r\\nevent: snapshot\\r\\ndata: {"items":\\r\\ndata: []}\\r\\n\\r\\nid: 8\\nevent: upsert\\ndata: {"a":1}\\n\\nevent: remove\\rid: 9\\rdata: {"key":{}}\\r\\r';
      const results = [];
      for (let cut = 0; cut <= text.length; cut++) {
        const seen = [];
        let retry;
        const parser = sseParser((e) => seen.push(e), (ms) => (retry = ms));
        parser.push(text.slice(0, cut));
        parser.push(text.slice(cut));
        results.push(JSON.stringify({ seen, retry, last: parser.lastId }));
      }
      return [...new Set(results)];
    })()`);
    expect(events).toEqual([
      JSON.stringify({
        seen: [
          { event: 'snapshot', data: '{"items":\n[]}', id: '7' },
          { event: 'upsert', data: '{"a":1}', id: '8' },
          { event: 'remove', data: '{"key":{}}', id: '9' },
        ],
        retry: 1000,
        last: '9',
      }),
    ]);
    await page.context().close();
  });

  // The load figure of the closing note: time from navigation to the first complete render (the
  // environments, every instance and the deployments drawn), the median of three loads.
  it('renders a fleet of 1,000 instances completely, and says how long the first render took', async () => {
    await world.create({ name: 'big', instanceGroup: { cluster: 'big' }, taskDefinition: 'big:1' });
    const ids = Array.from({ length: 1000 }, (_, n) => `i-big-${String(n).padStart(4, '0')}`);
    for (let n = 0; n < ids.length; n += 50) {
      await Promise.all(
        ids.slice(n, n + 50).map((id, k) => world.instance('big', id, [{ environment: 'big', revision: (n + k) % 3 === 0 ? 2 : 1, state: 'healthy' }])),
      );
    }
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      const page = await openPage(browser, world.url);
      expect(await page.locator('tr[data-instance^="big/"]').count()).toBe(1000);
      times.push(await page.evaluate(`performance.getEntriesByName('blox-rendered')[0].startTime`));
      await page.context().close();
    }
    const median = [...times].sort((a, b) => a - b)[1] as number;
    console.log(`fleet page, 1,000 instances: first complete render ${times.map((t) => Math.round(t)).join(', ')} ms (median ${Math.round(median)} ms)`);
    expect(median).toBeGreaterThan(0);
  }, 120_000);
});
