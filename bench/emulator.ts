// Throughput of the ECS emulator at fleet scale, through the real @aws-sdk/client-ecs:
//   npx tsx bench/emulator.ts [--instances 1000] [--seconds 9] [--concurrency 32]
// Registers the instances (simulated runtime), starts a task on each, then runs a request mix
// (DescribeTasks, ListTasks, StartTask, DescribeContainerInstances) for a fixed time. The same loop
// runs against a trivial node:http server replaying real answers as fixed JSON, in the same
// process, so the ratio shows the emulator's own cost over the SDK, HTTP and JSON work every
// request pays anyway; and against a 10-instance emulator, to show the cost does not grow with
// the fleet (requests touch only the tasks of the instances they name).
import { createServer } from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import {
  CreateClusterCommand,
  DescribeContainerInstancesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  StartTaskCommand,
} from '@aws-sdk/client-ecs';
import { startEcsEmulator } from '../local/ecs/emulator.js';
import { SimulatedRuntime } from '../local/runtime/simulated.js';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : Number.NaN;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const INSTANCES = option('instances', 1000);
const SECONDS = option('seconds', 9);
const CONCURRENCY = option('concurrency', 32);
const CLUSTER = 'bench';

type Op = 'DescribeTasks' | 'ListTasks' | 'StartTask' | 'DescribeContainerInstances';
/** The mix, by weight: mostly reads, as agents and dashboards poll. */
const MIX: Array<[Op, number]> = [
  ['DescribeTasks', 4],
  ['ListTasks', 3],
  ['DescribeContainerInstances', 2],
  ['StartTask', 1],
];

interface RunResult {
  requests: number;
  errors: number;
  seconds: number;
  latencies: number[];
  byOp: Record<string, number>;
}

function client(endpoint: string): ECSClient {
  return new ECSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' }, maxAttempts: 1 });
}

function pick<T>(items: T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

function pickOp(): Op {
  const total = MIX.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = Math.random() * total;
  for (const [op, weight] of MIX) {
    roll -= weight;
    if (roll < 0) return op;
  }
  return 'DescribeTasks';
}

async function runMix(ecs: ECSClient, instances: string[], tasks: string[], seconds: number): Promise<RunResult> {
  const deadline = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  const byOp: Record<string, number> = {};
  let requests = 0;
  let errors = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const op = pickOp();
      const t0 = performance.now();
      try {
        if (op === 'DescribeTasks') {
          await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: Array.from({ length: 10 }, () => pick(tasks)) }));
        } else if (op === 'ListTasks') {
          await ecs.send(new ListTasksCommand({ cluster: CLUSTER, containerInstance: pick(instances) }));
        } else if (op === 'DescribeContainerInstances') {
          await ecs.send(new DescribeContainerInstancesCommand({ cluster: CLUSTER, containerInstances: Array.from({ length: 10 }, () => pick(instances)) }));
        } else {
          await ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'bench', containerInstances: [pick(instances)], startedBy: 'bench' }));
        }
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
      byOp[op] = (byOp[op] ?? 0) + 1;
      requests++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { requests, errors, seconds: (performance.now() - started) / 1000, latencies, byOp };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function report(label: string, result: RunResult): number {
  const rate = result.requests / result.seconds;
  console.log(
    `${label.padEnd(34)} ${rate.toFixed(0).padStart(7)} requests/s   p50 ${percentile(result.latencies, 50).toFixed(1).padStart(6)} ms   p99 ${percentile(result.latencies, 99).toFixed(1).padStart(6)} ms   errors ${result.errors}`,
  );
  return rate;
}

/** A server that does nothing but answer one fixed JSON body per operation: the floor. */
async function baselineServer(bodies: Record<string, string>): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = bodies[target.slice(target.lastIndexOf('.') + 1)] ?? '{}';
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface World {
  ecs: ECSClient;
  url: string;
  instances: string[];
  tasks: string[];
  close(): Promise<void>;
}

/** An emulator with `count` instances and one task started (through the SDK) on each. */
async function world(count: number, quiet = false): Promise<World> {
  const runtime = new SimulatedRuntime({ startLatencyMs: 50 });
  const emulator = await startEcsEmulator({ runtime });
  const ecs = client(emulator.url);
  await ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
  await ecs.send(new RegisterTaskDefinitionCommand({ family: 'bench', containerDefinitions: [{ name: 'daemon', image: 'busybox', memory: 8, cpu: 1 }] }));
  let t0 = performance.now();
  const instances: string[] = [];
  for (let i = 0; i < count; i++) {
    const { containerInstanceArn } = await emulator.registerInstance({
      cluster: CLUSTER,
      ec2InstanceId: `i-${i.toString(16).padStart(17, '0')}`,
      instanceType: i % 2 ? 'm5.large' : 't3.large',
      availabilityZone: i % 2 ? 'us-east-1a' : 'us-east-1b',
      amiId: 'ami-0bench',
      cpu: 4096,
      memory: 15_000,
    });
    instances.push(containerInstanceArn);
  }
  if (!quiet) console.log(`registered ${count} instances in ${(performance.now() - t0).toFixed(0)} ms`);
  t0 = performance.now();
  const tasks: string[] = [];
  const queue = [...instances];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let arn = queue.pop(); arn !== undefined; arn = queue.pop()) {
        const answer = await ecs.send(new StartTaskCommand({ cluster: CLUSTER, taskDefinition: 'bench', containerInstances: [arn], startedBy: 'daemon' }));
        tasks.push(answer.tasks?.[0]?.taskArn as string);
      }
    }),
  );
  const startMs = performance.now() - t0;
  if (!quiet)
    console.log(`started a task on each instance: ${count} StartTask calls in ${startMs.toFixed(0)} ms (${((count / startMs) * 1000).toFixed(0)} requests/s)`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const running = instances.filter((arn) => emulator.tasksOnInstance(arn).some((task) => task.lastStatus === 'RUNNING')).length;
  if (!quiet) console.log(`instances with a RUNNING task: ${running}/${count}`);
  return {
    ecs,
    url: emulator.url,
    instances,
    tasks,
    close: async () => {
      ecs.destroy();
      await emulator.close();
      await runtime.close();
    },
  };
}

