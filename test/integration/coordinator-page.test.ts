// The fleet page in a real browser: Debian's Chromium driven by playwright-core against the bundled
// coordinator (`node dist/blox.js coordinator`) and DynamoDB Local. The test writes what the agents
// would (status records, the steward's counts and phases) step by step and watches the page follow.
// BLOX_PAGE_SCREENSHOT=docs/images/fleet-page.png also saves the README's picture mid-rollout.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, dynamoDbEndpoint } from '../support/services.js';
import { launchChromium, openPage, pageErrors, PageWorld, stewardCounts } from './coordinator-page-support.js';

const endpoint = dynamoDbEndpoint();
const executable = chromiumPath();
const TOKEN = 'page-suite-token-0123456789';
const WAIT = { timeout: 15_000 };

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
    await shows(page, 'tr[data-instance="prod/i-01"]', 'web @ revision 1');

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

    // Half way.
    await world.instance('prod', 'i-01', [{ environment: 'web', revision: 2, state: 'healthy' }]);
    await world.instance('prod', 'i-02', [{ environment: 'web', revision: 2, state: 'healthy' }]);
    await world.steward('web', second, { counts: stewardCounts(4, 2, 4, 2, { '1': 2, '2': 2 }) });
    await shows(page, `li[data-deployment="${second}"]`, 'updated 2 · ready 4 · available 2 · failed 0 of 4');
    await shows(page, '.group[data-revision="1"]', 'Revision 1: 2 instances');
    if (process.env.BLOX_PAGE_SCREENSHOT) {
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
});
