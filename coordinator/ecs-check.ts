// Optional checks with ECS before an environment is stored (Blox did the same): the cluster must
// exist and be ACTIVE, the task definition must exist and be ACTIVE. The only coordinator file
// that imports the ECS SDK.
import {
  DescribeClustersCommand,
  DescribeContainerInstancesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  ListContainerInstancesCommand,
} from '@aws-sdk/client-ecs';
import type { InstanceFacts } from '../core/cql.js';
import { BloxError, NotFoundError, errorMessage } from '../core/errors.js';
import { instanceFactsOf } from '../core/instance-facts.js';

export interface EcsChecker {
  /** Throws NotFoundError when the cluster is unknown or not ACTIVE. */
  checkCluster(cluster: string): Promise<void>;
  /** Throws NotFoundError when the task definition is unknown or INACTIVE. */
  checkTaskDefinition(taskDefinition: string): Promise<void>;
  /** The cluster's ACTIVE and DRAINING container instances with their attributes (for previews). */
  listContainerInstances(cluster: string): Promise<EcsContainerInstance[]>;
}

export interface EcsContainerInstance {
  containerInstanceArn: string;
  ec2InstanceId?: string;
  /** ECS status: ACTIVE, DRAINING, ... */
  status: string;
  agentConnected: boolean;
  /** What instance group expressions are evaluated on (core/instance-facts.ts). */
  facts: InstanceFacts;
}

/** Previews read at most this many container instances of a cluster. */
export const PREVIEW_INSTANCE_LIMIT = 2_000;

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
      throw ecsUnavailable(`check cluster ${cluster}`, error);
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
      throw ecsUnavailable(`check task definition ${taskDefinition}`, error);
    }
    const status = out.taskDefinition?.status;
    if (!out.taskDefinition) throw new NotFoundError(`task definition ${taskDefinition} not found in ECS`);
    if (status === 'INACTIVE' || status === 'DELETE_IN_PROGRESS') throw new NotFoundError(`task definition ${taskDefinition} is ${status} in ECS`);
  }

  async listContainerInstances(cluster: string): Promise<EcsContainerInstance[]> {
    await this.checkCluster(cluster);
    const result: EcsContainerInstance[] = [];
    try {
      let nextToken: string | undefined;
      do {
        const page = await this.client.send(new ListContainerInstancesCommand({ cluster, maxResults: 100, ...(nextToken ? { nextToken } : {}) }));
        const arns = page.containerInstanceArns ?? [];
        if (arns.length > 0) {
          const described = await this.client.send(new DescribeContainerInstancesCommand({ cluster, containerInstances: arns }));
          for (const ci of described.containerInstances ?? []) {
            if (!ci.containerInstanceArn) continue;
            const instance: EcsContainerInstance = {
              containerInstanceArn: ci.containerInstanceArn,
              status: ci.status ?? 'UNKNOWN',
              agentConnected: ci.agentConnected ?? false,
              facts: instanceFactsOf(ci),
            };
            if (ci.ec2InstanceId) instance.ec2InstanceId = ci.ec2InstanceId;
            result.push(instance);
          }
        }
        nextToken = page.nextToken;
      } while (nextToken && result.length < PREVIEW_INSTANCE_LIMIT);
    } catch (error) {
      if (error instanceof BloxError) throw error;
      throw ecsUnavailable(`list the container instances of ${cluster}`, error);
    }
    return result;
  }
}

/**
 * 503 for an ECS call that failed. The caller learns only the error's name: AWS's message can
 * carry the coordinator's role ARN and account; the whole error goes to the coordinator's log.
 */
function ecsUnavailable(what: string, error: unknown): BloxError {
  const name = (error as { name?: string }).name ?? 'Error';
  const unavailable = new BloxError('Unavailable', `could not ${what} with ECS (${name}); the coordinator's log has the details`);
  unavailable.cause = error;
  return unavailable;
}
