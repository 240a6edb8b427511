// Parsing of what callers ask the store to do (HTTP bodies, CLI flags turned into objects).
// Every rejection is an InvalidInputError naming the dotted field. Unknown fields are rejected.
import { InvalidInputError } from '../errors.js';
import { clusterNameOf } from '../keys.js';
import {
  DEFAULT_DEPLOYMENT_CONFIGURATION,
  DEFAULT_REPAIR,
  DEFAULT_REPAIR_BUDGET,
  DEFAULT_RESTART_POLICY,
  ENVIRONMENT_NAME_PATTERN,
  patterns,
  readDeploymentConfiguration,
  readInstanceGroup,
  readRepair,
  readRestartPolicy,
  type EnvironmentRevision,
  type RepairAction,
  type InstanceGroup,
} from '../records.js';
import { ObjectReader } from '../validate.js';
import { validateExpression } from '../cql.js';

const inputError = (field: string, message: string) => new InvalidInputError(field, message);

export interface CreateEnvironmentInput extends Pick<
  EnvironmentRevision,
  'taskDefinition' | 'instanceGroup' | 'deploymentConfiguration' | 'restartPolicy' | 'critical' | 'order'
> {
  name: string;
  /** Default none (only marking). */
  repair?: RepairAction;
  /** Default 1. */
  repairBudget?: string;
}

/** A partial update: omitted fields keep the latest revision's value. */
export interface UpdateEnvironmentInput {
  token: string;
  taskDefinition?: string;
  instanceGroup?: InstanceGroup;
  /** Raw, merged over the latest revision's configuration by the store. */
  deploymentConfiguration?: Record<string, unknown>;
  restartPolicy?: Record<string, unknown>;
  critical?: boolean;
  order?: number;
  repair?: RepairAction;
  repairBudget?: string;
  /** Start a deployment to the new revision (default true). */
  deploy: boolean;
}

export interface StartDeploymentInput {
  token: string;
  revision?: number;
}

export interface DeploymentActionInput {
  token?: string;
}

export interface RollbackInput {
  token?: string;
  /** Revision to copy; default: the rolled-back deployment's previous revision. */
  revision?: number;
}

export const TASK_DEFINITION_TEXT = 'family, family:revision or a task definition ARN';

export function validateEnvironmentName(name: string, field = 'name'): string {
  if (!ENVIRONMENT_NAME_PATTERN.test(name)) throw new InvalidInputError(field, 'must be 1 to 64 letters, digits, hyphens or underscores');
  return name;
}

/** A cluster filter: name or ARN; returns the name. */
export function validateCluster(cluster: string, field = 'cluster'): string {
  if (!patterns.CLUSTER.test(cluster)) throw new InvalidInputError(field, 'must be a cluster name or cluster ARN');
  return clusterNameOf(cluster);
}

export function validateDeploymentId(id: string): void {
  // Ids this store makes have one shape; hand-written ones may differ, so only reject the absurd.
  if (id.length === 0 || id.length > 64 || !/^[A-Za-z0-9_.:-]+$/.test(id)) throw new InvalidInputError('id', 'is not a deployment id');
}

export function parseCreateEnvironment(body: unknown): CreateEnvironmentInput {
  const reader = ObjectReader.of(body, '', inputError);
  const name = reader.string('name', { pattern: ENVIRONMENT_NAME_PATTERN, patternText: '1 to 64 letters, digits, hyphens or underscores' });
  const taskDefinition = reader.string('taskDefinition', { pattern: patterns.TASK_DEFINITION, patternText: TASK_DEFINITION_TEXT });
  const instanceGroup = readInstanceGroup(reader.object('instanceGroup'), validateExpression);
  const deploymentConfiguration = readDeploymentConfiguration(reader.optionalObject('deploymentConfiguration'));
  const restartPolicy = readRestartPolicy(reader.optionalObject('restartPolicy'));
  const critical = reader.optionalBoolean('critical', false);
  const order = reader.optionalInteger('order', 0, { min: -1000, max: 1000 });
  const { repair, repairBudget } = readRepair(reader, { repair: DEFAULT_REPAIR, repairBudget: DEFAULT_REPAIR_BUDGET });
  reader.noUnknownFields();
  return { name, taskDefinition, instanceGroup, deploymentConfiguration, restartPolicy, critical, order, repair, repairBudget };
}

// Bases that no given field can conflict with, for checking a partial update on its own.
const PERMISSIVE_DEPLOYMENT_BASE = { ...DEFAULT_DEPLOYMENT_CONFIGURATION, maxUnavailable: '1', maxSurge: '1' };
const PERMISSIVE_RESTART_BASE = { ...DEFAULT_RESTART_POLICY, initialDelayMs: 0, maxDelayMs: 86_400_000 };

