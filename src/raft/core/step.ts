import { handleVoteRequest, hup } from './election.js';
import { isVoteRequest } from './message.js';
import type { Raft } from './raft.js';
import { stepCandidate } from './step-candidate.js';
import { stepFollower } from './step-follower.js';
import { stepLeader } from './step-leader.js';
import { NONE, type Message } from './types.js';

/**
 * The entry point for every message: reconcile terms (§5.1, plus the
 * pre-vote and check-quorum rules), answer vote requests, then hand the
 * message to the current role.
 */
export function stepRaft(r: Raft, m: Message): void {
  if (isVoteRequest(m.type) && r.tracker.isMember(r.id) && !r.tracker.isMember(m.from)) {
    // A removed (or never added) node must not disrupt the cluster with elections.
    r.logger.debug({ term: r.term, from: m.from, type: m.type, msgTerm: m.term }, 'raft.ignoredVoteFromNonMember');
    return;
  }
  if (m.term > r.term) {
    if (!stepHigherTerm(r, m)) return;
  } else if (m.term > 0 && m.term < r.term) {
    stepLowerTerm(r, m);
    return;
  }
  switch (m.type) {
    case 'hup':
      hup(r, r.options.preVote ? 'preElection' : 'election', 'campaignRequested');
      return;
    case 'vote':
    case 'preVote':
      handleVoteRequest(r, m);
      return;
    default:
      stepRole(r, m);
  }
}

function stepRole(r: Raft, m: Message): void {
  switch (r.role) {
    case 'leader':
      stepLeader(r, m);
      return;
    case 'candidate':
    case 'preCandidate':
      stepCandidate(r, m);
      return;
    case 'follower':
      stepFollower(r, m);
      return;
  }
}

/** A message from a later term. Returns whether to go on processing it. */
function stepHigherTerm(r: Raft, m: Message): boolean {
  if (isVoteRequest(m.type) && !m.force && inLeaderLease(r)) {
    // We heard from a leader within the minimum election timeout: keep our term and vote (§6 of the thesis).
    r.logger.debug(
      { term: r.term, leader: r.lead, from: m.from, type: m.type, msgTerm: m.term, electionElapsedTicks: r.electionElapsedTicks },
      'raft.ignoredVoteInLease',
    );
    return false;
  }
  if (m.type === 'preVote') return true; // never change term for a pre-vote
  if (m.type === 'preVoteResp' && !m.reject) return true; // our own future term, granted: we move there on winning
  if (m.type === 'vote') {
    adoptCandidateTerm(r, m);
    return true;
  }
  const leader = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap' ? m.from : NONE;
  r.becomeFollower(m.term, leader, 'higherTerm', { from: m.from, type: m.type });
  return true;
}

/**
 * Move to a candidate's term but keep our election timer running (Figure 2:
 * only hearing from the leader or granting a vote resets it; handleVoteRequest
 * does the latter). Otherwise a candidate with a stale log and a fast clock
 * keeps resetting the one node that could win, and no leader is ever elected
 * when pre-vote is off (found by the simulator, seed 554).
 */
function adoptCandidateTerm(r: Raft, m: Message): void {
  const elapsedTicks = r.electionElapsedTicks;
  const timeoutTicks = r.randomizedElectionTicks;
  r.becomeFollower(m.term, NONE, 'higherTerm', { from: m.from, type: m.type });
  r.electionElapsedTicks = elapsedTicks;
  r.randomizedElectionTicks = timeoutTicks;
}

/** A message from an earlier term: ignored, except where an answer helps the sender catch up. */
function stepLowerTerm(r: Raft, m: Message): void {
  const fields = { term: r.term, from: m.from, type: m.type, msgTerm: m.term };
  if ((r.options.checkQuorum || r.options.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
    // A stale leader. With check-quorum or pre-vote our vote requests do not bump its term,
    // so tell it our term: it steps down and a fresh election can include us.
    r.logger.debug(fields, 'raft.staleLeaderNotified');
    r.send({ type: 'appResp', to: m.from });
    return;
  }
  if (m.type === 'preVote') {
    // Answer so that a pre-candidate behind us learns it cannot win, rather than waiting forever.
    r.logger.debug(fields, 'raft.stalePreVoteRejected');
    r.send({ type: 'preVoteResp', to: m.from, term: r.term, reject: true });
    return;
  }
  r.logger.debug(fields, 'raft.ignoredStaleTermMessage');
}

/** Check-quorum leases: a follower that heard from the leader recently (or the leader itself) ignores campaigns. */
function inLeaderLease(r: Raft): boolean {
  return r.options.checkQuorum && r.lead !== NONE && r.electionElapsedTicks < r.options.electionTicks;
}
