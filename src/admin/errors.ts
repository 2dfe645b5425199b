import { status as Status } from '@grpc/grpc-js';
import type { RejectionCode } from '../cluster/results.js';
import { PgherdError } from '../lib/errors.js';

/** Trailing metadata of every admin refusal: the stable reason code (AdminReason or the cluster state's RejectionCode). */
export const REASON_METADATA_KEY = 'pgherd-reason';

/**
 * Why the admin service refused a request, beside the gRPC status. Stable:
 * pgherdctl --json prints them and scripts may branch on them
 * (test/unit/admin/errors.test.ts freezes the list). A refusal by the
 * cluster state itself carries its RejectionCode instead (src/cluster/results.ts);
 * so does an invalid configuration patch (INVALID_CONFIG), refused before it is proposed.
 */
export const ADMIN_REASONS = [
  /** A request field is malformed or out of range; the message names it. */
  'INVALID_FIELD',
  /** No member holds the leader key. */
  'NO_PRIMARY',
  /** The named candidate is not a registered member. */
  'UNKNOWN_CANDIDATE',
  /** The named candidate is the primary itself. */
  'CANDIDATE_IS_PRIMARY',
  /** scheduled_at is not in the future. */
  'SCHEDULED_IN_PAST',
  /** A switchover (or operator failover) request is already pending. */
  'SWITCHOVER_PENDING',
  /** Nothing to cancel. */
  'NO_SWITCHOVER',
  /** No member passes the failover rules; the message lists each exclusion. */
  'NO_CANDIDATE',
  'ALREADY_PAUSED',
  'NOT_PAUSED',
  /** The request disappeared without a new primary (the primary or an operator cancelled it). */
  'SWITCHOVER_WITHDRAWN',
  /** No new primary within the wait; the request is still pending. */
  'SWITCHOVER_TIMEOUT',
  /** Raft could not read or commit (no leader, timeout, dropped, stopping). */
  'RAFT_UNAVAILABLE',
  /** The Raft leader refused the command for good (e.g. a member of another version). */
  'PROPOSAL_REFUSED',
  /** The answering agent has not finished starting. */
  'AGENT_STARTING',
  /** The answering agent is stopping. */
  'AGENT_STOPPING',
  /** The client cancelled the call (only in the agent's log: nobody reads the answer). */
  'CALL_CANCELLED',
  /** A bug in the answering agent (INTERNAL; its log has the stack). */
  'INTERNAL',
  /**
   * PatchConfig: the configuration is not at the version the request
   * expected, or changed while it was being committed (ABORTED): read it again.
   */
  'VERSION_CONFLICT',
  /** Dsn: no member qualifies for the role asked. */
  'NO_HOSTS',
  /** RemoveMember: the name is neither in the Raft configuration nor registered. */
  'NOT_A_MEMBER',
  /** RemoveMember: it is the only voter left. */
  'LAST_VOTER',
  /** AddMember / RemoveMember: recorded, but not carried out within the wait (it stays requested). */
  'MEMBERSHIP_TIMEOUT',
  /** Watch: the agent already serves its most streams (RESOURCE_EXHAUSTED): close one, or ask another member. */
  'TOO_MANY_WATCHES',
  /**
   * Watch: the client read too slowly and the agent's bounded buffer for its
   * stream filled (RESOURCE_EXHAUSTED): the stream ended rather than skip
   * events. Watch again (with snapshot to catch up).
   */
  'WATCH_OVERFLOW',
  /** Restart, Reload: no member has the role asked for (or none of those named). */
  'NO_MEMBERS',
  /** CreateBackup: no member holds the leader key, so nobody takes backups. */
  'NO_PRIMARY',
  /** ListBackups: the answering agent has no backup store configured. */
  'NO_STORE',
  /** ListBackups: the backup store did not answer (the message says what it said). */
  'STORE_UNAVAILABLE',
] as const;

export type AdminReason = (typeof ADMIN_REASONS)[number];

/**
 * A request the admin service refuses: the gRPC status it answers with, a
 * stable reason and a message that names the problem. Thrown inside the
 * service and turned into the call's status at its edge (service.ts).
 */
export class AdminRefusal extends PgherdError {
  constructor(
    readonly status: Status,
    readonly reason: AdminReason | RejectionCode,
    message: string,
  ) {
    super('PGHERD_ADMIN_REFUSED', message);
  }
}

export const invalidField = (field: string, message: string): AdminRefusal => new AdminRefusal(Status.INVALID_ARGUMENT, 'INVALID_FIELD', `${field}: ${message}`);

/** A call answered with a non-OK status (client side); `reason` from the trailing metadata ('' when absent). */
export class AdminCallError extends PgherdError {
  /** The gRPC status name, e.g. 'FAILED_PRECONDITION'. */
  readonly status: string;

  constructor(
    readonly grpcCode: Status,
    readonly reason: string,
    readonly details: string,
    readonly endpoint: string,
  ) {
    super('PGHERD_ADMIN_CALL_FAILED', details);
    this.status = Status[grpcCode] ?? `STATUS_${grpcCode}`;
  }
}

export interface EndpointFailure {
  readonly endpoint: string;
  readonly error: string;
}

/** No endpoint answered (client side): each one's failure, in the order tried. */
export class AdminUnreachableError extends PgherdError {
  constructor(readonly attempts: readonly EndpointFailure[]) {
    super('PGHERD_ADMIN_UNREACHABLE', `no agent answered: ${attempts.map((a) => `${a.endpoint}: ${a.error}`).join('; ')}`);
  }
}
