import { describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { startHealthServer } from '../../agent/health-server.js';
import { Metrics, outcomeOf, recordCall } from '../../agent/metrics.js';

describe('agent metrics (Prometheus text format)', () => {
  it('renders counters, gauges and histograms with escaped labels', () => {
    const m = new Metrics();
    m.inc('blox_agent_api_calls_total', 'API calls', { service: 'ecs', operation: 'StartTask', outcome: 'ok' });
    m.inc('blox_agent_api_calls_total', 'API calls', { service: 'ecs', operation: 'StartTask', outcome: 'ok' });
    m.set('blox_agent_ready', 'ready', {}, 1);
    m.inc('x_total', 'odd', { reason: 'a "b"\nc\\d' });
    m.observe('blox_agent_reconcile_duration_seconds', 'step', {}, 0.02);
    m.observe('blox_agent_reconcile_duration_seconds', 'step', {}, 3);
    const text = m.render();
    expect(text).toContain('# TYPE blox_agent_api_calls_total counter');
    expect(text).toContain('blox_agent_api_calls_total{service="ecs",operation="StartTask",outcome="ok"} 2');
    expect(text).toContain('# TYPE blox_agent_ready gauge\nblox_agent_ready 1');
    expect(text).toContain('x_total{reason="a \\"b\\"\\nc\\\\d"} 1');
    expect(text).toContain('blox_agent_reconcile_duration_seconds_bucket{le="0.025"} 1');
    expect(text).toContain('blox_agent_reconcile_duration_seconds_bucket{le="5"} 2');
    expect(text).toContain('blox_agent_reconcile_duration_seconds_bucket{le="+Inf"} 2');
    expect(text).toContain('blox_agent_reconcile_duration_seconds_count 2');
    expect(m.total('blox_agent_api_calls_total', { service: 'ecs' })).toBe(2);
  });
  it('counts calls by outcome', async () => {
    const m = new Metrics();
    let t = 0;
    await recordCall(
      m,
      'dynamodb',
      'GetItem',
      () => (t += 5),
      async () => 1,
    );
    await expect(
      recordCall(
        m,
        'ecs',
        'StartTask',
        () => t,
        async () => Promise.reject(Object.assign(new Error('slow down'), { name: 'ThrottlingException' })),
      ),
    ).rejects.toThrow();
    expect(m.value('blox_agent_api_calls_total', { service: 'dynamodb', operation: 'GetItem', outcome: 'ok' })).toBe(1);
    expect(m.value('blox_agent_api_calls_total', { service: 'ecs', operation: 'StartTask', outcome: 'throttled' })).toBe(1);
    expect(outcomeOf(Object.assign(new Error('x'), { name: 'ConditionalCheckFailedException' }))).toBe('conflict');
    expect(outcomeOf(Object.assign(new Error('x'), { name: 'TimeoutError' }))).toBe('timeout');
  });
});

describe('health endpoint', () => {
  it('serves /healthz, /readyz (503 when not ready), /status and /metrics', async () => {
    const metrics = new Metrics();
    metrics.set('blox_agent_ready', 'ready', {}, 0);
    let ready = false;
    const agent = {
      metrics,
      owner: 'o',
      healthz: () => ({ ok: true, reason: 'running' }),
      readyz: () => ({ ok: ready, reason: ready ? '1 matching daemon(s) ready' : 'logs: starting' }),
      status: () => ({ agent: { owner: 'o' } }),
    } as unknown as Agent;
    const server = await startHealthServer(agent, '127.0.0.1:0');
    try {
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const notReady = await fetch(`${server.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toMatch(/logs: starting/);
      ready = true;
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${server.url}/status`)).json()).toEqual({ agent: { owner: 'o' } });
      const m = await fetch(`${server.url}/metrics`);
      expect(m.headers.get('content-type')).toMatch(/text\/plain; version=0.0.4/);
      expect(await m.text()).toMatch(/blox_agent_ready 0/);
      expect((await fetch(`${server.url}/nope`)).status).toBe(404);
      expect((await fetch(`${server.url}/status`, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.close();
    }
  });
});
