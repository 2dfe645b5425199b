/**
 * The data types of the pure Raft core. Everything here is plain data: it is
 * what the driver persists, what the transport encodes and what the
 * simulator inspects. No behaviour, no I/O.
 */

/** A member's identity: its pgherd member name. Never the empty string ('' means "none"). */
export type NodeId = string;

export const NONE: NodeId = '';

export type EntryType = 'normal' | 'conf';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque command bytes; for 'conf' entries an encoded ConfChange (see conf-change.ts). Empty for the leader's no-op. */
  readonly data: Uint8Array;
}

/** What must be on disk before any message that depends on it leaves the node. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });

/** The membership in force at some log position. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The state machine's encoding at metadata.index. */
  readonly data: Uint8Array;
}

/** One-at-a-time membership changes. They take effect when the entry is applied. */
export type ConfChangeType = 'addLearner' | 'addVoter' | 'removeNode';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to Raft: e.g. the new member's address, carried to every node's apply. */
  readonly context?: Uint8Array;
}

export type MessageType =
  // local inputs (never sent over the network)
  | 'hup' // start an election (or pre-election)
  | 'beat' // leader: broadcast heartbeats
  | 'checkQuorum' // leader: step down if the quorum was not active
  | 'prop' // a proposal (may be forwarded follower -> leader)
  | 'unreachable' // the transport could not deliver to `from`
  | 'snapStatus' // the driver reports the outcome of sending a snapshot
  // network messages
  | 'app'
  | 'appResp'
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'snap'
  | 'timeoutNow'
  | 'readIndex'
  | 'readIndexResp'
  | 'transferLeader';

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  /** 0 for local messages. preVote carries the term the sender would campaign in. */
  readonly term: number;
  /** app: term of the entry before `entries`; vote/preVote: candidate's last log term. */
  readonly logTerm: number;
  /** app: index before `entries`; appResp: highest matched index (or rejected index); vote/preVote: candidate's last index; readIndexResp: the read index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** appResp with reject: the follower's hint for the next probe. */
  readonly rejectHint: number;
  /** appResp with reject: the term at rejectHint on the follower (fast back-off). */
  readonly rejectHintTerm?: number;
  readonly snapshot?: Snapshot;
  /** readIndex / heartbeat / heartbeatResp / readIndexResp: the read request context. vote: 'transfer' marker is `force`. */
  readonly context?: Uint8Array;
  /** vote/preVote sent because of a leadership transfer (TimeoutNow): bypasses the leader lease check. */
  readonly force?: boolean;
}

export type RaftRole = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state that is useful to observe but need not be persisted. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: RaftRole;
}

/** The result of a ReadIndex request: reads at `index` are linearizable once applied >= index. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

/**
 * The Ready contract (etcd-io/raft): the driver must, in this order,
 *  1. persist `snapshot` (if any), `entries` and `hardState` (if any) atomically and durably (when `mustSync`);
 *  2. send `messages`;
 *  3. apply `snapshot` (if any) then `committedEntries` to the state machine;
 *  4. call advance().
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  readonly paused: boolean;
  readonly inflight: number;
  readonly learner: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly role: RaftRole;
  readonly leader: NodeId;
  readonly leadTransferee: NodeId;
  readonly confState: ConfState;
  /** Leader only: per-peer replication progress. */
  readonly progress: Readonly<Record<NodeId, ProgressStatus>>;
}

/**
 * Read-only access to the stable (persisted) log, as the core sees it. It is
 * synchronous: the driver keeps an in-memory mirror (MemoryStorage) of what
 * it has durably written, and the core reads that.
 *
 * Contract (as etcd-io/raft's Storage):
 *  - firstIndex() is snapshot.index + 1; entries before it are compacted.
 *  - term(i) is defined for firstIndex()-1 <= i <= lastIndex(); outside that
 *    it throws CompactedError (i < firstIndex()-1) or UnavailableError (i > lastIndex()).
 *  - entries(lo, hi, maxBytes) returns [lo, hi) but at least one entry even if it exceeds maxBytes.
 */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

/** Requested index is before the first available one (compacted into a snapshot). */
export class CompactedError extends Error {
  readonly code = 'PGHERD_RAFT_COMPACTED';
  constructor(index: number, firstIndex: number) {
    super(`log index ${index} is compacted (first available ${firstIndex})`);
  }
}

/** Requested index is after the last available one. */
export class UnavailableError extends Error {
  readonly code = 'PGHERD_RAFT_UNAVAILABLE';
  constructor(index: number, lastIndex: number) {
    super(`log index ${index} is unavailable (last ${lastIndex})`);
  }
}

/** Snapshot is older than what the storage already has. */
export class SnapshotOutOfDateError extends Error {
  readonly code = 'PGHERD_RAFT_SNAPSHOT_OUT_OF_DATE';
  constructor(index: number, current: number) {
    super(`snapshot at ${index} is older than the current snapshot at ${current}`);
  }
}
