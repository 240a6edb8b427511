// `blox local ...`: the sandbox commands. `blox local up` is what `npm start` runs.
//   up                   boot the local world and run until Ctrl-C (SIGINT) or SIGTERM
//   status               print the running sandbox's endpoints (.blox-local/endpoints.json)
//   add-instance         add a container instance to the running sandbox
//   terminate-instance   terminate one (its agent and tasks vanish without a goodbye)
//   drain-instance       set one DRAINING
//   set-desired-capacity the Auto Scaling group's desired capacity (it launches, or drains and terminates)
//   set-instance-health  Healthy | Unhealthy (an Unhealthy instance is drained and replaced)
//   spot-interrupt       raise a Spot interruption notice (IMDS spot/instance-action; its agent drains it;
//                        terminated 2 min later, --spot-notice-ms of up)
//   down                 stop the running sandbox (SIGTERM to its pid) and wait until it is gone
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS, parseUpOptions, UP_USAGE, UsageError } from './options.js';
import { pidAlive } from './processes.js';
import { Sandbox, type EndpointsDocument } from './sandbox.js';

const EX_USAGE = 64;

/** Each command's arguments and what it does: the overview and each command's --help. */
const COMMANDS: ReadonlyArray<readonly [name: string, args: string, what: string]> = [
  [
    'up',
    '[options]',
    'boot DynamoDB Local, the ECS emulator, instances, agents and the coordinator; runs until Ctrl-C (npm start runs this; npm start -- --instances 20 passes options)',
  ],
  ['status', '', "print the running sandbox's endpoints"],
  ['add-instance', '[--instance-type t3.medium|m5.large] [--availability-zone us-east-1a]', 'a new instance boots: endpoints, agent, then ECS registration'],
  [
    'terminate-instance',
    '<ec2-instance-id | container-instance-arn>',
    'the instance vanishes without a goodbye; the Auto Scaling group launches a replacement',
  ],
  ['drain-instance', '<ec2-instance-id | container-instance-arn>', 'the instance becomes DRAINING'],
  [
    'set-desired-capacity',
    '<n>',
    'the Auto Scaling group "blox-local" launches or terminates instances; its agent drains a terminating one (daemons last) and completes the lifecycle action (up --no-lifecycle-drain: terminated at once)',
  ],
  ['set-instance-health', '<ec2-instance-id> Healthy|Unhealthy', 'an Unhealthy instance is drained like a scale-in and replaced'],
  [
    'spot-interrupt',
    '<ec2-instance-id>',
    'Spot notice in its IMDS; its agent drains it at once (daemons last); terminated and replaced 2 minutes later (up --spot-notice-ms)',
  ],
  ['down', '[--timeout-seconds 60]', 'stop the running sandbox'],
];

const STATE_DIR_NOTE = `Every command but up takes --state-dir DIR (default ${DEFAULTS.stateDir}) to find the sandbox.`;

export const LOCAL_USAGE = `usage: blox local <command> [options]

${COMMANDS.map(([name, args, what]) => `  ${name.padEnd(21)}${args ? `${args}\n${' '.repeat(23)}` : ''}${what}`).join('\n')}
  (the group also answers "aws autoscaling ... --endpoint-url <ecs endpoint>")

${STATE_DIR_NOTE}
Run "blox local <command> --help" for one command; "blox local up --help" lists up's options.
`;

/** One command's usage (its --help), or undefined for an unknown command. */
export function commandUsage(command: string): string | undefined {
  const entry = COMMANDS.find(([name]) => name === command);
  if (!entry) return undefined;
  const [name, args, what] = entry;
  return `usage: blox local ${name}${args ? ` ${args}` : ''} [--state-dir DIR]\n  ${what}\n${STATE_DIR_NOTE}\n`;
}

function readEndpoints(stateDir: string): EndpointsDocument {
  const file = join(resolve(stateDir), 'endpoints.json');
  if (!existsSync(file)) throw new UsageError(`no sandbox is running here (${file} does not exist); start one with npm start`);
  return JSON.parse(readFileSync(file, 'utf8')) as EndpointsDocument;
}

