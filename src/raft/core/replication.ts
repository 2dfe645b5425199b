import { assert } from '../../lib/assert.js';
import type { Progress } from './progress.js';
import type { Raft } from './raft.js';
import type { NodeId } from './types.js';

/**
 * Leader-side sending: AppendEntries (pipelined in replicate state, one at a
 * time in probe state), snapshots, heartbeats and TimeoutNow.
 */

export function sendAppend(r: Raft, to: NodeId): void {
  maybeSendAppend(r, to, true);
}

/**
 * Send `to` the entries it is missing, if its progress is not paused.
 * With sendIfEmpty false, nothing is sent when there are no new entries.
 * Falls back to a snapshot when the entries are compacted. Returns whether
 * something was sent.
 */
export function maybeSendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = progressOf(r, to);
  if (pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  assert(prevIndex <= r.log.lastIndex(), () => `progress of ${to} is past our log: next ${pr.next}, last ${r.log.lastIndex()}`);
  const prevTerm = r.log.maybeTerm(prevIndex);
  if (prevTerm === undefined) return maybeSendSnapshot(r, to, pr);
  // A full window sends only empty appends: they probe without adding to the window.
  const windowOpen = pr.state !== 'replicate' || !pr.inflights.full();
  const entries = windowOpen ? r.log.entriesFrom(pr.next, r.options.maxSizePerMsgBytes) : [];
  if (entries === undefined) return maybeSendSnapshot(r, to, pr);
  if (entries.length === 0 && !sendIfEmpty) return false;
  r.send({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries, commit: r.log.committed });
  pr.sentEntries(entries.length);
  return true;
}

/** Keep sending to `to` while its window allows and entries remain (bounded by the window). */
export function sendAllAppends(r: Raft, to: NodeId): void {
  for (let sent = 0; sent <= r.options.maxInflightMsgs; sent++) {
    if (!maybeSendAppend(r, to, false)) return;
  }
}

/** The entries `to` needs are compacted: send the latest snapshot instead. */
export function maybeSendSnapshot(r: Raft, to: NodeId, pr: Progress): boolean {
  if (!pr.recentActive) {
    r.logger.debug({ to }, 'raft.snapshotDeferredPeerInactive');
    return false;
  }
  const snapshot = r.log.snapshot();
  assert(snapshot.metadata.confState.voters.length > 0, 'a snapshot sent to a peer must carry a configuration');
  r.logger.info(
    { to, index: snapshot.metadata.index, term: snapshot.metadata.term, peerMatch: pr.match },
    'raft.sendSnapshot',
  );
  pr.becomeSnapshot(snapshot.metadata.index);
  r.send({ type: 'snap', to, snapshot });
  return true;
}

/** Leader: owe every follower an append (new entries; with `commit`, also a new commit index). */
export function oweBroadcast(r: Raft, reason: 'entries' | 'commit'): void {
  r.broadcastOwed[reason] = true;
}

/** Send what oweBroadcast promised: one append per follower for everything since the last Ready. */
export function flushBroadcast(r: Raft): void {
  const owed = r.broadcastOwed;
  if (!owed.entries && !owed.commit) return;
  r.broadcastOwed = { entries: false, commit: false };
  if (r.role !== 'leader') return;
  for (const id of r.tracker.memberIds()) {
    if (id !== r.id) maybeSendAppend(r, id, owed.commit);
  }
}

export function bcastAppend(r: Raft): void {
  for (const id of r.tracker.memberIds()) {
    if (id !== r.id) sendAppend(r, id);
  }
}

/** A heartbeat carries at most the peer's match as commit: never commit past what the peer has. */
export function sendHeartbeat(r: Raft, to: NodeId, context: Uint8Array | undefined): void {
  const pr = progressOf(r, to);
  r.send({ type: 'heartbeat', to, commit: Math.min(pr.match, r.log.committed), context });
}

/** Heartbeat everyone, carrying the newest pending read request's context (it confirms all older ones). */
export function bcastHeartbeat(r: Raft): void {
  bcastHeartbeatWithContext(r, r.readOnly.lastPendingContext());
}

export function bcastHeartbeatWithContext(r: Raft, context: Uint8Array | undefined): void {
  for (const id of r.tracker.memberIds()) {
    if (id !== r.id) sendHeartbeat(r, id, context);
  }
}

export function sendTimeoutNow(r: Raft, to: NodeId): void {
  r.send({ type: 'timeoutNow', to });
}

function progressOf(r: Raft, id: NodeId): Progress {
  const pr = r.tracker.progress.get(id);
  assert(pr !== undefined, () => `no progress for ${id}`);
  return pr;
}
