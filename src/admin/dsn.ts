import { status as Status } from '@grpc/grpc-js';
import type { ClusterState } from '../cluster/state.js';
import { AdminRefusal, invalidField } from './errors.js';
import type { WireDsnRequest, WireDsnResponse, WireDsnRole } from './wire.js';

/**
 * The Dsn answer, pure: a libpq connection string (keyword=value form)
 * over every member's PostgreSQL address as registered (the agent's
 * postgresql.connect_address), in one host list, so a client follows
 * failovers by itself: libpq tries the hosts in order and keeps the first
 * whose session matches target_session_attrs (PostgreSQL 14 or later for
 * standby). No password: clients bring their own (e.g. PGPASSFILE).
 */

export const DSN_ROLES = ['primary', 'replica', 'any'] as const;
export type DsnRole = (typeof DSN_ROLES)[number];

const TARGET_SESSION_ATTRS: Readonly<Record<DsnRole, string>> = { primary: 'read-write', replica: 'standby', any: 'any' };
const WIRE_ROLES: Readonly<Record<WireDsnRole, DsnRole>> = { DSN_ROLE_UNSPECIFIED: 'primary', DSN_ROLE_PRIMARY: 'primary', DSN_ROLE_REPLICA: 'replica', DSN_ROLE_ANY: 'any' };

/**
 * libpq's connect_timeout, per host: without it a member whose host is gone
 * (packets dropped) holds the client for the operating system's TCP
 * timeout, minutes, before the next host is tried.
 */
export const DSN_CONNECT_TIMEOUT_S = 5;
export const DSN_DBNAME_DEFAULT = 'postgres';
/** PostgreSQL's identifier limit (NAMEDATALEN - 1 bytes). */
const IDENTIFIER_BYTES_MAX = 63;

export interface DsnRequest {
  readonly role: DsnRole;
  readonly dbname: string;
  /** null: left out (libpq's default: the OS user name). */
  readonly user: string | null;
}

export function parseDsnRequest(request: WireDsnRequest): DsnRequest {
  const role = WIRE_ROLES[request.role];
  if (role === undefined) throw invalidField('role', `expected DSN_ROLE_PRIMARY, DSN_ROLE_REPLICA or DSN_ROLE_ANY, got ${JSON.stringify(request.role)}`);
  return {
    role,
    dbname: request.dbname === '' ? DSN_DBNAME_DEFAULT : parseIdentifier('dbname', request.dbname),
    user: request.user === '' ? null : parseIdentifier('user', request.user),
  };
}

function parseIdentifier(field: string, text: string): string {
  if (Buffer.byteLength(text) > IDENTIFIER_BYTES_MAX || /[\u0000-\u001f\u007f]/.test(text)) {
    throw invalidField(field, `expected a PostgreSQL name of at most ${IDENTIFIER_BYTES_MAX} bytes without control characters, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return text;
}

export function dsnResponse(state: ClusterState, request: DsnRequest): WireDsnResponse {
  const hosts = hostsFor(state, request.role);
  if (hosts.length === 0) {
    const why = request.role === 'replica' ? 'no registered member may serve reads (all are tagged noloadbalance, or none is registered)' : 'no member is registered yet';
    throw new AdminRefusal(Status.FAILED_PRECONDITION, 'NO_HOSTS', `no connection string for role ${request.role}: ${why}`);
  }
  const attrs = TARGET_SESSION_ATTRS[request.role];
  const words = [
    `host=${quote(hosts.map((h) => h.host).join(','))}`,
    `port=${hosts.map((h) => h.port).join(',')}`,
    `dbname=${quote(request.dbname)}`,
    ...(request.user === null ? [] : [`user=${quote(request.user)}`]),
    `target_session_attrs=${attrs}`,
    `connect_timeout=${DSN_CONNECT_TIMEOUT_S}`,
  ];
  return { dsn: words.join(' '), hosts: hosts.map((h) => `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`), target_session_attrs: attrs };
}

/**
 * Whose addresses, in which order: the current primary first for the
 * primary (libpq then connects at the first try); for replicas every member
 * not tagged noloadbalance, the primary last (it may be a replica after the
 * next failover; libpq skips it while it is not); for any, by name.
 */
function hostsFor(state: ClusterState, role: DsnRole): { host: string; port: number }[] {
  const primary = state.leader?.member ?? null;
  let names = Object.keys(state.members).sort();
  if (role === 'replica') names = names.filter((name) => !state.members[name]!.registration.tags.noloadbalance);
  if (primary !== null && names.includes(primary) && role !== 'any') {
    const others = names.filter((name) => name !== primary);
    names = role === 'primary' ? [primary, ...others] : [...others, primary];
  }
  return names.map((name) => ({ host: state.members[name]!.registration.postgresHost, port: state.members[name]!.registration.postgresPort }));
}

/** A libpq conninfo value: bare when it can be, else in single quotes with \ and ' escaped. */
export function quote(value: string): string {
  if (value !== '' && !/[\s'\\]/.test(value)) return value;
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}
