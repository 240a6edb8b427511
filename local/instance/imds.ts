// EC2 instance metadata for one emulated instance, IMDSv2 only (HttpTokens=required, as a hardened
// AMI would configure it):
//   PUT /latest/api/token  with X-aws-ec2-metadata-token-ttl-seconds: 1..21600  -> token (text/plain)
//     missing or out-of-range TTL -> 400; a request carrying X-Forwarded-For -> 403 (as EC2 does)
//   GET /latest/meta-data/..., /latest/dynamic/instance-identity/document  with
//     X-aws-ec2-metadata-token: <token>; missing, unknown or expired token -> 401
// Every answer is text/plain, as EC2 sends it; directories list their entries one per line.
// Lifecycle paths, as EC2 has them: `autoscaling/target-lifecycle-state` once the instance is in an
// Auto Scaling group (InService, Terminated, ...), and `spot/instance-action` only while a Spot
// interruption notice is out (404 otherwise, as on EC2).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { boundPort, closeServer, listen } from '../../core/net.js';
import { sendText } from './http.js';

export interface InstanceIdentity {
  ec2InstanceId: string;
  instanceType: string;
  availabilityZone: string;
  amiId: string;
  region: string;
  accountId: string;
  privateIp?: string;
  architecture?: string;
  /** ISO time the instance "launched"; default: when the endpoints started. */
  pendingTime?: string;
}

export const MAX_TOKEN_TTL_SECONDS = 21_600;

/** The target lifecycle states EC2 shows under autoscaling/target-lifecycle-state. */
export type TargetLifecycleState = 'InService' | 'Standby' | 'Detached' | 'Warmed:Stopped' | 'Warmed:Running' | 'Warmed:Hibernated' | 'Terminated';

/** A Spot interruption notice: what will happen to the instance, and when (ISO time). */
export interface SpotInstanceAction {
  action: 'terminate' | 'stop' | 'hibernate';
  time: string;
}

export interface ImdsOptions {
  identity: InstanceIdentity;
  host: string;
  /** 0 or absent: a free port, known once `start()` has resolved. */
  port?: number;
  now?: () => number;
}

export class ImdsServer {
  private readonly server: Server;
  private readonly tokens = new Map<string, number>();
  private readonly now: () => number;
  private readonly pendingTime: string;
  private targetLifecycleState: TargetLifecycleState | undefined;
  private spotInstanceAction: SpotInstanceAction | undefined;

  constructor(private readonly options: ImdsOptions) {
    this.now = options.now ?? Date.now;
    this.pendingTime = options.identity.pendingTime ?? new Date(this.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    this.server = createServer((req, res) => this.handle(req, res));
  }

  get url(): string {
    return `http://${this.options.host}:${boundPort(this.server)}`;
  }

  start(): Promise<void> {
    return listen(this.server, { port: this.options.port ?? 0, host: this.options.host });
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  /** What the Auto Scaling group intends for the instance (undefined: not in a group). */
  setTargetLifecycleState(state: TargetLifecycleState | undefined): void {
    this.targetLifecycleState = state;
  }

  /** Raises (or withdraws, with undefined) a Spot interruption notice. */
  setSpotInstanceAction(action: SpotInstanceAction | undefined): void {
    this.spotInstanceAction = action;
  }

  identityDocument(): Record<string, unknown> {
    const identity = this.options.identity;
    return {
      accountId: identity.accountId,
      architecture: identity.architecture ?? 'x86_64',
      availabilityZone: identity.availabilityZone,
      billingProducts: null,
      devpayProductCodes: null,
      marketplaceProductCodes: null,
      imageId: identity.amiId,
      instanceId: identity.ec2InstanceId,
      instanceType: identity.instanceType,
      kernelId: null,
      pendingTime: this.pendingTime,
      privateIp: this.privateIp(),
      ramdiskId: null,
      region: identity.region,
      version: '2017-09-30',
    };
  }

  private privateIp(): string {
    if (this.options.identity.privateIp) return this.options.identity.privateIp;
    // A stable address derived from the instance id, inside 10.0.0.0/16.
    let hash = 0;
    for (const char of this.options.identity.ec2InstanceId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
    return `10.0.${(hash >>> 8) % 256}.${(hash % 254) + 1}`;
  }

  private metadata(): Record<string, string> {
    const identity = this.options.identity;
    const ip = this.privateIp();
    const hostname = `ip-${ip.replaceAll('.', '-')}.ec2.internal`;
    const entries: Record<string, string> = {
      'ami-id': identity.amiId,
      hostname,
      'instance-id': identity.ec2InstanceId,
      'instance-type': identity.instanceType,
      'local-hostname': hostname,
      'local-ipv4': ip,
      'placement/availability-zone': identity.availabilityZone,
      'placement/region': identity.region,
    };
    if (this.targetLifecycleState) entries['autoscaling/target-lifecycle-state'] = this.targetLifecycleState;
    if (this.spotInstanceAction) entries['spot/instance-action'] = JSON.stringify(this.spotInstanceAction);
    return entries;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/latest/api/token') return this.token(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, '');
    if (!this.validToken(req.headers['x-aws-ec2-metadata-token'])) return sendText(res, 401, '');
    if (path === '/latest/dynamic/instance-identity/document') return sendText(res, 200, JSON.stringify(this.identityDocument(), null, 2));
    if (path === '/latest/dynamic/instance-identity' || path === '/latest/dynamic/instance-identity/') return sendText(res, 200, 'document');
    if (path === '/latest/dynamic' || path === '/latest/dynamic/') return sendText(res, 200, 'instance-identity/');
    if (path === '/latest' || path === '/latest/') return sendText(res, 200, 'dynamic\nmeta-data');
    const prefix = '/latest/meta-data';
    if (path === prefix || path.startsWith(`${prefix}/`)) {
      const key = path.slice(prefix.length).replace(/^\/+|\/+$/g, '');
      const metadata = this.metadata();
      const value = metadata[key];
      if (value !== undefined) return sendText(res, 200, value);
      const children = new Set<string>();
      for (const name of Object.keys(metadata)) {
        if (key !== '' && !name.startsWith(`${key}/`)) continue;
        const rest = key === '' ? name : name.slice(key.length + 1);
        const slash = rest.indexOf('/');
        children.add(slash >= 0 ? `${rest.slice(0, slash)}/` : rest);
      }
      if (children.size > 0) return sendText(res, 200, [...children].sort().join('\n'));
    }
    sendText(res, 404, '');
  }

  private token(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'PUT') return sendText(res, 405, '');
    if (req.headers['x-forwarded-for'] !== undefined) return sendText(res, 403, '');
    const raw = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
    const ttl = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) return sendText(res, 400, '');
    this.sweep();
    const token = `AQAEA${randomBytes(36).toString('base64url')}==`;
    this.tokens.set(token, this.now() + ttl * 1000);
    sendText(res, 200, token, { 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
  }

  private validToken(header: string | string[] | undefined): boolean {
    if (typeof header !== 'string') return false;
    const expiresAt = this.tokens.get(header);
    if (expiresAt === undefined) return false;
    if (expiresAt <= this.now()) {
      this.tokens.delete(header);
      return false;
    }
    return true;
  }

  private sweep(): void {
    const now = this.now();
    for (const [token, expiresAt] of this.tokens) if (expiresAt <= now) this.tokens.delete(token);
  }
}
