import type { ChannelCredentials, ServerCredentials, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { ConfigError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Message, NodeId } from '../core/types.js';
import type { CandidatePositionAnswer } from './position.js';

/** The bounds of the peer transport. Every one is a limit with a reason; see TRANSPORT_LIMITS_DEFAULT. */
export interface TransportLimits {
  /** Outgoing messages queued per peer while its stream is connecting or applying backpressure; more are dropped. */
  readonly queueMessagesMax: number;
  /** Largest gRPC message sent or accepted (an AppendEntries batch; the core always sends at least one entry). */
  readonly messageBytesMax: number;
  /** Snapshot data bytes per InstallSnapshot chunk. */
  readonly snapshotChunkBytes: number;
  /** Largest snapshot a receiver reassembles in memory. */
  readonly snapshotBytesMax: number;
  /** Deadline of one InstallSnapshot call, from its start. */
  readonly snapshotDeadlineMs: number;
  /** First and last delay before reopening a broken peer stream (doubling in between). */
  readonly reconnectBackoffInitialMs: number;
  readonly reconnectBackoffMaxMs: number;
  /** onUnreachable fires at most once per peer in this interval. */
  readonly unreachableReportIntervalMs: number;
  /** HTTP/2 keepalive pings on both sides: interval, and how long to wait for the answer before dropping the connection. */
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  /** stop(): how long incoming connections get to close gracefully before they are destroyed. */
  readonly shutdownGraceMs: number;
  /** Longest time onPositionRequest gets to answer when the asking node set no deadline (or a longer one). */
  readonly positionAnswerMsMax: number;
  /** Longest time onProposeRequest gets for one forwarded proposal, whatever the caller's timeout and deadline. */
  readonly proposeAnswerMsMax: number;
}

/**
 * Defaults, and why:
 *  - queueMessagesMax 4096: 16x the core's default in-flight window (256 AppendEntries) per peer,
 *    so a connected peer never drops; at the core's 1 MiB per message it also bounds memory.
 *  - messageBytesMax 64 MiB: above the core's 1 MiB batch so one oversized entry still travels
 *    (gRPC's default 4 MiB would stall replication forever on a 5 MiB proposal).
 *  - snapshotChunkBytes 1 MiB: small next to messageBytesMax, large enough to amortise framing.
 *  - snapshotBytesMax 1 GiB: the cluster state is small (KiB to MiB); anything larger is a bug or an attack.
 *  - snapshotDeadlineMs 60 s: 1 GiB at ~20 MiB/s; the leader waits for the outcome before retrying.
 *  - reconnect 50 ms -> 1 s: below the default election timeout (1-2 s), so a healed peer is back in time.
 *  - keepalive 2 s + 1 s: a silently dead connection is noticed within ~3 s even without traffic.
 *  - positionAnswerMsMax 5 s: the failover waits for positions with a short deadline (well below the
 *    lease ttl); this only bounds a caller without one.
 *  - proposeAnswerMsMax 30 s: 6x the driver's default propose timeout (5 s); it only bounds a caller
 *    that set no timeout or deadline, so a forwarded proposal never holds a call open for good.
 */
export const TRANSPORT_LIMITS_DEFAULT: TransportLimits = Object.freeze({
  queueMessagesMax: 4096,
  messageBytesMax: 64 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  snapshotBytesMax: 1024 * 1024 * 1024,
  snapshotDeadlineMs: 60_000,
  reconnectBackoffInitialMs: 50,
  reconnectBackoffMaxMs: 1_000,
  unreachableReportIntervalMs: 1_000,
  keepaliveTimeMs: 2_000,
  keepaliveTimeoutMs: 1_000,
  shutdownGraceMs: 500,
  positionAnswerMsMax: 5_000,
  proposeAnswerMsMax: 30_000,
});

/** Room for the non-data fields of a snapshot chunk (header with membership lists, offset, flags). */
export const SNAPSHOT_CHUNK_OVERHEAD_BYTES_MAX = 1024 * 1024;

/**
 * Another gRPC service served on the transport's server (the admin service):
 * it shares the peer port and its credentials, so the same mutual TLS
 * admits its clients. `stop` runs when the transport stops, before the
 * server closes, so long calls can answer instead of being cut off.
 */
export interface AdditionalService {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
  readonly stop?: () => void;
}

/**
 * Serves RaftPeer.Join: record that `member` (a node this one may not know)
 * asks to join at `address`. Rejects as a ProposeHandler does.
 */
export type JoinHandler = (member: NodeId, address: string, timeoutMs: number) => Promise<void>;

/** What a node answers RaftPeer.Hello: its Raft configuration, if it has one. */
export interface HelloAnswer {
  readonly configured: boolean;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** Serves RaftPeer.Propose on the leader: encoded command in, encoded result out. */
export type ProposeHandler = (data: Uint8Array, timeoutMs: number) => Promise<Uint8Array>;

export interface TransportOptions {
  readonly nodeId: NodeId;
  readonly clusterName: string;
  /** host:port to listen on (port 0 = pick one); separate from the address peers use to reach us. */
  readonly bindAddress: string;
  /** nodeId -> advertised address host:port. May include this node (ignored). */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** Every message received from a known peer of this cluster; called in arrival order per peer. */
  readonly onMessage: (message: Message) => void;
  /** The stream to a peer broke or its queue overflowed (at most once per unreachableReportIntervalMs). */
  readonly onUnreachable?: (peerId: NodeId) => void;
  /** Outcome of sending a 'snap' message to a peer. */
  readonly onSnapshotStatus?: (peerId: NodeId, ok: boolean) => void;
  /**
   * This node's current WAL position, asked by the Raft leader during a failover (RaftPeer.GetPosition).
   * It gets at most the asker's deadline; a throw answers UNAVAILABLE with its message. Absent: UNIMPLEMENTED.
   */
  readonly onPositionRequest?: () => Promise<CandidatePositionAnswer> | CandidatePositionAnswer;
  /**
   * Commit a proposal a follower forwarded here (RaftPeer.Propose) and return the state machine's
   * result, both encoded by the caller's layer (opaque here). It gets the smallest of the asker's
   * timeout, its deadline and proposeAnswerMsMax. Reject as the driver does: NotLeaderError,
   * RaftTimeoutError, ProposalDroppedError, RaftStoppedError; ProposalRefusedError for bytes that do
   * not decode. Anything else answers INTERNAL (a bug). Absent: UNIMPLEMENTED.
   */
  readonly onProposeRequest?: ProposeHandler;
  /** Answers RaftPeer.Hello (discovery before a cluster forms). Absent: UNIMPLEMENTED. */
  readonly onHelloRequest?: () => HelloAnswer;
  /** A new node asks to join (RaftPeer.Join), bounded like onProposeRequest. Absent: UNIMPLEMENTED. */
  readonly onJoinRequest?: JoinHandler;
  /** Served beside RaftPeer on the same server, with the same credentials (the admin service). */
  readonly services?: readonly AdditionalService[];
  /** Default plain text (tests). src/tls/credentials.ts makes the real ones: they carry the per-call gate (call-gate.ts). */
  readonly serverCredentials?: ServerCredentials;
  readonly channelCredentials?: ChannelCredentials;
  readonly logger: Logger;
  readonly limits?: Partial<TransportLimits>;
}

export interface ParsedAddress {
  readonly host: string;
  readonly port: number;
}

/** Parse host:port ([v6]:port for IPv6). Returns undefined when malformed. */
export function parseAddress(address: string): ParsedAddress | undefined {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  const bracketed = host.startsWith('[') && host.endsWith(']') && host.length > 2;
  if (host.includes(':') && !bracketed) return undefined;
  return { host, port };
}

export function resolveLimits(overrides: Partial<TransportLimits> = {}): TransportLimits {
  const limits: TransportLimits = { ...TRANSPORT_LIMITS_DEFAULT, ...overrides };
  for (const [key, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new ConfigError(`transport.limits.${key}`, `must be a positive integer, got ${String(value)}`);
    }
  }
  if (limits.reconnectBackoffInitialMs > limits.reconnectBackoffMaxMs) {
    throw new ConfigError(
      'transport.limits.reconnectBackoffInitialMs',
      `must not exceed reconnectBackoffMaxMs (${limits.reconnectBackoffMaxMs}), got ${limits.reconnectBackoffInitialMs}`,
    );
  }
  if (limits.snapshotChunkBytes + SNAPSHOT_CHUNK_OVERHEAD_BYTES_MAX > limits.messageBytesMax) {
    throw new ConfigError(
      'transport.limits.snapshotChunkBytes',
      `plus ${SNAPSHOT_CHUNK_OVERHEAD_BYTES_MAX} bytes of chunk overhead must fit messageBytesMax (${limits.messageBytesMax}), got ${limits.snapshotChunkBytes}`,
    );
  }
  return Object.freeze(limits);
}

/** Validate every option once, naming the offending key; never adjust silently. */
export function validateOptions(options: TransportOptions): TransportLimits {
  if (typeof options.nodeId !== 'string' || options.nodeId === '') {
    throw new ConfigError('transport.nodeId', 'must be a non-empty string');
  }
  if (typeof options.clusterName !== 'string' || options.clusterName === '') {
    throw new ConfigError('transport.clusterName', 'must be a non-empty string');
  }
  if (parseAddress(options.bindAddress) === undefined) {
    throw new ConfigError('transport.bindAddress', `must be host:port, got ${JSON.stringify(options.bindAddress)}`);
  }
  validatePeers(options.peers);
  if (typeof options.onMessage !== 'function') {
    throw new ConfigError('transport.onMessage', 'must be a function');
  }
  if (options.onPositionRequest !== undefined && typeof options.onPositionRequest !== 'function') {
    throw new ConfigError('transport.onPositionRequest', 'must be a function when set');
  }
  if (options.onHelloRequest !== undefined && typeof options.onHelloRequest !== 'function') {
    throw new ConfigError('transport.onHelloRequest', 'must be a function when set');
  }
  if (options.onJoinRequest !== undefined && typeof options.onJoinRequest !== 'function') {
    throw new ConfigError('transport.onJoinRequest', 'must be a function when set');
  }
  if (options.onProposeRequest !== undefined && typeof options.onProposeRequest !== 'function') {
    throw new ConfigError('transport.onProposeRequest', 'must be a function when set');
  }
  validateServices(options.services ?? []);
  return resolveLimits(options.limits);
}

/** Every method of an additional service needs its handler (gRPC itself refuses a path served twice). */
function validateServices(services: readonly AdditionalService[]): void {
  for (const [i, service] of services.entries()) {
    if (typeof service !== 'object' || service === null || typeof service.definition !== 'object' || typeof service.implementation !== 'object') {
      throw new ConfigError(`transport.services[${i}]`, 'must have a service definition and an implementation');
    }
    for (const [name, method] of Object.entries(service.definition)) {
      if (typeof service.implementation[name] !== 'function') throw new ConfigError(`transport.services[${i}]`, `no handler for ${method.path}`);
    }
  }
}

export function validatePeers(peers: ReadonlyMap<NodeId, string>): void {
  for (const [peerId, address] of peers) {
    if (typeof peerId !== 'string' || peerId === '') {
      throw new ConfigError('transport.peers', 'node ids must be non-empty strings');
    }
    const parsed = parseAddress(address);
    if (parsed === undefined || parsed.port === 0) {
      throw new ConfigError('transport.peers', `${peerId}: address must be host:port with a non-zero port, got ${JSON.stringify(address)}`);
    }
  }
}
