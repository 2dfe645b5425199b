import { EMPTY_HARD_STATE, type HardState, type NodeId } from '../raft/core/types.js';
import {
  checkApply,
  checkCommit,
  checkDurableHardState,
  checkElectionSafety,
  checkLeaderCompleteness,
  checkLogMatching,
  checkRestart,
  checkRestore,
  fingerprintKey,
  type CommittedEntry,
  type EntryFingerprint,
  type LogView,
  type NodeRecord,
  type SafetyHistory,
  type Violation,
} from './checkers.js';
import { HASH_SEED, mix } from './hash.js';

/** Everything the world reports to the checkers, one step at a time. */
export type Observation =
  /** `node` is leader of `term` (seen from its Ready or status). */
  | { readonly kind: 'leader'; readonly node: NodeId; readonly term: number }
  /** The log of the leader of `term`, checked against what was committed in earlier terms when it won (committedBefore). */
  | { readonly kind: 'leaderLog'; readonly node: NodeId; readonly term: number; readonly committedIndex: number; readonly log: LogView }
  /** Entries a node is about to persist (its durable + unstable log). */
  | { readonly kind: 'entries'; readonly node: NodeId; readonly entries: readonly EntryFingerprint[] }
  /** `payloadHash` is null for entries that do not change the state machine (no-op, conf). */
  | { readonly kind: 'apply'; readonly node: NodeId; readonly index: number; readonly term: number; readonly hash: number; readonly payloadHash: number | null }
  | { readonly kind: 'restore'; readonly node: NodeId; readonly index: number; readonly term: number; readonly digest: number }
  /** A node at `term` knows `commit` is committed (so it was committed in a term <= `term`). */
  | { readonly kind: 'commit'; readonly node: NodeId; readonly commit: number; readonly term: number }
  | { readonly kind: 'durable'; readonly node: NodeId; readonly hardState: HardState }
  | { readonly kind: 'acknowledged'; readonly node: NodeId; readonly hardState: HardState }
  /** A process (re)starts from its disk: the hard state and snapshot it read back. */
  | {
      readonly kind: 'boot';
      readonly node: NodeId;
      readonly hardState: HardState;
      readonly snapshot: { readonly index: number; readonly term: number; readonly digest: number };
    };

/**
 * The mutable side of the checkers: records observations into a
 * SafetyHistory after asking the pure checkers (checkers.ts) about each.
 * The first violation is returned; recording continues regardless.
 */
export class SafetyRecorder implements SafetyHistory {
  readonly leaders = new Map<number, NodeId>();
  readonly fingerprints = new Map<number, EntryFingerprint>();
  readonly committed: CommittedEntry[] = [{ term: 0, hash: 0, digest: HASH_SEED }];
  readonly nodes = new Map<NodeId, NodeRecord>();
  /**
   * index -> a term in which the entry at index is known to have been
   * committed at the latest (non-decreasing in index). A node at term t
   * whose commit index is >= i learned it from a leader of a term <= t.
   */
  private readonly committedByTerm: number[] = [0];

  /** Highest index applied by anyone. */
  committedIndex(): number {
    return this.committed.length - 1;
  }

  /**
   * The committed prefix the leader of `term` must hold (leader
   * completeness): applied by anyone and committed in a term below `term`.
   * A leader elected late, for an old term, need not hold what newer terms committed.
   */
  committedBefore(term: number): number {
    const bounds = this.committedByTerm;
    let lo = 0;
    let hi = bounds.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (bounds[mid]! < term) lo = mid;
      else hi = mid - 1;
    }
    return Math.min(lo, this.committedIndex());
  }

  observe(observation: Observation): Violation | null {
    switch (observation.kind) {
      case 'leader':
        return this.leader(observation.node, observation.term);
      case 'leaderLog':
        return checkLeaderCompleteness(this, observation.node, observation.term, observation.committedIndex, observation.log);
      case 'entries':
        return this.entries(observation.node, observation.entries);
      case 'apply':
        return this.apply(observation);
      case 'restore':
        return this.restore(observation.node, observation, false);
      case 'commit':
        this.committedIn(observation.commit, observation.term);
        return this.commit(observation.node, observation.commit);
      case 'durable': {
        const found = checkDurableHardState(this, observation.node, observation.hardState);
        this.update(observation.node, { durable: observation.hardState });
        return found;
      }
      case 'acknowledged':
        this.update(observation.node, { acknowledged: observation.hardState });
        return null;
      case 'boot':
        return this.boot(observation.node, observation.hardState, observation.snapshot);
    }
  }

  private record(node: NodeId): NodeRecord {
    return this.nodes.get(node) ?? { applied: 0, commit: 0, durable: EMPTY_HARD_STATE, acknowledged: EMPTY_HARD_STATE };
  }

  private update(node: NodeId, change: Partial<NodeRecord>): void {
    this.nodes.set(node, { ...this.record(node), ...change });
  }

  private leader(node: NodeId, term: number): Violation | null {
    const found = checkElectionSafety(this, node, term);
    if (!this.leaders.has(term)) this.leaders.set(term, node);
    return found;
  }

  private entries(node: NodeId, entries: readonly EntryFingerprint[]): Violation | null {
    let found: Violation | null = null;
    for (const entry of entries) {
      found ??= checkLogMatching(this, node, entry);
      const key = fingerprintKey(entry.index, entry.term);
      const seen = this.fingerprints.get(key);
      if (seen === undefined || (seen.prevTerm < 0 && entry.prevTerm >= 0)) this.fingerprints.set(key, entry);
    }
    return found;
  }

  private apply(o: Extract<Observation, { kind: 'apply' }>): Violation | null {
    const found = checkApply(this, o.node, o.index, o.term, o.hash);
    if (o.index === this.committed.length) {
      const before = this.committed[o.index - 1]!.digest;
      const digest = o.payloadHash === null ? before : mix(before, o.payloadHash);
      this.committed.push({ term: o.term, hash: o.hash, digest });
    }
    this.update(o.node, { applied: o.index });
    return found;
  }

  private restore(node: NodeId, snapshot: { index: number; term: number; digest: number }, newLifetime: boolean): Violation | null {
    const found = checkRestore(this, node, snapshot, newLifetime);
    this.update(node, { applied: snapshot.index });
    return found;
  }

  private committedIn(commit: number, term: number): void {
    const bounds = this.committedByTerm;
    for (let i = Math.min(commit, bounds.length - 1); i > 0 && bounds[i]! > term; i--) bounds[i] = term;
    while (bounds.length <= commit) bounds.push(term);
  }

  private commit(node: NodeId, commit: number): Violation | null {
    const found = checkCommit(this, node, commit);
    if (commit > this.record(node).commit) this.update(node, { commit });
    return found;
  }

  private boot(node: NodeId, hardState: HardState, snapshot: { index: number; term: number; digest: number }): Violation | null {
    const regressed = checkRestart(this, node, hardState);
    const restored = this.restore(node, snapshot, true);
    this.committedIn(hardState.commit, hardState.term);
    this.update(node, { commit: hardState.commit, applied: snapshot.index, acknowledged: hardState });
    return regressed ?? restored;
  }
}
