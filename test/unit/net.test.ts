// Port helpers: a port reserved for a child process must not be one that a port-0 bind or an
// outgoing connection can take before the child binds it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { boundPort, closeServer, listen, reservePort } from '../../core/net.js';

describe('core/net', () => {
  it('reservePort picks free ports outside the kernel ephemeral range, and they bind', async () => {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];
    const ports = await Promise.all(Array.from({ length: 40 }, () => reservePort()));
    for (const port of ports) {
      expect(port < low || port > high, `port ${port} is inside ${low}-${high}`).toBe(true);
      expect(port).toBeGreaterThanOrEqual(10_000);
    }
    const server = createServer();
    await listen(server, { port: ports[0]!, host: '127.0.0.1' });
    expect(boundPort(server)).toBe(ports[0]);
    await closeServer(server);
  });

  it('boundPort reports the port a port-0 listen got, and refuses a server that is not listening', async () => {
    const server = createServer();
    expect(() => boundPort(server)).toThrow(/not listening/);
    await listen(server, { port: 0, host: '127.0.0.1' });
    expect(boundPort(server)).toBeGreaterThan(0);
    await closeServer(server);
  });
});
