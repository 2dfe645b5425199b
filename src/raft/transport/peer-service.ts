import {
  Metadata,
  status as Status,
  type sendUnaryData,
  type ServerReadableStream,
  type StatusObject,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from '../../lib/logger.js';
import type { Message, NodeId } from '../core/types.js';
import { CodecError, decodeEnvelope } from './codec.js';
import type { TransportLimits } from './options.js';
import { SnapshotAssembler } from './snapshot-codec.js';
import type { WireAck, WireEnvelope, WireSnapshotChunk, WireSnapshotHeader } from './wire.js';

export interface PeerServiceOptions {
  readonly nodeId: NodeId;
  readonly clusterName: string;
  readonly limits: TransportLimits;
  readonly logger: Logger;
  /** Is `nodeId` a current peer? Read on every message (setPeers changes the answer). */
  readonly isPeer: (nodeId: NodeId) => boolean;
  readonly onMessage: (message: Message) => void;
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

/**
 * The server side of RaftPeer. Each incoming Send stream is accepted at once
 * (response headers = the sender's "connected" signal); each envelope is
 * checked (cluster, sender, recipient), decoded and handed to onMessage
 * synchronously, so per-stream arrival order is delivery order.
 */
export class PeerService {
  private readonly openCalls = new Map<ServerReadableStream<unknown, WireAck>, Settle>();
  private stopping = false;
  private deliveredMessagesTotal = 0;
  private incomingDroppedTotal = 0;

  constructor(private readonly options: PeerServiceOptions) {}

  implementation(): UntypedServiceImplementation {
    return {
      Send: (call: ServerReadableStream<WireEnvelope, WireAck>, callback: sendUnaryData<WireAck>) => this.onSend(call, callback),
      InstallSnapshot: (call: ServerReadableStream<WireSnapshotChunk, WireAck>, callback: sendUnaryData<WireAck>) =>
        this.onInstallSnapshot(call, callback),
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

function snapshotFields(header: WireSnapshotHeader | undefined, message: Message): Record<string, unknown> {
  return {
    from: message.from,
    term: message.term,
    snapshotIndex: message.snapshot?.metadata.index,
    dataBytes: header?.data_bytes,
  };
}
