// Chaos for tests with real agent processes (node dist/agent.js): agent slots, each with its own
// state directory (so several per instance are different owners, as after an operator mistake or
// during an upgrade overlap), and a seeded loop that SIGKILLs, SIGTERMs and restarts them at random
// while daemons crash and ECS throttles and lags.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentConfig } from '../../agent/config.js';
import type { EmulatedTask } from '../../local/ecs/emulator.js';
import type { SimulatedRuntime } from '../../local/runtime/simulated.js';
import { waitFor, type AgentWorld, type ChildAgent, type WorldInstance } from './agent-world.js';

export interface AgentSlot {
  instance: WorldInstance;
  stateDir: string;
  agent: ChildAgent | undefined;
}

export class AgentSlots {
  readonly slots: AgentSlot[];
  /** Every agent process started, in order (their output, for a failure's evidence). */
  readonly started: { slot: number; instance: string; agent: ChildAgent }[] = [];

  constructor(
    private readonly world: AgentWorld,
    instances: readonly WorldInstance[],
    perInstance: number,
    private readonly config: Partial<AgentConfig>,
  ) {
    this.slots = instances.flatMap((instance) =>
      Array.from({ length: perInstance }, () => ({ instance, stateDir: mkdtempSync(join(tmpdir(), 'blox-chaos-')), agent: undefined })),
    );
  }

  async spawn(slot: AgentSlot): Promise<void> {
    slot.agent = await this.world.spawnAgent(slot.instance, { ...this.config, stateDir: slot.stateDir });
    this.started.push({ slot: this.slots.indexOf(slot), instance: slot.instance.arn.split('/').pop()!, agent: slot.agent });
  }

  /** Writes every agent process's output to `dir` (one file per process, numbered in start order). */
  dumpOutputs(dir: string): void {
    mkdirSync(dir, { recursive: true });
    this.started.forEach(({ slot, instance, agent }, n) =>
      writeFileSync(join(dir, `${String(n).padStart(3, '0')}-slot${slot}-${instance.slice(0, 8)}.log`), agent.output()),
    );
  }

  running(slot: AgentSlot): boolean {
    return slot.agent !== undefined && slot.agent.child.exitCode === null && slot.agent.child.signalCode === null;
  }

  /** Starts every slot whose agent is not running. */
  async spawnIdle(): Promise<void> {
    for (const slot of this.slots) if (!this.running(slot)) await this.spawn(slot);
  }

  /** SIGTERMs every agent and returns the exit codes (0 expected: leases released, daemons left running). */
  async terminateAll(): Promise<(number | null)[]> {
    const codes: (number | null)[] = [];
    for (const slot of this.slots) {
      // a process killed before its signal handlers exist (still loading) dies of the signal: SIGTERM it once it answers
      await waitFor('the agent answers', 10_000, async () => (await fetch(`${slot.agent!.url}/healthz`).catch(() => undefined)) !== undefined, 100);
      slot.agent!.child.kill('SIGTERM');
      codes.push((await slot.agent!.exited).code);
    }
    return codes;
  }
}

export interface ChaosCounts {
  killed: number;
  terminated: number;
  crashed: number;
}

export interface ChaosOptions {
  world: AgentWorld;
  runtime: SimulatedRuntime;
  slots: AgentSlots;
  instances: readonly WorldInstance[];
  random: () => number;
  durationMs: number;
  /** Tasks never crashed on purpose. */
  spare?: (task: EmulatedTask) => boolean;
  /** Actions run once each when their time (ms into the chaos) has come, between two blows. */
  schedule?: { atMs: number; run: () => Promise<void> }[];
}

/**
 * Every 0.3 to 1 s: with 60% an agent slot is SIGKILLed (70%) or SIGTERMed and started again on its
 * state directory, else a RUNNING daemon crashes (exit 1). StartTask lags 150 ms and, like
 * ListTasks, throttles 15% of calls meanwhile; the faults are cleared at the end.
 */
export async function runChaos(o: ChaosOptions): Promise<ChaosCounts> {
  const { world, runtime, slots, random } = o;
  world.emulator.faults.setLatency('StartTask', 150);
  world.emulator.faults.setErrorRate('StartTask', 0.15, 'ThrottlingException');
  world.emulator.faults.setErrorRate('ListTasks', 0.15, 'ThrottlingException');
  const counts: ChaosCounts = { killed: 0, terminated: 0, crashed: 0 };
  const schedule = [...(o.schedule ?? [])].sort((a, b) => a.atMs - b.atMs);
  const began = Date.now();
  try {
    while (Date.now() < began + o.durationMs) {
      await new Promise((r) => setTimeout(r, 300 + random() * 700));
      while (schedule.length > 0 && Date.now() - began >= schedule[0]!.atMs) await schedule.shift()!.run();
      const roll = random();
      if (roll < 0.6) {
        const slot = slots.slots[Math.floor(random() * slots.slots.length)]!;
        if (slots.running(slot)) {
          const signal = random() < 0.7 ? 'SIGKILL' : 'SIGTERM';
          slot.agent!.child.kill(signal);
          await slot.agent!.exited;
          counts[signal === 'SIGKILL' ? 'killed' : 'terminated']++;
        }
        await slots.spawn(slot);
      } else {
        const victims = o.instances.flatMap((i) => world.liveTasks(i.arn)).filter((t) => t.lastStatus === 'RUNNING' && !o.spare?.(t));
        const victim = victims[Math.floor(random() * victims.length)];
        if (victim) {
          runtime.crash(victim.taskArn, 'main', 1);
          counts.crashed++;
        }
      }
    }
    for (const entry of schedule) await entry.run();
  } finally {
    world.emulator.faults.clear();
  }
  return counts;
}
