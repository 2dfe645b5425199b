import { posix } from 'node:path';
import { ConfigError } from '../lib/errors.js';
import { hostsOverlap, isWildcardHost, parseHostPort } from './address.js';
import { AGENT_OWNED_PARAMETERS } from './dynamic.js';
import { raftLogDir, type Config } from './schema.js';

/**
 * Rules between keys of the static configuration. Each throws a ConfigError
 * naming the key to change and saying why; none adjusts a value.
 */
export function checkConfigRules(config: Config): void {
  checkAddresses(config);
  checkRaftTiming(config);
  checkPeers(config);
  checkPorts(config);
  checkPaths(config);
  checkPostgresql(config);
  checkTls(config);
  checkAdminTokens(config);
  checkBootstrap(config);
}

function checkAddresses(config: Config): void {
  if (isWildcardHost(parseHostPort(config.raft.advertise)!.host)) {
    throw new ConfigError('raft.advertise', `must be an address other members can connect to, not the wildcard ${config.raft.advertise}`);
  }
  if (isWildcardHost(parseHostPort(config.postgresql.connect_address)!.host)) {
    throw new ConfigError('postgresql.connect_address', `must be an address replicas can connect to, not the wildcard ${config.postgresql.connect_address}`);
  }
}

function checkRaftTiming({ raft }: Config): void {
  if (raft.heartbeat_ticks >= raft.election_ticks) {
    throw new ConfigError('raft.heartbeat_ticks', `must be less than raft.election_ticks (${raft.election_ticks}), got ${raft.heartbeat_ticks}`);
  }
  const electionTimeoutMsMax = 2 * raft.election_ticks * raft.tick_ms;
  if (raft.replace_unreachable_after_ms <= electionTimeoutMsMax) {
    throw new ConfigError(
      'raft.replace_unreachable_after_ms',
      `must be greater than the longest election timeout (2 * raft.election_ticks * raft.tick_ms = ${electionTimeoutMsMax}), got ${raft.replace_unreachable_after_ms}: a voter would be replaced during an ordinary election`,
    );
  }
}

/** The static peers other than this node (the shared list may include this node itself). */
export function otherPeers(config: Config): Config['raft']['peers'] {
  return config.raft.peers.filter((peer) => peer.name !== config.name);
}

function checkPeers(config: Config): void {
  const { peers, advertise, bootstrap_expect } = config.raft;
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  peers.forEach((peer, i) => {
    const sameName = names.get(peer.name);
    if (sameName !== undefined) {
      throw new ConfigError(`raft.peers.${i}.name`, `${peer.name} is listed twice (also raft.peers.${sameName}); member names must be unique`);
    }
    const sameAddress = addresses.get(peer.address);
    if (sameAddress !== undefined) {
      throw new ConfigError(`raft.peers.${i}.address`, `${peer.address} is listed twice (also raft.peers.${sameAddress}); each member needs its own address`);
    }
    names.set(peer.name, i);
    addresses.set(peer.address, i);
    if (peer.name === config.name && peer.address !== advertise) {
      throw new ConfigError(
        `raft.peers.${i}.address`,
        `this node (${config.name}) is listed at ${peer.address} but raft.advertise is ${advertise}; the two must agree`,
      );
    }
    if (peer.name !== config.name && peer.address === advertise) {
      throw new ConfigError(`raft.peers.${i}.name`, `${peer.name} is listed at this node's raft.advertise address ${advertise}, but this node is ${config.name}`);
    }
  });
  const others = otherPeers(config).length;
  if (bootstrap_expect > others + 1) {
    throw new ConfigError(
      'raft.bootstrap_expect',
      `is ${bootstrap_expect} but only ${others + 1} member(s) are known (this node + ${others} other raft.peers): a fresh cluster could never form; list at least ${bootstrap_expect - 1} other members in raft.peers as "name@host:port", or set bootstrap_expect: 1 for a single-node cluster`,
    );
  }
}

