import type { HardState, NodeId } from '../raft/core/types.js';

/**
 * The safety checkers of the simulator: pure functions from what has been
 * observed so far (a SafetyHistory, maintained by history.ts) and one new
 * observation to a violation or null. They never mutate anything; each is
 * cheap enough to run on every step (a map lookup, or a scan bounded by the
 * number of committed entries for the rare election).
 */

export type ViolationCode =
  | 'ELECTION_SAFETY'
  | 'LOG_MATCHING'
  | 'LEADER_COMPLETENESS'
  | 'STATE_MACHINE_SAFETY'
  | 'COMMIT_REGRESSED'
  | 'HARD_STATE_REGRESSED'
  | 'CLIENT_ACK_MISMATCH'
  | 'STALE_READ'
  | 'CORE_EXCEPTION'
  | 'LIVENESS_NO_LEADER'
  | 'LIVENESS_NOT_APPLIED'
  /** The simulator itself failed (a bug in src/sim, not a finding about the core). */
  | 'SIMULATOR_ERROR';

export interface Violation {
  readonly code: ViolationCode;
  readonly message: string;
}

/** One entry of the single global history: what was applied at an index (by whoever applied it first). */
export interface CommittedEntry {
  readonly term: number;
  /** Fingerprint of the entry (type + data). */
  readonly hash: number;
  /** Rolling digest of the state machine (the applied payloads) after this index. */
  readonly digest: number;
}

/** An entry as it appears in some node's log, with the term of the entry before it (-1 = unknown). */
export interface EntryFingerprint {
  readonly index: number;
  readonly term: number;
  readonly hash: number;
  readonly prevTerm: number;
}

/** What the checkers remember about one node (reset partly on restart). */
export interface NodeRecord {
  /** Last index applied in this process lifetime (the snapshot index right after a restart). */
  readonly applied: number;
  /** Highest commit index seen in this process lifetime. */
  readonly commit: number;
  /** The hard state that is really on the simulated disk. */
  readonly durable: HardState;
  /** The hard state the driver was told is durable (and acted on: sent messages after it). */
  readonly acknowledged: HardState;
}

export interface SafetyHistory {
  /** term -> the node that was leader in it. */
  readonly leaders: ReadonlyMap<number, NodeId>;
  /** fingerprintKey(index, term) -> the first fingerprint seen for it. */
  readonly fingerprints: ReadonlyMap<number, EntryFingerprint>;
  /** index -> committed entry; [0] is the empty prefix (term 0). Contiguous. */
  readonly committed: readonly CommittedEntry[];
  readonly nodes: ReadonlyMap<NodeId, NodeRecord>;
}

/** A node's log as seen at one moment: the snapshot, then entries up to lastIndex. */
export interface LogView {
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  readonly lastIndex: number;
  /** Term at `index`, for snapshotIndex < index <= lastIndex. */
  termAt(index: number): number;
}

const TERM_BITS = 2 ** 21;

/** A numeric map key for (index, term); terms stay far below 2^21 in any simulation. */
export function fingerprintKey(index: number, term: number): number {
  return index * TERM_BITS + term;
}

function violation(code: ViolationCode, message: string): Violation {
  return { code, message };
}

/** Election safety: at most one leader per term, across all nodes and all of history. */
export function checkElectionSafety(history: SafetyHistory, node: NodeId, term: number): Violation | null {
  const other = history.leaders.get(term);
  if (other !== undefined && other !== node) {
    return violation('ELECTION_SAFETY', `term ${term} has two leaders: ${other} and ${node}`);
  }
  return null;
}

/**
 * Log matching: two logs that hold an entry with the same index and term
 * hold the same entry, preceded by the same entry. Checked per entry against
 * every entry ever seen at that (index, term); by induction over the
 * preceding term this covers whole prefixes.
 */
export function checkLogMatching(history: SafetyHistory, node: NodeId, entry: EntryFingerprint): Violation | null {
  const seen = history.fingerprints.get(fingerprintKey(entry.index, entry.term));
  if (seen === undefined) return null;
  if (seen.hash !== entry.hash) {
    return violation('LOG_MATCHING', `${node} holds a different entry at index ${entry.index} term ${entry.term} than another log`);
  }
  if (seen.prevTerm >= 0 && entry.prevTerm >= 0 && seen.prevTerm !== entry.prevTerm) {
    return violation(
      'LOG_MATCHING',
      `${node}: entry ${entry.index}/${entry.term} follows term ${entry.prevTerm} here but term ${seen.prevTerm} in another log`,
    );
  }
  return null;
}

/**
 * Leader completeness: every entry committed (applied by anyone) up to
 * `committedIndex` — the highest committed index when `node` won the
 * election of `term` — is in the new leader's log.
 */
