// The key layout of the one blox-edge table: the contract between agents and coordinator.
// Every access path is a GetItem or a Query on a partition; nothing ever needs a Scan.
//
//   pk                     sk                    record
//   CLUSTER#<cluster>      MARKER                ChangeMarker: bumped with every Environment change
//   CLUSTER#<cluster>      ENV#<name>            Environment head (the agent's one Query on change)
//   CLUSTER#<cluster>      INSTANCE#<id>         InstanceStatus, written by that instance's agent (TTL)
//   ENVIRONMENTS           ENV#<name>            EnvironmentIndex: name -> cluster; makes names unique
//   ENV#<name>             REV#<0000000001>      EnvironmentRevision (immutable, numbered)
//   ENV#<name>             DEP#<id>              Deployment (ids sort by creation time)
//   ENV#<name>             LEASE#<id>            Claim of (environment, container instance): the
//                                                daemon task(s) and start attempts (a v1 Lease
//                                                before an instance's agent is upgraded)
//   ENV#<name>             ROLLOUT               RolloutControl of the active deployment: admission
//                                                counter, phase, steward lease (core/records/rollout.ts)
//   INSTANCE#<id>          HEARTBEAT             InstanceHeartbeat: which agent acts for the
//                                                instance (its lease), renewed on the lease cadence
//
// <cluster> is the cluster name (never the ARN); <id> is the container instance id, the last
// segment of its ARN.

export const PK = 'pk';
export const SK = 'sk';
/** Epoch seconds; DynamoDB's TTL deletes the item some time after it passes. */
export const TTL_ATTRIBUTE = 'expiresAt';
export const SCHEMA_VERSION = 1;

export interface ItemKey {
  pk: string;
  sk: string;
}

export const ENVIRONMENT_INDEX_PK = 'ENVIRONMENTS';
export const ENV_SK_PREFIX = 'ENV#';
export const INSTANCE_SK_PREFIX = 'INSTANCE#';
export const REVISION_SK_PREFIX = 'REV#';
export const DEPLOYMENT_SK_PREFIX = 'DEP#';
/** Claims keep the v1 lease's key, so that a v1 and a v2 agent meet on one item during an upgrade. */
export const CLAIM_SK_PREFIX = 'LEASE#';

export const clusterPk = (cluster: string): string => `CLUSTER#${cluster}`;
export const environmentPk = (name: string): string => `ENV#${name}`;

export const keys = {
  changeMarker: (cluster: string): ItemKey => ({ pk: clusterPk(cluster), sk: 'MARKER' }),
  environment: (cluster: string, name: string): ItemKey => ({ pk: clusterPk(cluster), sk: `${ENV_SK_PREFIX}${name}` }),
  environmentIndex: (name: string): ItemKey => ({ pk: ENVIRONMENT_INDEX_PK, sk: `${ENV_SK_PREFIX}${name}` }),
  revision: (name: string, revision: number): ItemKey => ({ pk: environmentPk(name), sk: `${REVISION_SK_PREFIX}${String(revision).padStart(10, '0')}` }),
  deployment: (name: string, id: string): ItemKey => ({ pk: environmentPk(name), sk: `${DEPLOYMENT_SK_PREFIX}${id}` }),
  claim: (name: string, containerInstanceId: string): ItemKey => ({ pk: environmentPk(name), sk: `${CLAIM_SK_PREFIX}${containerInstanceId}` }),
  rolloutControl: (name: string): ItemKey => ({ pk: environmentPk(name), sk: 'ROLLOUT' }),
  repairBudget: (name: string): ItemKey => ({ pk: environmentPk(name), sk: 'REPAIR' }),
  instanceStatus: (cluster: string, containerInstanceId: string): ItemKey => ({ pk: clusterPk(cluster), sk: `${INSTANCE_SK_PREFIX}${containerInstanceId}` }),
  // One partition per instance: a fleet's heartbeats spread over the table instead of loading one key.
  heartbeat: (containerInstanceId: string): ItemKey => ({ pk: `${INSTANCE_SK_PREFIX}${containerInstanceId}`, sk: 'HEARTBEAT' }),
};

/** `arn:aws:ecs:region:acct:cluster/name` or `name` -> `name`. */
export function clusterNameOf(clusterOrArn: string): string {
  const match = /^arn:[^:]+:ecs:[^:]*:[^:]*:cluster\/(.+)$/.exec(clusterOrArn);
  return match?.[1] ?? clusterOrArn;
}

/** The last `/`-separated segment of an ECS ARN (a task or container instance id), or the text itself. */
export function lastArnSegment(arnOrId: string): string {
  return arnOrId.slice(arnOrId.lastIndexOf('/') + 1);
}

/** `arn:...:container-instance/[cluster/]id` or `id` -> `id`. */
export const containerInstanceIdOf = lastArnSegment;
