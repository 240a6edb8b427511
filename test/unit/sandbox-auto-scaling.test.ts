// The sandbox's Auto Scaling group wiring, with a fake fleet: the IMDS target lifecycle state of
// each member, and a Spot interruption (the notice at once, termination and replacement after
// the notice period), the termination hook `blox local up` puts on it, and the flags its agents get.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { EcsEmulator } from '../../local/ecs/emulator.js';
import type { InstanceEndpoints, SpotInstanceAction } from '../../local/instance/endpoints.js';
import { SANDBOX_HOOK, SandboxAutoScaling, type SandboxFleet } from '../../local/sandbox/auto-scaling.js';
import { parseUpOptions, UsageError } from '../../local/sandbox/options.js';
import { Sandbox, type SandboxInstance } from '../../local/sandbox/sandbox.js';
import { waitFor } from '../support/wait.js';

interface FakeInstance {
  ec2InstanceId: string;
  availabilityZone: string;
  instanceType: string;
  endpoints: InstanceEndpoints;
  state: string | undefined;
  spot: SpotInstanceAction | undefined;
}

let scaling: SandboxAutoScaling | undefined;
afterEach(() => scaling?.close());

function world(): { fleet: SandboxFleet; live: Map<string, FakeInstance>; terminated: string[] } {
  const live = new Map<string, FakeInstance>();
  const terminated: string[] = [];
  let serial = 0;
  const fleet: SandboxFleet = {
    addInstance: async () => {
      const instance = {
        ec2InstanceId: `i-${++serial}`,
        availabilityZone: 'us-east-1a',
        instanceType: 't3.small',
        state: undefined,
        spot: undefined,
      } as FakeInstance;
      instance.endpoints = {
        setTargetLifecycleState: (state) => void (instance.state = state),
        setSpotInstanceAction: (action) => void (instance.spot = action),
      } as InstanceEndpoints;
      live.set(instance.ec2InstanceId, instance);
      return instance;
    },
    terminateInstance: async (id) => {
      live.delete(id);
      terminated.push(id);
      scaling?.group.instanceGone(id); // as Sandbox.terminateInstance does
    },
    findInstance: (id) => live.get(id),
  };
  return { fleet, live, terminated };
}

describe("the sandbox's Auto Scaling group", () => {
  it('shows InService in IMDS, and a Spot interruption gives notice, terminates and replaces', async () => {
    const { fleet, live, terminated } = world();
    const emulator = { serveQueryApi: () => {} } as unknown as EcsEmulator;
    scaling = new SandboxAutoScaling(fleet, emulator, { region: 'us-east-1', accountId: '0', availabilityZones: ['us-east-1a'], desired: 2, max: 4 }, () => {});
    scaling.group.start();
    await waitFor('two members', 2_000, () => scaling?.group.instances.size === 2);
    expect([...live.values()].map((instance) => instance.state)).toEqual(['InService', 'InService']);
    const notice = scaling.spotInterrupt('i-1', 50);
    expect(live.get('i-1')?.spot).toEqual({ action: 'terminate', time: notice.time });
    await waitFor('the interrupted instance replaced', 2_000, () => terminated.includes('i-1') && scaling?.group.instances.size === 2);
    expect([...(scaling.group.instances.keys() ?? [])].sort()).toEqual(['i-2', 'i-3']);
    expect(() => scaling?.spotInterrupt('i-nope')).toThrow('no running instance i-nope');
  });

  it('with the termination hook, a scale-in waits in Terminating:Wait until the action is completed; the notice period is the option', async () => {
    const { fleet, live, terminated } = world();
    const emulator = { serveQueryApi: () => {} } as unknown as EcsEmulator;
    const options = { region: 'us-east-1', accountId: '0', availabilityZones: ['us-east-1a'], desired: 2, max: 4 };
    scaling = new SandboxAutoScaling(fleet, emulator, { ...options, terminationHook: SANDBOX_HOOK, spotNoticeMs: 40 }, () => {});
    expect([...scaling.group.hooks.values()]).toEqual([{ ...SANDBOX_HOOK, transition: 'autoscaling:EC2_INSTANCE_TERMINATING', defaultResult: 'CONTINUE' }]);
    scaling.group.start();
    await waitFor('two members', 2_000, () => scaling?.group.instances.size === 2);
    scaling.group.setDesiredCapacity(1);
    const victim = [...scaling.group.instances.values()].find((instance) => instance.lifecycleState === 'Terminating:Wait');
    expect(victim).toBeDefined();
    expect(live.get(victim!.instanceId)?.state).toBe('Terminated');
    await new Promise((r) => setTimeout(r, 50));
    expect(terminated).toEqual([]);
    scaling.group.completeLifecycleAction(SANDBOX_HOOK.name, { instanceId: victim!.instanceId }, 'CONTINUE');
    await waitFor('the victim terminated', 2_000, () => terminated.includes(victim!.instanceId) && scaling?.group.instances.size === 1);
    const [other] = scaling.group.instances.keys();
    const notice = scaling.spotInterrupt(other!);
    expect(Date.parse(notice.time) - Date.now()).toBeLessThan(1_000);
    await waitFor('the Spot instance terminated after the short notice', 2_000, () => terminated.includes(other!));
  });

  it('is on by default in `blox local up`; --no-lifecycle-drain turns it off; --spot-notice-ms is checked', () => {
    expect(parseUpOptions([])).toMatchObject({ lifecycleDrain: true, spotNoticeMs: 120_000 });
    expect(parseUpOptions(['--no-lifecycle-drain', '--spot-notice-ms', '15000'])).toMatchObject({ lifecycleDrain: false, spotNoticeMs: 15_000 });
    expect(() => parseUpOptions(['--spot-notice-ms', 'soon'])).toThrow(UsageError);
    expect(() => parseUpOptions(['--spot-notice-ms', 'soon'])).toThrow(/--spot-notice-ms/);
  });
});

describe('the agents `blox local up` starts', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'blox-sandbox-args-'));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
  const instance = {
    endpoints: { introspectionUrl: 'http://127.0.0.1:1', imdsUrl: 'http://127.0.0.1:2', dockerSocket: '/x.sock' },
    agentPort: 3,
    agentStateDir: join(stateDir, 'agents', 'i-1'),
  } as SandboxInstance;
  const flag = (args: string[], name: string): string | undefined => args[args.indexOf(name) + 1];

  it('drain on scale-in and Spot, reaching the group on the emulator, unless --no-lifecycle-drain', () => {
    const on = new Sandbox(parseUpOptions(['--state-dir', stateDir, '--ecs-port', '17171']), () => {});
    const args = on.agentArgs(instance);
    expect([flag(args, '--scale-in-drain'), flag(args, '--spot-drain'), flag(args, '--autoscaling-endpoint')]).toEqual([
      'true',
      'true',
      'http://127.0.0.1:17171',
    ]);
    expect(on.endpointsDocument().autoScaling).toEqual({
      groupName: 'blox-local',
      lifecycleHookName: SANDBOX_HOOK.name,
      lifecycleDrain: true,
      spotNoticeMs: 120_000,
    });
    const off = new Sandbox(parseUpOptions(['--state-dir', stateDir, '--no-lifecycle-drain']), () => {});
    expect([flag(off.agentArgs(instance), '--scale-in-drain'), flag(off.agentArgs(instance), '--spot-drain')]).toEqual(['false', 'false']);
    expect(off.endpointsDocument().autoScaling).toMatchObject({ lifecycleHookName: null, lifecycleDrain: false });
  });
});
