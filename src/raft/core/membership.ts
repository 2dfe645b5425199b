import { applyConfChangeToConfState } from './conf-change.js';
import type { Raft } from './raft.js';
import { bcastAppend, maybeSendAppend, sendTimeoutNow } from './replication.js';
import { NONE, type ConfChange, type ConfState } from './types.js';

/**
 * Apply a committed membership change (the driver calls this while applying
 * the entry). Takes effect now: quorums, replication targets, promotability.
 */
export function applyConfChange(r: Raft, change: ConfChange): ConfState {
  const next = applyConfChangeToConfState(r.tracker.confState(), change);
  r.tracker.setConfiguration(next, r.log.lastIndex() + 1);
  r.logger.info(
    { term: r.term, change: change.type, nodeId: change.nodeId, voters: next.voters, learners: next.learners },
    'raft.confChangeApplied',
  );
  if (r.role === 'leader') leaderSwitchedConfig(r);
  return next;
}

function leaderSwitchedConfig(r: Raft): void {
  const self = r.tracker.progress.get(r.id);
  if (self === undefined || self.isLearner) {
    stepDownAfterRemoval(r);
    return;
  }
  // A smaller quorum may commit more; a new member should not wait for the next heartbeat.
  if (r.maybeCommit()) bcastAppend(r);
  else {
    for (const id of r.tracker.memberIds()) {
      if (id !== r.id) maybeSendAppend(r, id, false);
    }
  }
  if (r.leadTransferee !== NONE && !r.tracker.isVoter(r.leadTransferee)) {
    r.abortLeaderTransfer('transferee is no longer a voter');
  }
}

/**
 * This leader was removed (or demoted to learner). Hand over to a voter that
 * already has our whole log, if any, so the cluster need not wait out an
 * election timeout; then step down.
 */
function stepDownAfterRemoval(r: Raft): void {
  const lastIndex = r.log.lastIndex();
  const successor = r.tracker.voters.find((id) => id !== r.id && r.tracker.progress.get(id)?.match === lastIndex);
  if (successor !== undefined) sendTimeoutNow(r, successor);
  r.becomeFollower(r.term, NONE, 'removedFromConfig', { successor: successor ?? NONE });
}
