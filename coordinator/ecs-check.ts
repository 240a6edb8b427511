// Optional checks with ECS before an environment is stored (Blox did the same): the cluster must
// exist and be ACTIVE, the task definition must exist and be ACTIVE. The only coordinator file
// that imports the ECS SDK.
import { DescribeClustersCommand, DescribeTaskDefinitionCommand, ECSClient } from '@aws-sdk/client-ecs';
import { BloxError, NotFoundError, errorMessage } from '../core/errors.js';

export interface EcsChecker {
  /** Throws NotFoundError when the cluster is unknown or not ACTIVE. */
  checkCluster(cluster: string): Promise<void>;
  /** Throws NotFoundError when the task definition is unknown or INACTIVE. */
  checkTaskDefinition(taskDefinition: string): Promise<void>;
}

export interface EcsCheckOptions {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  client?: ECSClient;
}

export class AwsEcsChecker implements EcsChecker {
  private readonly client: ECSClient;

  constructor(options: EcsCheckOptions = {}) {
    this.client =
      options.client ??
      new ECSClient({
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
        ...(options.credentials ? { credentials: options.credentials } : {}),
        maxAttempts: 2,
      });
  }

  destroy(): void {
    this.client.destroy();
  }

  async checkCluster(cluster: string): Promise<void> {
    let out;
    try {
      out = await this.client.send(new DescribeClustersCommand({ clusters: [cluster] }));
    } catch (error) {
      throw new BloxError('Unavailable', `could not check cluster ${cluster} with ECS: ${errorMessage(error)}`);
    }
    const found = out.clusters?.[0];
    if (!found) {
      const reason = out.failures?.[0]?.reason ?? 'MISSING';
      throw new NotFoundError(`cluster ${cluster} not found in ECS (${reason})`);
    }
    if (found.status !== 'ACTIVE') throw new NotFoundError(`cluster ${cluster} is ${found.status ?? 'not ACTIVE'} in ECS`);
  }

  async checkTaskDefinition(taskDefinition: string): Promise<void> {
    let out;
    try {
      out = await this.client.send(new DescribeTaskDefinitionCommand({ taskDefinition }));
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'ClientException' || name === 'InvalidParameterException') {
        throw new NotFoundError(`task definition ${taskDefinition} not found in ECS: ${errorMessage(error)}`);
      }
      throw new BloxError('Unavailable', `could not check task definition ${taskDefinition} with ECS: ${errorMessage(error)}`);
    }
    const status = out.taskDefinition?.status;
    if (!out.taskDefinition) throw new NotFoundError(`task definition ${taskDefinition} not found in ECS`);
    if (status === 'INACTIVE' || status === 'DELETE_IN_PROGRESS') throw new NotFoundError(`task definition ${taskDefinition} is ${status} in ECS`);
  }
}
