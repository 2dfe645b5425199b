import test from 'ava';
import { BackupError, type BackupErrorReason } from '../../../src/backup/backup-errors.js';
import { PgherdError } from '../../../src/lib/errors.js';

// Error codes are API: operators and the admin edge branch on them.
test('backup error codes are stable', (t) => {
  const reasons: BackupErrorReason[] = ['INVALID', 'FAILED', 'WAL_MISSING', 'NOT_FOUND', 'RESTORE_FAILED', 'RESTORE_REFUSED'];
  t.deepEqual(
    reasons.map((r) => new BackupError(r, 'x').code),
    ['PGHERD_BACKUP_INVALID', 'PGHERD_BACKUP_FAILED', 'PGHERD_BACKUP_WAL_MISSING', 'PGHERD_BACKUP_NOT_FOUND', 'PGHERD_BACKUP_RESTORE_FAILED', 'PGHERD_BACKUP_RESTORE_REFUSED'],
  );
});

test('a backup error keeps its details and cause', (t) => {
  const cause = new Error('ENOSPC');
  const error = new BackupError('WAL_MISSING', 'backup b: WAL file w missing', { backupId: 'b', walFile: 'w', key: 'k', cause });
  t.true(error instanceof PgherdError);
  t.is(error.name, 'BackupError');
  t.like(error, { reason: 'WAL_MISSING', backupId: 'b', walFile: 'w', key: 'k' });
  t.is(error.cause, cause);
  t.is(new BackupError('FAILED', 'x').cause, undefined);
});
