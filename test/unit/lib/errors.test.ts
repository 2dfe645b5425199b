import test from 'ava';
import {
  AssertionFailedError,
  BindError,
  ConfigError,
  NotLeaderError,
  PgherdError,
  ProposalDroppedError,
  ProposalRefusedError,
  RaftStoppedError,
  RaftTimeoutError,
  StorageCorruptError,
  StorageIoError,
  StorageLockedError,
} from '../../../src/lib/errors.js';

// Error codes are API: operators and the admin edge branch on them. Changing one is a breaking change.
test('error codes are stable', (t) => {
  const codes = [
    new ConfigError('raft.electionTicks', 'bad'),
    new NotLeaderError('n2'),
    new RaftTimeoutError('proposal', 5),
    new ProposalDroppedError('x'),
    new ProposalRefusedError('x'),
    new RaftStoppedError(),
    new StorageCorruptError('/data/raft', 'bad checksum'),
    new StorageLockedError('/data/raft', 'in use'),
    new StorageIoError('/data/raft', 'write failed'),
    new BindError('127.0.0.1:7400'),
    new AssertionFailedError('x'),
  ].map((e) => [e.name, e.code]);
  t.deepEqual(codes, [
    ['ConfigError', 'PGHERD_CONFIG_INVALID'],
    ['NotLeaderError', 'PGHERD_RAFT_NOT_LEADER'],
    ['RaftTimeoutError', 'PGHERD_RAFT_TIMEOUT'],
    ['ProposalDroppedError', 'PGHERD_RAFT_PROPOSAL_DROPPED'],
    ['ProposalRefusedError', 'PGHERD_RAFT_PROPOSAL_REFUSED'],
    ['RaftStoppedError', 'PGHERD_RAFT_STOPPED'],
    ['StorageCorruptError', 'PGHERD_STORAGE_CORRUPT'],
    ['StorageLockedError', 'PGHERD_STORAGE_LOCKED'],
    ['StorageIoError', 'PGHERD_STORAGE_IO'],
    ['BindError', 'PGHERD_BIND_FAILED'],
    ['AssertionFailedError', 'PGHERD_ASSERTION_FAILED'],
  ]);
});

test('domain error codes are stable too', async (t) => {
  const { FenceAlreadyRunningError, FenceStartFailedError } = await import('../../../src/ha/fence.js');
  t.is(new FenceAlreadyRunningError('/run/pgherd').code, 'PGHERD_FENCE_ALREADY_RUNNING');
  t.is(new FenceStartFailedError('x').code, 'PGHERD_FENCE_START_FAILED');
});

test('errors name what is wrong and keep their cause', (t) => {
  const cause = new Error('EADDRINUSE');
  const bind = new BindError('127.0.0.1:7400', { cause });
  t.true(bind instanceof PgherdError);
  t.is(bind.cause, cause);
  t.regex(bind.message, /127\.0\.0\.1:7400.*EADDRINUSE/);
  t.regex(new ConfigError('raft.heartbeatTicks', 'must be less than raft.electionTicks').message, /^raft\.heartbeatTicks: /);
  t.regex(new StorageCorruptError('/data/raft', 'checksum mismatch').message, /^\/data\/raft: checksum mismatch/);
  t.is(new NotLeaderError('').leaderId, '');
});