export function banner(doc: EndpointsDocument, endpointsFile: string): string {
  const lines: string[] = [];
  lines.push('');
  lines.push(`blox-edge local sandbox is up (runtime: ${doc.runtime}, cluster: ${doc.cluster}, region: ${doc.region})`);
  lines.push(`  coordinator     ${doc.coordinator ? doc.coordinator.url : 'not running (see above)'}`);
  lines.push(`  ECS emulator    ${doc.ecs.url}`);
  lines.push(`  DynamoDB Local  ${doc.dynamodb.endpoint}  table ${doc.table}${doc.dynamodb.dataDir ? `, data in ${doc.dynamodb.dataDir}` : ', in memory'}`);
  lines.push(`  control         ${doc.control.url}`);
  lines.push(
    `  auto scaling    group ${doc.autoScaling.groupName}, ${
      doc.autoScaling.lifecycleHookName
        ? `termination hook ${doc.autoScaling.lifecycleHookName}: agents drain on scale-in and Spot notices`
        : 'no termination hook: agents do not drain on scale-in or Spot notices'
    }`,
  );
  lines.push(
    `  credentials     AWS_ACCESS_KEY_ID=${doc.credentials.accessKeyId} AWS_SECRET_ACCESS_KEY=${doc.credentials.secretAccessKey} AWS_REGION=${doc.region}`,
  );
  lines.push(`  instances (${doc.instances.length}):`);
  for (const instance of doc.instances) {
    lines.push(
      `    ${instance.ec2InstanceId}  ${instance.instanceType.padEnd(9)} ${instance.availabilityZone}  ${instance.containerInstanceArn ?? '(registering)'}`,
    );
    lines.push(`      introspection ${instance.introspectionUrl}  imds ${instance.imdsUrl}  agent ${instance.agent ? instance.agent.healthUrl : '-'}`);
    lines.push(`      docker        ${instance.dockerSocket}`);
  }
  lines.push(`  endpoints       ${endpointsFile}`);
  lines.push(`  logs            ${doc.logs}`);
  lines.push('');
  const blox = `node dist/blox.js`;
  const endpoint = doc.coordinator && doc.coordinator.url !== 'http://127.0.0.1:7070' ? ` --endpoint ${doc.coordinator.url}` : '';
  const family = doc.sampleTaskDefinition.split(':')[0] ?? doc.sampleTaskDefinition;
  lines.push('Try this:');
  lines.push(`  # 1. an environment: the sample daemon ${doc.sampleTaskDefinition} on every instance of ${doc.cluster}`);
  lines.push(`  ${blox} env create sample --cluster ${doc.cluster} --task-definition ${doc.sampleTaskDefinition}${endpoint}`);
  lines.push('  # 2. watch it reach every instance');
  lines.push(`  ${blox} env get sample${endpoint}`);
  lines.push(`  ${blox} instances --cluster ${doc.cluster}${endpoint}`);
  lines.push(`  ${blox} tasks --cluster ${doc.cluster}${endpoint}`);
  if (doc.runtime === 'docker') {
    lines.push(`  docker ps --filter label=com.amazonaws.ecs.task-definition-family=${family}`);
    lines.push('  # 3. kill a daemon container and watch its agent start it again');
    lines.push(`  docker kill $(docker ps -q --filter label=com.amazonaws.ecs.task-definition-family=${family} | head -n 1)`);
  } else {
    lines.push('  # 3. stop a daemon task and watch its agent start it again');
    lines.push(
      `  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws ecs stop-task --cluster ${doc.cluster} --task <task-arn> --endpoint-url ${doc.ecs.url} --region ${doc.region}`,
    );
  }
  lines.push(`  ${blox} tasks --cluster ${doc.cluster}${endpoint}`);
  lines.push('  # 4. add an instance: its agent starts the daemon there too');
  lines.push(`  ${blox} local add-instance`);
  lines.push(`  ${blox} env get sample${endpoint}`);
  lines.push(`  # 5. roll out revision 2 of the sample (registered at start-up too); each agent replaces its daemon`);
  lines.push(`  ${blox} env update sample --task-definition ${family}:2${endpoint}`);
  lines.push(`  ${blox} deploy status sample${endpoint}`);
  lines.push('');
  lines.push('Ctrl-C stops everything.');
  return lines.join('\n');
}

