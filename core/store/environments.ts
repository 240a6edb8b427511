// The Environment store: the one library behind the coordinator's API and `blox --direct`, and
// the module callers import. It only delegates, each job to its own module:
//   environment-commands.ts  create, update, delete        environment-reads.ts  views, revisions
//   deployments.ts           deployment commands, reads    fleet.ts              instances, tasks, marker
//   transactions.ts          how a change commits          records-io.ts         parsing reads
import { systemClock, type Clock } from '../clock.js';
import type { ChangeMarker, InstanceStatus } from '../records.js';
import { Deployments } from './deployments.js';
import type { TableAccess } from './dynamo.js';
import { EnvironmentCommands, type UpdateResult } from './environment-commands.js';
import { EnvironmentReads } from './environment-reads.js';
import { Fleet, type InstanceQuery, type TaskQuery } from './fleet.js';
import type { CreateEnvironmentInput, DeploymentActionInput, RollbackInput, StartDeploymentInput, UpdateEnvironmentInput } from './inputs.js';
import type { Page, PageRequest } from './paging.js';
import type { DeploymentView, EnvironmentView, InstanceView, RevisionView, TaskView } from './views.js';

export type { UpdateResult } from './environment-commands.js';
export { INSTANCE_STATUS_FILTERS, type InstanceQuery, type InstanceStatusFilter, type TaskQuery } from './fleet.js';
export { validateCluster } from './inputs.js';
export { newDeploymentId } from './transactions.js';

/** How long a deleted environment's tombstone stays for agents to see (then DynamoDB's TTL removes it). */
export const TOMBSTONE_SECONDS = 7 * 24 * 3600;

export interface EnvironmentStoreOptions {
  table: TableAccess;
  clock?: Clock;
  tombstoneSeconds?: number;
}

export class EnvironmentStore {
  private readonly commands: EnvironmentCommands;
  private readonly reads: EnvironmentReads;
  private readonly deployments: Deployments;
  private readonly fleet: Fleet;

  constructor(options: EnvironmentStoreOptions) {
    const { table } = options;
    const clock = options.clock ?? systemClock;
    this.fleet = new Fleet({ table, clock });
    this.deployments = new Deployments({ table, clock });
    this.reads = new EnvironmentReads(table, this.fleet);
    const tombstoneSeconds = options.tombstoneSeconds ?? TOMBSTONE_SECONDS;
    this.commands = new EnvironmentCommands({ table, clock, tombstoneSeconds, reads: this.reads, deployments: this.deployments });
  }

  // ---------------------------------------------------------------- environments

  createEnvironment(input: CreateEnvironmentInput): Promise<EnvironmentView> {
    return this.commands.createEnvironment(input);
  }

  getEnvironment(name: string): Promise<EnvironmentView> {
    return this.reads.getEnvironment(name);
  }

  listEnvironments(request: PageRequest & { cluster?: string } = {}): Promise<Page<EnvironmentView>> {
    return this.reads.listEnvironments(request);
  }

  updateEnvironment(name: string, input: UpdateEnvironmentInput): Promise<UpdateResult> {
    return this.commands.updateEnvironment(name, input);
  }

  /** Marks the environment DELETING (agents stop its tasks) with a TTL. Returns undefined when there was nothing to delete (or its revision is malformed). */
  deleteEnvironment(name: string, token?: string): Promise<EnvironmentView | undefined> {
    return this.commands.deleteEnvironment(name, token);
  }

  // ---------------------------------------------------------------- revisions

  getRevision(name: string, revision: number): Promise<RevisionView> {
    return this.reads.getRevision(name, revision);
  }

  /** Newest first. */
  listRevisions(name: string, request: PageRequest = {}): Promise<Page<RevisionView>> {
    return this.reads.listRevisions(name, request);
  }

  // ---------------------------------------------------------------- deployments

  startDeployment(name: string, input: StartDeploymentInput): Promise<DeploymentView> {
    return this.deployments.startDeployment(name, input);
  }

  getDeployment(name: string, id: string): Promise<DeploymentView> {
    return this.deployments.getDeployment(name, id);
  }

  /** Newest first. */
  listDeployments(name: string, request: PageRequest = {}): Promise<Page<DeploymentView>> {
    return this.deployments.listDeployments(name, request);
  }

  stopDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.deployments.stopDeployment(name, id, input);
  }

  pauseDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.deployments.pauseDeployment(name, id, input);
  }

  resumeDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.deployments.resumeDeployment(name, id, input);
  }

  /** A canary deployment awaiting promotion goes on to the rest of the fleet. */
  promoteDeployment(name: string, id: string, input: DeploymentActionInput = {}): Promise<DeploymentView> {
    return this.deployments.promoteDeployment(name, id, input);
  }

  /** Rolls forward to a copy of an old revision and marks the deployment rolled_back (see Deployments). */
  rollbackDeployment(name: string, id: string, input: RollbackInput = {}): Promise<DeploymentView> {
    return this.deployments.rollbackDeployment(name, id, input);
  }

  // ---------------------------------------------------------------- instances and tasks

  listInstances(query: InstanceQuery = {}): Promise<Page<InstanceView>> {
    return this.fleet.listInstances(query);
  }

  /** Daemon tasks as the agents report them; `limit` counts instance records read. */
  listTasks(query: TaskQuery = {}): Promise<Page<TaskView>> {
    return this.fleet.listTasks(query);
  }

  /** What an instance preview evaluates: a revision (default current) and the agents' status records of its cluster. */
  previewTarget(name: string, revision?: number): Promise<{ revision: RevisionView; statuses: InstanceStatus[] }> {
    return this.reads.previewTarget(name, revision);
  }

  /** The cluster's InstanceStatus records (malformed ones skipped; at most a few pages). */
  clusterStatuses(cluster: string): Promise<InstanceStatus[]> {
    return this.fleet.clusterStatuses(cluster);
  }

  /** The cluster's change marker (what agents poll). */
  getChangeMarker(cluster: string): Promise<ChangeMarker | undefined> {
    return this.fleet.getChangeMarker(cluster);
  }
}
