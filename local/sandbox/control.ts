// The sandbox's control endpoint (default 127.0.0.1:7072), used by `blox local add-instance`,
// `terminate-instance`, `drain-instance` and `status`, or by curl:
//   GET    /v1/endpoints                         the endpoints.json document
//   GET    /v1/instances                         the instances
//   POST   /v1/instances                         {"instanceType"?, "availabilityZone"?} -> 201 the new instance
//   DELETE /v1/instances/{ec2InstanceId|arn|id}  terminate: the agent is SIGKILLed, tasks vanish
//   POST   /v1/instances/{...}/drain             set the instance DRAINING
//   POST   /v1/instances/{id}/health             {"healthStatus": "Healthy"|"Unhealthy"} (Unhealthy: replaced)
//   POST   /v1/instances/{id}/spot-interruption  a Spot notice in its IMDS; terminated 2 minutes (--spot-notice-ms) later
//   POST   /v1/autoscaling/desired-capacity      {"desiredCapacity": n} for the Auto Scaling group
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { closeServer, listen } from '../../core/net.js';
import { sendJson } from '../instance/http.js';
import type { Sandbox, SandboxInstance } from './sandbox.js';

export interface ControlServer {
  readonly url: string;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  return text ? JSON.parse(text) : {};
}

export async function startControlServer(options: { host: string; port: number; sandbox: Sandbox }): Promise<ControlServer> {
  const { sandbox } = options;
  const describe = (instance: SandboxInstance): unknown =>
    sandbox.endpointsDocument().instances.find((entry) => entry.ec2InstanceId === instance.ec2InstanceId) ?? {
      ec2InstanceId: instance.ec2InstanceId,
      terminated: instance.terminated,
    };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      try {
        if (req.method === 'GET' && path === '/v1/endpoints') return sendJson(res, 200, sandbox.endpointsDocument());
        if (req.method === 'GET' && path === '/v1/instances') return sendJson(res, 200, { instances: sandbox.endpointsDocument().instances });
        if (req.method === 'POST' && path === '/v1/instances') {
          const input = (await body(req)) as { instanceType?: unknown; availabilityZone?: unknown };
          const request: { instanceType?: string; availabilityZone?: string } = {};
          if (typeof input.instanceType === 'string') request.instanceType = input.instanceType;
          if (typeof input.availabilityZone === 'string') request.availabilityZone = input.availabilityZone;
          const instance = await sandbox.addInstance(request);
          return sendJson(res, 201, describe(instance));
        }
        const autoScaling = sandbox.autoScaling;
        if (req.method === 'POST' && path === '/v1/autoscaling/desired-capacity' && autoScaling) {
          const input = (await body(req)) as { desiredCapacity?: unknown };
          if (typeof input.desiredCapacity !== 'number') throw new Error('desiredCapacity must be a number');
          autoScaling.group.setDesiredCapacity(input.desiredCapacity);
          return sendJson(res, 200, { autoScalingGroupName: autoScaling.group.name, desiredCapacity: autoScaling.group.desiredCapacity });
        }
        const health = /^\/v1\/instances\/(.+)\/health$/.exec(path);
        if (req.method === 'POST' && health && autoScaling) {
          const input = (await body(req)) as { healthStatus?: unknown };
          if (input.healthStatus !== 'Healthy' && input.healthStatus !== 'Unhealthy') throw new Error('healthStatus must be Healthy or Unhealthy');
          const id = decodeURIComponent(health[1] ?? '');
          autoScaling.group.setInstanceHealth(id, input.healthStatus);
          return sendJson(res, 200, { ec2InstanceId: id, healthStatus: input.healthStatus });
        }
        const spot = /^\/v1\/instances\/(.+)\/spot-interruption$/.exec(path);
        if (req.method === 'POST' && spot && autoScaling) return sendJson(res, 200, autoScaling.spotInterrupt(decodeURIComponent(spot[1] ?? '')));
        const drain = /^\/v1\/instances\/(.+)\/drain$/.exec(path);
        if (req.method === 'POST' && drain) return sendJson(res, 200, describe(await sandbox.drainInstance(decodeURIComponent(drain[1] ?? ''))));
        const one = /^\/v1\/instances\/(.+)$/.exec(path);
        if (req.method === 'DELETE' && one) {
          const instance = await sandbox.terminateInstance(decodeURIComponent(one[1] ?? ''));
          return sendJson(res, 200, { ec2InstanceId: instance.ec2InstanceId, containerInstanceArn: instance.containerInstanceArn ?? null, terminated: true });
        }
        sendJson(res, 404, { code: 'NotFound', message: `no route ${req.method} ${path}` });
      } catch (error) {
        const message = (error as Error).message;
        sendJson(res, /^no (running|registered) instance|unknown instance type/.test(message) ? 404 : 400, { code: 'InvalidInput', message });
      }
    })();
  });
  await listen(server, { host: options.host, port: options.port });
  return { url: `http://${options.host}:${options.port}`, close: () => closeServer(server) };
}
