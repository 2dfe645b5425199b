import {
  Metadata,
  status as Status,
  type sendUnaryData,
  type ServerReadableStream,
  type ServerUnaryCall,
  type StatusObject,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { assert } from '../../lib/assert.js';
import type { Logger } from '../../lib/logger.js';
import type { Message, NodeId } from '../core/types.js';
import { CodecError, decodeEnvelope } from './codec.js';
import { proposeFailureStatus } from './forward.js';
import type { HelloAnswer, JoinHandler, ProposeHandler, TransportLimits } from './options.js';
import { encodePositionAnswer, InvalidPositionAnswer, type CandidatePositionAnswer } from './position.js';
import { SnapshotAssembler } from './snapshot-codec.js';
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
  WireSnapshotHeader,
} from './wire.js';

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
  /** Answers Propose; absent = UNIMPLEMENTED. */
  readonly onProposeRequest?: ProposeHandler | undefined;
  /** Answers Hello; absent = UNIMPLEMENTED. */
  readonly onHelloRequest?: (() => HelloAnswer) | undefined;
  /** Answers Join; absent = UNIMPLEMENTED. */
  readonly onJoinRequest?: JoinHandler | undefined;
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

/** Ends one unary call (GetPosition, Propose) exactly once: with a response or a status. */
type SettleUnary<Response> = (outcome: { response: Response } | { status: ServerStatusResponse }) => void;

/** What a unary request says about its sender, checked like an envelope. */
interface UnarySender {
  readonly cluster: string;
  readonly from: NodeId;
  readonly to: NodeId;
}

/** How answerWithin ends a call other than with work's response. */
interface UnaryWork<Response> {
  readonly work: () => Promise<Response>;
  /** boundMs passed first. */
  readonly timedOut: () => ServerStatusResponse;
  /** work rejected. */
  readonly failed: (error: unknown) => ServerStatusResponse;
}

/**
 * The server side of RaftPeer. Each incoming Send stream is accepted at once
 * (response headers = the sender's "connected" signal); each envelope is
 * checked (cluster, sender, recipient), decoded and handed to onMessage
 * synchronously, so per-stream arrival order is delivery order.
 */
