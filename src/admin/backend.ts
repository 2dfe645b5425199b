import type { ObjectStore } from '../backup/store.js';
import type { ClusterCommandInput } from '../cluster/commands.js';
import type { ApplyResult } from '../cluster/results.js';
import type { AppliedEvent } from '../cluster/state-machine.js';
import type { ClusterState } from '../cluster/state.js';
import type { CandidatePosition } from '../ha/candidates.js';
import type { HaStatus } from '../ha/loop.js';
import type { ConfState, RaftRole } from '../raft/core/types.js';

/** Raft as this node sees it (from the driver). */
export interface AdminRaftView {
  /** '' when no leader is known. */
  readonly leaderId: string;
  readonly role: RaftRole;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly confState: ConfState;
}

/**
 * What the admin service needs of the node it runs on. The agent builds it
 * from its cluster store, HA loop, Raft driver and transport (agent.ts);
 * tests build it over the real cluster state machine. Errors of read and
 * propose are the store's (NotLeaderError, RaftTimeoutError,
 * ProposalDroppedError, RaftStoppedError, ProposalRefusedError): the service
 * answers them UNAVAILABLE.
 */
export interface AdminBackend {
  /** This member's name. */
  readonly self: string;
  readonly clusterName: string;
  /** This node's applied state: possibly stale, never torn (store.local()). */
  local(): ClusterState;
  /** The state after a linearizable Raft read (store.read()). */
  read(timeoutMs: number): Promise<ClusterState>;
  /** Commit a command through Raft (forwarded to the leader) and return what apply answered (store.propose()). */
  propose(command: ClusterCommandInput, timeoutMs: number): Promise<ApplyResult>;
  /** This node's HA loop status (loop.status). */
  haStatus(): HaStatus;
  raft(): AdminRaftView;
  /**
   * The current WAL position of each member, in the order given, within
   * about timeoutMs; a member that does not answer is unreachable (never
   * rejects): what the HA loop asks during a failover (RaftPeer.GetPosition).
   */
  queryPositions(members: readonly string[], timeoutMs: number): Promise<CandidatePosition[]>;
  /** Wall clock, ms: commands carry the proposer's time and a scheduled switchover names one. */
  wallNow(): number;
  /**
   * Call `listener` after each entry this node applies, synchronously and in
   * log order, with the command (null: it did not decode), its result and
   * the state after it (store.on('applied')). It runs inside the Raft apply
   * loop: it must be quick and must not throw. Returns the unsubscribe
   * function (Watch subscribes while a stream is open).
   */
  onApplied(listener: (event: AppliedEvent, state: ClusterState) => void): () => void;
  /** This node's backup store (ListBackups reads it); absent or null: none is configured. */
  backupStore?(): ObjectStore | null;
}
