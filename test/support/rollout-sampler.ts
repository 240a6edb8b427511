// A sampler of one environment's rollout, for tests that run a rollout through chaos: every
// `intervalMs` it reads the rollout control, the control's deployment and every instance's claim in
// one TransactGetItems (serializable against the agents' TransactWriteItems, so the counter and the
// claims are seen as of one moment, never half of an admission), as raw items, and checks:
//
// - counter: the control's `inFlight` equals the claims counted in flight for its deployment (the
//   agents' rule, agent/decide/rollout.ts counterDelta and the steward's freeAbandoned: a part with
//   `counted` in state admitted or failed), and `admitted` the claims ever counted for it;
// - budget: never more counted in-flight admissions than maxUnavailable;
// - monotone: the control's phase never goes back within a deployment (pending, canary,
//   awaiting_promotion, rolling, done), nor the deployment's status (pending, then in_progress or
//   awaiting_promotion, then one finished status for good), nor `admitted`; a new deployment only
//   replaces an older one; the control and its deployment agree (done with the deployment's
//   finished status as outcome; completed with nothing in flight);
// - stops: the emulator tells of every StopTask (`onTaskStateChange`, stop code UserInitiated); a
//   daemon of the environment that was ready (RUNNING, HEALTHY where checked) for `readyGraceMs`
//   and is stopped must be of an older revision than the control's target, on an instance whose
//   claim carries a counted admission for the control's deployment (checked against the first
//   sample read after the stop: the admission is written before the StopTask call).
import { TransactGetItemsCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { EcsEmulator } from '../../local/ecs/emulator.js';
import { readyTask } from './agent-world.js';

const PHASES = ['pending', 'canary', 'awaiting_promotion', 'rolling', 'done'];
const STATUS_RANK: Record<string, number> = { pending: 0, in_progress: 1, awaiting_promotion: 1, completed: 2, failed: 2, stopped: 2, rolled_back: 2 };

export interface RolloutSamplerOptions {
  ddb: DynamoDBClient;
  table: string;
  emulator: EcsEmulator;
  environment: string;
  /** Container instance ids (the last segment of the ARN) whose claims are read. */
  instanceIds: readonly string[];
  maxUnavailable: number;
  intervalMs?: number;
  /** How long a daemon must have been ready to count as a ready one when stopped: the agent's view of a task lags the emulator's by up to a step. */
  readyGraceMs?: number;
}

interface Part {
  deploymentId?: string;
  state?: string;
  counted?: boolean;
  at?: string;
}

interface Stop {
  instanceId: string;
  taskArn: string;
  revision: number | undefined;
  readyForMs: number | undefined;
  atMs: number;
}

export interface RolloutSampler {
  readonly violations: string[];
  /** Samples read (each a consistent view of control, deployment and claims). */
  readonly samples: number;
  /** Reads that failed (a transaction conflict with an agent's write): skipped. */
  readonly failedReads: number;
  /** The most counted in-flight admissions one sample saw. */
  readonly maxCounted: number;
  /** Per instance, when a counted admission was first seen for a deployment (its claim's `at`). */
  readonly admissions: ReadonlyMap<string, { deploymentId: string; at: string }>;
  /** Stops of ready daemons checked against an admission, and stops of daemons that were not ready (not checked: nothing to count). */
  readonly readyStops: readonly Stop[];
  readonly notReadyStops: readonly Stop[];
  /** Phases seen, in order, as `deploymentId:phase`. */
  readonly phases: readonly string[];
  /** Every change of what a sample saw, compactly (ms since the sampler started, phase, cap, inFlight, admitted, the deployment's status and unavailable count). */
  readonly history: readonly string[];
  stop(): Promise<void>;
}

export function startRolloutSampler(options: RolloutSamplerOptions): RolloutSampler {
  const { ddb, table, environment, instanceIds, maxUnavailable } = options;
  const intervalMs = options.intervalMs ?? 100;
  const readyGraceMs = options.readyGraceMs ?? 1_000;
  const group = `blox:${environment}`;
  const violations: string[] = [];
  const admissions = new Map<string, { deploymentId: string; at: string }>();
  const readyStops: Stop[] = [];
  const notReadyStops: Stop[] = [];
  const phases: string[] = [];
  const history: string[] = [];
  const began = Date.now();
  const pending: Stop[] = [];
  const readySince = new Map<string, number>();
  let samples = 0;
  let failedReads = 0;
  let maxCounted = 0;
  let last: { deploymentId: string; phase: number; status?: number; statusName?: string; admitted: number } | undefined;
  let running = true;

  const violation = (message: string) => {
    if (violations.length < 50) violations.push(`${new Date().toISOString()} ${message}`);
  };

  // Daemons already ready count as ready from now on (how long before, no event says).
  for (const arn of options.emulator.instanceArns())
    for (const task of options.emulator.tasksOnInstance(arn)) if (task.group === group && readyTask(task)) readySince.set(task.taskArn, Date.now());
  const offTasks = options.emulator.onTaskStateChange(({ task, change }) => {
    if (task.group !== group) return;
    const now = Date.now();
    if (change === 'stopping' && task.stopCode === 'UserInitiated') {
      const since = readySince.get(task.taskArn);
      const revision = Number(task.tags?.find((t) => t.key === 'blox:revision')?.value ?? Number.NaN);
      const stop: Stop = {
        instanceId: task.containerInstanceArn.split('/').pop()!,
        taskArn: task.taskArn,
        revision: Number.isNaN(revision) ? undefined : revision,
        readyForMs: since === undefined ? undefined : now - since,
        atMs: now,
      };
      if (since !== undefined && now - since >= readyGraceMs) {
        readyStops.push(stop);
        pending.push(stop);
      } else notReadyStops.push(stop);
    }
    if (readyTask(task)) {
      if (!readySince.has(task.taskArn)) readySince.set(task.taskArn, now);
    } else readySince.delete(task.taskArn);
  });

  const sample = async () => {
    const startedAt = Date.now();
    const keys = [
      { pk: `ENV#${environment}`, sk: 'ROLLOUT' },
      ...instanceIds.map((id) => ({ pk: `ENV#${environment}`, sk: `LEASE#${id}` })),
      // The deployment the last sample's control named: a new one is read from the next sample on.
      ...(last ? [{ pk: `ENV#${environment}`, sk: `DEP#${last.deploymentId}` }] : []),
    ];
    let items: (Record<string, unknown> | undefined)[];
    try {
      const out = await ddb.send(new TransactGetItemsCommand({ TransactItems: keys.map((key) => ({ Get: { TableName: table, Key: marshall(key) } })) }));
      items = (out.Responses ?? []).map((r) => (r.Item ? unmarshall(r.Item) : undefined));
    } catch {
      failedReads++;
      return;
    }
    samples++;
    const control = items[0];
    const claims = new Map(instanceIds.map((id, i) => [id, items[i + 1]]));
    const deployment = last ? items[instanceIds.length + 1] : undefined;
    if (!control) return;
    const deploymentId = String(control.deploymentId);
    const partOf = (id: string): Part | undefined => {
      const part = claims.get(id)?.rollout as Part | undefined;
      return part?.deploymentId === deploymentId ? part : undefined;
    };
    const inFlightIds = instanceIds.filter((id) => {
      const part = partOf(id);
      return part?.counted === true && (part.state === 'admitted' || part.state === 'failed');
    });
    const everCounted = instanceIds.filter((id) => partOf(id)?.counted === true).length;
    for (const id of instanceIds) {
      const part = partOf(id);
      if (part?.counted && admissions.get(id)?.deploymentId !== deploymentId) admissions.set(id, { deploymentId, at: String(part.at) });
    }
    const inFlight = Number(control.inFlight);
    const admitted = Number(control.admitted);
    const phase = PHASES.indexOf(String(control.phase));
    maxCounted = Math.max(maxCounted, inFlightIds.length);
    const where = `deployment ${deploymentId} phase ${control.phase}`;
    if (inFlight !== inFlightIds.length)
      violation(`${where}: inFlight ${inFlight} but ${inFlightIds.length} claim(s) counted in flight [${inFlightIds.join(', ')}]`);
    if (admitted !== everCounted) violation(`${where}: admitted ${admitted} but ${everCounted} claim(s) ever counted`);
    if (inFlightIds.length > maxUnavailable)
      violation(`${where}: ${inFlightIds.length} counted admissions in flight, more than maxUnavailable ${maxUnavailable}`);
    if (control.outcome === 'completed' && inFlight !== 0) violation(`${where}: completed with inFlight ${inFlight}`);
    if (phases.at(-1) !== `${deploymentId}:${control.phase}`) phases.push(`${deploymentId}:${control.phase}`);
    const counts = deployment?.counts as { unavailable?: number } | undefined;
    const seen = `${deploymentId.slice(-4)} ${String(control.phase)} cap ${String(control.cap)} inFlight ${inFlight} admitted ${admitted} ${String(deployment?.status ?? '?')} unavailable ${String(counts?.unavailable ?? '?')} [${inFlightIds.join(',')}]`;
    if (history.at(-1)?.replace(/^\d+ ms /, '') !== seen) history.push(`${startedAt - began} ms ${seen}`);

    if (last && last.deploymentId !== deploymentId) {
      if (deploymentId < last.deploymentId) violation(`the control went back from deployment ${last.deploymentId} to ${deploymentId}`);
      last = { deploymentId, phase, admitted };
    } else {
      if (last && phase < last.phase) violation(`${where}: phase went back from ${PHASES[last.phase]}`);
      if (last && admitted < last.admitted) violation(`${where}: admitted went back from ${last.admitted} to ${admitted}`);
      const status = deployment ? String(deployment.status) : undefined;
      const rank = status === undefined ? undefined : STATUS_RANK[status];
      if (deployment && rank === undefined) violation(`${where}: unknown deployment status ${status}`);
      if (last?.status !== undefined && rank !== undefined) {
        if (rank < last.status) violation(`${where}: deployment status went back from ${last.statusName} to ${status}`);
        if (last.status === 2 && status !== last.statusName) violation(`${where}: finished deployment changed from ${last.statusName} to ${status}`);
      }
      if (deployment && rank !== undefined) {
        if ((control.phase === 'done') !== (rank === 2)) violation(`${where}: the control and the deployment's status ${status} disagree`);
        if (control.phase === 'done' && control.outcome !== status) violation(`${where}: outcome ${String(control.outcome)} but the deployment is ${status}`);
      }
      last = {
        deploymentId,
        phase: Math.max(phase, last?.phase ?? phase),
        admitted,
        ...(rank !== undefined ? { status: rank, statusName: status } : last?.status !== undefined ? { status: last.status, statusName: last.statusName } : {}),
      };
    }

    // Every stop of a ready daemon before this read began: an older revision, on an instance admitted and counted.
    for (let i = pending.length - 1; i >= 0; i--) {
      const stop = pending[i]!;
      if (stop.atMs >= startedAt) continue;
      pending.splice(i, 1);
      const part = partOf(stop.instanceId);
      const admittedHere = part?.counted === true && (part.state === 'admitted' || part.state === 'failed');
      const what = `StopTask of ${stop.taskArn} (revision ${stop.revision}, ready for ${stop.readyForMs} ms) on ${stop.instanceId}`;
      if (stop.revision === undefined || stop.revision >= Number(control.targetRevision))
        violation(`${what}: not older than the target ${String(control.targetRevision)} of ${deploymentId}`);
      else if (!admittedHere)
        violation(`${what} without a counted admission for ${deploymentId} (claim part: ${JSON.stringify(claims.get(stop.instanceId)?.rollout)})`);
    }
  };

  const loop = (async () => {
    while (running) {
      const began = Date.now();
      await sample();
      await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - began))));
    }
  })();

  return {
    violations,
    get samples() {
      return samples;
    },
    get failedReads() {
      return failedReads;
    },
    get maxCounted() {
      return maxCounted;
    },
    admissions,
    readyStops,
    notReadyStops,
    phases,
    history,
    async stop() {
      if (!running) return;
      running = false;
      await loop;
      // The stops after the last read: one more read judges them.
      await sample();
      offTasks();
      for (const stop of pending) violation(`StopTask of ${stop.taskArn} on ${stop.instanceId} never judged`);
    },
  };
}
