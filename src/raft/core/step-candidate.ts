import { poll, wonElection } from './election.js';
import type { Raft } from './raft.js';
import { handleAppendEntries, handleHeartbeat, handleSnapshot } from './step-follower.js';
import { NONE, type Message } from './types.js';

/**
 * The candidate and pre-candidate roles: count answers to our own
 * campaign, and give way to a leader of our term (§5.2).
 */
export function stepCandidate(r: Raft, m: Message): void {
  // Only answers to the current phase count: stale pre-vote answers may arrive while a candidate.
  const ownResponseType = r.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
  switch (m.type) {
    case 'app':
      r.becomeFollower(m.term, m.from, 'leaderAtSameTerm', { type: m.type });
      handleAppendEntries(r, m);
      return;
    case 'heartbeat':
      r.becomeFollower(m.term, m.from, 'leaderAtSameTerm', { type: m.type });
      handleHeartbeat(r, m);
      return;
    case 'snap':
      r.becomeFollower(m.term, m.from, 'leaderAtSameTerm', { type: m.type });
      handleSnapshot(r, m);
      return;
    case ownResponseType:
      handleVoteResponse(r, m);
      return;
    default:
      r.logger.debug({ term: r.term, role: r.role, from: m.from, type: m.type }, 'raft.ignoredMessageAsCandidate');
  }
}

function handleVoteResponse(r: Raft, m: Message): void {
  const result = poll(r, m.from, m.type, !m.reject);
  if (result === 'won') {
    wonElection(r);
  } else if (result === 'lost') {
    // A pre-vote answer carries a future term: stay in ours.
    r.becomeFollower(r.term, NONE, 'electionLost', { phase: r.role });
  }
}
