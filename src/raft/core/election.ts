import type { VoteResult } from './quorum.js';
import type { CampaignReason, Raft } from './raft.js';
import { bcastAppend } from './replication.js';
import { NONE, type Message, type MessageType, type NodeId } from './types.js';

/**
 * Elections: starting one (with or without the pre-vote phase), counting
 * answers, and answering other candidates.
 */

/** preElection: the pre-vote phase; transfer: a TimeoutNow-forced election that bypasses leases. */
export type CampaignKind = 'preElection' | 'election' | 'transfer';

/** Start an election if this node may: a voter, not already leader, no unapplied conf change. */
export function hup(r: Raft, kind: CampaignKind, reason: CampaignReason): void {
  if (r.role === 'leader') {
    r.logger.debug({ term: r.term, reason }, 'raft.campaignIgnoredAlreadyLeader');
    return;
  }
  if (!r.promotable()) {
    r.logger.debug({ term: r.term, reason }, 'raft.campaignIgnoredNotPromotable');
    return;
  }
  if (hasUnappliedConfChange(r)) {
    r.logger.warn({ term: r.term, reason, applied: r.log.applied, commit: r.log.committed }, 'raft.campaignDeferredConfChangeUnapplied');
    return;
  }
  campaign(r, kind, reason);
}

export function campaign(r: Raft, kind: CampaignKind, reason: CampaignReason): void {
  let term: number;
  let requestType: 'vote' | 'preVote';
  if (kind === 'preElection') {
    r.becomePreCandidate(reason);
    requestType = 'preVote';
    // A pre-vote asks for the term we would campaign in, without moving to it.
    term = r.term + 1;
  } else {
    r.becomeCandidate(kind === 'transfer' ? 'leadershipTransfer' : reason);
    requestType = 'vote';
    term = r.term;
  }
  if (poll(r, r.id, requestType === 'vote' ? 'voteResp' : 'preVoteResp', true) === 'won') {
    // Only possible when we are the only voter.
    wonElection(r);
    return;
  }
  const last = r.log.lastEntryId();
  const force = kind === 'transfer' ? true : undefined;
  for (const id of r.tracker.voters) {
    if (id === r.id) continue;
    r.send({ type: requestType, to: id, term, index: last.index, logTerm: last.term, force });
  }
}

/** Count `from`'s answer; returns the election's state. */
export function poll(r: Raft, from: NodeId, type: MessageType, granted: boolean): VoteResult {
  r.tracker.recordVote(from, granted);
  const tally = r.tracker.tallyVotes();
  r.logger.debug({ term: r.term, from, type, voteGranted: granted, votesGranted: tally.granted, votesRejected: tally.rejected, result: tally.result }, 'raft.voteReceived');
  return tally.result;
}

/** A (pre-)election was won: the real election follows a pre-vote; leadership follows a vote. */
export function wonElection(r: Raft): void {
  if (r.role === 'preCandidate') {
    campaign(r, 'election', 'preVoteWon');
    return;
  }
  r.becomeLeader();
  bcastAppend(r);
}

/**
 * Answer a vote or pre-vote request (its term is already reconciled with
 * ours). Grant when we have not voted for someone else this term and know
 * no leader (or it is a pre-vote for a later term), and the candidate's log
 * is at least as up to date as ours.
 */
export function handleVoteRequest(r: Raft, m: Message): void {
  const canVote =
    r.vote === m.from || (r.vote === NONE && r.lead === NONE) || (m.type === 'preVote' && m.term > r.term);
  const responseType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
  const last = r.log.lastEntryId();
  const fields = { candidate: m.from, type: m.type, candidateLastIndex: m.index, candidateLastTerm: m.logTerm };
  if (canVote && r.log.isUpToDate(m.index, m.logTerm)) {
    // Answer with the request's term: a pre-vote's term is ahead of ours and the candidate ignores older answers.
    r.send({ type: responseType, to: m.from, term: m.term });
    if (m.type === 'vote') {
      r.electionElapsedTicks = 0;
      r.vote = m.from;
      r.logger.info({ term: r.term, ...fields, lastIndex: last.index, lastTerm: last.term }, 'raft.voteGranted');
    } else {
      r.logger.debug({ term: r.term, ...fields }, 'raft.preVoteGranted');
    }
    return;
  }
  r.logger.debug({ term: r.term, vote: r.vote, leader: r.lead, ...fields, lastIndex: last.index, lastTerm: last.term }, 'raft.voteRejected');
  // A node that never saw a term has nothing to reject with (and an empty log never outranks a candidate).
  if (r.term === 0) return;
  r.send({ type: responseType, to: m.from, term: r.term, reject: true });
}

/** Is there a committed but unapplied conf change? Campaigning then could use a stale configuration. */
function hasUnappliedConfChange(r: Raft): boolean {
  let lo = Math.max(r.log.applied + 1, r.log.firstIndex());
  const hi = r.log.committed + 1;
  while (lo < hi) {
    const page = r.log.slice(lo, hi, r.options.maxCommittedSizePerReadyBytes);
    if (page === undefined || page.length === 0) return false;
    if (page.some((entry) => entry.type === 'conf')) return true;
    lo += page.length;
  }
  return false;
}
