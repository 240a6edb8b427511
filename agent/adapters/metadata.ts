// Local metadata over HTTP, with timeouts: the ECS agent's introspection API (/v1/metadata:
// cluster and container instance; /v1/tasks: the tasks it runs, at no API cost) and EC2 instance
// metadata with the IMDSv2 token flow (identity, and the lifecycle paths scale-in and Spot read).
// node:http rather than undici here: these are a few small loopback/link-local requests, and
// bundling undici costs the agent ~7 MiB of resident memory on every host (see bench/README.md).
import { Agent, request } from 'node:http';
import type { EcsAgentPort, IdentityPort, InstanceLifecyclePort, LocalTask } from '../ports.js';

export interface EcsAgentMetadata {
  cluster: string;
  containerInstanceArn: string;
  version?: string;
}

export interface InstanceIdentityFacts {
  ec2InstanceId?: string;
  availabilityZone?: string;
  instanceType?: string;
  amiId?: string;
  region?: string;
}

export class MetadataError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'MetadataError';
  }
}

export interface MetadataOptions {
  ecsAgentUrl: string;
  imdsUrl: string;
  timeoutMs?: number;
}

export class MetadataClient implements IdentityPort, EcsAgentPort, InstanceLifecyclePort {
  private readonly httpAgent: Agent;
  private readonly timeoutMs: number;
  private imdsToken: { value: string; expiresAt: number } | undefined;

  constructor(private readonly options: MetadataOptions) {
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.httpAgent = new Agent({ keepAlive: true, maxSockets: 4 });
  }

  async close(): Promise<void> {
    this.httpAgent.destroy();
  }

  /** One request; the whole exchange (connect, headers, body) must finish within the timeout. */
  private get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'PUT' = 'GET'): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers, agent: this.httpAgent, signal: AbortSignal.timeout(this.timeoutMs) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', (error) => reject(error.name === 'AbortError' ? new MetadataError(`${method} ${url} timed out after ${this.timeoutMs} ms`) : error));
      req.end();
    });
  }

  /** GET /v1/metadata; throws while the ECS agent has not registered (connection refused or reset, empty ARN). */
  async ecsMetadata(): Promise<EcsAgentMetadata> {
    const { status, text } = await this.get(`${this.options.ecsAgentUrl}/v1/metadata`);
    if (status !== 200) throw new MetadataError(`ECS agent /v1/metadata answered ${status}`, status);
    const body = JSON.parse(text) as { Cluster?: string; ContainerInstanceArn?: string; Version?: string };
    if (!body.Cluster || !body.ContainerInstanceArn) throw new MetadataError('ECS agent has not registered the instance yet (no ContainerInstanceArn)');
    return { cluster: body.Cluster, containerInstanceArn: body.ContainerInstanceArn, ...(body.Version ? { version: body.Version } : {}) };
  }

  /** GET /v1/tasks: the tasks the ECS agent manages on this instance. */
  async localTasks(): Promise<LocalTask[]> {
    const { status, text } = await this.get(`${this.options.ecsAgentUrl}/v1/tasks`);
    if (status !== 200) throw new MetadataError(`ECS agent /v1/tasks answered ${status}`, status);
    const body = JSON.parse(text) as { Tasks?: Array<{ Arn?: string; DesiredStatus?: string; KnownStatus?: string }> | null };
    return (body.Tasks ?? [])
      .filter((t) => t.Arn)
      .map((t) => ({ taskArn: t.Arn ?? '', desiredStatus: t.DesiredStatus ?? 'RUNNING', knownStatus: t.KnownStatus ?? 'NONE' }));
  }

  private async token(): Promise<string> {
    const now = Date.now();
    if (this.imdsToken && this.imdsToken.expiresAt > now + 60_000) return this.imdsToken.value;
    const ttl = 21_600;
    const { status, text } = await this.get(`${this.options.imdsUrl}/latest/api/token`, { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) }, 'PUT');
    if (status !== 200) throw new MetadataError(`IMDS token request answered ${status}`, status);
    this.imdsToken = { value: text.trim(), expiresAt: now + ttl * 1000 };
    return this.imdsToken.value;
  }

  private async imds(path: string): Promise<string | undefined> {
    const token = await this.token();
    let { status, text } = await this.get(`${this.options.imdsUrl}/latest/meta-data/${path}`, { 'x-aws-ec2-metadata-token': token });
    if (status === 401) {
      this.imdsToken = undefined;
      ({ status, text } = await this.get(`${this.options.imdsUrl}/latest/meta-data/${path}`, { 'x-aws-ec2-metadata-token': await this.token() }));
    }
    if (status === 404) return undefined;
    if (status !== 200) throw new MetadataError(`IMDS ${path} answered ${status}`, status);
    return text.trim();
  }

  /** The lifecycle paths: Auto Scaling's target lifecycle state and a Spot interruption notice (each absent: 404). */
  async lifecycle(): Promise<{ targetLifecycleState?: string; spotAction?: { action: string; time: string } }> {
    const [target, spot] = await Promise.all([this.imds('autoscaling/target-lifecycle-state'), this.imds('spot/instance-action')]);
    const out: { targetLifecycleState?: string; spotAction?: { action: string; time: string } } = {};
    if (target) out.targetLifecycleState = target;
    if (spot) {
      let parsed: { action?: unknown; time?: unknown } = {};
      try {
        parsed = JSON.parse(spot) as typeof parsed;
      } catch {
        // A notice that is not JSON is still a notice: the instance is going.
      }
      out.spotAction = { action: typeof parsed.action === 'string' ? parsed.action : 'terminate', time: typeof parsed.time === 'string' ? parsed.time : '' };
    }
    return out;
  }

  /** Instance id, AZ, type, AMI and region through IMDSv2. */
  async instanceIdentity(): Promise<InstanceIdentityFacts> {
    const [ec2InstanceId, availabilityZone, instanceType, amiId, region] = await Promise.all([
      this.imds('instance-id'),
      this.imds('placement/availability-zone'),
      this.imds('instance-type'),
      this.imds('ami-id'),
      this.imds('placement/region'),
    ]);
    const facts: InstanceIdentityFacts = {};
    if (ec2InstanceId) facts.ec2InstanceId = ec2InstanceId;
    if (availabilityZone) facts.availabilityZone = availabilityZone;
    if (instanceType) facts.instanceType = instanceType;
    if (amiId) facts.amiId = amiId;
    facts.region = region ?? (availabilityZone ? availabilityZone.replace(/[a-z]$/, '') : undefined);
    if (!facts.region) delete facts.region;
    return facts;
  }
}
