import test from 'ava';
import { ADMIN_REASONS, AdminCallError, AdminRefusal, AdminUnreachableError, REASON_METADATA_KEY } from '../../../src/admin/errors.js';
import { status as Status } from '@grpc/grpc-js';

// The reasons are API: pgherdctl --json prints them and scripts branch on them. Add, never rename.
test('admin reasons and error codes are stable', (t) => {
  t.deepEqual([...ADMIN_REASONS], [
    'INVALID_FIELD', 'NO_PRIMARY', 'UNKNOWN_CANDIDATE', 'CANDIDATE_IS_PRIMARY', 'SCHEDULED_IN_PAST', 'SWITCHOVER_PENDING', 'NO_SWITCHOVER', 'NO_CANDIDATE',
    'ALREADY_PAUSED', 'NOT_PAUSED', 'SWITCHOVER_WITHDRAWN', 'SWITCHOVER_TIMEOUT', 'RAFT_UNAVAILABLE', 'PROPOSAL_REFUSED', 'AGENT_STARTING', 'AGENT_STOPPING',
    'CALL_CANCELLED', 'INTERNAL', 'VERSION_CONFLICT', 'NO_HOSTS', 'NOT_A_MEMBER', 'LAST_VOTER', 'MEMBERSHIP_TIMEOUT', 'TOO_MANY_WATCHES', 'WATCH_OVERFLOW', 'NO_MEMBERS',
    'NO_PRIMARY',
    'NO_STORE',
    'STORE_UNAVAILABLE',
  ]);
  t.is(REASON_METADATA_KEY, 'pgherd-reason');
  t.is(new AdminRefusal(Status.NOT_FOUND, 'NO_SWITCHOVER', 'x').code, 'PGHERD_ADMIN_REFUSED');
  const call = new AdminCallError(Status.FAILED_PRECONDITION, 'NO_PRIMARY', 'no primary', '127.0.0.1:7400');
  t.is(call.code, 'PGHERD_ADMIN_CALL_FAILED');
  t.is(call.status, 'FAILED_PRECONDITION');
  t.is(new AdminUnreachableError([{ endpoint: 'a:1', error: 'refused' }]).code, 'PGHERD_ADMIN_UNREACHABLE');
});
