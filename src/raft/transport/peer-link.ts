import {
  Client,
  Metadata,
  status as Status,
  type ChannelCredentials,
  type ClientUnaryCall,
  type ClientWritableStream,
  type MethodDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { assert } from '../../lib/assert.js';
import type { Logger } from '../../lib/logger.js';
import type { Message, NodeId } from '../core/types.js';
import { BoundedQueue } from './bounded-queue.js';
import { clientChannelOptions } from './grpc-options.js';
import type { TransportLimits } from './options.js';
import { raftPeerDefinition } from './proto.js';
import { snapshotChunks } from './snapshot-codec.js';
import type {
  WireAck,
  WireEnvelope,
  WireHelloRequest,
  WireHelloResponse,
  WireJoinRequest,
  WireJoinResponse,
  WirePositionRequest,
  WirePositionResponse,
  WireProposeRequest,
  WireProposeResponse,
  WireSnapshotChunk,
} from './wire.js';

/**
 * How one unary call ended: the answer, or why there is none (a gRPC status
 * with the trailing metadata the peer sent, or 'closed').
 */
export type UnaryCallOutcome<Response> =
  | { readonly response: Response }
  | { readonly failure: string; readonly code: Status | 'closed'; readonly metadata?: Metadata | undefined };

export type PositionCallOutcome = UnaryCallOutcome<WirePositionResponse>;

export interface PeerLinkOptions {
  readonly peerId: NodeId;
  readonly address: string;
  readonly clusterName: string;
  readonly limits: TransportLimits;
  readonly credentials: ChannelCredentials;
  /** Already bound to {peer, address}. */
  readonly logger: Logger;
  readonly onUnreachable: (peerId: NodeId) => void;
  readonly onSnapshotStatus: (peerId: NodeId, ok: boolean) => void;
}

export interface PeerLinkStats {
  readonly address: string;
  readonly connected: boolean;
  readonly queuedMessages: number;
  readonly sentMessagesTotal: number;
  readonly droppedMessagesTotal: number;
  readonly snapshotsSentTotal: number;
  readonly snapshotsFailedTotal: number;
}

/**
 * 'connecting': a Send stream is open but the peer has not accepted it yet (messages wait in the queue);
 * 'connected': the peer accepted the stream (it sent its response headers); the queue drains into it;
 * 'backoff': the stream broke; a timer reopens it.
 */
type LinkState = 'connecting' | 'connected' | 'backoff' | 'closed';

/**
 * Everything this node sends to one peer: a bounded queue, one long-lived
 * Send stream (reopened with a doubling backoff when it breaks) and at most
 * one InstallSnapshot call at a time. A link never blocks its caller and
 * never throws for network trouble; it shares nothing with other links, so
 * a dead or slow peer delays no one else. Callbacks are never invoked
 * synchronously from enqueue(), sendSnapshot() or close().
 */
export class PeerLink {
  private readonly definition = raftPeerDefinition();
  private readonly client: Client;
  private readonly queue: BoundedQueue<WireEnvelope>;
  private readonly log: Logger;
  private state: LinkState = 'connecting';
  /** The connection state last logged at info level: one line per change. */
  private loggedState: 'none' | 'connected' | 'disconnected' = 'none';
  private stream: ClientWritableStream<WireEnvelope> | null = null;
  private awaitingDrain = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  private lastUnreachableReportMs = Number.NEGATIVE_INFINITY;
  private snapshotCall: ClientWritableStream<WireSnapshotChunk> | null = null;
  /** GetPosition and Propose calls in flight (close() cancels them). */
  private readonly unaryCalls = new Set<ClientUnaryCall>();
  private sentMessagesTotal = 0;
  private droppedMessagesTotal = 0;
  private snapshotsSentTotal = 0;
  private snapshotsFailedTotal = 0;

  constructor(private readonly options: PeerLinkOptions) {
    this.log = options.logger;
    this.queue = new BoundedQueue(options.limits.queueMessagesMax);
    this.backoffMs = options.limits.reconnectBackoffInitialMs;
    this.client = new Client(options.address, options.credentials, clientChannelOptions(options.limits));
    this.openStream();
  }

  get address(): string {
    return this.options.address;
  }

  /** Queue one encoded message; it is written as soon as the stream accepts it. Drops (and counts) when the queue is full. */
  enqueue(envelope: WireEnvelope): void {
    assert(this.state !== 'closed', () => `enqueue on the closed link to ${this.options.peerId}`);
    if (!this.queue.push(envelope)) {
      this.droppedMessagesTotal += 1;
      this.log.debug({ queuedMessages: this.queue.length, droppedMessagesTotal: this.droppedMessagesTotal }, 'transport.messageDropped');
      this.reportUnreachable();
      return;
    }
    this.flush();
  }

  /** Send a 'snap' message by InstallSnapshot; the outcome goes to onSnapshotStatus. One at a time: a second is dropped. */
  sendSnapshot(message: Message): void {
    assert(this.state !== 'closed', () => `sendSnapshot on the closed link to ${this.options.peerId}`);
    const chunks = snapshotChunks(message, this.options.clusterName, this.options.limits.snapshotChunkBytes);
    if (this.snapshotCall !== null) {
      this.log.debug({ snapshotIndex: message.snapshot?.metadata.index }, 'transport.snapshotAlreadyInFlight');
      return;
    }
    const dataBytes = message.snapshot?.data.byteLength ?? 0;
    const startedMs = performance.now();
    const method = this.definition.installSnapshot;
    const call = this.client.makeClientStreamRequest<WireSnapshotChunk, WireAck>(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      new Metadata(),
      { deadline: Date.now() + this.options.limits.snapshotDeadlineMs },
      (error) => this.onSnapshotEnded(call, error, dataBytes, startedMs),
    );
    call.on('error', (error: Error) => this.log.debug({ error: error.message }, 'transport.snapshotStreamError'));
    this.snapshotCall = call;
    this.pumpSnapshot(call, chunks);
  }

  /** One GetPosition call; see unary(). */
  getPosition(request: WirePositionRequest, timeoutMs: number): Promise<PositionCallOutcome> {
    return this.unary(this.definition.getPosition, request, timeoutMs);
  }

  /** One Propose call (a proposal forwarded to the leader); see unary(). */
  propose(request: WireProposeRequest, timeoutMs: number): Promise<UnaryCallOutcome<WireProposeResponse>> {
    return this.unary(this.definition.propose, request, timeoutMs);
  }

  /** One Hello call (discovery before a cluster forms); see unary(). */
  hello(request: WireHelloRequest, timeoutMs: number): Promise<UnaryCallOutcome<WireHelloResponse>> {
    return this.unary(this.definition.hello, request, timeoutMs);
  }

  /** One Join call (this new node asks the peer to add it); see unary(). */
  join(request: WireJoinRequest, timeoutMs: number): Promise<UnaryCallOutcome<WireJoinResponse>> {
    return this.unary(this.definition.join, request, timeoutMs);
  }

  /**
   * One unary call on this link's channel, with a deadline of timeoutMs.
   * Never rejects: failures (and close()) resolve with the reason.
   */
  private unary<Request, Response>(method: MethodDefinition<Request, Response>, request: Request, timeoutMs: number): Promise<UnaryCallOutcome<Response>> {
    if (this.state === 'closed') return Promise.resolve({ failure: 'link closed', code: 'closed' });
    return new Promise((resolve) => {
      let call: ClientUnaryCall | undefined;
      let done = false;
      try {
        call = this.client.makeUnaryRequest<Request, Response>(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          new Metadata(),
          { deadline: Date.now() + timeoutMs },
          (error, response) => {
            done = true;
            if (call !== undefined) this.unaryCalls.delete(call);
            if (error === null && response !== undefined) resolve({ response });
            else resolve({ failure: describeEnd(error ?? null), code: error?.code ?? Status.UNKNOWN, metadata: error?.metadata });
          },
        );
      } catch (error) {
        // The channel was closed under us (grpc-js throws synchronously then).
        resolve({ failure: error instanceof Error ? error.message : String(error), code: 'closed' });
        return;
      }
      if (!done) this.unaryCalls.add(call);
    });
  }

  stats(): PeerLinkStats {
    return {
      address: this.options.address,
      connected: this.state === 'connected',
      queuedMessages: this.queue.length,
      sentMessagesTotal: this.sentMessagesTotal,
      droppedMessagesTotal: this.droppedMessagesTotal,
      snapshotsSentTotal: this.snapshotsSentTotal,
      snapshotsFailedTotal: this.snapshotsFailedTotal,
    };
  }

  /**
   * Cancel the stream and any snapshot call, drop the queue, close the
   * channel. With reportSnapshotFailure, an in-flight snapshot is reported
   * failed (the peer's address changed: the leader must retry).
   */
  close(reportSnapshotFailure: boolean): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const stream = this.stream;
    const snapshotCall = this.snapshotCall;
    this.stream = null;
    this.snapshotCall = null;
    stream?.cancel();
    snapshotCall?.cancel();
    // Their callbacks resolve with CANCELLED.
    for (const call of [...this.unaryCalls]) call.cancel();
    this.unaryCalls.clear();
    this.queue.clear();
    this.client.close();
    if (snapshotCall !== null && reportSnapshotFailure) {
      const { peerId, onSnapshotStatus } = this.options;
      queueMicrotask(() => onSnapshotStatus(peerId, false));
    }
  }

  private openStream(): void {
    this.reconnectTimer = null;
    this.state = 'connecting';
    const method = this.definition.send;
    const stream = this.client.makeClientStreamRequest<WireEnvelope, WireAck>(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      new Metadata(),
      {},
      (error) => this.onStreamEnded(stream, error),
    );
    // The server answers with its headers as soon as it accepted the stream.
    stream.on('metadata', () => this.onStreamAccepted(stream));
    // Failures arrive through the callback above; this only keeps a stray 'error' from crashing the process.
    stream.on('error', (error: Error) => this.log.debug({ error: error.message }, 'transport.streamError'));
    this.stream = stream;
  }

  private onStreamAccepted(stream: ClientWritableStream<WireEnvelope>): void {
    if (stream !== this.stream) return;
    this.state = 'connected';
    this.backoffMs = this.options.limits.reconnectBackoffInitialMs;
    if (this.loggedState !== 'connected') {
      this.loggedState = 'connected';
      this.log.info({}, 'transport.peerConnected');
    }
    this.flush();
  }

  private flush(): void {
    const stream = this.stream;
    if (this.state !== 'connected' || stream === null || this.awaitingDrain) return;
    for (let envelope = this.queue.shift(); envelope !== undefined; envelope = this.queue.shift()) {
      this.sentMessagesTotal += 1;
      if (!stream.write(envelope)) {
        this.awaitingDrain = true;
        stream.once('drain', () => this.onDrain(stream));
        return;
      }
    }
  }

  private onDrain(stream: ClientWritableStream<WireEnvelope>): void {
    if (stream !== this.stream) return;
    this.awaitingDrain = false;
    this.flush();
  }

  private onStreamEnded(stream: ClientWritableStream<WireEnvelope>, error: ServiceError | null): void {
    if (stream !== this.stream) return;
    this.stream = null;
    this.awaitingDrain = false;
    const reason = describeEnd(error);
    if (this.loggedState !== 'disconnected') {
      this.loggedState = 'disconnected';
      this.log.info({ reason }, 'transport.peerDisconnected');
    } else {
      this.log.debug({ reason, backoffMs: this.backoffMs }, 'transport.peerStillUnreachable');
    }
    this.reportUnreachable();
    this.state = 'backoff';
    this.reconnectTimer = setTimeout(() => this.openStream(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.limits.reconnectBackoffMaxMs);
  }

  private reportUnreachable(): void {
    const nowMs = performance.now();
    if (nowMs - this.lastUnreachableReportMs < this.options.limits.unreachableReportIntervalMs) return;
    this.lastUnreachableReportMs = nowMs;
    const { peerId, onUnreachable } = this.options;
    queueMicrotask(() => {
      if (this.state !== 'closed') onUnreachable(peerId);
    });
  }

  /** Write chunks until the stream pushes back, resume on 'drain', end after the last. */
  private pumpSnapshot(call: ClientWritableStream<WireSnapshotChunk>, chunks: Iterator<WireSnapshotChunk, void>): void {
    while (this.snapshotCall === call) {
      const next = chunks.next();
      if (next.done === true) {
        call.end();
        return;
      }
      if (!call.write(next.value)) {
        call.once('drain', () => this.pumpSnapshot(call, chunks));
        return;
      }
    }
  }

  private onSnapshotEnded(call: ClientWritableStream<WireSnapshotChunk>, error: ServiceError | null, dataBytes: number, startedMs: number): void {
    if (call !== this.snapshotCall) return;
    this.snapshotCall = null;
    const durationMs = Math.round(performance.now() - startedMs);
    if (error === null) {
      this.snapshotsSentTotal += 1;
      this.log.info({ dataBytes, durationMs }, 'transport.snapshotSent');
    } else {
      this.snapshotsFailedTotal += 1;
      this.log.warn({ dataBytes, durationMs, reason: describeEnd(error) }, 'transport.snapshotFailed');
    }
    this.options.onSnapshotStatus(this.options.peerId, error === null);
  }
}

function describeEnd(error: ServiceError | null): string {
  if (error === null) return 'stream ended by the peer';
  return `${Status[error.code] ?? error.code}: ${error.details}`;
}