function merge(results: RunResult[]): RunResult {
  const merged: RunResult = { requests: 0, errors: 0, seconds: 0, latencies: [], byOp: {} };
  for (const result of results) {
    merged.requests += result.requests;
    merged.errors += result.errors;
    merged.seconds += result.seconds;
    for (const latency of result.latencies) merged.latencies.push(latency);
    for (const [op, n] of Object.entries(result.byOp)) merged.byOp[op] = (merged.byOp[op] ?? 0) + n;
  }
  return merged;
}

async function main(): Promise<void> {
  const ROUNDS = 3;
  console.log(
    `ECS emulator bench: ${INSTANCES} instances, ${CONCURRENCY} concurrent SDK callers, ${SECONDS} s per measurement in ${ROUNDS} interleaved slices, Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]?.toFixed(2)}`,
  );
  const big = await world(INSTANCES);
  const small = await world(10, true);

  // Capture one real answer per operation for the baseline server to replay.
  const bodies: Record<string, string> = {
    DescribeTasks: JSON.stringify(await rawAnswer(big.url, 'DescribeTasks', { cluster: CLUSTER, tasks: big.tasks.slice(0, 10) })),
    ListTasks: JSON.stringify(await rawAnswer(big.url, 'ListTasks', { cluster: CLUSTER, containerInstance: big.instances[0] })),
    DescribeContainerInstances: JSON.stringify(
      await rawAnswer(big.url, 'DescribeContainerInstances', { cluster: CLUSTER, containerInstances: big.instances.slice(0, 10) }),
    ),
    StartTask: JSON.stringify(await rawAnswer(big.url, 'StartTask', { cluster: CLUSTER, taskDefinition: 'bench', containerInstances: [big.instances[0]] })),
  };
  const baseline = await baselineServer(bodies);
  const baselineClient = client(baseline.url);

  // Warm up every path (JIT, sockets) before measuring.
  await runMix(big.ecs, big.instances, big.tasks, 1);
  await runMix(small.ecs, small.instances, small.tasks, 1);
  await runMix(baselineClient, big.instances, big.tasks, 1);

  console.log('');
  console.log(`request mix: ${MIX.map(([op, weight]) => `${op} ${weight}`).join(', ')} (DescribeTasks/DescribeContainerInstances ask for 10 each)`);
  // Interleaved slices, so load from anything else on the machine falls on every contestant alike.
  const bigRuns: RunResult[] = [];
  const smallRuns: RunResult[] = [];
  const baseRuns: RunResult[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    bigRuns.push(await runMix(big.ecs, big.instances, big.tasks, SECONDS / ROUNDS));
    baseRuns.push(await runMix(baselineClient, big.instances, big.tasks, SECONDS / ROUNDS));
    smallRuns.push(await runMix(small.ecs, small.instances, small.tasks, SECONDS / ROUNDS));
  }
  const emulated = merge(bigRuns);
  const emulatorRate = report(`emulator, ${INSTANCES} instances`, emulated);
  const smallRate = report('emulator, 10 instances', merge(smallRuns));
  const baselineRate = report('baseline: fixed-JSON node:http', merge(baseRuns));
  console.log('');
  console.log(
    `RESULT: ${emulatorRate.toFixed(0)} requests/s at ${INSTANCES} instances = ${((emulatorRate / baselineRate) * 100).toFixed(0)}% of the baseline (${baselineRate.toFixed(0)} requests/s); ${((emulatorRate / smallRate) * 100).toFixed(0)}% of the 10-instance emulator's rate`,
  );
  console.log(`(client and server share this one process: the SDK's own work dominates both figures)`);
  console.log(`emulator requests by operation: ${JSON.stringify(emulated.byOp)}`);
  console.log(
    `tasks in the big cluster at the end: about ${big.tasks.length + (emulated.byOp.StartTask ?? 0)}; process RSS ${(process.memoryUsage().rss / 1024 / 1024).toFixed(0)} MiB`,
  );

  baselineClient.destroy();
  await baseline.close();
  await big.close();
  await small.close();
}

async function rawAnswer(url: string, operation: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AmazonEC2ContainerServiceV20141113.${operation}` },
    body: JSON.stringify(body),
  });
  return response.json();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
