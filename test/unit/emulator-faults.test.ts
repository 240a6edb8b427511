// Fault injection: latency, error rate, token-bucket throttling per operation, a frozen endpoint.
import { CreateClusterCommand, DescribeClustersCommand, ListClustersCommand, ListTasksCommand } from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestWorld, type TestWorld } from '../../local/ecs/testing.js';

let world: TestWorld;

beforeEach(async () => {
  let seed = 1;
  // A tiny deterministic generator, so "30% of requests" is the same 30% every run.
  const rng = (): number => {
    seed = (seed * 16807) % 2147483647;
    return (seed - 1) / 2147483646;
  };
  world = await startTestWorld({ emulator: { rng } });
  await world.ecs.send(new CreateClusterCommand({ clusterName: 'default' }));
});

afterEach(async () => {
  await world.close();
  expect(world.conformance?.problems ?? []).toEqual([]);
});

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return `${e.name}/${e.$metadata?.httpStatusCode}/${e.message}`;
  }
}

describe('fault injection', () => {
  it('adds latency to one operation or to all', async () => {
    // Wide margins: an undelayed call takes a few ms, but a loaded CI machine can stall one for 100+ ms.
    world.emulator.faults.setLatency('ListClusters', 600);
    let started = Date.now();
    await world.ecs.send(new ListClustersCommand({}));
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    started = Date.now();
    await world.ecs.send(new DescribeClustersCommand({}));
    expect(Date.now() - started).toBeLessThan(500);
    world.emulator.faults.setLatency('*', 600);
    started = Date.now();
    await world.ecs.send(new DescribeClustersCommand({}));
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    world.emulator.faults.clear();
    started = Date.now();
    await world.ecs.send(new ListClustersCommand({}));
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('fails a share of requests with the chosen error type and HTTP status', async () => {
    world.emulator.faults.setErrorRate('ListTasks', 1);
    expect(await outcome(world.ecs.send(new ListTasksCommand({})))).toBe('ServerException/500/Injected fault: ServerException');
    expect(await outcome(world.ecs.send(new ListClustersCommand({})))).toBe('ok');
    world.emulator.faults.setErrorRate('ListTasks', 1, 'ClientException');
    expect(await outcome(world.ecs.send(new ListTasksCommand({})))).toBe('ClientException/400/Injected fault: ClientException');
    world.emulator.faults.setErrorRate('*', 0.3);
    world.emulator.faults.setErrorRate('ListTasks', 0);
    const results = await Promise.all(Array.from({ length: 200 }, () => outcome(world.ecs.send(new DescribeClustersCommand({})))));
    const failed = results.filter((result) => result !== 'ok').length;
    expect(failed).toBeGreaterThan(30);
    expect(failed).toBeLessThan(90);
    expect(await outcome(world.ecs.send(new ListTasksCommand({})))).not.toBe('ServerException/500/Injected fault: ServerException');
  });

  it('throttles with a token bucket per operation: burst, then the refill rate (ThrottlingException "Rate exceeded")', async () => {
    world.emulator.faults.setThrottle('DescribeClusters', { ratePerSecond: 2, burst: 3 });
    const burst = [];
    for (let i = 0; i < 5; i++) burst.push(await outcome(world.ecs.send(new DescribeClustersCommand({}))));
    expect(burst).toEqual(['ok', 'ok', 'ok', 'ThrottlingException/400/Rate exceeded', 'ThrottlingException/400/Rate exceeded']);
    // Other operations have their own (here: no) bucket.
    expect(await outcome(world.ecs.send(new ListClustersCommand({})))).toBe('ok');
    world.clock.advance(500); // one token back at 2/s
    expect(await outcome(world.ecs.send(new DescribeClustersCommand({})))).toBe('ok');
    expect(await outcome(world.ecs.send(new DescribeClustersCommand({})))).toBe('ThrottlingException/400/Rate exceeded');
    world.clock.advance(10_000); // refills to the burst size, not beyond
    const after = [];
    for (let i = 0; i < 4; i++) after.push(await outcome(world.ecs.send(new DescribeClustersCommand({}))));
    expect(after.filter((result) => result === 'ok')).toHaveLength(3);
    // '*' gives every operation its own bucket.
    world.emulator.faults.clear();
    world.emulator.faults.setThrottle('*', { ratePerSecond: 0, burst: 1 });
    expect(await outcome(world.ecs.send(new ListClustersCommand({})))).toBe('ok');
    expect(await outcome(world.ecs.send(new ListTasksCommand({})))).toBe('ok');
    expect(await outcome(world.ecs.send(new ListClustersCommand({})))).toBe('ThrottlingException/400/Rate exceeded');
    expect(world.emulator.callCounts().ListClusters).toBe(3);
  });

  it('freezes the endpoint: requests hang until unfrozen, then complete', async () => {
    world.emulator.faults.freeze();
    expect(world.emulator.faults.frozen).toBe(true);
    let settled = false;
    const pending = world.ecs.send(new ListClustersCommand({})).then((answer) => {
      settled = true;
      return answer;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(settled).toBe(false);
    world.emulator.faults.unfreeze();
    const answer = await pending;
    expect(answer.clusterArns).toEqual(['arn:aws:ecs:us-east-1:000000000000:cluster/default']);
  });

  it('clear() removes every fault and releases frozen requests', async () => {
    world.emulator.faults.setErrorRate('*', 1);
    world.emulator.faults.setThrottle('*', { ratePerSecond: 0, burst: 1 });
    world.emulator.faults.freeze();
    const pending = outcome(world.ecs.send(new ListClustersCommand({})));
    await new Promise((resolve) => setTimeout(resolve, 50));
    world.emulator.faults.clear();
    expect(await pending).toBe('ok');
    for (let i = 0; i < 3; i++) expect(await outcome(world.ecs.send(new ListClustersCommand({})))).toBe('ok');
  });

  it('rejects nonsense settings', () => {
    expect(() => world.emulator.faults.setErrorRate('*', 1.5)).toThrow(RangeError);
    expect(() => world.emulator.faults.setLatency('*', -1)).toThrow(RangeError);
    expect(() => world.emulator.faults.setThrottle('*', { ratePerSecond: 1, burst: 0 })).toThrow(RangeError);
  });
});
