// Everything one emulated container instance offers the agent running "on" it, each on its own
// endpoint, so that an agent configured with these endpoints cannot tell the sandbox from EC2:
// - the ECS agent introspection API (answers only after the instance has registered),
// - EC2 instance metadata with IMDSv2 tokens,
// - a Docker Engine API view over a unix socket, showing only this instance's containers.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskRuntime } from '../runtime/types.js';
import { DockerViewServer } from './docker-view.js';
import { ImdsServer, type InstanceIdentity, type SpotInstanceAction, type TargetLifecycleState } from './imds.js';
import { IntrospectionServer, type InstanceTaskSource } from './introspection.js';

export { type InstanceIdentity, type SpotInstanceAction, type TargetLifecycleState } from './imds.js';
export { type InstanceTaskSource, type IntrospectedTask, ECS_AGENT_VERSION } from './introspection.js';

export interface InstanceEndpointsOptions {
  /** The ECS emulator (anything with tasksOnInstance). */
  emulator: InstanceTaskSource;
  runtime: Pick<TaskRuntime, 'containersOf' | 'watch'>;
  identity: InstanceIdentity;
  cluster: string;
  /** Given: the instance is registered and introspection answers at once; absent: call markRegistered (connections are reset until then). */
  containerInstanceArn?: string;
  /** Directory for the Docker view's socket (`<ec2InstanceId>.docker.sock`); keep it short (108-byte limit). */
  socketDir: string;
  host?: string;
  /** 0 or absent: a free port (bound before this resolves). */
  introspectionPort?: number;
  imdsPort?: number;
  /** Version string of /v1/metadata. */
  agentVersion?: string;
}

export interface InstanceEndpoints {
  readonly introspectionUrl: string;
  readonly imdsUrl: string;
  readonly dockerSocket: string;
  readonly containerInstanceArn: string | undefined;
  /** The instance has registered with ECS: introspection starts answering, the Docker view shows its containers. */
  markRegistered(containerInstanceArn: string): Promise<void>;
  /** IMDS autoscaling/target-lifecycle-state (undefined: not in an Auto Scaling group). */
  setTargetLifecycleState(state: TargetLifecycleState | undefined): void;
  /** IMDS spot/instance-action: a Spot interruption notice (undefined withdraws it). */
  setSpotInstanceAction(action: SpotInstanceAction | undefined): void;
  close(): Promise<void>;
}

export async function startInstanceEndpoints(options: InstanceEndpointsOptions): Promise<InstanceEndpoints> {
  const host = options.host ?? '127.0.0.1';
  mkdirSync(options.socketDir, { recursive: true });
  const introspection = new IntrospectionServer({
    tasks: options.emulator,
    runtime: options.runtime,
    host,
    port: options.introspectionPort ?? 0,
    ...(options.agentVersion ? { version: options.agentVersion } : {}),
  });
  const imds = new ImdsServer({ identity: options.identity, host, port: options.imdsPort ?? 0 });
  const view = new DockerViewServer({
    runtime: options.runtime,
    socketPath: join(options.socketDir, `${options.identity.ec2InstanceId}.docker.sock`),
    name: options.identity.ec2InstanceId,
  });
  try {
    await introspection.start();
    await imds.start();
    await view.start();
  } catch (error) {
    await Promise.all([introspection.close(), imds.close(), view.close()]);
    throw error;
  }
  let arn: string | undefined;
  const endpoints: InstanceEndpoints = {
    introspectionUrl: introspection.url,
    imdsUrl: imds.url,
    dockerSocket: view.socketPath,
    get containerInstanceArn() {
      return arn;
    },
    async markRegistered(containerInstanceArn: string) {
      arn = containerInstanceArn;
      view.setInstance(containerInstanceArn);
      introspection.register(containerInstanceArn, options.cluster);
    },
    setTargetLifecycleState: (state) => imds.setTargetLifecycleState(state),
    setSpotInstanceAction: (action) => imds.setSpotInstanceAction(action),
    async close() {
      await Promise.all([introspection.close(), imds.close(), view.close()]);
    },
  };
  if (options.containerInstanceArn) await endpoints.markRegistered(options.containerInstanceArn);
  return endpoints;
}
