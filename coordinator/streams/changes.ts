// What a change of the table means to the live feeds: pure. A stream record of an instance's status
// record becomes upserts and removes on /v1/stream/instances and /v1/stream/tasks, one of a
// deployment record an upsert or remove on /v1/stream/deployments. Items are made by the record
// parsers and the views the list routes use, so a feed's item is the list route's item. A record
// that breaks the contract is not listed by the list routes either: the feeds remove it.
import { INSTANCE_SK_PREFIX, DEPLOYMENT_SK_PREFIX, type ItemKey } from '../../core/keys.js';
import { parseDeployment, parseInstanceStatus, type Deployment, type InstanceStatus } from '../../core/records.js';
import type { Item } from '../../core/store/dynamo.js';
import { parseOrSkip } from '../../core/store/records-io.js';
import { deploymentView, instanceView, taskViews, type DeploymentView, type InstanceView, type TaskView } from '../../core/store/views.js';

export const FEEDS = ['instances', 'tasks', 'deployments'] as const;
export type FeedName = (typeof FEEDS)[number];

/** One record of the table's stream, its images unmarshalled. */
export interface TableChange {
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  key: ItemKey;
  newImage?: Item;
  oldImage?: Item;
}

/** Where a stream reader delivers (ChangeSource -> ChangeSink). */
export interface ChangeSink {
  changes(changes: TableChange[]): Promise<void>;
  /** Changes were lost (the stream trimmed them before they were read): every client must start over. */
  lost(): void;
}

export interface ChangeSource {
  /** Why the changes cannot be read now, or undefined while they are. */
  readonly unavailable: string | undefined;
  /** Resolves once changes made from now on reach `sink` (or once the source knows it is unavailable). */
  start(sink: ChangeSink): Promise<void>;
  close(): Promise<void>;
}

/** A deployment item of the feed: the list route's item with the environment named. */
export type DeploymentFeedItem = DeploymentView & { environment: string };

export type FeedItem = InstanceView | TaskView | DeploymentFeedItem;

export interface FeedEvent {
  feed: FeedName;
  type: 'upsert' | 'remove';
  /** What `?cluster=` (instances, tasks) or `?environment=` (deployments) matches. */
  scope: string;
  /** upsert: the whole item; remove: `{key}`. */
  data: FeedItem | { key: Record<string, string> };
}

export function deploymentFeedItem(view: DeploymentView): DeploymentFeedItem {
  return { ...view, environment: view.environmentName };
}

/** The revision whose task definition a deployment's view shows, when the change needs one. */
export function revisionNeeded(change: TableChange): { environment: string; revision: number } | undefined {
  if (!change.key.sk.startsWith(DEPLOYMENT_SK_PREFIX) || !change.newImage) return undefined;
  const deployment = parseOrSkip(change.newImage, parseDeployment);
  return deployment ? { environment: deployment.environment, revision: deployment.targetRevision } : undefined;
}

/** `taskDefinitionOf(environment, revision)`: the revision's task definition, undefined when it cannot be read. */
export type TaskDefinitionOf = (environment: string, revision: number) => string | undefined;

export function feedEventsOf(change: TableChange, taskDefinitionOf: TaskDefinitionOf): FeedEvent[] {
  const { pk, sk } = change.key;
  if (pk.startsWith('CLUSTER#') && sk.startsWith(INSTANCE_SK_PREFIX))
    return instanceEvents(change, pk.slice('CLUSTER#'.length), sk.slice(INSTANCE_SK_PREFIX.length));
  if (pk.startsWith('ENV#') && sk.startsWith(DEPLOYMENT_SK_PREFIX))
    return deploymentEvents(change, pk.slice('ENV#'.length), sk.slice(DEPLOYMENT_SK_PREFIX.length), taskDefinitionOf);
  return [];
}

function instanceEvents(change: TableChange, cluster: string, containerInstanceId: string): FeedEvent[] {
  const before = change.oldImage ? parseOrSkip(change.oldImage, parseInstanceStatus) : undefined;
  const after = change.newImage && change.eventName !== 'REMOVE' ? parseOrSkip(change.newImage, parseInstanceStatus) : undefined;
  const events: FeedEvent[] = [];
  const instanceKey = { cluster, containerInstanceId };
  if (after) {
    const view = instanceView(after);
    if (!before || !same(view, instanceView(before))) events.push({ feed: 'instances', type: 'upsert', scope: cluster, data: view });
  } else events.push({ feed: 'instances', type: 'remove', scope: cluster, data: { key: instanceKey } });
  events.push(...taskEvents(cluster, before, after));
  return events;
}

/** Tasks are parts of the status record: upserts for new or changed ones, removes for those it no longer holds. */
function taskEvents(cluster: string, before: InstanceStatus | undefined, after: InstanceStatus | undefined): FeedEvent[] {
  const old = new Map((before ? taskViews(before) : []).map((t) => [t.taskArn, t]));
  const events: FeedEvent[] = [];
  const kept = new Set<string>();
  for (const task of after ? taskViews(after) : []) {
    kept.add(task.taskArn);
    const previous = old.get(task.taskArn);
    if (!previous || !same(previous, task)) events.push({ feed: 'tasks', type: 'upsert', scope: cluster, data: task });
  }
  for (const taskArn of old.keys()) if (!kept.has(taskArn)) events.push({ feed: 'tasks', type: 'remove', scope: cluster, data: { key: { taskArn } } });
  return events;
}

function deploymentEvents(change: TableChange, environment: string, deploymentId: string, taskDefinitionOf: TaskDefinitionOf): FeedEvent[] {
  const removal: FeedEvent = { feed: 'deployments', type: 'remove', scope: environment, data: { key: { environment, deploymentId } } };
  if (change.eventName === 'REMOVE' || !change.newImage) return [removal];
  const deployment: Deployment | undefined = parseOrSkip(change.newImage, parseDeployment);
  if (!deployment) return [removal];
  const taskDefinition = taskDefinitionOf(deployment.environment, deployment.targetRevision);
  // The list route does not show a deployment whose target revision is missing or malformed.
  if (taskDefinition === undefined) return [removal];
  return [{ feed: 'deployments', type: 'upsert', scope: environment, data: deploymentFeedItem(deploymentView(deployment, taskDefinition)) }];
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
