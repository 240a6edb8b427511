// The agent's command line: `node dist/agent.js [--flags]` (docs/agent-config.md).
// Exit codes: 0 after SIGTERM/SIGINT (daemons keep running), 1 unexpected failure, 64 bad command
// line, 75 another agent holds the state directory, 78 invalid configuration (an unusable state
// directory included). `--version` prints the version and commit.
import { existsSync, readFileSync } from 'node:fs';
import pino from 'pino';
import { commit, version } from '../core/version.js';
import type { FaultPoint } from './act/task-control.js';
import { createAgent } from './agent.js';
import { ConfigError, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, helpText, loadConfig } from './config.js';
import { startHealthServer, type HealthServer } from './health-server.js';
import { claimStateDir, EXIT_STATE_DIR_BUSY, StateDirBusyError, StateDirError, type ClaimedStateDir } from './state-dir.js';

/** Test-only fault hook (docs/agent.md): BLOX_AGENT_FAULT=exit-after-start-task. */
function faultHook(): ((point: FaultPoint) => void) | undefined {
  const fault = process.env.BLOX_AGENT_FAULT;
  if (!fault) return undefined;
  return (point) => {
    if (fault === `exit-${point}`) {
      process.stderr.write(`BLOX_AGENT_FAULT=${fault}: killing this process now (test-only fault hook)\n`);
      process.kill(process.pid, 'SIGKILL');
    }
  };
}

async function main(): Promise<number> {
  // Listen for the stop signals first: a SIGTERM that arrives while the agent is still starting
  // (systemd stopping the unit during boot) is a clean stop, exit 0, like any other.
  const signalled = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ argv: process.argv.slice(2), env: process.env, readFile: (path) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined) });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`blox-edge-agent: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
  if (loaded.args.version) {
    process.stdout.write(`blox-edge-agent ${version} (commit ${commit})\n`);
    return EXIT_OK;
  }
  if (loaded.args.help) {
    process.stdout.write(`${helpText()}\n`);
    return EXIT_OK;
  }
  const config = loaded.config;
  let state: ClaimedStateDir;
  try {
    state = await claimStateDir(config.stateDir);
  } catch (error) {
    if (error instanceof StateDirBusyError) {
      process.stderr.write(`blox-edge-agent: ${error.message}\n`);
      return EXIT_STATE_DIR_BUSY;
    }
    if (error instanceof StateDirError) {
      process.stderr.write(`blox-edge-agent: invalid configuration: stateDir: ${error.message}\n`);
      return EXIT_CONFIG;
    }
    throw error;
  }
  const logger = pino({ level: config.logLevel, base: { service: 'blox-edge-agent', version } });
  const fault = faultHook();
  const agent = createAgent(config, { logger, owner: state.owner, ...(fault ? { fault } : {}) });
  let health: HealthServer | undefined;
  if (config.listen) {
    try {
      health = await startHealthServer(agent, config.listen);
      logger.info({ url: health.url }, 'health endpoint listening');
    } catch (error) {
      process.stderr.write(`blox-edge-agent: invalid configuration: cannot listen on ${config.listen}: ${(error as Error).message}\n`);
      await state.release();
      return EXIT_CONFIG;
    }
  }
  logger.info(
    {
      config: { ...config },
      configFile: loaded.configPath ?? null,
      commit,
      owner: state.owner,
      ownerResumed: state.resumed,
      ownerPersistent: state.persistent,
    },
    'blox-edge agent starting',
  );
  agent.start();
  const signal = await signalled;
  logger.info({ signal }, 'stopping; daemons keep running');
  const forced = setTimeout(() => process.exit(EXIT_OK), 10_000);
  forced.unref();
  await agent.stop();
  await health?.close();
  await state.release();
  return EXIT_OK;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Sockets of the SDK may linger; the agent is done.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (error: unknown) => {
    process.stderr.write(`blox-edge-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
