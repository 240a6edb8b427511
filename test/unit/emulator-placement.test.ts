// The emulator's placement module on its own: requirements from a task definition, fit, the
// memberOf and distinctInstance constraints, and the strategies, over plain instance records
// (no runtime, no HTTP, no state beyond what each test builds).
import { describe, expect, it } from 'vitest';
import {
  choose,
  cqlFacts,
  DISTINCT_INSTANCE_UNSATISFIED,
  MEMBER_OF_UNSATISFIED,
  placeOne,
  placementRulesOf,
  rejectionOf,
  requirementOf,
  unfitReason,
  type PlacementInstance,
  type PlacementTask,
} from '../../local/ecs/placement.js';

let next = 0;
function host(
  options: {
    az?: string;
    type?: string;
    cpu?: number;
    memory?: number;
    usedMemory?: number;
    tasks?: PlacementTask[];
    attributes?: Record<string, string>;
  } = {},
): PlacementInstance {
  const id = `i${++next}`;
  return {
    id,
    arn: `arn:aws:ecs:us-east-1:0:container-instance/c/${id}`,
    status: 'ACTIVE',
    agentConnected: true,
    ec2InstanceId: `i-${id}`,
    registeredAt: 0,
    attributes: new Map(
      Object.entries({ 'ecs.availability-zone': options.az ?? 'us-east-1a', 'ecs.instance-type': options.type ?? 't3.small', ...options.attributes }),
    ),
    registeredCpu: options.cpu ?? 2048,
    registeredMemory: options.memory ?? 2000,
    usedCpu: 0,
    usedMemory: options.usedMemory ?? 0,
    reservedPorts: [22],
    reservedUdpPorts: [],
    usedPorts: new Map([[8080, 1]]),
    usedUdpPorts: new Map(),
    tasks: new Map((options.tasks ?? []).map((task, index) => [String(index), task])),
    versionInfo: {},
  };
}

const need = { cpu: 0, memory: 100, ports: [], udpPorts: [] };
const noRules = placementRulesOf([], []);
const firstOf = (): number => 0;

describe('placement requirements and fit', () => {
  it('reserves container memory (the hard limit first), cpu and static host ports', () => {
    const requirement = requirementOf(
      {
        networkMode: 'bridge',
        cpu: undefined,
        memory: undefined,
        containerDefinitions: [
          { name: 'a', cpu: 128, memory: 256, memoryReservation: 64, portMappings: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 81 }] },
          { name: 'b', memoryReservation: 32, portMappings: [{ containerPort: 53, hostPort: 53, protocol: 'udp' }] },
        ],
      },
      { containerOverrides: [{ name: 'b', cpu: 64 }] },
    );
    expect(requirement).toEqual({ cpu: 192, memory: 288, ports: [8080], udpPorts: [53] });
    expect(
      requirementOf({ networkMode: 'host', cpu: 512, memory: 1024, containerDefinitions: [{ name: 'a', portMappings: [{ containerPort: 9 }] }] }, {}),
    ).toEqual({ cpu: 512, memory: 1024, ports: [9], udpPorts: [] });
  });

  it('names why an instance cannot take a task, as ECS does in failures', () => {
    expect(unfitReason(host(), need)).toBeUndefined();
    expect(unfitReason({ ...host(), agentConnected: false }, need)).toBe('AGENT');
    expect(unfitReason(host({ memory: 50 }), need)).toBe('RESOURCE:MEMORY');
    expect(unfitReason(host({ cpu: 10 }), { ...need, cpu: 20 })).toBe('RESOURCE:CPU');
    expect(unfitReason(host(), { ...need, ports: [8080] })).toBe('RESOURCE:PORTS');
    expect(unfitReason(host(), { ...need, ports: [22] })).toBe('RESOURCE:PORTS');
  });
});

