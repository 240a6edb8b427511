// What `blox` talks to: the coordinator's HTTP API (default), or, with --direct, the same store
// library the coordinator uses, straight against DynamoDB. Both answer the same views and throw
// the same BloxErrors, so commands and their output do not care which one they have.
import { request as httpRequest } from 'undici';
import { BloxError, ConflictError, InvalidRecordError, type ErrorCode } from '../../core/errors.js';
import type { EnvironmentStore, InstanceQuery, TaskQuery } from '../../core/store/environments.js';
import { parseCreateEnvironment, parseDeploymentAction, parseRollback, parseStartDeployment, parseUpdateEnvironment } from '../../core/store/inputs.js';
import type { Page, PageRequest } from '../../core/store/paging.js';
import type { DeploymentView, EnvironmentView, InstanceView, RevisionView, TaskView } from '../../core/store/views.js';
import type { InstancePreview } from '../preview.js';
import { openStream, type SseEvent } from './sse-client.js';

export type DeploymentAction = 'stop' | 'pause' | 'resume' | 'promote' | 'rollback';

export interface Backend {
  createEnvironment(body: Record<string, unknown>): Promise<EnvironmentView>;
  updateEnvironment(name: string, body: Record<string, unknown>): Promise<EnvironmentView>;
  getEnvironment(name: string): Promise<EnvironmentView>;
  listEnvironments(request: PageRequest & { cluster?: string }): Promise<Page<EnvironmentView>>;
  /** undefined: there was nothing to delete. */
  deleteEnvironment(name: string): Promise<EnvironmentView | undefined>;
  listRevisions(name: string, request: PageRequest): Promise<Page<RevisionView>>;
  getRevision(name: string, revision: number): Promise<RevisionView>;
  startDeployment(name: string, body: Record<string, unknown>): Promise<DeploymentView>;
  getDeployment(name: string, id: string): Promise<DeploymentView>;
  listDeployments(name: string, request: PageRequest): Promise<Page<DeploymentView>>;
  deploymentAction(name: string, id: string, action: DeploymentAction, body: Record<string, unknown>): Promise<DeploymentView>;
  listInstances(query: InstanceQuery): Promise<Page<InstanceView>>;
  listTasks(query: TaskQuery): Promise<Page<TaskView>>;
  previewEnvironment(name: string, revision?: number): Promise<InstancePreview>;
  previewInstanceGroup(cluster: string, expression?: string): Promise<InstancePreview>;
  /** A live feed of the coordinator (/v1/stream/...), or undefined when it offers none; absent with --direct. */
  openStream?(path: string, options: { lastEventId?: string; signal?: AbortSignal }): Promise<AsyncIterable<SseEvent> | undefined>;
  close(): Promise<void>;
}

/** The coordinator could not be reached at all (exit code 7). */
export class UnreachableError extends BloxError {
  constructor(endpoint: string, cause: string) {
    // A certificate error means a coordinator answered, with a certificate this machine does not trust.
    const hint = /CERT|SELF_SIGNED/.test(cause)
      ? 'its TLS certificate is not trusted here: for a private CA set NODE_EXTRA_CA_CERTS=ca.pem'
      : 'start one with `blox coordinator`, or use --direct';
    super('Unavailable', `cannot reach the coordinator at ${endpoint}: ${cause} (${hint})`);
    this.name = 'UnreachableError';
  }
}

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'InvalidInput',
  401: 'Unauthorized',
  404: 'NotFound',
  409: 'Conflict',
  413: 'PayloadTooLarge',
  422: 'InvalidRecord',
  503: 'Unavailable',
};

export class HttpBackend implements Backend {
  private readonly base: string;
  constructor(
    endpoint: string,
    private readonly token?: string,
  ) {
    this.base = endpoint.replace(/\/+$/, '');
  }