async function up(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(UP_USAGE);
    return 0;
  }
  const options = parseUpOptions(argv);
  // The SDK's notice about its future Node 22 floor is noise in the sandbox's console (and in children's).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const sandbox = new Sandbox(options, say);
  let stopping = false;
  let resolveStopped: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((r) => (resolveStopped = r));
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      say(`${signal} again: stopping harder`);
      return;
    }
    stopping = true;
    say(`\n${signal}: stopping every process the sandbox started...`);
    void sandbox.close().then(() => {
      say('sandbox stopped; nothing left running.');
      resolveStopped(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    say(`starting the blox-edge local sandbox (${options.instances} instance(s), cluster ${options.cluster})...`);
    try {
      await sandbox.start();
    } catch (error) {
      if (stopping) return stopped;
      process.stderr.write(`blox local up: ${(error as Error).message}\n`);
      return 1;
    }
    if (!stopping) say(banner(sandbox.endpointsDocument(), sandbox.endpointsPath));
    return await stopped;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

async function control(stateDir: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const doc = readEndpoints(stateDir);
  const response = await fetch(`${doc.control.url}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
  });
  const answer = (await response.json()) as { message?: string };
  if (!response.ok) throw new Error(answer.message ?? `HTTP ${response.status}`);
  return answer;
}

export async function localCommand(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'up':
        return await up(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(LOCAL_USAGE);
        return command === undefined ? EX_USAGE : 0;
      default:
        break;
    }
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        'state-dir': { type: 'string' },
        'instance-type': { type: 'string' },
        'availability-zone': { type: 'string' },
        'timeout-seconds': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const usage = commandUsage(command);
    if (values.help) {
      if (!usage) throw new UsageError(`unknown command "${command}"\n\n${LOCAL_USAGE}`);
      process.stdout.write(usage);
      return 0;
    }
    const stateDir = values['state-dir'] ?? DEFAULTS.stateDir;
    const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    switch (command) {
      case 'status':
        print(readEndpoints(stateDir));
        return 0;
      case 'add-instance': {
        const request: Record<string, string> = {};
        if (values['instance-type']) request.instanceType = values['instance-type'];
        if (values['availability-zone']) request.availabilityZone = values['availability-zone'];
        print(await control(stateDir, 'POST', '/v1/instances', request));
        return 0;
      }
      case 'terminate-instance':
      case 'drain-instance': {
        const id = positionals[0];
        if (!id) throw new UsageError(`${command}: which instance? (an EC2 instance id or container instance ARN)`);
        const path = `/v1/instances/${encodeURIComponent(id)}`;
        print(command === 'terminate-instance' ? await control(stateDir, 'DELETE', path) : await control(stateDir, 'POST', `${path}/drain`));
        return 0;
      }
      case 'set-desired-capacity': {
        const desired = Number(positionals[0]);
        if (!Number.isInteger(desired) || desired < 0) throw new UsageError(`${command}: expected a capacity (0 or more), got "${positionals[0] ?? ''}"`);
        print(await control(stateDir, 'POST', '/v1/autoscaling/desired-capacity', { desiredCapacity: desired }));
        return 0;
      }
      case 'set-instance-health':
      case 'spot-interrupt': {
        const id = positionals[0];
        if (!id) throw new UsageError(`${command}: which instance? (an EC2 instance id)`);
        const path = `/v1/instances/${encodeURIComponent(id)}`;
        if (command === 'spot-interrupt') {
          print(await control(stateDir, 'POST', `${path}/spot-interruption`));
          return 0;
        }
        const health = positionals[1];
        if (health !== 'Healthy' && health !== 'Unhealthy') throw new UsageError(`${command}: expected Healthy or Unhealthy, got "${health ?? ''}"`);
        print(await control(stateDir, 'POST', `${path}/health`, { healthStatus: health }));
        return 0;
      }
      case 'down': {
        const doc = readEndpoints(stateDir);
        if (!pidAlive(doc.pid)) {
          process.stdout.write(`the sandbox (pid ${doc.pid}) is not running\n`);
          return 0;
        }
        process.kill(doc.pid, 'SIGTERM');
        const deadline = Date.now() + Number(values['timeout-seconds'] ?? '60') * 1000;
        while (pidAlive(doc.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
        if (pidAlive(doc.pid)) {
          process.stderr.write(`the sandbox (pid ${doc.pid}) is still stopping\n`);
          return 1;
        }
        process.stdout.write('sandbox stopped\n');
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"\n\n${LOCAL_USAGE}`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`blox local: ${(error as Error).message}\n`);
      return EX_USAGE;
    }
    process.stderr.write(`blox local: ${(error as Error).message}\n`);
    return 1;
  }
}
