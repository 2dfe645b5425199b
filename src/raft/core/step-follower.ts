import { assert } from '../../lib/assert.js';
import { hup } from './election.js';
import type { Raft } from './raft.js';
import { ProgressTracker } from './tracker.js';
import { NONE, type Message, type Snapshot } from './types.js';

/** The follower role: accept the leader's log, forward read requests to it, start a transfer election on TimeoutNow. */
export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case 'app':
      heardFromLeader(r, m);
      handleAppendEntries(r, m);
      return;
    case 'heartbeat':
      heardFromLeader(r, m);
      handleHeartbeat(r, m);
      return;
    case 'snap':
      heardFromLeader(r, m);
      handleSnapshot(r, m);
      return;
    case 'prop':
    case 'transferLeader':
      // Never forwarded: RawNode refuses these on a non-leader (NotLeaderError names the leader)
      // and the wire protocol does not carry them; pgherd forwards requests at its API layer.
      r.logger.debug({ term: r.term, type: m.type, from: m.from, leader: r.lead }, 'raft.droppedNotLeader');
      return;
    case 'readIndex':
      // Only our own requests are forwarded: a request bouncing between nodes with stale leaders must die here.
      if (m.from === r.id) forwardToLeader(r, m);
      else r.logger.debug({ term: r.term, from: m.from }, 'raft.ignoredForwardedReadIndex');
      return;
    case 'readIndexResp':
      r.readStates.push({ index: m.index, context: m.context ?? new Uint8Array(0) });
      return;
    case 'timeoutNow':
      r.logger.info({ term: r.term, from: m.from }, 'raft.timeoutNowReceived');
      // A transfer skips the pre-vote: the old leader asked for it, so there is no partition to guard against.
      hup(r, 'transfer', 'leadershipTransfer');
      return;
    default:
      r.logger.debug({ term: r.term, from: m.from, type: m.type }, 'raft.ignoredMessageAsFollower');
  }
}

function heardFromLeader(r: Raft, m: Message): void {
  r.electionElapsedTicks = 0;
  if (r.lead !== m.from) {
    r.lead = m.from;
    r.logger.info({ term: r.term, leader: m.from }, 'raft.leaderKnown');
  }
}

function forwardToLeader(r: Raft, m: Message): void {
  if (r.lead === NONE) {
    r.logger.debug({ term: r.term, type: m.type, from: m.from }, 'raft.droppedNoLeader');
    return;
  }
  r.send({ ...m, to: r.lead, term: undefined });
}

/** AppendEntries (§5.3): reject unless we hold the entry before the new ones; truncate conflicts; learn the commit. */
export function handleAppendEntries(r: Raft, m: Message): void {
  if (m.index < r.log.committed) {
    // Everything up to our commit index is already settled: tell the leader where we are.
    r.send({ type: 'appResp', to: m.from, index: r.log.committed });
    return;
  }
  if (m.index === 0 && needsBootstrapSnapshot(r)) {
    // Index 0 matches trivially, but the cluster's initial configuration lives in the
    // leader's index-0 snapshot that we never received: ask for it (see handleAppendRejection).
    r.logger.debug({ term: r.term, from: m.from }, 'raft.bootstrapSnapshotRequested');
    r.send({ type: 'appResp', to: m.from, index: 0, reject: true, rejectHint: 0, rejectHintTerm: 0 });
    return;
  }
  const lastNewIndex = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNewIndex !== undefined) {
    r.send({ type: 'appResp', to: m.from, index: lastNewIndex });
    return;
  }
  // Hint the last position that can still match: the largest index <= m.index whose term <= m.logTerm.
  const hint = r.log.findConflictByTerm(Math.min(m.index, r.log.lastIndex()), m.logTerm);
  r.logger.debug(
    { term: r.term, from: m.from, prevIndex: m.index, prevTerm: m.logTerm, hintIndex: hint.index, hintTerm: hint.term },
    'raft.appendRejected',
  );
  r.send({ type: 'appResp', to: m.from, index: m.index, reject: true, rejectHint: hint.index, rejectHintTerm: hint.term });
}

export function handleHeartbeat(r: Raft, m: Message): void {
  r.log.commitTo(m.commit);
  r.send({ type: 'heartbeatResp', to: m.from, context: m.context });
}

export function handleSnapshot(r: Raft, m: Message): void {
  if (m.snapshot === undefined) {
    r.logger.debug({ term: r.term, from: m.from }, 'raft.ignoredSnapWithoutSnapshot');
    return;
  }
  const { index, term } = m.snapshot.metadata;
  if (restoreSnapshot(r, m.snapshot)) {
    r.logger.info({ term: r.term, from: m.from, index, snapshotTerm: term, confState: m.snapshot.metadata.confState }, 'raft.snapshotRestored');
    r.send({ type: 'appResp', to: m.from, index: r.log.lastIndex() });
  } else {
    r.logger.debug({ term: r.term, from: m.from, index, snapshotTerm: term, commit: r.log.committed }, 'raft.snapshotIgnored');
    r.send({ type: 'appResp', to: m.from, index: r.log.committed });
  }
}

/**
 * Give a never-configured node its initial configuration itself (RawNode.bootstrap), as the
 * index-0 snapshot a leader would send it. False when it is configured already (or busy with a snapshot).
 */
export function bootstrapConfiguration(r: Raft, snapshot: Snapshot): boolean {
  assert(snapshot.metadata.index === 0 && snapshot.metadata.confState.voters.length > 0, 'a bootstrap snapshot is at index 0 and names the voters');
  if (!needsBootstrapSnapshot(r) || r.role !== 'follower') return false;
  return restoreSnapshot(r, snapshot);
}

/** A member that was never configured: no membership, empty log. It joins from the leader's snapshot. */
export function needsBootstrapSnapshot(r: Raft): boolean {
  return r.tracker.memberIds().length === 0 && r.log.lastIndex() === 0 && !r.log.hasPendingSnapshot();
}

/** Replace the log with `snapshot` if it is news to us. Returns whether it was restored. */
function restoreSnapshot(r: Raft, snapshot: Snapshot): boolean {
  const { index, term, confState } = snapshot.metadata;
  const bootstrap = index === 0 && confState.voters.length > 0 && needsBootstrapSnapshot(r);
  if (!bootstrap && index <= r.log.committed) return false;
  if (r.role !== 'follower') {
    // Unreachable (a snap from a leader of our term makes us follower first); refuse rather than corrupt.
    r.logger.warn({ term: r.term, role: r.role }, 'raft.snapshotRefusedNotFollower');
    r.becomeFollower(r.term + 1, NONE, 'snapshotAsLeader');
    return false;
  }
  if (!bootstrap && r.log.matchTerm(index, term)) {
    // We already hold the snapshot's last entry: the log is fine, only the commit index moves.
    r.log.commitTo(index);
    return false;
  }
  r.log.restore(snapshot);
  r.tracker = new ProgressTracker(r.options.maxInflightMsgs);
  r.tracker.setConfiguration(confState, r.log.lastIndex() + 1);
  return true;
}