  private async send<T>(
    method: string,
    path: string,
    options: { query?: Record<string, string | number | undefined>; body?: unknown } = {},
  ): Promise<{ status: number; body: T }> {
    const url = new URL(`${this.base}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    let response;
    try {
      response = await httpRequest(url, {
        method: method as 'GET',
        headers,
        ...(payload !== undefined ? { body: payload } : {}),
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
    } catch (error) {
      throw new UnreachableError(this.base, (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error)));
    }
    const text = await response.body.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      throw new BloxError('Internal', `the coordinator answered ${response.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    if (response.statusCode >= 400) throw errorFrom(response.statusCode, body);
    return { status: response.statusCode, body: body as T };
  }

  async createEnvironment(body: Record<string, unknown>): Promise<EnvironmentView> {
    return (await this.send<EnvironmentView>('POST', '/v1/environments', { body })).body;
  }
  async updateEnvironment(name: string, body: Record<string, unknown>): Promise<EnvironmentView> {
    return (await this.send<EnvironmentView>('PUT', `/v1/environments/${encodeURIComponent(name)}`, { body })).body;
  }
  async getEnvironment(name: string): Promise<EnvironmentView> {
    return (await this.send<EnvironmentView>('GET', `/v1/environments/${encodeURIComponent(name)}`)).body;
  }
  async listEnvironments(request: PageRequest & { cluster?: string }): Promise<Page<EnvironmentView>> {
    return (
      await this.send<Page<EnvironmentView>>('GET', '/v1/environments', {
        query: { cluster: request.cluster, limit: request.limit, nextToken: request.nextToken },
      })
    ).body;
  }
  async deleteEnvironment(name: string): Promise<EnvironmentView | undefined> {
    const { status, body } = await this.send<EnvironmentView>('DELETE', `/v1/environments/${encodeURIComponent(name)}`);
    return status === 204 ? undefined : body;
  }
  async listRevisions(name: string, request: PageRequest): Promise<Page<RevisionView>> {
    return (
      await this.send<Page<RevisionView>>('GET', `/v1/environments/${encodeURIComponent(name)}/revisions`, {
        query: { limit: request.limit, nextToken: request.nextToken },
      })
    ).body;
  }
  async getRevision(name: string, revision: number): Promise<RevisionView> {
    return (await this.send<RevisionView>('GET', `/v1/environments/${encodeURIComponent(name)}/revisions/${revision}`)).body;
  }
  async startDeployment(name: string, body: Record<string, unknown>): Promise<DeploymentView> {
    return (await this.send<DeploymentView>('POST', `/v1/environments/${encodeURIComponent(name)}/deployments`, { body })).body;
  }
  async getDeployment(name: string, id: string): Promise<DeploymentView> {
    return (await this.send<DeploymentView>('GET', `/v1/environments/${encodeURIComponent(name)}/deployments/${encodeURIComponent(id)}`)).body;
  }
  async listDeployments(name: string, request: PageRequest): Promise<Page<DeploymentView>> {
    return (
      await this.send<Page<DeploymentView>>('GET', `/v1/environments/${encodeURIComponent(name)}/deployments`, {
        query: { limit: request.limit, nextToken: request.nextToken },
      })
    ).body;
  }
  async deploymentAction(name: string, id: string, action: DeploymentAction, body: Record<string, unknown>): Promise<DeploymentView> {
    return (await this.send<DeploymentView>('POST', `/v1/environments/${encodeURIComponent(name)}/deployments/${encodeURIComponent(id)}/${action}`, { body }))
      .body;
  }
  async listInstances(query: InstanceQuery): Promise<Page<InstanceView>> {
    return (
      await this.send<Page<InstanceView>>('GET', '/v1/instances', {
        query: { cluster: query.cluster, status: query.status, environment: query.environment, limit: query.limit, nextToken: query.nextToken },
      })
    ).body;
  }
  async listTasks(query: TaskQuery): Promise<Page<TaskView>> {
    return (
      await this.send<Page<TaskView>>('GET', '/v1/tasks', {
        query: { cluster: query.cluster, status: query.status, environment: query.environment, limit: query.limit, nextToken: query.nextToken },
      })
    ).body;
  }
  async previewEnvironment(name: string, revision?: number): Promise<InstancePreview> {
    return (await this.send<InstancePreview>('GET', `/v1/environments/${encodeURIComponent(name)}/instances`, { query: { revision } })).body;
  }
  async previewInstanceGroup(cluster: string, expression?: string): Promise<InstancePreview> {
    return (await this.send<InstancePreview>('GET', '/v1/preview', { query: { cluster, expression } })).body;
  }
  async openStream(path: string, options: { lastEventId?: string; signal?: AbortSignal }): Promise<AsyncIterable<SseEvent> | undefined> {
    return openStream(`${this.base}${path}`, { ...options, ...(this.token ? { token: this.token } : {}) });
  }
  async close(): Promise<void> {}
}

function errorFrom(status: number, body: unknown): BloxError {
  const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const message = typeof o.message === 'string' ? o.message : `the coordinator answered HTTP ${status}`;
  const field = typeof o.field === 'string' ? o.field : undefined;
  const code = (
    typeof o.code === 'string' &&
    o.code in { InvalidInput: 1, InvalidRecord: 1, NotFound: 1, Conflict: 1, PayloadTooLarge: 1, Unauthorized: 1, Unavailable: 1, Internal: 1 }
      ? o.code
      : (CODE_BY_STATUS[status] ?? 'Internal')
  ) as ErrorCode;
  if (code === 'InvalidRecord' && typeof o.record === 'string') {
    const error = new InvalidRecordError(o.record, field ?? '?', '');
    // keep the server's wording
    return Object.assign(error, { message });
  }
  if (code === 'Conflict') return new ConflictError(message, typeof o.token === 'string' ? { token: o.token } : undefined, field);
  return new BloxError(code, message, field);
}

/** `--direct`: the store library itself; inputs are validated exactly as the API validates them. */
export class DirectBackend implements Backend {
  constructor(
    private readonly store: EnvironmentStore,
    private readonly onClose: () => void = () => {},
  ) {}

  async createEnvironment(body: Record<string, unknown>): Promise<EnvironmentView> {
    return this.store.createEnvironment(parseCreateEnvironment(body));
  }
  async updateEnvironment(name: string, body: Record<string, unknown>): Promise<EnvironmentView> {
    return (await this.store.updateEnvironment(name, parseUpdateEnvironment(body, name))).environment;
  }
  getEnvironment(name: string): Promise<EnvironmentView> {
    return this.store.getEnvironment(name);
  }
  listEnvironments(request: PageRequest & { cluster?: string }): Promise<Page<EnvironmentView>> {
    return this.store.listEnvironments(request);
  }
  deleteEnvironment(name: string): Promise<EnvironmentView | undefined> {
    return this.store.deleteEnvironment(name);
  }
  listRevisions(name: string, request: PageRequest): Promise<Page<RevisionView>> {
    return this.store.listRevisions(name, request);
  }
  getRevision(name: string, revision: number): Promise<RevisionView> {
    return this.store.getRevision(name, revision);
  }
  startDeployment(name: string, body: Record<string, unknown>): Promise<DeploymentView> {
    return this.store.startDeployment(name, parseStartDeployment(body));
  }
  getDeployment(name: string, id: string): Promise<DeploymentView> {
    return this.store.getDeployment(name, id);
  }
  listDeployments(name: string, request: PageRequest): Promise<Page<DeploymentView>> {
    return this.store.listDeployments(name, request);
  }
  deploymentAction(name: string, id: string, action: DeploymentAction, body: Record<string, unknown>): Promise<DeploymentView> {
    if (action === 'rollback') return this.store.rollbackDeployment(name, id, parseRollback(body));
    const input = parseDeploymentAction(body);
    if (action === 'stop') return this.store.stopDeployment(name, id, input);
    if (action === 'pause') return this.store.pauseDeployment(name, id, input);
    if (action === 'promote') return this.store.promoteDeployment(name, id, input);
    return this.store.resumeDeployment(name, id, input);
  }
  listInstances(query: InstanceQuery): Promise<Page<InstanceView>> {
    return this.store.listInstances(query);
  }
  listTasks(query: TaskQuery): Promise<Page<TaskView>> {
    return this.store.listTasks(query);
  }
  async previewEnvironment(): Promise<InstancePreview> {
    throw new BloxError('Unavailable', 'instance previews ask ECS through a coordinator started with --check-ecs; they do not work with --direct');
  }
  async previewInstanceGroup(): Promise<InstancePreview> {
    return this.previewEnvironment();
  }
  async close(): Promise<void> {
    this.onClose();
  }
}
