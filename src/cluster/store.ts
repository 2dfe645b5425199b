import { assert } from '../lib/assert.js';
import type { RaftDriver } from '../raft/driver/raft-driver.js';
import { encodeCommand, type ClusterCommandInput } from './commands.js';
import type { ApplyResult } from './results.js';
import type { AppliedEvent, ClusterStateMachine } from './state-machine.js';
import type { ClusterState } from './state.js';

/**
 * The cluster state as the rest of the agent sees it: propose a command and
 * await its result, read linearizably, or peek at the local copy. Errors
 * are the driver's (NotLeaderError, RaftTimeoutError, ProposalDroppedError,
 * RaftStoppedError); a refused command is a result, not an error.
 */
export class ClusterStore {
  constructor(
    private readonly driver: RaftDriver<ApplyResult>,
    private readonly machine: ClusterStateMachine,
  ) {}

  /** Commit `command` through Raft (on the leader) and return what apply answered. Throws ClusterDecodeError for a malformed command before proposing. */
  async propose(command: ClusterCommandInput, timeoutMs?: number): Promise<ApplyResult> {
    const result = await this.driver.propose(encodeCommand(command), timeoutMs);
    assert(result !== undefined, () => `the state machine returned no result for ${command.type}`);
    return result;
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
}
