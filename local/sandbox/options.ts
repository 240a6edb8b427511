// `blox local up` options: fixed defaults that scripts and people can rely on, each changeable by a flag.
import { parseArgs } from 'node:util';
import { DEFAULT_TABLE_NAME } from '../../core/dynamo-table.js';

export interface SandboxOptions {
  instances: number;
  /** undefined: docker when an engine answers, else simulated. */
  runtime: 'docker' | 'simulated' | undefined;
  cluster: string;
  table: string;
  region: string;
  accountId: string;
  host: string;
  coordinatorPort: number;
  ecsPort: number;
  dynamodbPort: number;
  controlPort: number;
  /** DynamoDB Local keeps its data here; undefined = in memory. */
  dataDir: string | undefined;
  /** endpoints.json, logs, sockets and agent state live here. */
  stateDir: string;
  agents: boolean;
  coordinator: boolean;
  /** How long an instance "boots" before its ECS agent registers (introspection resets connections meanwhile). */
  registerDelayMs: number;
  /**
   * Scale-in and Spot drained by the agents: they run with scaleInDrain and spotDrain, and the
   * group has a termination lifecycle hook (so a scale-in waits for the agent to complete it).
   */
  lifecycleDrain: boolean;
  /** How long after a Spot interruption notice the instance is terminated (EC2: two minutes). */
  spotNoticeMs: number;
  logLevel: string;
}

export const DEFAULTS = {
  instances: 3,
  cluster: 'blox-local',
  table: DEFAULT_TABLE_NAME,
  region: 'us-east-1',
  accountId: '000000000000',
  host: '127.0.0.1',
  coordinatorPort: 7070,
  ecsPort: 7071,
  controlPort: 7072,
  dynamodbPort: 8000,
  stateDir: '.blox-local',
  registerDelayMs: 1_000,
  spotNoticeMs: 120_000,
  logLevel: 'info',
} as const;

export const UP_USAGE = `usage: blox local up [options]

Runs the whole system on this machine: DynamoDB Local, the ECS emulator with one cluster of
container instances, one blox-edge agent per instance, and the coordinator. Ctrl-C stops it all.

  --instances N            container instances to start (default ${DEFAULTS.instances})
  --runtime docker|simulated
                           task runtime (default: docker when a Docker engine answers, else simulated)
  --cluster NAME           cluster name (default ${DEFAULTS.cluster})
  --table NAME             DynamoDB table (default ${DEFAULTS.table})
  --coordinator-port N     coordinator on ${DEFAULTS.host}:N (default ${DEFAULTS.coordinatorPort})
  --ecs-port N             ECS emulator on ${DEFAULTS.host}:N (default ${DEFAULTS.ecsPort})
  --dynamodb-port N        DynamoDB Local on ${DEFAULTS.host}:N (default ${DEFAULTS.dynamodbPort})
  --control-port N         sandbox control endpoint (add/terminate/drain instances) (default ${DEFAULTS.controlPort})
  --data-dir DIR           keep DynamoDB Local's data in DIR (default: in memory)
  --state-dir DIR          endpoints.json, logs, sockets, agent state (default ${DEFAULTS.stateDir})
  --region REGION          region the instances report (default ${DEFAULTS.region})
  --register-delay-ms N    boot time before an instance registers with ECS (default ${DEFAULTS.registerDelayMs})
  --spot-notice-ms N       a Spot notice terminates its instance N ms later (default ${DEFAULTS.spotNoticeMs}: EC2's 2 minutes)
  --no-lifecycle-drain     agents do not drain their instance on scale-in or a Spot notice, and the group
                           has no termination lifecycle hook (default: they do, and it has one)
  --no-agents              start no agent processes
  --no-coordinator         start no coordinator
  --log-level LEVEL        sandbox, emulator and agent log level (default ${DEFAULTS.logLevel})
`;

export class UsageError extends Error {}

function port(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new UsageError(`${flag}: expected a port number, got "${value}"`);
  return n;
}

export function parseUpOptions(argv: string[]): SandboxOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        instances: { type: 'string' },
        runtime: { type: 'string' },
        cluster: { type: 'string' },
        table: { type: 'string' },
        region: { type: 'string' },
        'coordinator-port': { type: 'string' },
        'ecs-port': { type: 'string' },
        'dynamodb-port': { type: 'string' },
        'control-port': { type: 'string' },
        'data-dir': { type: 'string' },
        'state-dir': { type: 'string' },
        'register-delay-ms': { type: 'string' },
        'spot-notice-ms': { type: 'string' },
        'no-lifecycle-drain': { type: 'boolean' },
        'no-agents': { type: 'boolean' },
        'no-coordinator': { type: 'boolean' },
        'log-level': { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values;
  const instances = values.instances === undefined ? DEFAULTS.instances : Number(values.instances);
  if (!Number.isInteger(instances) || instances < 0 || instances > 1_000) throw new UsageError(`--instances: expected 0..1000, got "${values.instances}"`);
  if (values.runtime !== undefined && values.runtime !== 'docker' && values.runtime !== 'simulated') {
    throw new UsageError(`--runtime: expected docker or simulated, got "${values.runtime}"`);
  }
  const registerDelayMs = values['register-delay-ms'] === undefined ? DEFAULTS.registerDelayMs : Number(values['register-delay-ms']);
  if (!Number.isInteger(registerDelayMs) || registerDelayMs < 0) throw new UsageError(`--register-delay-ms: expected a number of milliseconds`);
  const spotNoticeMs = values['spot-notice-ms'] === undefined ? DEFAULTS.spotNoticeMs : Number(values['spot-notice-ms']);
  if (!Number.isInteger(spotNoticeMs) || spotNoticeMs < 0) throw new UsageError(`--spot-notice-ms: expected a number of milliseconds`);
  const cluster = values.cluster ?? DEFAULTS.cluster;
  if (!/^[a-zA-Z0-9_-]{1,255}$/.test(cluster)) throw new UsageError(`--cluster: letters, digits, - and _ only`);
  return {
    instances,
    runtime: values.runtime as SandboxOptions['runtime'],
    cluster,
    table: values.table ?? DEFAULTS.table,
    region: values.region ?? DEFAULTS.region,
    accountId: DEFAULTS.accountId,
    host: DEFAULTS.host,
    coordinatorPort: port(values['coordinator-port'], DEFAULTS.coordinatorPort, '--coordinator-port'),
    ecsPort: port(values['ecs-port'], DEFAULTS.ecsPort, '--ecs-port'),
    dynamodbPort: port(values['dynamodb-port'], DEFAULTS.dynamodbPort, '--dynamodb-port'),
    controlPort: port(values['control-port'], DEFAULTS.controlPort, '--control-port'),
    dataDir: values['data-dir'],
    stateDir: values['state-dir'] ?? DEFAULTS.stateDir,
    agents: values['no-agents'] !== true,
    coordinator: values['no-coordinator'] !== true,
    registerDelayMs,
    lifecycleDrain: values['no-lifecycle-drain'] !== true,
    spotNoticeMs,
    logLevel: values['log-level'] ?? DEFAULTS.logLevel,
  };
}
