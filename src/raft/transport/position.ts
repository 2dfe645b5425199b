import type { CandidatePosition } from '../../ha/candidates.js';
import type { Logger } from '../../lib/logger.js';
import { formatLsn, isLsnText, parseLsn } from '../../lib/lsn.js';
import type { NodeId } from '../core/types.js';
import type { WirePositionResponse } from './wire.js';

export type { CandidatePosition } from '../../ha/candidates.js';

/** What PostgreSQL on the answering node is running as. */
export const POSITION_ROLES = ['primary', 'replica', 'stopped', 'unknown'] as const;
export type PositionRole = (typeof POSITION_ROLES)[number];

/** What this node answers when the Raft leader asks for its WAL position (TransportOptions.onPositionRequest). */
export interface CandidatePositionAnswer {
  /** PostgreSQL is running as a replica and answers queries. */
  readonly healthy: boolean;
  /** A positive uint32, or null when unknown. */
  readonly timeline: number | null;
  /** The newest WAL received (flushed to disk), PostgreSQL's X/Y text, or null when unknown. */
  readonly receiveLsn: string | null;
  readonly role: PositionRole;
}

const UINT32_MAX = 0xffff_ffff;

/** The answer is not one the wire can carry faithfully (a bug in the answering code). */
export class InvalidPositionAnswer extends Error {}

/** Encode the local answer. Throws InvalidPositionAnswer naming the bad field. */
export function encodePositionAnswer(member: NodeId, answer: CandidatePositionAnswer): WirePositionResponse {
  if (typeof answer !== 'object' || answer === null) throw new InvalidPositionAnswer(`position answer must be an object, got ${String(answer)}`);
  const { healthy, timeline, receiveLsn, role } = answer;
  if (typeof healthy !== 'boolean') throw new InvalidPositionAnswer(`position answer: healthy must be a boolean, got ${String(healthy)}`);
  if (timeline !== null && !(Number.isInteger(timeline) && timeline > 0 && timeline <= UINT32_MAX)) {
    throw new InvalidPositionAnswer(`position answer: timeline must be null or an integer in 1..${UINT32_MAX}, got ${String(timeline)}`);
  }
  // The LSN text is checked by the asking node (it must not trust the wire anyway); here only its type.
  if (receiveLsn !== null && (typeof receiveLsn !== 'string' || receiveLsn === '')) {
    throw new InvalidPositionAnswer(`position answer: receiveLsn must be null or a non-empty string, got ${JSON.stringify(receiveLsn)}`);
  }
  if (!(POSITION_ROLES as readonly unknown[]).includes(role)) {
    throw new InvalidPositionAnswer(`position answer: role must be one of ${POSITION_ROLES.join(', ')}, got ${JSON.stringify(role)}`);
  }
  return { member, healthy, timeline: timeline ?? 0, receive_lsn: receiveLsn ?? '', role };
}

/** The position of a member that did not answer (or refused to). */
export function unreachablePosition(member: NodeId): CandidatePosition {
  return { member, reachable: false, healthy: false, timeline: null, receiveLsn: null };
}

/**
 * Map a peer's answer: '' and 0 mean unknown (null). An answer from another
 * member than the one asked counts as no answer. A receive_lsn that is not
 * X/Y text leaves the member reachable but unhealthy without a position
 * (logged at warn); a valid one is returned in canonical form.
 */
export function decodePositionResponse(peerId: NodeId, response: WirePositionResponse, log: Logger): CandidatePosition {
  if (response.member !== peerId) {
    log.warn({ peer: peerId, answeredAs: response.member }, 'transport.positionFromOtherMember');
    return unreachablePosition(peerId);
  }
  const timeline = response.timeline === 0 ? null : response.timeline;
  const role = (POSITION_ROLES as readonly string[]).includes(response.role) ? response.role : 'unknown';
  if (response.receive_lsn === '') {
    return { member: peerId, reachable: true, healthy: response.healthy, timeline, receiveLsn: null };
  }
  if (!isLsnText(response.receive_lsn)) {
    log.warn({ peer: peerId, receiveLsn: response.receive_lsn, role }, 'transport.positionInvalidLsn');
    return { member: peerId, reachable: true, healthy: false, timeline, receiveLsn: null };
  }
  return { member: peerId, reachable: true, healthy: response.healthy, timeline, receiveLsn: formatLsn(parseLsn(response.receive_lsn)) };
}
