import {
  Metadata,
  status as Status,
  type sendUnaryData,
  type ServerReadableStream,
  type ServerUnaryCall,
  type StatusObject,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from '../../lib/logger.js';
import type { Message, NodeId } from '../core/types.js';
import { CodecError, decodeEnvelope } from './codec.js';
import type { TransportLimits } from './options.js';
import { encodePositionAnswer, InvalidPositionAnswer, type CandidatePositionAnswer } from './position.js';
import { SnapshotAssembler } from './snapshot-codec.js';
import type { WireAck, WireEnvelope, WirePositionRequest, WirePositionResponse, WireSnapshotChunk, WireSnapshotHeader } from './wire.js';

export interface PeerServiceOptions {
  readonly nodeId: NodeId;
  readonly clusterName: string;
  readonly limits: TransportLimits;
  readonly logger: Logger;
  /** Is `nodeId` a current peer? Read on every message (setPeers changes the answer). */
  readonly isPeer: (nodeId: NodeId) => boolean;
  readonly onMessage: (message: Message) => void;
  /** Answers GetPosition; absent = UNIMPLEMENTED. */
  readonly onPositionRequest?: (() => Promise<CandidatePositionAnswer> | CandidatePositionAnswer) | undefined;
}

export interface PeerServiceStats {
  readonly deliveredMessagesTotal: number;
  /** Envelopes and snapshots dropped: another cluster, an unknown sender, another recipient, malformed. */
  readonly incomingDroppedTotal: number;
}

/** The status an incoming call ends with (grpc-js's ServerStatusResponse, which it does not export). */
type ServerStatusResponse = Partial<StatusObject>;

type DropReason = 'wrongCluster' | 'unknownPeer' | 'wrongRecipient';

/** Ends one incoming call exactly once: OK (null) or with a status. */
type Settle = (status: ServerStatusResponse | null) => void;

/** Ends one GetPosition call exactly once: with a response or a status. */
type SettlePosition = (outcome: { response: WirePositionResponse } | { status: ServerStatusResponse }) => void;

/**
 * The server side of RaftPeer. Each incoming Send stream is accepted at once
 * (response headers = the sender's "connected" signal); each envelope is
 * checked (cluster, sender, recipient), decoded and handed to onMessage
 * synchronously, so per-stream arrival order is delivery order.
 */
export class PeerService {
  private readonly openCalls = new Map<ServerReadableStream<unknown, WireAck>, Settle>();
  private readonly openPositionCalls = new Set<SettlePosition>();
  private stopping = false;
  private deliveredMessagesTotal = 0;
  private incomingDroppedTotal = 0;

  constructor(private readonly options: PeerServiceOptions) {}

  implementation(): UntypedServiceImplementation {
    return {
      Send: (call: ServerReadableStream<WireEnvelope, WireAck>, callback: sendUnaryData<WireAck>) => this.onSend(call, callback),
      InstallSnapshot: (call: ServerReadableStream<WireSnapshotChunk, WireAck>, callback: sendUnaryData<WireAck>) =>
        this.onInstallSnapshot(call, callback),
      GetPosition: (call: ServerUnaryCall<WirePositionRequest, WirePositionResponse>, callback: sendUnaryData<WirePositionResponse>) =>
        this.onGetPosition(call, callback),
    };
  }

  stats(): PeerServiceStats {
    return { deliveredMessagesTotal: this.deliveredMessagesTotal, incomingDroppedTotal: this.incomingDroppedTotal };
  }

  /** End every open incoming call (senders see UNAVAILABLE and reconnect elsewhere or later); refuse new ones. */
  stop(): void {
    this.stopping = true;
    for (const settle of [...this.openCalls.values()]) {
      settle({ code: Status.UNAVAILABLE, details: 'transport stopping' });
    }
    for (const settle of [...this.openPositionCalls]) {
      settle({ status: { code: Status.UNAVAILABLE, details: 'transport stopping' } });
    }
  }

  private onSend(call: ServerReadableStream<WireEnvelope, WireAck>, callback: sendUnaryData<WireAck>): void {
    const settle = this.track(call, callback);
    if (settle === undefined) return;
    call.sendMetadata(new Metadata());
    call.on('data', (envelope: WireEnvelope) => this.receive(envelope));
    call.on('end', () => settle(null));
  }

  private receive(envelope: WireEnvelope): void {
    if (this.stopping) return;
    const reason = this.checkSender(envelope.cluster_name, envelope.from_node_id, envelope.to_node_id);
    if (reason !== undefined) {
      this.drop(reason, { cluster: envelope.cluster_name, from: envelope.from_node_id, to: envelope.to_node_id, body: envelope.body });
      return;
    }
    let message: Message;
    try {
      message = decodeEnvelope(envelope);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.incomingDroppedTotal += 1;
      this.options.logger.warn({ from: envelope.from_node_id, body: envelope.body, error: error.message }, 'transport.malformedMessage');
      return;
    }
    this.deliveredMessagesTotal += 1;
    this.options.onMessage(message);
  }

  private onInstallSnapshot(call: ServerReadableStream<WireSnapshotChunk, WireAck>, callback: sendUnaryData<WireAck>): void {
    const settle = this.track(call, callback);
    if (settle === undefined) return;
    const assembler = new SnapshotAssembler(this.options.limits.snapshotBytesMax);
    let failed = false;
    const fail = (status: ServerStatusResponse): void => {
      failed = true;
      settle(status);
    };
    call.on('data', (chunk: WireSnapshotChunk) => {
      if (!failed) this.receiveChunk(assembler, chunk, fail);
    });
    call.on('end', () => {
      if (!failed && !this.stopping) this.deliverSnapshot(assembler, settle);
    });
  }

  private receiveChunk(assembler: SnapshotAssembler, chunk: WireSnapshotChunk, fail: (status: ServerStatusResponse) => void): void {
    const isFirst = assembler.header === undefined;
    try {
      assembler.add(chunk);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.incomingDroppedTotal += 1;
      this.options.logger.warn({ from: assembler.header?.from_node_id, error: error.message }, 'transport.malformedSnapshot');
      fail({ code: Status.INVALID_ARGUMENT, details: error.message });
      return;
    }
    const header = assembler.header;
    if (!isFirst || header === undefined) return;
    const reason = this.checkSender(header.cluster_name, header.from_node_id, header.to_node_id);
    if (reason !== undefined) {
      this.drop(reason, { cluster: header.cluster_name, from: header.from_node_id, to: header.to_node_id, body: 'install_snapshot' });
      fail({ code: Status.FAILED_PRECONDITION, details: `snapshot refused: ${reason}` });
    }
  }

  private deliverSnapshot(assembler: SnapshotAssembler, settle: Settle): void {
    let message: Message;
    try {
      message = assembler.finish();
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.incomingDroppedTotal += 1;
      this.options.logger.warn({ from: assembler.header?.from_node_id, error: error.message }, 'transport.malformedSnapshot');
      settle({ code: Status.INVALID_ARGUMENT, details: error.message });
      return;
    }
    this.options.logger.info(snapshotFields(assembler.header, message), 'transport.snapshotReceived');
    this.deliveredMessagesTotal += 1;
    this.options.onMessage(message);
    settle(null);
  }

  /**
   * GetPosition: check the asker like an envelope (refusals answer with a
   * status and are logged at warn: position requests are rare and a refusal
   * costs a failover candidate), then ask onPositionRequest, bounded by the
   * asker's deadline (and positionAnswerMsMax).
   */
  private onGetPosition(call: ServerUnaryCall<WirePositionRequest, WirePositionResponse>, callback: sendUnaryData<WirePositionResponse>): void {
    const { cluster_name: cluster, from, to } = call.request;
    const { nodeId, clusterName, logger } = this.options;
    if (this.stopping) {
      callback({ code: Status.UNAVAILABLE, details: 'transport stopping' });
      return;
    }
    const reason = this.checkSender(cluster, from, to);
    if (reason !== undefined) {
      logger.warn({ reason, cluster, from, to }, 'transport.positionRequestRefused');
      callback(positionRefusal(reason, { cluster, from, to, clusterName, nodeId }));
      return;
    }
    const answer = this.options.onPositionRequest;
    if (answer === undefined) {
      logger.debug({ from }, 'transport.positionRequestUnimplemented');
      callback({ code: Status.UNIMPLEMENTED, details: `node '${nodeId}' does not answer position requests` });
      return;
    }
    const boundMs = Math.max(0, Math.min(remainingMs(call.getDeadline()), this.options.limits.positionAnswerMsMax));
    let settled = false;
    const finish = (): void => {
      settled = true;
      clearTimeout(timer);
      this.openPositionCalls.delete(settle);
    };
    const settle: SettlePosition = (outcome) => {
      if (settled) return;
      finish();
      if ('response' in outcome) callback(null, outcome.response);
      else callback(outcome.status);
    };
    const timer = setTimeout(() => {
      logger.warn({ from, boundMs }, 'transport.positionAnswerTimedOut');
      settle({ status: { code: Status.DEADLINE_EXCEEDED, details: `node '${nodeId}' found no position within ${boundMs} ms` } });
    }, boundMs);
    this.openPositionCalls.add(settle);
    // The asker gave up (its deadline passed, or it went away): nothing more to send.
    call.on('cancelled', () => {
      if (!settled) finish();
    });
    new Promise<CandidatePositionAnswer>((resolve) => resolve(answer())).then(
      (value) => {
        if (settled) return;
        let response: WirePositionResponse;
        try {
          response = encodePositionAnswer(nodeId, value);
        } catch (error) {
          if (!(error instanceof InvalidPositionAnswer)) throw error;
          logger.error({ from, error: error.message }, 'transport.positionAnswerInvalid');
          settle({ status: { code: Status.INTERNAL, details: error.message } });
          return;
        }
        settle({ response });
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        logger.warn({ from, error: message }, 'transport.positionUnavailable');
        settle({ status: { code: Status.UNAVAILABLE, details: `node '${nodeId}' has no position: ${message}` } });
      },
    );
  }

  private checkSender(cluster: string, from: NodeId, to: NodeId): DropReason | undefined {
    if (cluster !== this.options.clusterName) return 'wrongCluster';
    if (!this.options.isPeer(from)) return 'unknownPeer';
    if (to !== this.options.nodeId) return 'wrongRecipient';
    return undefined;
  }

  private drop(reason: DropReason, fields: Record<string, unknown>): void {
    this.incomingDroppedTotal += 1;
    this.options.logger.debug({ reason, ...fields }, 'transport.incomingDropped');
  }

  /** Register an incoming call; undefined (call already refused) while stopping. */
  private track(call: ServerReadableStream<unknown, WireAck>, callback: sendUnaryData<WireAck>): Settle | undefined {
    if (this.stopping) {
      callback({ code: Status.UNAVAILABLE, details: 'transport stopping' });
      return undefined;
    }
    let settled = false;
    const settle: Settle = (status) => {
      if (settled) return;
      settled = true;
      this.openCalls.delete(call);
      if (status === null) callback(null, {});
      else callback(status);
    };
    this.openCalls.set(call, settle);
    const forget = (): void => {
      settled = true;
      this.openCalls.delete(call);
    };
    call.on('cancelled', forget);
    call.on('error', (error: Error) => {
      forget();
      this.options.logger.debug({ error: error.message }, 'transport.incomingStreamError');
    });
    return settle;
  }
}

function positionRefusal(
  reason: DropReason,
  { cluster, from, to, clusterName, nodeId }: { cluster: string; from: NodeId; to: NodeId; clusterName: string; nodeId: NodeId },
): ServerStatusResponse {
  switch (reason) {
    case 'wrongCluster':
      return { code: Status.PERMISSION_DENIED, details: `position request from '${from}' of cluster '${cluster}' refused: this node is in cluster '${clusterName}'` };
    case 'unknownPeer':
      return { code: Status.PERMISSION_DENIED, details: `position request from '${from}' refused: not a peer of '${nodeId}' in cluster '${clusterName}'` };
    case 'wrongRecipient':
      return { code: Status.FAILED_PRECONDITION, details: `position request addressed to '${to}' reached '${nodeId}'` };
  }
}

/** Milliseconds until a gRPC deadline (Infinity when none). */
function remainingMs(deadline: Date | number): number {
  const atMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return atMs - Date.now();
}

function snapshotFields(header: WireSnapshotHeader | undefined, message: Message): Record<string, unknown> {
  return {
    from: message.from,
    term: message.term,
    snapshotIndex: message.snapshot?.metadata.index,
    dataBytes: header?.data_bytes,
  };
}
