import { isIP } from 'node:net';

/**
 * host:port addresses as written in the configuration: `10.0.0.1:7400`,
 * `db1.example.com:7400`, `[::1]:7400` (IPv6 in brackets). Pure parsing, no
 * name resolution.
 */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*$/;

export const HOST_PORT_FORM = 'host:port (e.g. 10.0.0.1:7400, db1.example.com:7400 or [fd00::1]:7400)';

/** Parse `host:port`; undefined when malformed or the port is outside 1..65535. */
export function parseHostPort(text: string): HostPort | undefined {
  const match = HOST_PORT.exec(text);
  if (match === null) return undefined;
  const [, ipv6, name, portText] = match;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  if (ipv6 !== undefined) return isIP(ipv6) === 6 ? { host: ipv6, port } : undefined;
  if (!isValidHost(name!)) return undefined;
  return { host: name!, port };
}

/** An IPv4 address or a DNS name (an IPv6 address only inside host:port brackets). */
export function isValidHost(host: string): boolean {
  return isIP(host) === 4 || HOSTNAME.test(host) || isIP(host) === 6;
}

/** Addresses that mean "every interface": fine to bind, useless for others to connect to. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '*' || host === '';
}

/** Two bound hosts can collide on a port when they are equal or either is a wildcard. */
export function hostsOverlap(a: string, b: string): boolean {
  return a === b || isWildcardHost(a) || isWildcardHost(b);
}
