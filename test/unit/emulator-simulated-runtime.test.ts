// The simulated task runtime on its own: lifecycle events, the per-instance Docker view with the
// ECS agent's labels, Docker-style events, health checks, crashes, failures and cleanup.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.js';
import { SimulatedRuntime, type SimulatedRuntimeOptions } from '../../local/runtime/simulated.js';
import type { RuntimeEvent, RuntimeTaskSpec, ViewEvent } from '../../local/runtime/types.js';

const INSTANCE = 'arn:aws:ecs:us-east-1:000000000000:container-instance/c/abc';

function spec(id: string, overrides: Partial<RuntimeTaskSpec> = {}): RuntimeTaskSpec {
  return {
    taskArn: `arn:aws:ecs:us-east-1:000000000000:task/c/${id}`,
    clusterName: 'c',
    clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/c',
    containerInstanceArn: INSTANCE,
    family: 'daemon',
    revision: 3,
    containers: [
      {
        name: 'main',
        image: 'busybox',
        essential: true,
        environment: {},
        healthCheck: { command: ['CMD', 'true'], intervalSeconds: 10, timeoutSeconds: 2, retries: 3, startPeriodSeconds: 20 },
      },
      { name: 'side', image: 'busybox', essential: false, environment: {} },
    ],
    ...overrides,
  };
}

function setup(options: SimulatedRuntimeOptions = {}): { clock: ManualClock; runtime: SimulatedRuntime; events: string[]; view: string[] } {
  const clock = new ManualClock();
  const runtime = new SimulatedRuntime({ clock, startLatencyMs: 100, stopLatencyMs: 10, ...options });
  const events: string[] = [];
  const view: string[] = [];
  runtime.onEvent((event: RuntimeEvent) => {
    if (event.type === 'started') events.push(`started ${event.containerName}`);
    if (event.type === 'health') events.push(`health ${event.containerName} ${event.health}`);
    if (event.type === 'exited') events.push(`exited ${event.containerName} ${event.exitCode}${event.oomKilled ? ' oom' : ''}`);
  });
  runtime.watch(INSTANCE, (event: ViewEvent) => view.push(event.exitCode === undefined ? event.action : `${event.action} ${event.exitCode}`));
  return { clock, runtime, events, view };
}

describe('the simulated runtime', () => {
  it('starts after the latency, turns healthy after the start period, and labels containers as the ECS agent does', async () => {
    const { clock, runtime, events, view } = setup();
    await runtime.start(spec('t1'));
    expect(runtime.containersOf(INSTANCE).map((container) => container.state)).toEqual(['created', 'created']);
    clock.advance(99);
    expect(events).toEqual([]);
    clock.advance(1);
    expect(events).toEqual(['started main', 'started side']);
    clock.advance(20_000);
    expect(events).toEqual(['started main', 'started side', 'health main HEALTHY']);
    expect(view).toEqual(['create', 'create', 'start', 'start', 'health_status: healthy']);
    const [side, main] = runtime.containersOf(INSTANCE);
    expect(main).toMatchObject({ state: 'running', health: 'HEALTHY', hasHealthCheck: true, image: 'busybox', exitCode: null });
    expect(side).toMatchObject({ state: 'running', health: 'UNKNOWN', hasHealthCheck: false });
    expect(main?.labels).toEqual({
      'com.amazonaws.ecs.task-arn': 'arn:aws:ecs:us-east-1:000000000000:task/c/t1',
      'com.amazonaws.ecs.container-name': 'main',
      'com.amazonaws.ecs.task-definition-family': 'daemon',
      'com.amazonaws.ecs.task-definition-version': '3',
      'com.amazonaws.ecs.cluster': 'c',
      'blox-local.container-instance-arn': INSTANCE,
    });
    expect(main?.id).toMatch(/^[0-9a-f]{64}$/);
    expect(main?.name).toMatch(/^ecs-daemon-3-main-/);
  });

  it('reports the health outcome it is told, and setHealth flips it with Docker events', async () => {
    const { clock, runtime, events, view } = setup({ healthOutcome: () => 'UNHEALTHY' });
    await runtime.start(spec('t1'));
    clock.advance(100 + 20_000);
    expect(events).toContain('health main UNHEALTHY');
    runtime.setHealth(spec('t1').taskArn, 'main', 'HEALTHY');
    expect(events[events.length - 1]).toBe('health main HEALTHY');
    expect(view.slice(-2)).toEqual(['health_status: unhealthy', 'health_status: healthy']);
  });

  it('crash() and oom produce die events with the exit code', async () => {
    const { clock, runtime, events, view } = setup();
    await runtime.start(spec('t1'));
    clock.advance(100);
    runtime.crash(spec('t1').taskArn, 'side', 2);
    runtime.crash(spec('t1').taskArn, 'main', 137, { oom: true });
    expect(events.slice(-2)).toEqual(['exited side 2', 'exited main 137 oom']);
    expect(view.slice(-3)).toEqual(['die 2', 'oom', 'die 137']);
    expect(runtime.containersOf(INSTANCE).find((container) => container.name.includes('-main-'))).toMatchObject({
      state: 'exited',
      exitCode: 137,
      oomKilled: true,
    });
  });

  it("stop() ends every running container with SIGTERM's code and resolves once they exited", async () => {
    const { clock, runtime, events } = setup();
    await runtime.start(spec('t1'));
    clock.advance(100);
    let done = false;
    const stopping = runtime.stop(spec('t1').taskArn, 30).then(() => void (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(10);
    await stopping;
    expect(events.slice(-2)).toEqual(['exited main 143', 'exited side 143']);
    await runtime.stop(spec('t1').taskArn, 30); // idempotent
    await runtime.stop('arn:unknown', 30);
  });

  it('fails starts at the failure rate and crashes on schedule', async () => {
    const { clock, runtime, events } = setup({ failureRate: 1 });
    await runtime.start(spec('t1'));
    clock.advance(100);
    expect(events).toEqual(['exited main 128']);
    const second = setup({ crashAfterMs: (task) => (task.taskArn.endsWith('t2') ? 1_000 : undefined) });
    await second.runtime.start(spec('t2'));
    await second.runtime.start(spec('t3'));
    second.clock.advance(100 + 1_000);
    expect(second.events.filter((event) => event.startsWith('exited'))).toEqual(['exited main 1']);
  });

  it('removeInstance forgets the instance and cancels what was scheduled; old exited containers are collected', async () => {
    const { clock, runtime, events } = setup({ exitedRetentionMs: 60_000 });
    await runtime.start(spec('t1'));
    await runtime.removeInstance(INSTANCE);
    clock.advance(1_000);
    expect(events).toEqual([]);
    expect(runtime.containersOf(INSTANCE)).toEqual([]);
    await runtime.start(spec('t2'));
    clock.advance(100);
    runtime.crash(spec('t2').taskArn, 'main', 1);
    runtime.crash(spec('t2').taskArn, 'side', 0);
    expect(runtime.containersOf(INSTANCE)).toHaveLength(2);
    clock.advance(60_000);
    expect(runtime.containersOf(INSTANCE)).toEqual([]);
  });

  it('refuses to start the same task twice and anything after close()', async () => {
    const { runtime } = setup();
    await runtime.start(spec('t1'));
    await expect(runtime.start(spec('t1'))).rejects.toThrow('already started');
    await runtime.close();
    await expect(runtime.start(spec('t9'))).rejects.toThrow('closed');
  });
});
