// Helpers for tests that drive the emulator through the real SDK: a manual clock, the simulated
// runtime, an ECS client without retries, and a conformance recorder that checks every request the
// emulator accepted and every answer it gave against the official ECS service model.
import { ECSClient } from '@aws-sdk/client-ecs';
import { ManualClock } from '../../core/clock.js';
import { isCi } from '../ci.js';
import { startEcsEmulator, type EcsEmulator, type EcsEmulatorOptions, type Exchange } from './emulator.js';
import { findServiceModelPath, formatViolations, loadServiceModel, ModelValidator } from './model-validator.js';
import { SimulatedRuntime, type SimulatedRuntimeOptions } from '../runtime/simulated.js';

/**
 * The ECS service model, or undefined when awscli is not installed. Under CI its absence is an
 * error (CI installs awscli), so a green CI run always means the conformance checks ran.
 */
export function serviceModelValidator(): ModelValidator | undefined {
  const path = findServiceModelPath();
  if (!path) {
    if (isCi())
      throw new Error(
        `the ECS service model (Debian awscli, botocore data ecs/2014-11-13/service-2.json) is required under CI (CI=${process.env.CI}) but was not found`,
      );
    return undefined;
  }
  return new ModelValidator(loadServiceModel(path) as NonNullable<ReturnType<typeof loadServiceModel>>);
}

/** Request members the SDK sends that Debian's (older) awscli model may lack. */
export const NEWER_REQUEST_MEMBERS: Record<string, string[]> = { RunTask: ['clientToken'] };

/** Records the emulator's exchanges and reports any that the service model does not allow. */
export class ConformanceRecorder {
  readonly problems: string[] = [];
  readonly checked: Record<string, number> = {};
  constructor(private readonly validator: ModelValidator) {}

  attach(emulator: EcsEmulator): () => void {
    return emulator.onExchange((exchange) => this.check(exchange));
  }

  check(exchange: Exchange): void {
    const { operation } = exchange;
    this.checked[operation] = (this.checked[operation] ?? 0) + 1;
    const report = (what: string, text: string): void => void this.problems.push(`${operation} ${what}:\n${text}\n${JSON.stringify(exchange.request)}`);
    if (!this.validator.hasOperation(operation)) {
      if (exchange.status === 200) report('answered an operation the model lacks', operation);
      return;
    }
    if (exchange.status === 200) {
      // Accepted requests must be valid, unknown members included (the SDK and CLI send none).
      // Members newer than the installed model are not errors: the SDK may be newer than awscli's
      // model (RunTask's clientToken, for one). Everything else must be known.
      const requestViolations = this.validator
        .validateInput(operation, exchange.request)
        .filter((violation) => !(violation.kind === 'unknown' && NEWER_REQUEST_MEMBERS[operation]?.includes(violation.path)));
      if (requestViolations.length > 0) report('accepted an invalid request', formatViolations(requestViolations));
      const responseViolations = this.validator.validateOutput(operation, exchange.response);
      if (responseViolations.length > 0) report('answered outside the model', formatViolations(responseViolations));
    } else {
      const errorViolations = this.validator.validateError(operation, exchange.response);
      if (errorViolations.length > 0) report('answered an undeclared error', formatViolations(errorViolations));
      const type = (exchange.response as { __type?: string }).__type;
      if ((exchange.status === 500) !== (type === 'ServerException')) report('used the wrong HTTP status', `${exchange.status} for ${type}`);
    }
  }
}

/** Checks every exchange of `emulator` against the service model, when one is installed (required under CI). */
export function recordConformance(emulator: EcsEmulator): ConformanceRecorder | undefined {
  const validator = serviceModelValidator();
  if (!validator) return undefined;
  const recorder = new ConformanceRecorder(validator);
  recorder.attach(emulator);
  return recorder;
}

export interface TestWorld {
  emulator: EcsEmulator;
  ecs: ECSClient;
  clock: ManualClock;
  runtime: SimulatedRuntime;
  conformance: ConformanceRecorder | undefined;
  close(): Promise<void>;
}

export async function startTestWorld(
  options: { runtime?: SimulatedRuntimeOptions; emulator?: Partial<EcsEmulatorOptions>; validator?: ModelValidator } = {},
): Promise<TestWorld> {
  const clock = new ManualClock();
  const runtime = new SimulatedRuntime({ clock, startLatencyMs: 100, stopLatencyMs: 10, ...options.runtime });
  const emulator = await startEcsEmulator({ runtime, clock, ...options.emulator });
  const ecs = new ECSClient({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  const validator = options.validator ?? serviceModelValidator();
  const conformance = validator ? new ConformanceRecorder(validator) : undefined;
  conformance?.attach(emulator);
  return {
    emulator,
    ecs,
    clock,
    runtime,
    conformance,
    close: async () => {
      ecs.destroy();
      await emulator.close();
      await runtime.close();
    },
  };
}

/** Lets promise callbacks (runtime start/stop completions) run after a clock advance. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}
