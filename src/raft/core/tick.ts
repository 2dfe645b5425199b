import { hup } from './election.js';
import { makeMessage } from './message.js';
import type { Raft } from './raft.js';
import { bcastHeartbeat } from './replication.js';
import { stepRaft } from './step.js';

/** Advance the logical clock: election timeouts for followers and candidates, heartbeats and check-quorum for leaders. */
export function tickRaft(r: Raft): void {
  if (r.role === 'leader') tickLeader(r);
  else tickElection(r);
}

function tickElection(r: Raft): void {
  r.electionElapsedTicks++;
  if (r.promotable() && r.electionElapsedTicks >= r.randomizedElectionTicks) {
    r.electionElapsedTicks = 0;
    hup(r, r.options.preVote ? 'preElection' : 'election', 'electionTimeout');
  }
}

function tickLeader(r: Raft): void {
  r.heartbeatElapsedTicks++;
  r.electionElapsedTicks++;
  if (r.electionElapsedTicks >= r.options.electionTicks) {
    r.electionElapsedTicks = 0;
    if (r.options.checkQuorum) stepRaft(r, makeMessage({ type: 'checkQuorum', from: r.id, to: r.id }));
    if (r.role !== 'leader') return;
    // A transfer that did not finish within an election timeout is abandoned: we lead on.
    r.abortLeaderTransfer('timeout');
  }
  if (r.heartbeatElapsedTicks >= r.options.heartbeatTicks) {
    r.heartbeatElapsedTicks = 0;
    bcastHeartbeat(r);
  }
}
