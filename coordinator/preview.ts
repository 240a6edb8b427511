// Instance previews: which of a cluster's container instances an instance group selects, with
// the daemon each one's agent reports. The expression is evaluated by core/cql.ts, the same
// evaluator the agents use, against the attributes ECS reports for each instance.
import { evaluate, parseExpression } from '../core/cql.js';
import { containerInstanceIdOf } from '../core/keys.js';
import type { DaemonStatus, InstanceGroup, InstanceStatus } from '../core/records.js';
import type { EcsContainerInstance } from './ecs-check.js';

export interface PreviewItem {
  containerInstanceArn: string;
  ec2InstanceId?: string;
  /** ECS status: ACTIVE, DRAINING... */
  status: string;
  agentConnected: boolean;
  instanceType?: string;
  availabilityZone?: string;
  matches: boolean;
  /** The environment's daemon on this instance, as its agent reports it. */
  daemon?: DaemonStatus;
}

export interface InstancePreview {
  cluster: string;
  expression?: string;
  environmentName?: string;
  revision?: number;
  total: number;
  matching: number;
  items: PreviewItem[];
}

export function buildPreview(
  instances: EcsContainerInstance[],
  group: InstanceGroup,
  statuses: InstanceStatus[],
  target?: { environment: string; revision: number },
): InstancePreview {
  const expression = group.expression === undefined ? undefined : parseExpression(group.expression);
  const byId = new Map(statuses.map((s) => [containerInstanceIdOf(s.containerInstanceArn), s]));
  const items = instances.map((instance) => {
    const facts = instance.facts;
    const item: PreviewItem = {
      containerInstanceArn: instance.containerInstanceArn,
      status: instance.status,
      agentConnected: instance.agentConnected,
      matches: expression === undefined ? true : evaluate(expression, facts),
    };
    if (instance.ec2InstanceId) item.ec2InstanceId = instance.ec2InstanceId;
    const type = facts.attributes['ecs.instance-type'];
    if (type) item.instanceType = type;
    const zone = facts.attributes['ecs.availability-zone'];
    if (zone) item.availabilityZone = zone;
    const daemon = target
      ? byId.get(containerInstanceIdOf(instance.containerInstanceArn))?.daemons.find((d) => d.environment === target.environment)
      : undefined;
    if (daemon) item.daemon = { ...daemon };
    return item;
  });
  items.sort((a, b) => Number(b.matches) - Number(a.matches) || a.containerInstanceArn.localeCompare(b.containerInstanceArn));
  const preview: InstancePreview = { cluster: group.cluster, total: items.length, matching: items.filter((i) => i.matches).length, items };
  if (group.expression !== undefined) preview.expression = group.expression;
  if (target) {
    preview.environmentName = target.environment;
    preview.revision = target.revision;
  }
  return preview;
}