/** `queryToken` is the `token`/`deploymentToken` query parameter, if any. */
export function parseUpdateEnvironment(body: unknown, pathName: string, queryToken?: string): UpdateEnvironmentInput {
  const reader = ObjectReader.of(body, '', inputError);
  if (reader.has('name')) {
    const name = reader.string('name');
    if (name !== pathName) throw new InvalidInputError('name', `must match the environment in the path (${pathName}); environments cannot be renamed`);
  } else reader.allow('name');
  const token = readToken(reader, queryToken, true) as string;
  const input: UpdateEnvironmentInput = { token, deploy: reader.optionalBoolean('deploy', true) };
  const taskDefinition = reader.optionalString('taskDefinition', { pattern: patterns.TASK_DEFINITION, patternText: TASK_DEFINITION_TEXT });
  if (taskDefinition !== undefined) input.taskDefinition = taskDefinition;
  const group = reader.optionalObject('instanceGroup');
  if (group) input.instanceGroup = readInstanceGroup(group, validateExpression);
  const config = reader.optionalObject('deploymentConfiguration');
  if (config) {
    // Types and ranges now; the rules across fields are checked once merged with the latest revision.
    readDeploymentConfiguration(config, PERMISSIVE_DEPLOYMENT_BASE);
    input.deploymentConfiguration = reader.raw('deploymentConfiguration') as Record<string, unknown>;
  }
  const policy = reader.optionalObject('restartPolicy');
  if (policy) {
    readRestartPolicy(policy, PERMISSIVE_RESTART_BASE);
    input.restartPolicy = reader.raw('restartPolicy') as Record<string, unknown>;
  }
  if (reader.has('critical')) input.critical = reader.boolean('critical');
  else reader.allow('critical');
  if (reader.has('order')) input.order = reader.integer('order', { min: -1000, max: 1000 });
  else reader.allow('order');
  // Checked on their own here (a budget of 0 refused); omitted ones keep the latest revision's.
  const repair = readRepair(reader, { repair: DEFAULT_REPAIR, repairBudget: DEFAULT_REPAIR_BUDGET });
  if (reader.has('repair')) input.repair = repair.repair;
  if (reader.has('repairBudget')) input.repairBudget = repair.repairBudget;
  reader.noUnknownFields();
  return input;
}

/** Body may be empty (Blox sends the token as `?deploymentToken=`). */
export function parseStartDeployment(body: unknown, queryToken?: string): StartDeploymentInput {
  const reader = ObjectReader.of(body ?? {}, '', inputError);
  const token = readToken(reader, queryToken, true) as string;
  const input: StartDeploymentInput = { token };
  if (reader.has('revision')) input.revision = reader.integer('revision', { min: 1 });
  else reader.allow('revision');
  reader.noUnknownFields();
  return input;
}

export function parseDeploymentAction(body: unknown, queryToken?: string): DeploymentActionInput {
  const reader = ObjectReader.of(body ?? {}, '', inputError);
  const token = readToken(reader, queryToken, false);
  reader.noUnknownFields();
  return token === undefined ? {} : { token };
}

export function parseRollback(body: unknown, queryToken?: string): RollbackInput {
  const reader = ObjectReader.of(body ?? {}, '', inputError);
  const token = readToken(reader, queryToken, false);
  const input: RollbackInput = token === undefined ? {} : { token };
  if (reader.has('revision')) input.revision = reader.integer('revision', { min: 1 });
  else reader.allow('revision');
  reader.noUnknownFields();
  return input;
}

/** `token` and Blox's `deploymentToken` are synonyms, in the body or the query; they must agree. */
function readToken(reader: ObjectReader, queryToken: string | undefined, required: boolean): string | undefined {
  const found: [string, string][] = [];
  for (const name of ['token', 'deploymentToken']) {
    if (reader.has(name)) found.push([name, reader.string(name, { maxLength: 200 })]);
    else reader.allow(name);
  }
  if (queryToken !== undefined) found.push(['deploymentToken', queryToken]);
  const distinct = new Set(found.map(([, v]) => v));
  if (distinct.size > 1) throw new InvalidInputError(found[1]?.[0] ?? 'token', 'token and deploymentToken disagree');
  const token = found[0]?.[1];
  if (token === undefined && required) throw new InvalidInputError('token', "is required (the environment's current token, also accepted as deploymentToken)");
  if (token !== undefined && token.length === 0) throw new InvalidInputError(found[0]?.[0] ?? 'token', 'must not be empty');
  return token;
}
