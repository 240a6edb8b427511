// `node dist/blox.js local up ...` as a child process of a test: started in its own working
// directory, its output handed to the test as it comes, and waited for until it says it is up and
// has written .blox-local/endpoints.json (whose document it answers with).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EndpointsDocument } from '../../local/sandbox/sandbox.js';
import { freePort } from './services.js';
import { processAlive, waitFor } from './wait.js';

export interface SandboxProcess {
  child: ChildProcess;
  /** The exit code once it exits. */
  exited: Promise<number | null>;
  doc: EndpointsDocument;
}

export async function upSandbox(
  bloxJs: string,
  upArgs: string[],
  options: { cwd: string; env?: Record<string, string>; onOutput: (text: string) => void },
): Promise<SandboxProcess> {
  let output = '';
  const child = spawn(process.execPath, [bloxJs, 'local', 'up', ...upArgs], {
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...options.env },
  });
  const take = (chunk: Buffer) => {
    output += chunk.toString();
    options.onOutput(chunk.toString());
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const endpointsFile = join(options.cwd, '.blox-local', 'endpoints.json');
  try {
    await waitFor('the sandbox to come up', 120_000, () => {
      if (child.exitCode !== null) throw new Error(`the sandbox exited with ${child.exitCode}:\n${output}`);
      return output.includes('Ctrl-C stops everything.') && existsSync(endpointsFile) ? true : undefined;
    });
  } catch (error) {
    // Not up: Ctrl-C stops whatever it started, SIGKILL if it does not go.
    child.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  }
  return { child, exited, doc: JSON.parse(readFileSync(endpointsFile, 'utf8')) as EndpointsDocument };
}

/** The four ports of `blox local up` (coordinator, ECS, DynamoDB Local, control), each a free one. */
export async function freePortArgs(): Promise<string[]> {
  const [coordinatorPort, ecsPort, dynamodbPort, controlPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  return [
    '--coordinator-port',
    String(coordinatorPort),
    '--ecs-port',
    String(ecsPort),
    '--dynamodb-port',
    String(dynamodbPort),
    '--control-port',
    String(controlPort),
  ];
}

/** Ctrl-C to the sandbox (SIGKILL if it has not gone in 20 s), then SIGKILL to any child of it left. */
export async function stopSandbox(child: ChildProcess | undefined, doc: EndpointsDocument | undefined): Promise<void> {
  if (child && child.exitCode === null) {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 20_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  for (const pid of doc?.pids ?? []) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** `--container-definitions` of one essential busybox container that idles until stopped. */
export function idleContainer(name: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify([{ name, image: 'busybox:latest', essential: true, memory: 32, command: ['sh', '-c', 'while true; do sleep 1; done'], ...extra }]);
}
