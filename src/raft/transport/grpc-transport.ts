import { credentials, Server, status as Status, type ServerCredentials } from '@grpc/grpc-js';
import { assert } from '../../lib/assert.js';
import { insecureCredentials } from '../../tls/credentials.js';
import { BindError, ProposalDroppedError, RaftStoppedError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Message, NodeId } from '../core/types.js';
import { assertEncodable, encodeEnvelope } from './codec.js';
import { forwardError, isRefusal } from './forward.js';
import { serverChannelOptions } from './grpc-options.js';
import { parseAddress, validateOptions, validatePeers, type HelloAnswer, type TransportLimits, type TransportOptions } from './options.js';
import { PeerLink, type PeerLinkStats } from './peer-link.js';
import { PeerService } from './peer-service.js';
import { decodePositionResponse, unreachablePosition, type CandidatePosition } from './position.js';
import { raftPeerDefinition } from './proto.js';

export { TRANSPORT_LIMITS_DEFAULT, type AdditionalService, type HelloAnswer, type ProposeHandler, type TransportLimits, type TransportOptions } from './options.js';
export type { PeerLinkStats } from './peer-link.js';
export { POSITION_ROLES, type CandidatePosition, type CandidatePositionAnswer, type PositionRole } from './position.js';

export interface TransportStats {
  readonly peers: Readonly<Record<NodeId, PeerLinkStats>>;
  /** Messages (and snapshots) handed to onMessage. */
  readonly deliveredMessagesTotal: number;
  /** Incoming messages dropped: another cluster, an unknown sender, another recipient, malformed. */
  readonly incomingDroppedTotal: number;
  /** Outgoing messages addressed to a node that is not a peer (e.g. removed concurrently). */
  readonly unknownPeerDroppedTotal: number;
}

/**
 * The gRPC peer transport (service RaftPeer in proto/raft.proto). One
 * PeerLink per peer sends (bounded queue, own stream, own reconnect); one
 * PeerService receives. send() never blocks and never throws for network
 * trouble: Raft tolerates loss, so overflow and broken streams drop messages
 * (counted, and reported through onUnreachable).
 */
export class GrpcTransport {
  private readonly links = new Map<NodeId, PeerLink>();
  private peers: ReadonlyMap<NodeId, string>;
  private unknownPeerDroppedTotal = 0;
  private stopPromise: Promise<void> | undefined;

  private constructor(
    private readonly options: TransportOptions,
    private readonly limits: TransportLimits,
    private readonly server: Server,
    private readonly service: PeerService,
    private readonly log: Logger,
    /** The address actually listened on (port 0 resolved). */
    readonly boundAddress: string,
    peers: ReadonlyMap<NodeId, string>,
  ) {
    this.peers = new Map();
    this.setPeers(peers);
  }

  /** Validate the options, bind the server (BindError naming the address on failure) and open a stream to every peer. */
  static async start(options: TransportOptions): Promise<GrpcTransport> {
    const limits = validateOptions(options);
    const log = options.logger.child({ component: 'raft-transport' });
    let transport: GrpcTransport | undefined;
    const service = new PeerService({
      nodeId: options.nodeId,
      clusterName: options.clusterName,
      limits,
      logger: log,
      isPeer: (id) => transport !== undefined && transport.peers.has(id),
      onMessage: options.onMessage,
      onPositionRequest: options.onPositionRequest,
      onProposeRequest: options.onProposeRequest,
      onJoinRequest: options.onJoinRequest,
      onHelloRequest: options.onHelloRequest,
    });
    const server = new Server(serverChannelOptions(limits));
    server.addService(raftPeerDefinition().service, service.implementation());
    for (const extra of options.services ?? []) server.addService(extra.definition, extra.implementation);
    const port = await bind(server, options.bindAddress, options.serverCredentials ?? insecureCredentials().server);
    const boundAddress = withPort(options.bindAddress, port);
    transport = new GrpcTransport(options, limits, server, service, log, boundAddress, options.peers);
    log.info({ boundAddress, peers: [...transport.links.keys()] }, 'transport.started');
    return transport;
  }

  /** Hand messages to their peers' queues ('snap' by InstallSnapshot). Local message types assert. */
  send(messages: readonly Message[]): void {
    for (const message of messages) {
      assert(message.from === this.options.nodeId, () => `message from '${message.from}' sent by node '${this.options.nodeId}'`);
      // Encode (and check the contract) before routing: a bad message asserts even when its peer is gone.
      if (message.type === 'snap') assertEncodable(message);
      const envelope = message.type === 'snap' ? undefined : encodeEnvelope(message, this.options.clusterName);
      const link = this.stopPromise === undefined ? this.links.get(message.to) : undefined;
      if (link === undefined) {
        this.unknownPeerDroppedTotal += 1;
        this.log.debug({ to: message.to, type: message.type, stopped: this.stopPromise !== undefined }, 'transport.unknownPeerDropped');
      } else if (envelope === undefined) {
        link.sendSnapshot(message);
      } else {
        link.enqueue(envelope);
      }
    }
  }

