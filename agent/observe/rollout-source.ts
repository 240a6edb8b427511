// The rollout controls of the environments whose deployment is unfinished, read only while that
// matters (agents outside a rollout pay nothing): once per deployment to learn its phase, then
// every `rolloutPollMs` (jittered; less often in a fleet so large that its reads would load the
// item) while this instance waits to replace its daemon or is admitted, and slowly (every
// `rolloutIdlePollMs`) while it only watches the steward. A control seen done for the head's
// deployment is not read again until the head names another deployment.
import { errorMessage } from '../../core/errors.js';
import type { EnvironmentRevision, RolloutControl } from '../../core/records.js';
import type { AgentContext } from '../context.js';
import { activePollMs, untrusted, type ControlView } from '../decide/rollout.js';
import type { DynamoGate } from '../memory/dynamo-gate.js';
import type { RolloutPort } from '../ports.js';

interface Entry {
  deploymentId: string;
  view: ControlView;
  lastReadMono: number | undefined;
  /** This entry's jitter of the read interval (0.8 to 1.2). */
  jitter: number;
}

/** How closely an environment's rollout concerns this instance now. */
export type RolloutInterest = 'active' | 'idle';

export class RolloutSource {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ctx: AgentContext,
    private readonly port: RolloutPort,
    private readonly dynamo: DynamoGate,
  ) {}

  /** The control as last read for the head's deployment (unread until then). */
  view(environment: string, deploymentId: string | undefined): ControlView {
    const entry = this.entries.get(environment);
    if (deploymentId === undefined) return { state: 'absent' };
    return entry?.deploymentId === deploymentId ? entry.view : { state: 'unread' };
  }

  control(environment: string): RolloutControl | undefined {
    const view = this.entries.get(environment)?.view;
    return view?.state === 'read' ? view.control : undefined;
  }

  /**
   * The stable revision new instances get while the target is not trusted (a canary phase, a
   * failed deployment), once loaded; undefined otherwise. Revisions are immutable: read once.
   */
  stable(environment: string): EnvironmentRevision | undefined {
    const control = this.control(environment);
    if (!control || !untrusted(control) || control.stableRevision === undefined) return undefined;
    return this.stableRevisions.get(`${environment}#${control.stableRevision}`);
  }

  private readonly stableRevisions = new Map<string, EnvironmentRevision>();

  private async loadStable(env: string, control: RolloutControl): Promise<void> {
    if (!untrusted(control) || control.stableRevision === undefined) return;
    const key = `${env}#${control.stableRevision}`;
    if (this.stableRevisions.has(key)) return;
    const revision = await this.port.getRevision(env, control.stableRevision);
    if (revision) this.stableRevisions.set(key, revision);
  }

  /** A counter move was refused: the control changed since it was read. */
  invalidate(environment: string): void {
    const entry = this.entries.get(environment);
    if (entry) entry.lastReadMono = undefined;
  }

  /** Reads the controls that are due: `wanted` maps each environment with a deployment to the head's id and this instance's interest. */
  async poll(nowMono: number, wanted: ReadonlyMap<string, { deploymentId: string; interest: RolloutInterest }>): Promise<void> {
    for (const env of this.entries.keys()) if (!wanted.has(env)) this.entries.delete(env);
    for (const key of this.stableRevisions.keys()) if (!wanted.has(key.slice(0, key.lastIndexOf('#')))) this.stableRevisions.delete(key);
    if (!this.dynamo.available(nowMono)) return;
    const due: string[] = [];
    for (const [env, want] of wanted) {
      let entry = this.entries.get(env);
      if (entry?.deploymentId !== want.deploymentId) {
        entry = { deploymentId: want.deploymentId, view: { state: 'unread' }, lastReadMono: undefined, jitter: 0.8 + 0.4 * this.ctx.random() };
        this.entries.set(env, entry);
      }
      const view = entry.view;
      if (view.state === 'absent' || (view.state === 'read' && view.control.phase === 'done')) continue;
      const { rolloutPollMs, rolloutIdlePollMs } = this.ctx.config;
      const active = activePollMs(rolloutPollMs, view.state === 'read' ? view.control.desired : 0);
      const interval = (want.interest === 'active' ? active : Math.max(active, rolloutIdlePollMs)) * entry.jitter;
      if (entry.lastReadMono === undefined || view.state === 'unread' || nowMono - entry.lastReadMono >= interval) due.push(env);
    }
    await Promise.all(due.map((env) => this.read(env, this.entries.get(env)!, nowMono)));
  }

  private async read(env: string, entry: Entry, nowMono: number): Promise<void> {
    // The first read of a deployment's control is strongly consistent: "absent" must mean absent
    // (a deployment stored before rollouts), never a read that has not caught up with the head.
    const first = entry.view.state === 'unread';
    if (first && entry.lastReadMono !== undefined && nowMono - entry.lastReadMono < 1_000) return;
    entry.lastReadMono = nowMono;
    try {
      const control = await this.port.getControl(env, first);
      this.ctx.metrics.inc('blox_agent_rollout_reads_total', 'Reads of rollout controls', { environment: env });
      // Another deployment's control: the head moved on since (or the control is older than the head): read again soon.
      if (control && control.deploymentId !== entry.deploymentId) entry.view = { state: 'unread' };
      else entry.view = control ? { state: 'read', control } : { state: 'absent' };
      if (entry.view.state === 'read') await this.loadStable(env, entry.view.control);
      this.dynamo.ok();
    } catch (error) {
      this.ctx.log.warn({ environment: env, error: errorMessage(error) }, 'reading the rollout control failed');
      this.dynamo.failed(error, 'reading a rollout control');
    }
  }
}