export class PeerService {
  private readonly openCalls = new Map<ServerReadableStream<unknown, WireAck>, Settle>();
  /** Ends an open unary call with a status (stop()). */
  private readonly openUnaryCalls = new Set<(status: ServerStatusResponse) => void>();
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
      Propose: (call: ServerUnaryCall<WireProposeRequest, WireProposeResponse>, callback: sendUnaryData<WireProposeResponse>) =>
        this.onPropose(call, callback),
      Join: (call: ServerUnaryCall<WireJoinRequest, WireJoinResponse>, callback: sendUnaryData<WireJoinResponse>) => this.onJoin(call, callback),
      Hello: (call: ServerUnaryCall<WireHelloRequest, WireHelloResponse>, callback: sendUnaryData<WireHelloResponse>) => this.onHello(call, callback),
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
    for (const fail of [...this.openUnaryCalls]) fail({ code: Status.UNAVAILABLE, details: 'transport stopping' });
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
    const { nodeId, logger } = this.options;
    if (!this.admitUnary('position request', 'transport.positionRequestRefused', { cluster, from, to }, callback)) return;
    const answer = this.options.onPositionRequest;
    if (answer === undefined) {
      logger.debug({ from }, 'transport.positionRequestUnimplemented');
      callback({ code: Status.UNIMPLEMENTED, details: `node '${nodeId}' does not answer position requests` });
      return;
    }
    const boundMs = Math.max(0, Math.min(remainingMs(call.getDeadline()), this.options.limits.positionAnswerMsMax));
    this.answerWithin(call, callback, boundMs, {
      work: async () => encodePositionAnswer(nodeId, await answer()),
      timedOut: () => {
        logger.warn({ from, boundMs }, 'transport.positionAnswerTimedOut');
        return { code: Status.DEADLINE_EXCEEDED, details: `node '${nodeId}' found no position within ${boundMs} ms` };
      },
      failed: (error) => {
        if (error instanceof InvalidPositionAnswer) {
          logger.error({ from, error: error.message }, 'transport.positionAnswerInvalid');
          return { code: Status.INTERNAL, details: error.message };
        }
        const message = error instanceof Error ? error.message : String(error);
        logger.warn({ from, error: message }, 'transport.positionUnavailable');
        return { code: Status.UNAVAILABLE, details: `node '${nodeId}' has no position: ${message}` };
      },
    });
  }

  /**
   * Propose: a follower forwards a proposal to this node, which it believes
   * is the Raft leader. Checked like GetPosition, then handed to
   * onProposeRequest with the smallest of the sender's timeout, its deadline
   * and proposeAnswerMsMax. The handler's typed rejections become statuses
   * (forward.ts); outcomes a busy cluster produces (not the leader, timed
   * out, dropped) are logged at debug: the primary renews its lease every
   * second and an election makes a burst of them.
   */
  private onPropose(call: ServerUnaryCall<WireProposeRequest, WireProposeResponse>, callback: sendUnaryData<WireProposeResponse>): void {
    const { cluster_name: cluster, from, to, data, timeout_ms: timeoutMs } = call.request;
    const { nodeId, logger } = this.options;
    if (!this.admitUnary('proposal', 'transport.proposeRequestRefused', { cluster, from, to }, callback)) return;
    const handler = this.options.onProposeRequest;
    if (handler === undefined) {
      logger.debug({ from }, 'transport.proposeRequestUnimplemented');
      callback({ code: Status.UNIMPLEMENTED, details: `node '${nodeId}' does not accept forwarded proposals` });
      return;
    }
    const requestedMs = timeoutMs === 0 ? Number.POSITIVE_INFINITY : timeoutMs;
    const boundMs = Math.max(0, Math.min(requestedMs, remainingMs(call.getDeadline()), this.options.limits.proposeAnswerMsMax));
    const startedMs = performance.now();
    this.answerWithin(call, callback, boundMs, {
      work: async () => {
        const result = await handler(data, boundMs);
        assert(result instanceof Uint8Array, () => `onProposeRequest resolved with ${typeof result}, not bytes`);
        logger.debug({ from, dataBytes: data.byteLength, resultBytes: result.byteLength, durationMs: Math.round(performance.now() - startedMs) }, 'transport.proposeAnswered');
        return { result };
      },
      timedOut: () => {
        logger.debug({ from, boundMs }, 'transport.proposeTimedOut');
        return { code: Status.DEADLINE_EXCEEDED, details: `node '${nodeId}' did not apply the proposal within ${boundMs} ms` };
      },
      failed: (error) => {
        const status = proposeFailureStatus(error);
        if (status === undefined) {
          logger.error({ from, err: error }, 'transport.proposeHandlerFailed');
          const message = error instanceof Error ? error.message : String(error);
          return { code: Status.INTERNAL, details: `node '${nodeId}' failed the proposal: ${message}` };
        }
        const fields = { from, status: Status[status.code ?? Status.UNKNOWN], error: status.details, durationMs: Math.round(performance.now() - startedMs) };
        if (status.code === Status.INVALID_ARGUMENT) logger.warn(fields, 'transport.proposeRejected');
        else logger.debug(fields, 'transport.proposeFailed');
        return status;
      },
    });
  }

  /** Hello: answered at once from the node's configuration; the sender may be unknown (a node not yet in any cluster). */
  private onHello(call: ServerUnaryCall<WireHelloRequest, WireHelloResponse>, callback: sendUnaryData<WireHelloResponse>): void {
    const { cluster_name: cluster, from, to } = call.request;
    if (!this.admitUnary('hello', 'transport.helloRefused', { cluster, from, to }, callback, { newSender: true })) return;
    const answer = this.options.onHelloRequest;
    if (answer === undefined) {
      callback({ code: Status.UNIMPLEMENTED, details: `node '${this.options.nodeId}' does not answer hello` });
      return;
    }
    const { configured, voters, learners } = answer();
    callback(null, { configured, voters: [...voters], learners: [...learners] });
  }

  /**
   * Join: a new node asks to be added. Its sender is not a peer yet, so only
   * the cluster and the recipient are checked (the cluster CA's mutual TLS
   * authenticated it); then onJoinRequest records the request, bounded like
   * a forwarded proposal. Logged at info: joins are rare and worth a line.
   */
  private onJoin(call: ServerUnaryCall<WireJoinRequest, WireJoinResponse>, callback: sendUnaryData<WireJoinResponse>): void {
    const { cluster_name: cluster, from, to, address, timeout_ms: timeoutMs } = call.request;
    const { nodeId, logger } = this.options;
    if (!this.admitUnary('join request', 'transport.joinRequestRefused', { cluster, from, to }, callback, { newSender: true })) return;
    const handler = this.options.onJoinRequest;
    if (handler === undefined) {
      callback({ code: Status.UNIMPLEMENTED, details: `node '${nodeId}' does not accept join requests` });
      return;
    }
    const requestedMs = timeoutMs === 0 ? Number.POSITIVE_INFINITY : timeoutMs;
    const boundMs = Math.max(0, Math.min(requestedMs, remainingMs(call.getDeadline()), this.options.limits.proposeAnswerMsMax));
    this.answerWithin(call, callback, boundMs, {
      work: async () => {
        await handler(from, address, boundMs);
        logger.info({ from, address }, 'transport.joinRecorded');
        return {};
      },
      timedOut: () => ({ code: Status.DEADLINE_EXCEEDED, details: `node '${nodeId}' did not record the join request within ${boundMs} ms` }),
      failed: (error) => {
        const status = proposeFailureStatus(error);
        if (status === undefined) {
          logger.error({ from, err: error }, 'transport.joinHandlerFailed');
          return { code: Status.INTERNAL, details: `node '${nodeId}' failed the join request: ${error instanceof Error ? error.message : String(error)}` };
        }
        logger.info({ from, address, status: Status[status.code ?? Status.UNKNOWN], error: status.details }, 'transport.joinRefused');
        return status;
      },
    });
  }

  /**
   * Refuse a unary request while stopping, or when its sender fails the
   * envelope checks (logged at warn as `event`: configuration trouble).
   * False when the call was answered.
   */
  private admitUnary(
    what: string,
    event: string,
    sender: UnarySender,
    callback: (status: ServerStatusResponse) => void,
    { newSender = false }: { newSender?: boolean } = {},
  ): boolean {
    if (this.stopping) {
      callback({ code: Status.UNAVAILABLE, details: 'transport stopping' });
      return false;
    }
    const reason = this.checkSender(sender.cluster, sender.from, sender.to, newSender);
    if (reason === undefined) return true;
    this.options.logger.warn({ reason, ...sender }, event);
    callback(unaryRefusal(what, reason, sender, this.options));
    return false;
  }

  /**
   * End a unary call with work's response, or a status: work rejected, boundMs
   * passed (timedOut) or the transport stops, whichever comes first. A caller
   * that gives up (its deadline passed, or it went away) is simply forgotten.
   */
  private answerWithin<Response>(
    call: ServerUnaryCall<unknown, Response>,
    callback: sendUnaryData<Response>,
    boundMs: number,
    { work, timedOut, failed }: UnaryWork<Response>,
  ): void {
    let settled = false;
    const finish = (): void => {
      settled = true;
      clearTimeout(timer);
      this.openUnaryCalls.delete(fail);
    };
    const settle: SettleUnary<Response> = (outcome) => {
      if (settled) return;
      finish();
      if ('response' in outcome) callback(null, outcome.response);
      else callback(outcome.status);
    };
    const fail = (status: ServerStatusResponse): void => settle({ status });
    const timer = setTimeout(() => {
      if (!settled) fail(timedOut());
    }, boundMs);
    this.openUnaryCalls.add(fail);
    call.on('cancelled', () => {
      if (!settled) finish();
    });
    new Promise<Response>((resolve) => resolve(work())).then(
      (response) => settle({ response }),
      (error: unknown) => {
        if (!settled) fail(failed(error));
      },
    );
  }

  private checkSender(cluster: string, from: NodeId, to: NodeId, newSender = false): DropReason | undefined {
    if (cluster !== this.options.clusterName) return 'wrongCluster';
    if (!newSender && !this.options.isPeer(from)) return 'unknownPeer';
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

function unaryRefusal(
  what: string,
  reason: DropReason,
  { cluster, from, to }: UnarySender,
  { clusterName, nodeId }: { clusterName: string; nodeId: NodeId },
): ServerStatusResponse {
  switch (reason) {
    case 'wrongCluster':
      return { code: Status.PERMISSION_DENIED, details: `${what} from '${from}' of cluster '${cluster}' refused: this node is in cluster '${clusterName}'` };
    case 'unknownPeer':
      return { code: Status.PERMISSION_DENIED, details: `${what} from '${from}' refused: not a peer of '${nodeId}' in cluster '${clusterName}'` };
    case 'wrongRecipient':
      // No leader hint: a forwarded proposal that reached the wrong node reads as "leader unknown" (forward.ts).
      return { code: Status.FAILED_PRECONDITION, details: `${what} addressed to '${to}' reached '${nodeId}'` };
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
