import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A TCP port on `host` that was free a moment ago, for a server a test or
 * bench starts next (an agent's Raft, HTTP or PostgreSQL port).
 *
 * Never one of the kernel's ephemeral ports (ip_local_port_range): port 0
 * hands out exactly those, and so does every outgoing connection for its
 * source port. Between this check and the server's bind, another process's
 * client socket took such a port now and then (a gRPC connection between
 * agents of another test file), and the agent died with EADDRINUSE — in CI,
 * a node that never started and a cluster that never formed. Below the
 * ephemeral range only servers take ports, and the draw is random, so two
 * test files picking at once rarely collide.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [low] = ephemeralRange();
  const first = 1024;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = first + Math.floor(Math.random() * (low - first));
    if (await canListen(host, port)) return port;
  }
  throw new Error(`no free TCP port on ${host} from ${first} to ${low - 1} after ${ATTEMPTS} tries`);
}

const ATTEMPTS = 200;
/** Linux's default, where /proc does not say. */
const EPHEMERAL_DEFAULT: readonly [number, number] = [32768, 60999];

/** The kernel's ephemeral port range (net.ipv4.ip_local_port_range); the lower bound at least 2048, so that there is room below it. */
export function ephemeralRange(text?: string): readonly [number, number] {
  let source = text;
  if (source === undefined) {
    try {
      source = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    } catch {
      return EPHEMERAL_DEFAULT;
    }
  }
  const match = /^\s*(\d+)\s+(\d+)\s*$/.exec(source);
  if (match === null) return EPHEMERAL_DEFAULT;
  const [low, high] = [Number(match[1]), Number(match[2])];
  return low >= 2048 && high >= low && high <= 65535 ? [low, high] : EPHEMERAL_DEFAULT;
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