  /**
   * Ask a peer for its current WAL position (RaftPeer.GetPosition on the
   * peer's existing channel, deadline timeoutMs). Never rejects for network
   * trouble: an unknown peer, a stopped transport, no answer within the
   * deadline, a refusal or any other failure give an unreachable position.
   */
  async queryPosition(peerId: NodeId, timeoutMs: number): Promise<CandidatePosition> {
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, () => `queryPosition timeout must be a positive number of ms, got ${timeoutMs}`);
    const link = this.stopPromise === undefined ? this.links.get(peerId) : undefined;
    if (link === undefined) {
      this.log.info({ peer: peerId, stopped: this.stopPromise !== undefined }, 'transport.positionUnknownPeer');
      return unreachablePosition(peerId);
    }
    const startedMs = performance.now();
    const outcome = await link.getPosition({ cluster_name: this.options.clusterName, from: this.options.nodeId, to: peerId }, timeoutMs);
    const durationMs = Math.round(performance.now() - startedMs);
    if ('failure' in outcome) {
      // Refusals are configuration trouble (warn); no answer in time is what failover expects of a dead node (info).
      const refused = outcome.code === Status.PERMISSION_DENIED || outcome.code === Status.FAILED_PRECONDITION || outcome.code === Status.UNIMPLEMENTED;
      const fields = { peer: peerId, address: link.address, durationMs, reason: outcome.failure };
      if (refused) this.log.warn(fields, 'transport.positionRefused');
      else this.log.info(fields, 'transport.positionUnreachable');
      return unreachablePosition(peerId);
    }
    const position = decodePositionResponse(peerId, outcome.response, this.log);
    this.log.debug({ ...position, role: outcome.response.role, durationMs }, 'transport.positionAnswered');
    return position;
  }

  /** queryPosition for every peer in parallel: one answer per id, in the order given, within about timeoutMs. */
  queryPositions(peerIds: readonly NodeId[], timeoutMs: number): Promise<CandidatePosition[]> {
    return Promise.all(peerIds.map((peerId) => this.queryPosition(peerId, timeoutMs)));
  }

  /**
   * Forward an encoded proposal to `peerId` (the Raft leader as this node
   * knows it: RaftPeer.Propose on the peer's existing channel) and return
   * the result bytes its onProposeRequest answered. The peer gets at most
   * timeoutMs, which is also this call's deadline. Rejects with the typed
   * error of forward.ts: NotLeaderError (with the peer's leader hint),
   * RaftTimeoutError, ProposalDroppedError (also an unknown peer or a broken
   * connection), ProposalRefusedError, RaftStoppedError (this transport, or
   * the peer's node, stopped).
   */
  async forwardProposal(peerId: NodeId, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, () => `forwardProposal timeout must be a positive number of ms, got ${timeoutMs}`);
    if (this.stopPromise !== undefined) throw new RaftStoppedError();
    const link = this.links.get(peerId);
    if (link === undefined) {
      this.log.debug({ peer: peerId }, 'transport.proposeUnknownPeer');
      throw new ProposalDroppedError(`no address known for ${peerId}`);
    }
    const startedMs = performance.now();
    const request = { cluster_name: this.options.clusterName, from: this.options.nodeId, to: peerId, data, timeout_ms: Math.min(Math.ceil(timeoutMs), UINT32_MAX) };
    const outcome = await link.propose(request, timeoutMs);
    const durationMs = Math.round(performance.now() - startedMs);
    if ('response' in outcome) {
      this.log.debug({ peer: peerId, dataBytes: data.byteLength, resultBytes: outcome.response.result.byteLength, durationMs }, 'transport.proposalForwarded');
      return new Uint8Array(outcome.response.result);
    }
    const error = forwardError(peerId, timeoutMs, outcome, this.stopPromise !== undefined);
    // Refusals are configuration or version trouble (warn); the rest is what elections and partitions produce, every renewal (debug).
    const fields = { peer: peerId, address: link.address, durationMs, reason: outcome.failure, code: error.code };
    if (isRefusal(outcome.code)) this.log.warn(fields, 'transport.proposalRefused');
    else this.log.debug(fields, 'transport.proposalFailed');
    throw error;
  }

  /** Ask `peerId` for its Raft configuration (RaftPeer.Hello); null when it does not answer within timeoutMs or refuses. */
  async hello(peerId: NodeId, timeoutMs: number): Promise<HelloAnswer | null> {
    const link = this.stopPromise === undefined ? this.links.get(peerId) : undefined;
    if (link === undefined) return null;
    const outcome = await link.hello({ cluster_name: this.options.clusterName, from: this.options.nodeId, to: peerId }, timeoutMs);
    if ('failure' in outcome) {
      this.log.debug({ peer: peerId, reason: outcome.failure }, 'transport.helloUnanswered');
      return null;
    }
    return { configured: outcome.response.configured, voters: [...outcome.response.voters], learners: [...outcome.response.learners] };
  }

  /**
   * Ask `peerId` (a member this new node knows from its static peer list) to
   * record that this node joins at `address` (RaftPeer.Join). Resolves once
   * recorded; rejects with forward.ts's typed errors (ProposalRefusedError:
   * refused for good, e.g. a removed name; the others: try again or elsewhere).
   */
  async requestJoin(peerId: NodeId, address: string, timeoutMs: number): Promise<void> {
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, () => `requestJoin timeout must be a positive number of ms, got ${timeoutMs}`);
    if (this.stopPromise !== undefined) throw new RaftStoppedError();
    const link = this.links.get(peerId);
    if (link === undefined) throw new ProposalDroppedError(`no address known for ${peerId}`);
    const request = { cluster_name: this.options.clusterName, from: this.options.nodeId, to: peerId, address, timeout_ms: Math.min(Math.ceil(timeoutMs), UINT32_MAX) };
    const outcome = await link.join(request, timeoutMs);
    if ('response' in outcome) return;
    throw forwardError(peerId, timeoutMs, outcome, this.stopPromise !== undefined);
  }

  /** Replace the peer set: links to removed peers close, links to new or re-addressed peers open. */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    assert(this.stopPromise === undefined, 'setPeers after stop');
    validatePeers(peers);
    const next = new Map([...peers].filter(([id]) => id !== this.options.nodeId));
    for (const [peerId, link] of this.links) {
      const address = next.get(peerId);
      if (address === link.address) continue;
      link.close(address !== undefined);
      this.links.delete(peerId);
      this.log.info({ peer: peerId, address: link.address, newAddress: address }, address === undefined ? 'transport.peerRemoved' : 'transport.peerReaddressed');
    }
    for (const [peerId, address] of next) {
      if (!this.links.has(peerId)) this.links.set(peerId, this.openLink(peerId, address));
    }
    this.peers = next;
  }

  stats(): TransportStats {
    const peers: Record<NodeId, PeerLinkStats> = {};
    for (const [peerId, link] of this.links) peers[peerId] = link.stats();
    return { peers, ...this.service.stats(), unknownPeerDroppedTotal: this.unknownPeerDroppedTotal };
  }

  /** Close every stream, channel and the server. Idempotent; no callbacks after it is called. */
  stop(): Promise<void> {
    this.stopPromise ??= this.shutdown();
    return this.stopPromise;
  }

  private async shutdown(): Promise<void> {
    for (const link of this.links.values()) link.close(false);
    this.links.clear();
    this.service.stop();
    for (const extra of this.options.services ?? []) extra.stop?.();
    await shutdownServer(this.server, this.limits.shutdownGraceMs);
    this.log.info({ boundAddress: this.boundAddress }, 'transport.stopped');
  }

  private openLink(peerId: NodeId, address: string): PeerLink {
    const { onUnreachable, onSnapshotStatus } = this.options;
    return new PeerLink({
      peerId,
      address,
      clusterName: this.options.clusterName,
      limits: this.limits,
      credentials: this.options.channelCredentials ?? credentials.createInsecure(),
      logger: this.log.child({ peer: peerId, address }),
      onUnreachable: (id) => {
        if (this.stopPromise === undefined) onUnreachable?.(id);
      },
      onSnapshotStatus: (id, ok) => {
        if (this.stopPromise === undefined) onSnapshotStatus?.(id, ok);
      },
    });
  }
}

/** ProposeRequest.timeout_ms is a uint32. */
const UINT32_MAX = 0xffff_ffff;

function bind(server: Server, address: string, serverCredentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, serverCredentials, (error, port) => {
      if (error === null) {
        resolve(port);
        return;
      }
      server.forceShutdown();
      reject(new BindError(address, { cause: error }));
    });
  });
}

function withPort(address: string, port: number): string {
  const parsed = parseAddress(address);
  assert(parsed !== undefined, () => `bind address ${address} was validated`);
  assert(parsed.port === 0 || parsed.port === port, () => `bound port ${port} differs from the requested ${parsed.port}`);
  return `${parsed.host}:${port}`;
}

/** Graceful close (the listener first, then sessions), forced after graceMs. */
function shutdownServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
