// Custom attributes on container instances: PutAttributes, DeleteAttributes, ListAttributes.
import { ATTRIBUTE_NAME_PATTERN, ATTRIBUTE_VALUE_PATTERN, paginate } from '../checks.js';
import type { EcsContext, Operations } from '../context.js';
import { EcsError, invalidParameter } from '../errors.js';
import type { ClusterState, InstanceState, Json } from '../state.js';
import { compact } from '../wire.js';

const MAX_CUSTOM_ATTRIBUTES = 10;

function isCustomAttribute(name: string): boolean {
  return !name.startsWith('ecs.') && !name.startsWith('com.amazonaws.ecs.');
}

const attributeWire = (name: string, value: string | undefined, instance: InstanceState): Json =>
  compact({ name, value, targetType: 'container-instance', targetId: instance.arn });

/** `placementChanged`: an instance's attributes changed (services may now place there). */
export function attributeOperations({ state }: EcsContext, placementChanged: (cluster: ClusterState) => void): Operations {
  const targetOf = (cluster: ClusterState, attribute: Json): InstanceState => {
    if (attribute.targetType !== undefined && attribute.targetType !== 'container-instance') throw invalidParameter('targetType must be container-instance.');
    if (typeof attribute.targetId !== 'string') throw invalidParameter('Attribute targetId is required.');
    const instance = state.findInstance(cluster, attribute.targetId);
    if (!instance) throw new EcsError('TargetNotFoundException', `Could not find ${attribute.targetId}.`);
    return instance;
  };

  return {
    PutAttributes(input) {
      const cluster = state.clusterRef(input.cluster);
      const attributes = input.attributes;
      if (!Array.isArray(attributes) || attributes.length === 0) throw invalidParameter('Attributes cannot be empty.');
      if (attributes.length > 10) throw invalidParameter('You can specify up to 10 attributes in a single call.');
      const plan: Array<{ instance: InstanceState; name: string; value: string | undefined }> = [];
      for (const attribute of attributes as Json[]) {
        const instance = targetOf(cluster, attribute);
        const name = attribute.name;
        if (typeof name !== 'string' || !ATTRIBUTE_NAME_PATTERN.test(name)) {
          throw invalidParameter('Attribute names can contain up to 128 letters, numbers, hyphens, underscores, periods, forward slashes and back slashes.');
        }
        const value = attribute.value;
        if (value !== undefined && (typeof value !== 'string' || !ATTRIBUTE_VALUE_PATTERN.test(value))) {
          throw invalidParameter(
            'Attribute values can contain up to 128 letters, numbers, hyphens, underscores, periods, at signs, forward slashes, back slashes, colons or spaces.',
          );
        }
        plan.push({ instance, name, value: value as string | undefined });
      }
      // Documented limit: 10 custom attributes per resource (built-in ecs.* and capabilities excluded).
      for (const instance of new Set(plan.map((item) => item.instance))) {
        const names = new Set([...instance.attributes.keys()].filter(isCustomAttribute));
        for (const item of plan) if (item.instance === instance && isCustomAttribute(item.name)) names.add(item.name);
        if (names.size > MAX_CUSTOM_ATTRIBUTES) throw new EcsError('AttributeLimitExceededException', 'You can apply up to 10 custom attributes per resource.');
      }
      for (const item of plan) {
        item.instance.attributes.set(item.name, item.value);
        item.instance.version++;
      }
      placementChanged(cluster);
      return { attributes: plan.map((item) => attributeWire(item.name, item.value, item.instance)) };
    },

    DeleteAttributes(input) {
      const cluster = state.clusterRef(input.cluster);
      const attributes = input.attributes;
      if (!Array.isArray(attributes) || attributes.length === 0) throw invalidParameter('Attributes cannot be empty.');
      const deleted: Json[] = [];
      for (const attribute of attributes as Json[]) {
        const instance = targetOf(cluster, attribute);
        if (typeof attribute.name !== 'string') throw invalidParameter('Attribute name is required.');
        if (instance.attributes.delete(attribute.name)) instance.version++;
        deleted.push(attributeWire(attribute.name, attribute.value as string | undefined, instance));
      }
      placementChanged(cluster);
      return { attributes: deleted };
    },

    ListAttributes(input) {
      const cluster = state.clusterRef(input.cluster);
      if (input.targetType !== 'container-instance') throw invalidParameter('targetType must be container-instance.');
      const name = input.attributeName as string | undefined;
      const value = input.attributeValue as string | undefined;
      if (value !== undefined && name === undefined) throw invalidParameter('attributeValue can only be used together with attributeName.');
      const rows: Array<{ seq: number; attribute: Json }> = [];
      let seq = 0;
      for (const instance of cluster.instances.values()) {
        for (const [attributeName, attributeValue] of instance.attributes) {
          seq++;
          if (name !== undefined && attributeName !== name) continue;
          if (value !== undefined && attributeValue !== value) continue;
          rows.push({ seq, attribute: attributeWire(attributeName, attributeValue, instance) });
        }
      }
      const { page, nextToken } = paginate(rows, (row) => row.seq, input);
      return compact({ attributes: page.map((row) => row.attribute), nextToken });
    },
  };
}
