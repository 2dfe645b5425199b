import test from 'ava';
import * as errors from '../../../src/backup/wal-errors.js';
import { PgherdError } from '../../../src/lib/errors.js';

test('WAL error codes are API: frozen here', (t) => {
  const samples: PgherdError[] = [
    new errors.WalNameError('../x'),
    new errors.WalConflictError('n', 'c/wal/n', 'a', 'b'),
    new errors.WalCorruptError('c/wal/n', 'detail'),
    new errors.WalArchiveError('n', { cause: new Error('disk full') }),
    new errors.WalRestoreError('n', { cause: new Error('reset') }),
    new errors.WalClientMissingError('/x/wal-client.pl does not exist'),
  ];
  t.deepEqual(
    samples.map((e) => [e.name, e.code]),
    [
      ['WalNameError', 'PGHERD_WAL_INVALID_NAME'],
      ['WalConflictError', 'PGHERD_WAL_CONFLICT'],
      ['WalCorruptError', 'PGHERD_WAL_CORRUPT'],
      ['WalArchiveError', 'PGHERD_WAL_ARCHIVE_FAILED'],
      ['WalRestoreError', 'PGHERD_WAL_RESTORE_FAILED'],
      ['WalClientMissingError', 'PGHERD_WAL_CLIENT_MISSING'],
    ],
  );
  t.true(samples.every((e) => e instanceof PgherdError));
  t.is(samples[3]!.message, 'archive n: disk full');
  t.is((samples[3]!.cause as Error).message, 'disk full');
});