export function checkLeaderCompleteness(
  history: SafetyHistory,
  node: NodeId,
  term: number,
  committedIndex: number,
  log: LogView,
): Violation | null {
  if (committedIndex > log.lastIndex) {
    return violation('LEADER_COMPLETENESS', `leader ${node} of term ${term} has last index ${log.lastIndex} but index ${committedIndex} is committed`);
  }
  for (let index = Math.max(1, log.snapshotIndex); index <= committedIndex; index++) {
    const expected = history.committed[index]!.term;
    const actual = index === log.snapshotIndex ? log.snapshotTerm : log.termAt(index);
    if (actual !== expected) {
      return violation(
        'LEADER_COMPLETENESS',
        `leader ${node} of term ${term} has term ${actual} at committed index ${index}, committed with term ${expected}`,
      );
    }
  }
  return null;
}

/** State-machine safety: a node applies index after index, each equal to the one global history. */
export function checkApply(history: SafetyHistory, node: NodeId, index: number, term: number, hash: number): Violation | null {
  const record = history.nodes.get(node);
  const applied = record?.applied ?? 0;
  if (index !== applied + 1) {
    return violation('STATE_MACHINE_SAFETY', `${node} applied index ${index} right after index ${applied}`);
  }
  const committed = history.committed[index];
  if (committed === undefined) {
    if (index > history.committed.length) {
      return violation('STATE_MACHINE_SAFETY', `${node} applied index ${index} beyond the global history (${history.committed.length - 1})`);
    }
    return null;
  }
  if (committed.term !== term || committed.hash !== hash) {
    return violation(
      'STATE_MACHINE_SAFETY',
      `${node} applied a different entry at index ${index} (term ${term}) than was applied elsewhere (term ${committed.term})`,
    );
  }
  return null;
}

/**
 * State-machine safety for snapshots: a state restored from a snapshot at
 * `index` equals the global history's state at `index`, and within one
 * process lifetime the applied state never moves backwards.
 */
export function checkRestore(
  history: SafetyHistory,
  node: NodeId,
  snapshot: { index: number; term: number; digest: number },
  newLifetime: boolean,
): Violation | null {
  const applied = history.nodes.get(node)?.applied ?? 0;
  if (!newLifetime && snapshot.index < applied) {
    return violation('STATE_MACHINE_SAFETY', `${node} restored a snapshot at ${snapshot.index} after applying up to ${applied}`);
  }
  const committed = history.committed[snapshot.index];
  if (committed === undefined) {
    return violation('STATE_MACHINE_SAFETY', `${node} restored a snapshot at ${snapshot.index}, which nobody applied`);
  }
  if (committed.term !== snapshot.term || committed.digest !== snapshot.digest) {
    return violation(
      'STATE_MACHINE_SAFETY',
      `${node} restored a snapshot at ${snapshot.index} (term ${snapshot.term}) whose state differs from the global history`,
    );
  }
  return null;
}

/** A node's commit index never decreases within one process lifetime (restart: never below the durable commit). */
export function checkCommit(history: SafetyHistory, node: NodeId, commit: number): Violation | null {
  const seen = history.nodes.get(node)?.commit ?? 0;
  if (commit < seen) {
    return violation('COMMIT_REGRESSED', `${node} commit index went from ${seen} back to ${commit}`);
  }
  return null;
}

function hardStateRegression(before: HardState, after: HardState): string | null {
  if (after.term < before.term) return `term went from ${before.term} back to ${after.term}`;
  if (after.term === before.term && before.vote !== '' && after.vote !== before.vote) {
    return `vote in term ${after.term} changed from ${before.vote} to ${after.vote === '' ? '(none)' : after.vote}`;
  }
  return null;
}

/** Persisted term and vote never regress: each durable write is at least the previous one. */
export function checkDurableHardState(history: SafetyHistory, node: NodeId, hardState: HardState): Violation | null {
  const before = history.nodes.get(node)?.durable;
  if (before === undefined) return null;
  const problem = hardStateRegression(before, hardState);
  return problem === null ? null : violation('HARD_STATE_REGRESSED', `${node} durable hard state: ${problem}`);
}

/** After a restart the hard state read back is at least what the node had been told was durable. */
export function checkRestart(history: SafetyHistory, node: NodeId, restored: HardState): Violation | null {
  const before = history.nodes.get(node)?.acknowledged;
  if (before === undefined) return null;
  const problem = hardStateRegression(before, restored);
  return problem === null ? null : violation('HARD_STATE_REGRESSED', `${node} after restart: ${problem}`);
}

/**
 * Linearizable reads (ReadIndex): the read index a node is given covers
 * every write acknowledged before the read was requested.
 */
export function checkReadIndex(node: NodeId, readIndex: number, acknowledgedIndexAtRequest: number): Violation | null {
  if (readIndex >= acknowledgedIndexAtRequest) return null;
  return violation(
    'STALE_READ',
    `${node} got read index ${readIndex}, but a write at index ${acknowledgedIndexAtRequest} was acknowledged before the read was requested`,
  );
}
