// Binding and closing servers, shared by every server of the project (the coordinator, the agent's
// health endpoint, the ECS emulator and the sandbox's endpoints).
import { lookup as dnsLookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, isIP, type AddressInfo, type Server as NetServer } from 'node:net';
import type { Server } from 'node:http';

/** Ports below this are left to services people run by hand (the sandbox's 7070-7072, 8000, 8080...). */
const LOWEST_RESERVED_PORT = 10_000;

/**
 * The kernel's ephemeral port range: binds to port 0 and the local side of every outgoing
 * connection take ports from it. Linux publishes it; elsewhere assume the union of Linux's
 * (32768-60999) and the BSDs' (49152-65535) defaults.
 */
function ephemeralPortRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low!) return { low: low!, high: high! };
  } catch {
    // not Linux
  }
  return { low: 32_768, high: 65_535 };
}

function bindsOn(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createNetServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const bound = (server.address() as AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A free TCP port on `host` for ANOTHER process to bind (an agent or DynamoDB Local started as a
 * child). In-process servers must listen on port 0 instead: a port found free here stays unbound
 * until the child binds it. It is chosen outside the ephemeral range so that, meanwhile, no port-0
 * bind and no outgoing connection on this machine can take it (both draw from that range; the
 * agent tests once failed with EADDRINUSE that way).
 */
export async function reservePort(host = '127.0.0.1'): Promise<number> {
  const { low, high } = ephemeralPortRange();
  const candidates: Array<[number, number]> = [];
  if (low - 1 >= LOWEST_RESERVED_PORT) candidates.push([LOWEST_RESERVED_PORT, low - 1]);
  if (high + 1 <= 65_535) candidates.push([high + 1, 65_535]);
  const size = candidates.reduce((n, [a, b]) => n + b - a + 1, 0);
  for (let attempt = 0; attempt < 64 && size > 0; attempt++) {
    let pick = Math.floor(Math.random() * size);
    let port = 0;
    for (const [a, b] of candidates) {
      if (pick <= b - a) {
        port = a + pick;
        break;
      }
      pick -= b - a + 1;
    }
    const bound = await bindsOn(port, host);
    if (bound !== undefined) return bound;
  }
  const any = await bindsOn(0, host); // nothing outside the ephemeral range is free: take what the kernel gives
  if (any === undefined) throw new Error(`no free TCP port on ${host}`);
  return any;
}

/** The port a listening TCP server is bound to (after `listen` on port 0). */
export function boundPort(server: Server): number {
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('server is not listening on a TCP port');
  return address.port;
}

/**
 * Whether an IP address is a loopback one: IPv4 127.0.0.0/8, IPv6 ::1 (any spelling) and IPv4
 * mapped into IPv6 (::ffff:127.x.y.z). The unspecified addresses (0.0.0.0, ::) mean every
 * interface, so they are not loopback; nor is anything that is not an IP address.
 */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return address.split('.')[0] === '127';
  if (family !== 6) return false;
  // The URL parser writes an IPv6 address in its one canonical form (lower case, shortest, mapped IPv4 in hex).
  const canonical = new URL(`http://[${address}]`).hostname.slice(1, -1);
  return canonical === '::1' || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(canonical);
}

export type HostLookup = (host: string) => Promise<string[]>;

/** Every address a host name resolves to, as `listen` would resolve it (the system resolver). */
export const lookupAddresses: HostLookup = async (host) => (await dnsLookup(host, { all: true })).map((entry) => entry.address);

/**
 * Whether listening on `host` only reaches this machine: an IP address by `isLoopbackAddress`, a
 * name when every address it resolves to is loopback (`localhost` usually is). A name that does not
 * resolve counts as not loopback: the listen would fail anyway, and the caller must not relax on it.
 */
export async function listensOnLoopback(host: string, lookup: HostLookup = lookupAddresses): Promise<boolean> {
  if (isIP(host)) return isLoopbackAddress(host);
  let addresses: string[];
  try {
    addresses = await lookup(host);
  } catch {
    return false;
  }
  return addresses.length > 0 && addresses.every(isLoopbackAddress);
}

/** Listens on a TCP port or a unix socket path; resolves once bound. */
export function listen(server: NetServer, target: { port: number; host: string } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if ('path' in target) server.listen(target.path, done);
    else server.listen(target.port, target.host, done);
  });
}

/** Closes a server and every connection it holds (streams included). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
