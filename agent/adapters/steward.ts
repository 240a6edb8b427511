// The steward's DynamoDB access: the store's own rollout code (core/store/rollouts.ts) on the
// agent's DynamoDB client, so the steward's writes are the coordinator's writes, not a third layer.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../core/clock.js';
import type { Deployment, InstanceStatus, RolloutControl, StewardLease } from '../../core/records.js';
import { DynamoTable } from '../../core/store/dynamo.js';
import { Rollouts, type ControlJudgement, type DeploymentJudgement } from '../../core/store/rollouts.js';
import type { StewardPort } from '../ports.js';

export class AgentSteward implements StewardPort {
  private readonly rollouts: Rollouts;

  constructor(options: { client: DynamoDBClient; table: string; clock: Clock }) {
    this.rollouts = new Rollouts({ table: new DynamoTable({ client: options.client, tableName: options.table }), clock: options.clock });
  }

  control(environment: string): Promise<RolloutControl | undefined> {
    return this.rollouts.control(environment);
  }

  deployment(environment: string, id: string): Promise<Deployment | undefined> {
    return this.rollouts.deployment(environment, id);
  }

  statuses(cluster: string): Promise<InstanceStatus[]> {
    return this.rollouts.statuses(cluster);
  }

  acquire(environment: string, deploymentId: string, lease: StewardLease, seenRenewals: number | undefined): Promise<boolean> {
    return this.rollouts.acquire(environment, deploymentId, lease, seenRenewals);
  }

  record(
    environment: string,
    deploymentId: string,
    lease: StewardLease,
    control: ControlJudgement,
    deployment: DeploymentJudgement | undefined,
    expectedStatus: Deployment['status'],
    now: string,
  ): Promise<boolean> {
    return this.rollouts.record(environment, deploymentId, lease, control, deployment, expectedStatus, now);
  }

  freeAbandoned(environment: string, deploymentId: string, cluster: string, now: string): Promise<number> {
    return this.rollouts.freeAbandoned(environment, deploymentId, cluster, now);
  }

  async rollback(environment: string, failedDeploymentId: string, revision: number): Promise<void> {
    await this.rollouts.deployments.rollbackDeployment(environment, failedDeploymentId, { revision });
  }
}
