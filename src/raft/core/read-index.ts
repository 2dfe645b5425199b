import { voteResult } from './quorum.js';
import type { Raft } from './raft.js';
import { READ_INDEX_PENDING_MAX } from './read-only.js';
import { bcastHeartbeatWithContext } from './replication.js';
import { NONE, type Message } from './types.js';

/**
 * ReadIndex on the leader (read-only safe mode, §6.4 of the thesis): the
 * read point is the commit index when the request arrives, usable once a
 * heartbeat round proves we were still leader at that moment. A new leader
 * first needs an entry of its own term committed (until then its commit
 * index may lag behind its predecessor's).
 */
export function handleReadIndex(r: Raft, m: Message): void {
  if (r.tracker.isSingleton() && r.tracker.isVoter(r.id)) {
    respondToReadIndex(r, m, r.log.committed);
    return;
  }
  if (pendingReadCount(r) >= READ_INDEX_PENDING_MAX) {
    r.logger.debug({ term: r.term, from: m.from, pending: pendingReadCount(r) }, 'raft.droppedReadIndexQueueFull');
    return;
  }
  if (!r.committedEntryInCurrentTerm()) {
    r.pendingReadIndexMessages.push(m);
    return;
  }
  startReadConfirmation(r, m);
}

/** Read requests the leader holds (waiting for its first commit, or for heartbeat acknowledgements). */
export function pendingReadCount(r: Raft): number {
  return r.pendingReadIndexMessages.length + r.readOnly.size;
}

/** The first entry of our term committed: the held read requests can proceed. */
export function releasePendingReadIndexMessages(r: Raft): void {
  if (r.pendingReadIndexMessages.length === 0 || !r.committedEntryInCurrentTerm()) return;
  const held = r.pendingReadIndexMessages;
  r.pendingReadIndexMessages = [];
  for (const m of held) startReadConfirmation(r, m);
}

/** A heartbeat answer carrying a read context: once a majority answered, that read and all before it are confirmed. */
export function acknowledgeReadIndex(r: Raft, m: Message): void {
  const acks = r.readOnly.recvAck(m.from, m.context);
  if (acks === undefined || voteResult(r.tracker.voters, acks) !== 'won') return;
  for (const status of r.readOnly.advance(m.context)) {
    respondToReadIndex(r, status.request, status.index);
  }
}

function startReadConfirmation(r: Raft, m: Message): void {
  r.readOnly.addRequest(r.log.committed, m);
  r.readOnly.recvAck(r.id, m.context);
  bcastHeartbeatWithContext(r, m.context);
}

function respondToReadIndex(r: Raft, request: Message, index: number): void {
  const context = request.context ?? new Uint8Array(0);
  if (request.from === NONE || request.from === r.id) {
    r.readStates.push({ index, context });
    return;
  }
  r.send({ type: 'readIndexResp', to: request.from, index, context });
}
