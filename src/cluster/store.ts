import { assert } from '../lib/assert.js';
import { NotLeaderError, ProposalRefusedError, RaftTimeoutError } from '../lib/errors.js';
import type { NodeId } from '../raft/core/types.js';
import type { RaftDriver } from '../raft/driver/raft-driver.js';
import { decodeCommand, encodeCommand, type ClusterCommandInput } from './commands.js';
import { ClusterDecodeError } from './errors.js';
import { decodeApplyResult, encodeApplyResult, type ApplyResult } from './results.js';
import type { AppliedEvent, ClusterStateMachine } from './state-machine.js';
import type { ClusterState } from './state.js';

/** Send an encoded command to the Raft leader `leaderId`; resolve with its encoded result (Transport.forwardProposal). */
export type ProposalForwarder = (leaderId: NodeId, data: Uint8Array, timeoutMs: number) => Promise<Uint8Array>;

export interface ClusterStoreOptions {
  /** How a follower reaches the leader. Absent: a follower refuses proposals with NotLeaderError. */
  readonly forward?: ProposalForwarder | undefined;
}

/**
 * Attempts of one propose(): the leader this node knows, then once more if
 * the node asked named another (a leader change in between). Never more:
 * during an election the hints chase each other, and the caller retries.
 */
const PROPOSE_ATTEMPTS_MAX = 2;

/**
 * The cluster state as the rest of the agent sees it: propose a command and
 * await its result, read linearizably, or peek at the local copy. Errors
 * are the driver's (NotLeaderError, RaftTimeoutError, ProposalDroppedError,
 * RaftStoppedError), plus ProposalRefusedError from a leader that will not
 * take the command; a refused command is a result, not an error.
 */
export class ClusterStore {
  constructor(
    private readonly driver: RaftDriver<ApplyResult>,
    private readonly machine: ClusterStateMachine,
    private readonly options: ClusterStoreOptions = {},
  ) {}

  /**
   * Commit `command` through Raft and return what apply answered: here on
   * the leader, or forwarded to the leader from a follower. Throws
   * ClusterDecodeError for a malformed command before proposing, and
   * NotLeaderError when no leader is known. Bounded by timeoutMs in all.
   */
  async propose(command: ClusterCommandInput, timeoutMs = this.driver.proposeTimeoutMs): Promise<ApplyResult> {
    const data = encodeCommand(command);
    const deadlineMs = performance.now() + timeoutMs;
    let leaderId = this.driver.leaderId();
    for (let attempt = 1; ; attempt += 1) {
      const remainingMs = Math.ceil(deadlineMs - performance.now());
      if (remainingMs <= 0) throw new RaftTimeoutError(`proposal of ${command.type}`, timeoutMs);
      try {
        return await this.proposeVia(leaderId, data, remainingMs);
      } catch (error) {
        if (!(error instanceof NotLeaderError) || attempt >= PROPOSE_ATTEMPTS_MAX) throw error;
        const next = error.leaderId === '' ? this.driver.leaderId() : error.leaderId;
        if (next === '' || next === leaderId) throw error;
        leaderId = next;
      }
    }
  }

  /**
   * Serve a proposal a follower forwarded here (TransportOptions.onProposeRequest):
   * check that it decodes (ProposalRefusedError naming the field otherwise),
   * commit it on this node, which must be the leader, and return the encoded
   * result. Never forwards again: a follower answers NotLeaderError with its
   * leader hint, and the sender retries there.
   */
  async proposeEncoded(data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    try {
      decodeCommand(data);
    } catch (error) {
      if (error instanceof ClusterDecodeError) throw new ProposalRefusedError(error.message, { cause: error });
      throw error;
    }
    return encodeApplyResult(await this.proposeHere(data, timeoutMs));
  }

  /** The state as of a linearizable read: includes every command committed before the call. */
  async read(timeoutMs?: number): Promise<ClusterState> {
    await this.driver.read(timeoutMs);
    return this.machine.state;
  }

  /** This node's applied state: possibly stale, never torn. */
  local(): ClusterState {
    return this.machine.state;
  }

  /** Each applied entry, in log order, synchronously as it is applied. Returns an unsubscribe function. */
  on(event: 'applied', listener: (event: AppliedEvent) => void): () => void {
    this.machine.on(event, listener);
    return () => this.machine.off(event, listener);
  }

  /** Here when this node leads (or cannot forward, or is named leader but not yet elected: the driver says so); else on `leaderId`. */
  private async proposeVia(leaderId: NodeId, data: Uint8Array, timeoutMs: number): Promise<ApplyResult> {
    const forward = this.options.forward;
    if (forward === undefined || this.driver.isLeader() || leaderId === this.driver.nodeId) return this.proposeHere(data, timeoutMs);
    if (leaderId === '') throw new NotLeaderError('');
    return decodeApplyResult(await forward(leaderId, data, timeoutMs));
  }

  private async proposeHere(data: Uint8Array, timeoutMs: number): Promise<ApplyResult> {
    const result = await this.driver.propose(data, timeoutMs);
    assert(result !== undefined, () => `the state machine returned no result for entry of ${data.byteLength} bytes`);
    return result;
  }
}