function checkPorts(config: Config): void {
  const raft = parseHostPort(config.raft.bind)!;
  const http = parseHostPort(config.http.listen)!;
  const postgresHosts = config.postgresql.listen === '*' ? ['*'] : config.postgresql.listen.split(',').map((h) => h.trim());
  if (raft.port === http.port && hostsOverlap(raft.host, http.host)) {
    throw new ConfigError('http.listen', `${config.http.listen} uses the same port as raft.bind (${config.raft.bind})`);
  }
  const postgresPort = config.postgresql.port;
  for (const [key, bound] of [['raft.bind', raft], ['http.listen', http]] as const) {
    if (bound.port === postgresPort && postgresHosts.some((host) => hostsOverlap(host, bound.host))) {
      throw new ConfigError('postgresql.port', `${postgresPort} is also the port of ${key} (${key === 'raft.bind' ? config.raft.bind : config.http.listen})`);
    }
  }
}

/** True when `child` is `parent` or lies below it (both absolute and normalised). */
export function isWithin(child: string, parent: string): boolean {
  const relative = posix.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !posix.isAbsolute(relative));
}

function checkPaths(config: Config): void {
  const pgdata = config.postgresql.data_dir;
  const raftDir = raftLogDir(config);
  if (isWithin(raftDir, pgdata) || isWithin(pgdata, raftDir)) {
    throw new ConfigError(
      'postgresql.data_dir',
      `${pgdata} must be separate from the Raft log (${raftDir}): a re-clone empties PGDATA and pg_basebackup copies it; use a directory such as ${posix.join(config.data_dir, 'pgdata')}`,
    );
  }
  if (isWithin(config.postgresql.socket_dir, pgdata)) {
    throw new ConfigError(
      'postgresql.socket_dir',
      `${config.postgresql.socket_dir} must be outside postgresql.data_dir (${pgdata}): pg_basebackup would copy the socket lock file and the replica would refuse to start`,
    );
  }
}

function checkPostgresql({ postgresql }: Config): void {
  if (postgresql.superuser === postgresql.replication_user) {
    throw new ConfigError('postgresql.replication_user', `must differ from postgresql.superuser (${postgresql.superuser}): replicas get a role that can only replicate`);
  }
  for (const name of Object.keys(postgresql.parameters)) {
    if (AGENT_OWNED_PARAMETERS.has(name)) {
      throw new ConfigError(`postgresql.parameters.${name}`, 'is set by the agent on each node and cannot be configured');
    }
  }
}

function checkTls({ tls }: Config): void {
  const files = (['ca_file', 'cert_file', 'key_file'] as const).filter((key) => tls[key] !== undefined);
  if (tls.insecure && files.length > 0) {
    throw new ConfigError('tls.insecure', `is true but tls.${files[0]} is set: either plain-text gRPC (insecure: true, no files) or certificates, not both`);
  }
  const missing = (['ca_file', 'cert_file', 'key_file'] as const).find((key) => tls[key] === undefined);
  if (files.length > 0 && missing !== undefined) {
    throw new ConfigError(`tls.${missing}`, `is required when tls.${files[0]} is set: give ca_file, cert_file and key_file together`);
  }
}

function checkAdminTokens({ admin, tls }: Config): void {
  if (admin.tokens.length > 0 && tls.insecure) {
    throw new ConfigError('admin.tokens', 'bearer tokens need TLS, but tls.insecure is true: they would cross the network in plain text and nothing would be verified anyway');
  }
  const names = new Map<string, number>();
  const digests = new Map<string, number>();
  admin.tokens.forEach((token, i) => {
    const sameName = names.get(token.name);
    if (sameName !== undefined) throw new ConfigError(`admin.tokens.${i}.name`, `${token.name} is listed twice (also admin.tokens.${sameName}); names say who acted and must be unique`);
    const sameDigest = digests.get(token.sha256);
    if (sameDigest !== undefined) {
      throw new ConfigError(`admin.tokens.${i}.sha256`, `is the same token as admin.tokens.${sameDigest} (${admin.tokens[sameDigest]!.name}): give each holder a token of their own`);
    }
    names.set(token.name, i);
    digests.set(token.sha256, i);
  });
}

/**
 * A restore needs a store to restore from. Which backup it finds there, and whether one finished
 * before recovery_target_time, is only known at restore time (the claimant refuses then, saying why).
 * With method initdb the restore keys may stay, unused (like backup.store's keys with kind none).
 */
function checkBootstrap({ bootstrap, backup }: Config): void {
  if (bootstrap.method === 'restore' && backup.store.kind === 'none') {
    throw new ConfigError('bootstrap.method', 'is restore, but backup.store.kind is none: set backup.store to the store that holds the backups of this cluster_name');
  }
}
