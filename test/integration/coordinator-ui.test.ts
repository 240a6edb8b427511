// The web page's script, run against the real API with a minimal stand-in for the DOM: it must
// render the environments, an environment's deployments and revisions, and the instances.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UI_SCRIPT } from '../../coordinator/ui.js';
import { dynamoDbEndpoint } from '../support/services.js';
import { createTestTable, instanceStatusItem, TestApi, type TestTable } from './coordinator-support.js';

const endpoint = dynamoDbEndpoint();

class FakeElement {
  children: FakeElement[] = [];
  textContent = '';
  className = '';
  hidden = false;
  onclick: (() => void) | null = null;
  constructor(readonly tag: string) {}
  appendChild(child: FakeElement): FakeElement {
    this.children.push(child);
    return child;
  }
  replaceChildren(...children: FakeElement[]): void {
    this.children = children;
  }
  /** All text below this element, cells separated by | and rows by newlines. */
  text(): string {
    if (this.tag === 'tr') return this.children.map((c) => c.text()).join('|') + '\n';
    return this.textContent + this.children.map((c) => c.text()).join('');
  }
  find(predicate: (e: FakeElement) => boolean): FakeElement[] {
    return [...(predicate(this) ? [this] : []), ...this.children.flatMap((c) => c.find(predicate))];
  }
}

describe.skipIf(!endpoint)('the web page (DynamoDB Local)', () => {
  let t: TestTable;
  let api: TestApi;
  beforeAll(async () => {
    t = await createTestTable(endpoint, 'ui');
    api = await TestApi.start({ store: t.store });
  });
  afterAll(async () => {
    await api?.close();
    await t?.dispose();
  });

  it("renders environments, a selected environment's history, and instances", async () => {
    const env = (
      await api.call('POST', '/v1/environments', {
        body: { name: 'web-env', instanceGroup: { cluster: 'prod', expression: 'attribute:ecs.os-type == linux' }, taskDefinition: 'logs:1' },
      })
    ).body;
    await api.call('PUT', '/v1/environments/web-env', { body: { token: env.token, taskDefinition: 'logs:2' } });
    await t.table.put(instanceStatusItem('prod', 'i-web', [{ environment: 'web-env', revision: 2, state: 'healthy' }]));
    const ids = ['version', 'refreshed', 'environments', 'detail', 'detail-title', 'detail-body', 'instances'];
    const byId = new Map(ids.map((id) => [id, new FakeElement('div')]));
    const timers: Array<() => void> = [];
    const calls: string[] = [];
    const document = { getElementById: (id: string) => byId.get(id), createElement: (tag: string) => new FakeElement(tag) };
    const fetchApi = async (path: string, init?: RequestInit) => {
      calls.push(path);
      expect(init?.method ?? 'GET').toBe('GET');
      return api.call('GET', path).then((r) => ({ ok: r.status < 400, status: r.status, json: async () => r.body }));
    };
    const run = new Function('document', 'fetch', 'setInterval', UI_SCRIPT);
    run(document, fetchApi, (fn: () => void) => timers.push(fn));
    const settle = async (check: () => boolean) => {
      for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
    };
    await settle(() => (byId.get('refreshed')?.textContent ?? '').startsWith('refreshed'));
    const environments = byId.get('environments') as FakeElement;
    expect(environments.text()).toContain('web-env|prod|attribute:ecs.os-type == linux|logs:2|2|healthy|pending|1/1');
    expect((byId.get('instances') as FakeElement).text()).toContain('i-web|prod');
    expect((byId.get('instances') as FakeElement).text()).toContain('web-env@2: healthy');
    expect(byId.get('version')?.textContent).toMatch(/^coordinator /);

    // selecting the environment shows its deployments and revisions
    const row = environments.find((e) => e.tag === 'tr' && e.onclick !== null)[0] as FakeElement;
    (byId.get('refreshed') as FakeElement).textContent = '';
    row.onclick?.();
    await settle(() => (byId.get('refreshed')?.textContent ?? '').startsWith('refreshed') && (byId.get('detail-body')?.children.length ?? 0) > 0);
    expect(byId.get('detail')?.hidden).toBe(false);
    const detail = (byId.get('detail-body') as FakeElement).text();
    expect(detail).toMatch(/\|pending\|1 → 2\|logs:2\|0\|/);
    expect(detail).toMatch(/\|stopped\|1\|logs:1\|0\|.*superseded by/);
    expect(detail).toMatch(/^2\|logs:2\|attribute:ecs.os-type == linux\|1\|0\|no\|-\|/m);
    expect(timers).toHaveLength(1);
    expect(calls.every((p) => p.startsWith('/v1/'))).toBe(true);
  });

  it('answered every request through a client that checked the response against the OpenAPI document', async () => {
    await api.expectEveryResponseValidated();
  });
});
