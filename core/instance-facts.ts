// What the Cluster Query Language is evaluated on, built from a container instance as ECS
// describes it (DescribeContainerInstances). The shape below is structural, so this module needs no
// SDK: the agent's ECS adapter and the coordinator's ECS check pass the SDK's objects straight in.
import type { InstanceFacts } from './cql.js';

/** The fields of an ECS ContainerInstance that facts are made of. */
export interface ContainerInstanceDescription {
  containerInstanceArn?: string | undefined;
  status?: string | undefined;
  ec2InstanceId?: string | undefined;
  attributes?: { name?: string | undefined; value?: string | undefined }[] | undefined;
  registeredAt?: Date | undefined;
  runningTasksCount?: number | undefined;
  agentConnected?: boolean | undefined;
  versionInfo?: { agentVersion?: string | undefined } | undefined;
}

/** Attribute name to value; an attribute without a value is ''. */
function attributesOf(ci: ContainerInstanceDescription): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const a of ci.attributes ?? []) if (a.name) attributes[a.name] = a.value ?? '';
  return attributes;
}

export function instanceFactsOf(ci: ContainerInstanceDescription): InstanceFacts {
  const facts: InstanceFacts = { attributes: attributesOf(ci) };
  if (ci.ec2InstanceId) facts.ec2InstanceId = ci.ec2InstanceId;
  if (ci.registeredAt) facts.registeredAt = ci.registeredAt;
  if (ci.runningTasksCount !== undefined) facts.runningTasksCount = ci.runningTasksCount;
  if (ci.agentConnected !== undefined) facts.agentConnected = ci.agentConnected;
  if (ci.versionInfo?.agentVersion) facts.agentVersion = ci.versionInfo.agentVersion;
  return facts;
}
