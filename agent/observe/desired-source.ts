// Desired state: the cluster's environments, read through the change marker protocol
// (docs/contract.md). One eventually consistent GetItem of the marker per poll interval (jittered
// ±20%); the environments (a Query, then the revisions not cached) only when the marker moved,
// and on a slow periodic full reload so that a hand edit that forgot the marker still lands.
import type { AgentContext } from '../context.js';
import type { DynamoGate } from '../memory/dynamo-gate.js';
import type { DesiredStatePort, EnvironmentEntry } from '../ports.js';

/** unread: never read; fresh: read in the last poll; stale: the last poll failed (nothing is stopped on it). */
export type DesiredFreshness = 'unread' | 'fresh' | 'stale';

export class DesiredSource {
  private current: EnvironmentEntry[] | undefined;
  private markerVersion: number | undefined;
  private freshness: DesiredFreshness = 'unread';
  private nextPollMono = 0;
  private lastReloadMono: number | undefined;

  constructor(
    private readonly ctx: AgentContext,
    private readonly port: DesiredStatePort,
    private readonly dynamo: DynamoGate,
  ) {}

  get entries(): EnvironmentEntry[] | undefined {
    return this.current;
  }

  get fresh(): boolean {
    return this.freshness === 'fresh';
  }

  get state(): { freshness: DesiredFreshness; markerVersion: number | undefined } {
    return { freshness: this.freshness, markerVersion: this.markerVersion };
  }

  /** When the next poll is due (the loop wakes for it on time). */
  get nextPollAt(): number {
    return this.nextPollMono;
  }

  async poll(nowMono: number): Promise<void> {
    if (!this.dynamo.available(nowMono)) {
      if (this.freshness === 'fresh') this.freshness = 'stale';
      return;
    }
    if (nowMono < this.nextPollMono) return;
    const { config, identity, metrics } = this.ctx;
    this.nextPollMono = nowMono + config.pollIntervalMs * (0.8 + 0.4 * this.ctx.random());
    try {
      const marker = await this.port.getMarker(identity.cluster);
      const moved = this.current === undefined || marker?.version !== this.markerVersion;
      const reloadDue = this.lastReloadMono === undefined || nowMono - this.lastReloadMono >= config.fullReloadIntervalMs;
      if (moved || reloadDue) {
        const entries = await this.port.loadEnvironments(identity.cluster);
        this.lastReloadMono = nowMono;
        this.logChanges(entries);
        this.current = entries;
        this.markerVersion = marker?.version;
        metrics.inc('blox_agent_desired_reloads_total', 'Full reloads of the environments (change marker moved, or the slow periodic reload)', {
          cause: moved ? 'marker' : 'periodic',
        });
      }
      this.freshness = 'fresh';
      this.dynamo.ok();
    } catch (error) {
      if (this.freshness === 'fresh') this.freshness = 'stale';
      this.dynamo.failed(error, 'reading desired state');
    }
  }

  private logChanges(entries: EnvironmentEntry[]): void {
    const before = new Map((this.current ?? []).map((e) => [e.name, e]));
    for (const e of entries) {
      const old = before.get(e.name);
      if (e.kind === 'invalid') {
        if (old?.kind !== 'invalid' || old.error !== e.error) {
          this.ctx.log.warn({ environment: e.name, error: e.error }, 'environment record invalid; it is reported and left alone');
          this.ctx.troubles.record(`environment ${e.name}`, new Error(e.error));
        }
      } else if (old?.kind !== 'valid' || old.revision.revision !== e.revision.revision || old.environment.status !== e.environment.status) {
        this.ctx.log.info(
          { environment: e.name, revision: e.revision.revision, status: e.environment.status, taskDefinition: e.revision.taskDefinition },
          'environment loaded',
        );
      }
    }
  }
}
