import { status as Status } from '@grpc/grpc-js';
import type { ClusterCommandInput } from '../cluster/commands.js';
import type { ApplyRejection, ApplyResult } from '../cluster/results.js';
import type { ClusterState } from '../cluster/state.js';
import { NotLeaderError, PgherdError } from '../lib/errors.js';
import type { AdminBackend } from './backend.js';
import { AdminRefusal } from './errors.js';

/**
 * How the admin actions read and commit through Raft: errors of Raft
 * become UNAVAILABLE here, with a message that says whether the change may
 * have happened anyway; refusals by the cluster state become their status.
 */

/** The read an action's checks run on. */
export const ACTION_READ_TIMEOUT_MS = 3_000;
/** One proposal (the driver's default propose timeout). */
export const PROPOSE_TIMEOUT_MS = 5_000;

/** Errors of the store that mean "Raft cannot read or commit now" (src/lib/errors.ts): UNAVAILABLE. */
const RAFT_UNAVAILABLE_CODES: ReadonlySet<string> = new Set(['PGHERD_RAFT_NOT_LEADER', 'PGHERD_RAFT_TIMEOUT', 'PGHERD_RAFT_PROPOSAL_DROPPED', 'PGHERD_RAFT_STOPPED']);

export function isRaftUnavailable(error: unknown): boolean {
  return error instanceof PgherdError && RAFT_UNAVAILABLE_CODES.has(error.code);
}

/** The state after a linearizable read; UNAVAILABLE (RAFT_UNAVAILABLE) when Raft cannot answer. */
export async function readForAction(backend: AdminBackend): Promise<ClusterState> {
  try {
    return await backend.read(ACTION_READ_TIMEOUT_MS);
  } catch (error) {
    if (!isRaftUnavailable(error)) throw error;
    throw new AdminRefusal(Status.UNAVAILABLE, 'RAFT_UNAVAILABLE', `cannot read the cluster state through Raft: ${(error as Error).message}; nothing changed, retry once the cluster has a Raft leader`);
  }
}

/**
 * Commit `command` and return what apply answered (a refusal included):
 * Raft errors are UNAVAILABLE (RAFT_UNAVAILABLE), a leader's refusal for
 * good FAILED_PRECONDITION (PROPOSAL_REFUSED). `what` names the change in messages.
 */
export async function proposeCommand(backend: AdminBackend, command: ClusterCommandInput, what: string): Promise<ApplyResult> {
  try {
    return await proposeThroughElection(backend, command);
  } catch (error) {
    if (error instanceof PgherdError && error.code === 'PGHERD_RAFT_PROPOSAL_REFUSED') {
      throw new AdminRefusal(Status.FAILED_PRECONDITION, 'PROPOSAL_REFUSED', `the Raft leader refused ${what}: ${error.message}`);
    }
    if (!isRaftUnavailable(error)) throw error;
    const maybe = error instanceof PgherdError && error.code !== 'PGHERD_RAFT_NOT_LEADER' ? ' It may have been committed anyway: check pgherdctl list before retrying.' : ' Nothing changed.';
    throw new AdminRefusal(Status.UNAVAILABLE, 'RAFT_UNAVAILABLE', `${what} was not committed: ${(error as Error).message}.${maybe}`);
  }
}

/** Pause between attempts while the cluster has no Raft leader. */
const NO_LEADER_RETRY_MS = 200;

/**
 * backend.propose, tried again while no node leads (NotLeaderError: nothing
 * was appended, so a retry cannot commit twice) until PROPOSE_TIMEOUT_MS
 * has passed: an operator's request that arrives during an election waits
 * for its outcome instead of failing at once.
 */
async function proposeThroughElection(backend: AdminBackend, command: ClusterCommandInput): Promise<ApplyResult> {
  const deadlineMs = performance.now() + PROPOSE_TIMEOUT_MS;
  for (;;) {
    const remainingMs = Math.floor(deadlineMs - performance.now());
    try {
      return await backend.propose(command, Math.max(1, remainingMs));
    } catch (error) {
      if (!(error instanceof NotLeaderError) || deadlineMs - performance.now() <= NO_LEADER_RETRY_MS) throw error;
      await new Promise((resolve) => setTimeout(resolve, NO_LEADER_RETRY_MS));
    }
  }
}

/** The status of a refusal by the cluster state: FAILED_PRECONDITION with its code (a switchover recorded meanwhile: ALREADY_EXISTS). */
export function refusalOf(result: ApplyRejection, what: string): AdminRefusal {
  if (result.code === 'SWITCHOVER_PENDING') return new AdminRefusal(Status.ALREADY_EXISTS, 'SWITCHOVER_PENDING', `the cluster state refused ${what}: ${result.reason}`);
  if (result.code === 'NO_SWITCHOVER') return new AdminRefusal(Status.NOT_FOUND, 'NO_SWITCHOVER', `the cluster state refused ${what}: ${result.reason}`);
  return new AdminRefusal(Status.FAILED_PRECONDITION, result.code, `the cluster state refused ${what}: ${result.code}: ${result.reason}`);
}
