import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import {
  NotLeaderError,
  PgherdError,
  ProposalDroppedError,
  ProposalRefusedError,
  RaftStoppedError,
  RaftTimeoutError,
} from '../../lib/errors.js';
import type { NodeId } from '../core/types.js';

/** Trailing metadata of a FAILED_PRECONDITION answer to Propose: the leader the receiver knows ('' = none). */
export const LEADER_ID_METADATA_KEY = 'pgherd-leader-id';
/** Trailing metadata of a failed Propose: the receiver's error code (a stopped receiver and a dropped proposal share UNAVAILABLE). */
export const ERROR_CODE_METADATA_KEY = 'pgherd-error-code';

/** The status answering each error a ProposeHandler may reject with, by its stable code (TransportOptions.onProposeRequest). */
const STATUS_BY_ERROR_CODE: Readonly<Record<string, Status>> = Object.freeze({
  PGHERD_RAFT_NOT_LEADER: Status.FAILED_PRECONDITION,
  PGHERD_RAFT_TIMEOUT: Status.DEADLINE_EXCEEDED,
  PGHERD_RAFT_PROPOSAL_DROPPED: Status.UNAVAILABLE,
  PGHERD_RAFT_STOPPED: Status.UNAVAILABLE,
  PGHERD_RAFT_PROPOSAL_REFUSED: Status.INVALID_ARGUMENT,
});

/** The status a Propose call ends with when the handler rejected with `error`; undefined for an error no handler should throw (a bug). */
export function proposeFailureStatus(error: unknown): Partial<StatusObject> | undefined {
  if (!(error instanceof PgherdError)) return undefined;
  const code = STATUS_BY_ERROR_CODE[error.code];
  if (code === undefined) return undefined;
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, error.code);
  if (error instanceof NotLeaderError) metadata.set(LEADER_ID_METADATA_KEY, error.leaderId);
  return { code, details: error.message, metadata };
}

/** How a forwarded proposal failed on the wire (PeerLink's unary outcome). */
export interface ForwardFailure {
  /** 'closed': the link's channel was closed before the call started. */
  readonly code: Status | 'closed';
  /** STATUS: details, for messages and logs. */
  readonly failure: string;
  readonly metadata?: Metadata | undefined;
}

/**
 * The typed error for a proposal forwarded to `peerId` that failed. `stopped`:
 * this transport stopped meanwhile. Outcomes that may leave the proposal
 * committed anyway (deadline, broken connection) are, as for a local
 * proposal, RaftTimeoutError and ProposalDroppedError: the caller retries
 * idempotent commands or reads the state.
 */
export function forwardError(peerId: NodeId, timeoutMs: number, outcome: ForwardFailure, stopped: boolean): PgherdError {
  if (stopped) return new RaftStoppedError();
  const reason = `${peerId} answered ${outcome.failure}`;
  switch (outcome.code) {
    case Status.FAILED_PRECONDITION:
      return new NotLeaderError(metadataText(outcome.metadata, LEADER_ID_METADATA_KEY) ?? '');
    case Status.DEADLINE_EXCEEDED:
      return new RaftTimeoutError(`proposal forwarded to ${peerId}`, timeoutMs);
    case Status.UNAVAILABLE:
      return metadataText(outcome.metadata, ERROR_CODE_METADATA_KEY) === 'PGHERD_RAFT_STOPPED' ? new RaftStoppedError() : new ProposalDroppedError(reason);
    case Status.INVALID_ARGUMENT:
    case Status.PERMISSION_DENIED:
    case Status.UNIMPLEMENTED:
      return new ProposalRefusedError(reason);
    default:
      // CANCELLED (the link was re-addressed), INTERNAL (a bug there), RESOURCE_EXHAUSTED (too large), 'closed', ...
      return new ProposalDroppedError(reason);
  }
}

/** Is a failure the receiver's configuration or version talking (refusals), rather than the cluster being busy electing? */
export function isRefusal(code: Status | 'closed'): boolean {
  return code === Status.INVALID_ARGUMENT || code === Status.PERMISSION_DENIED || code === Status.UNIMPLEMENTED;
}

function metadataText(metadata: Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}
