// When an instance leaves the feeds without any write: the list routes show a status record only
// while it is live (statusIsLive: its own expiresAt and its heartbeat's validUntil in the future),
// and an agent that dies writes nothing more, so no stream record ever says it is gone. This keeps,
// per instance seen in the stream, when it stops being live, and says which instances (and their
// tasks) to remove once that time passes, and which to show again when a late heartbeat revives
// them. Pure (time is passed in). Memory: one entry per instance seen, forgotten when its status
// record is removed or itself expires.
import { HEARTBEAT_KIND, parseInstanceHeartbeat, parseInstanceStatus } from '../../core/records.js';
import { INSTANCE_SK_PREFIX } from '../../core/keys.js';
import { parseOrSkip } from '../../core/store/records-io.js';
import { instanceView, taskViews, type InstanceView, type TaskView } from '../../core/store/views.js';
import type { FeedEvent, TableChange } from './changes.js';

interface Tracked {
  cluster: string;
  containerInstanceId: string;
  expiresAtMs: number;
  instance: InstanceView;
  tasks: TaskView[];
  /** Whether the feeds show it (false once removed for want of a live heartbeat). */
  shown: boolean;
}

export class Liveness {
  private readonly statuses = new Map<string, Tracked>();
  /** containerInstanceId -> the heartbeat's validUntil (ms). */
  private readonly heartbeats = new Map<string, number>();

  /** Learns from one change; answers the events that show again an instance a new heartbeat revived. */
  observe(change: TableChange, nowMs: number): FeedEvent[] {
    const { pk, sk } = change.key;
    if (pk.startsWith('CLUSTER#') && sk.startsWith(INSTANCE_SK_PREFIX)) {
      const cluster = pk.slice('CLUSTER#'.length);
      const containerInstanceId = sk.slice(INSTANCE_SK_PREFIX.length);
      const key = `${cluster}\u0000${containerInstanceId}`;
      const status = change.eventName !== 'REMOVE' && change.newImage ? parseOrSkip(change.newImage, parseInstanceStatus) : undefined;
      if (!status) this.statuses.delete(key);
      else
        this.statuses.set(key, {
          cluster,
          containerInstanceId,
          expiresAtMs: status.expiresAt * 1000,
          instance: instanceView(status),
          tasks: taskViews(status),
          shown: true,
        });
      return [];
    }
    if (!pk.startsWith(INSTANCE_SK_PREFIX) || sk !== 'HEARTBEAT') return [];
    const id = pk.slice(INSTANCE_SK_PREFIX.length);
    const heartbeat =
      change.eventName !== 'REMOVE' && change.newImage?.kind === HEARTBEAT_KIND ? parseOrSkip(change.newImage, parseInstanceHeartbeat) : undefined;
    if (!heartbeat) {
      this.heartbeats.delete(id);
      return [];
    }
    this.heartbeats.set(id, heartbeat.validUntil * 1000);
    const tracked = this.statuses.get(`${heartbeat.cluster}\u0000${id}`);
    if (!tracked || tracked.shown || !this.live(tracked, nowMs)) return [];
    tracked.shown = true;
    return [
      { feed: 'instances', type: 'upsert', scope: tracked.cluster, data: tracked.instance },
      ...tracked.tasks.map((task): FeedEvent => ({ feed: 'tasks', type: 'upsert', scope: tracked.cluster, data: task })),
    ];
  }

  /** The removals of the instances shown that are no longer live at `nowMs`. */
  expire(nowMs: number): FeedEvent[] {
    const events: FeedEvent[] = [];
    for (const [key, tracked] of this.statuses) {
      if (!tracked.shown || this.live(tracked, nowMs)) continue;
      tracked.shown = false;
      // A status record past its own expiry comes back only with a new write: forget it.
      if (tracked.expiresAtMs <= nowMs) this.statuses.delete(key);
      const { cluster, containerInstanceId } = tracked;
      events.push({ feed: 'instances', type: 'remove', scope: cluster, data: { key: { cluster, containerInstanceId } } });
      for (const task of tracked.tasks) events.push({ feed: 'tasks', type: 'remove', scope: cluster, data: { key: { taskArn: task.taskArn } } });
    }
    return events;
  }

  get size(): number {
    return this.statuses.size;
  }

  private live(tracked: Tracked, nowMs: number): boolean {
    if (tracked.expiresAtMs <= nowMs) return false;
    const validUntil = this.heartbeats.get(tracked.containerInstanceId);
    return validUntil === undefined || validUntil > nowMs;
  }
}
