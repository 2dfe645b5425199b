import type { Message, MessageType, NodeId } from './types.js';

/** The fields a sender sets; everything else takes its zero value. */
export type MessageFields = Pick<Message, 'type' | 'to'> & Partial<Omit<Message, 'type' | 'to'>>;

const EMPTY_ENTRIES: readonly never[] = Object.freeze([]);

/** A complete Message from the fields that matter. */
export function makeMessage(fields: MessageFields & { from: NodeId }): Message {
  return {
    term: 0,
    logTerm: 0,
    index: 0,
    entries: EMPTY_ENTRIES,
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  };
}

/** Inputs that only the node itself produces; never accepted from the network. */
export const LOCAL_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'hup',
  'beat',
  'checkQuorum',
  'unreachable',
  'snapStatus',
]);

/** Answers to something this node sent; only meaningful from a member. */
export const RESPONSE_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'appResp',
  'voteResp',
  'preVoteResp',
  'heartbeatResp',
]);

export function isVoteRequest(type: MessageType): type is 'vote' | 'preVote' {
  return type === 'vote' || type === 'preVote';
}

/** Messages that carry the term the sender campaigns in (set explicitly, never the sender's current term). */
export function isElectionMessage(type: MessageType): boolean {
  return type === 'vote' || type === 'voteResp' || type === 'preVote' || type === 'preVoteResp';
}
