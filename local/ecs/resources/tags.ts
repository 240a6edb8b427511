// Tags on clusters, container instances, tasks and task definitions (and services, through
// `moreTaggables`): TagResource, UntagResource, ListTagsForResource.
import { mergeTags, tagsOf } from '../checks.js';
import type { EcsContext, Operations } from '../context.js';
import { EcsError, invalidParameter } from '../errors.js';
import type { Tag } from '../types.js';

export interface Taggable {
  tags: Tag[];
  set(tags: Tag[]): void;
}

/** A resource kind of another module: its ARN kind (`service`, ...) and how to find one by ARN. */
export type TaggableKinds = Record<string, (resourceArn: string) => Taggable>;

const notFound = (): EcsError => new EcsError('ResourceNotFoundException', 'The specified resource could not be found.');

export function tagOperations({ state }: EcsContext, moreKinds: TaggableKinds = {}): Operations {
  const taggable = (resourceArn: unknown): Taggable => {
    if (typeof resourceArn !== 'string') throw invalidParameter('resourceArn is required.');
    const match = /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:([a-z-]+)\/(.+)$/.exec(resourceArn);
    const kind = match?.[1];
    const rest = match?.[2] as string;
    if (kind === 'cluster') {
      const cluster = state.clusters.get(rest);
      if (!cluster || cluster.status !== 'ACTIVE') throw new EcsError('ClusterNotFoundException', 'Cluster not found.');
      return { tags: cluster.tags, set: (tags) => void (cluster.tags = tags) };
    }
    if (kind === 'task') {
      const task = state.tasksByArn.get(resourceArn);
      if (!task) throw invalidParameter('The specified task is stopped or could not be found.');
      return { tags: task.tags, set: (tags) => void (task.tags = tags) };
    }
    if (kind === 'container-instance') {
      const instance = state.instancesByArn.get(resourceArn);
      if (!instance || instance.status === 'INACTIVE') throw notFound();
      return { tags: instance.tags, set: (tags) => void (instance.tags = tags) };
    }
    if (kind === 'task-definition') {
      let definition;
      try {
        definition = state.taskDefinitionRef(rest);
      } catch {
        throw notFound();
      }
      return { tags: definition.tags, set: (tags) => void (definition.tags = tags) };
    }
    const other = kind === undefined ? undefined : moreKinds[kind];
    if (!other) throw invalidParameter(`Invalid resource ARN: ${resourceArn}`);
    return other(resourceArn);
  };

  return {
    TagResource(input) {
      const target = taggable(input.resourceArn);
      const tags = tagsOf(input.tags);
      if (tags.length === 0) throw invalidParameter('Tags cannot be empty.');
      target.set(mergeTags(target.tags, tags));
      return {};
    },

    UntagResource(input) {
      const target = taggable(input.resourceArn);
      const keys = Array.isArray(input.tagKeys) ? (input.tagKeys as string[]) : [];
      target.set(target.tags.filter((tag) => !keys.includes(tag.key)));
      return {};
    },

    ListTagsForResource(input) {
      return { tags: taggable(input.resourceArn).tags };
    },
  };
}