describe('placement constraints', () => {
  it('memberOf evaluates the Cluster Query Language over attributes and task groups', () => {
    const rules = placementRulesOf([{ type: 'memberOf', expression: 'attribute:blox-edge.daemons == ready and attribute:ecs.instance-type =~ m5.*' }], []);
    const ready = host({ type: 'm5.large', attributes: { 'blox-edge.daemons': 'ready' } });
    const pending = host({ type: 'm5.large', attributes: { 'blox-edge.daemons': 'pending' } });
    expect(rejectionOf(ready, need, rules, 'service:web', new Set())).toBeUndefined();
    expect(rejectionOf(pending, need, rules, 'service:web', new Set())).toBe(MEMBER_OF_UNSATISFIED);
    expect(
      cqlFacts(
        host({
          tasks: [
            { lastStatus: 'RUNNING', group: 'g' },
            { lastStatus: 'STOPPED', group: 'old' },
          ],
        }),
      ),
    ).toMatchObject({
      runningTasksCount: 1,
      taskGroups: ['g'],
    });
  });

  it('distinctInstance refuses an instance with a live task of the group or one placed in this call', () => {
    const rules = placementRulesOf([{ type: 'distinctInstance' }], []);
    const busy = host({ tasks: [{ lastStatus: 'PENDING', group: 'service:web' }] });
    const stoppedOnly = host({ tasks: [{ lastStatus: 'STOPPED', group: 'service:web' }] });
    const fresh = host();
    expect(rejectionOf(busy, need, rules, 'service:web', new Set())).toBe(DISTINCT_INSTANCE_UNSATISFIED);
    expect(rejectionOf(busy, need, rules, 'service:other', new Set())).toBeUndefined();
    expect(rejectionOf(stoppedOnly, need, rules, 'service:web', new Set())).toBeUndefined();
    expect(rejectionOf(fresh, need, rules, 'service:web', new Set([fresh]))).toBe(DISTINCT_INSTANCE_UNSATISFIED);
  });

  it('rejects what ECS rejects: unknown types, memberOf without an expression, bad CQL, too many', () => {
    expect(() => placementRulesOf([{ type: 'memberOf' }], [])).toThrow('memberOf needs an expression.');
    expect(() => placementRulesOf([{ type: 'memberOf', expression: 'attribute:a ==' }], [])).toThrow(/Invalid cluster query expression/);
    expect(() => placementRulesOf([{ type: 'distinctInstance', expression: 'x' }], [])).toThrow('distinctInstance takes no expression.');
    expect(() => placementRulesOf([], [{ type: 'binpack', field: 'disk' }])).toThrow('binpack field must be cpu or memory.');
    expect(() => placementRulesOf([], [{ type: 'spread', field: 'rack' }])).toThrow(/spread field/);
    expect(() =>
      placementRulesOf(
        Array.from({ length: 11 }, () => ({ type: 'distinctInstance' as const })),
        [],
      ),
    ).toThrow(/up to 10/);
  });
});

describe('placement strategies and choice', () => {
  it('binpack picks the instance with the least remaining of the field', () => {
    const roomy = host({ memory: 4000 });
    const tight = host({ memory: 4000, usedMemory: 3000 });
    expect(choose([roomy, tight], [roomy, tight], [{ type: 'binpack', field: 'memory' }], 'g', Math.random)).toBe(tight);
  });

  it('spread counts the group on every instance, also those that cannot take the task', () => {
    const a = host({ az: 'us-east-1a' });
    const aFull = host({ az: 'us-east-1a', tasks: [{ lastStatus: 'RUNNING', group: 'g' }] });
    const b = host({ az: 'us-east-1b' });
    expect(choose([a, aFull, b], [a, b], [{ type: 'spread', field: 'attribute:ecs.availability-zone' }], 'g', firstOf)).toBe(b);
    // Another group's tasks do not count.
    expect(choose([a, aFull, b], [a, b], [{ type: 'spread', field: 'attribute:ecs.availability-zone' }], 'other', firstOf)).toBe(a);
  });

  it('breaks the ties left with the random source', () => {
    const [x, y, z] = [host(), host(), host()];
    expect(choose([x, y, z], [x, y, z], [{ type: 'random' }], 'g', () => 0.99)).toBe(z);
    expect(choose([x, y, z], [x, y, z], [], 'g', () => 0)).toBe(x);
  });

  it('placeOne skips DRAINING instances and reports each rejected instance', () => {
    const draining = { ...host(), status: 'DRAINING' as const };
    const small = host({ memory: 10 });
    const good = host();
    const placed = placeOne([draining, small, good], need, noRules, 'g', new Set(), firstOf);
    expect(placed.chosen).toBe(good);
    expect([...placed.failures]).toEqual([[small.arn, 'RESOURCE:MEMORY']]);
    const none = placeOne([draining, small], need, noRules, 'g', new Set(), firstOf);
    expect(none.chosen).toBeUndefined();
  });
});
