import test from 'ava';
import { chooseRestoreBackup, type RestoreRequest } from '../../../src/backup/restore-choice.js';
import type { BackupCatalog } from '../../../src/backup/backup-catalog.js';
import type { BackupManifest } from '../../../src/backup/backup-manifest.js';
import { validManifest } from '../../helpers/backup-manifests.js';

const CONTEXT = { cluster: 'main', store: 'local store /srv/store', nowMs: Date.parse('2026-11-28T12:00:00Z') };
const LATEST: RestoreRequest = { backup: 'latest', targetTime: null };
const at = (iso: string): Date => new Date(iso);

/** Three nightly backups, each finished a minute after it started. */
const NIGHTLY: readonly BackupManifest[] = [
  validManifest({ startedAt: '2026-11-25T01:00:00.000Z', suffix: 'aaaaaa', startLsn: '0/2000028', stopLsn: '0/3000100' }),
  validManifest({ startedAt: '2026-11-26T01:00:00.000Z', suffix: 'bbbbbb', startLsn: '0/5000028', stopLsn: '0/6000100' }),
  validManifest({ startedAt: '2026-11-27T01:00:00.000Z', suffix: 'cccccc', startLsn: '0/9000028', stopLsn: '0/A000100' }),
];
const catalog = (backups: readonly BackupManifest[] = NIGHTLY): Pick<BackupCatalog, 'backups' | 'invalid' | 'incomplete'> => ({ backups, invalid: [], incomplete: [] });
const chosenId = (request: RestoreRequest, backups?: readonly BackupManifest[]): string => {
  const choice = chooseRestoreBackup(catalog(backups), request, CONTEXT);
  return choice.ok ? choice.backup.id : `refused: ${choice.detail}`;
};
const refusal = (request: RestoreRequest, c = catalog()): string => {
  const choice = chooseRestoreBackup(c, request, CONTEXT);
  return choice.ok ? `chose ${choice.backup.id}` : choice.detail;
};

test('latest: the newest complete backup', (t) => {
  t.is(chosenId(LATEST), '20261127T010000Z-cccccc');
  const choice = chooseRestoreBackup(catalog(), LATEST, CONTEXT);
  t.like(choice, { ok: true, reason: 'the latest backup 20261127T010000Z-cccccc' });
});

test('a recovery target time: the newest backup that finished by then, the boundary included', (t) => {
  t.is(chosenId({ backup: 'latest', targetTime: at('2026-11-26T12:00:00Z') }), '20261126T010000Z-bbbbbb');
  t.is(chosenId({ backup: 'latest', targetTime: at('2026-11-26T01:01:00Z') }), '20261126T010000Z-bbbbbb', 'finished exactly at the target');
  t.is(chosenId({ backup: 'latest', targetTime: at('2026-11-26T01:00:59.999Z') }), '20261125T010000Z-aaaaaa', 'still running at the target: the one before');
  t.is(chosenId({ backup: 'latest', targetTime: at('2026-11-28T11:59:00Z') }), '20261127T010000Z-cccccc');
  const choice = chooseRestoreBackup(catalog(), { backup: 'latest', targetTime: at('2026-11-26T12:00:00Z') }, CONTEXT);
  t.like(choice, { ok: true, reason: 'backup 20261126T010000Z-bbbbbb, the latest that finished (2026-11-26T01:01:00.000Z) by recovery_target_time 2026-11-26T12:00:00.000Z' });
});

test('a target before every backup, or in the future, is refused', (t) => {
  t.is(
    refusal({ backup: 'latest', targetTime: at('2026-11-25T01:00:30Z') }),
    'recovery_target_time 2026-11-25T01:00:30.000Z is before every backup of cluster main in local store /srv/store: the oldest, 20261125T010000Z-aaaaaa, finished at 2026-11-25T01:01:00.000Z',
  );
  t.is(
    refusal({ backup: 'latest', targetTime: at('2026-11-28T12:00:01Z') }),
    'recovery_target_time 2026-11-28T12:00:01.000Z is in the future (now 2026-11-28T12:00:00.000Z): recovery would end before reaching it',
  );
});

test('a backup id: that one, if complete and finished by the target', (t) => {
  t.is(chosenId({ backup: '20261125T010000Z-aaaaaa', targetTime: null }), '20261125T010000Z-aaaaaa');
  t.is(chosenId({ backup: '20261125T010000Z-aaaaaa', targetTime: at('2026-11-27T00:00:00Z') }), '20261125T010000Z-aaaaaa', 'an older backup replays further');
  t.is(
    refusal({ backup: '20261127T010000Z-cccccc', targetTime: at('2026-11-27T00:00:00Z') }),
    'backup 20261127T010000Z-cccccc finished at 2026-11-27T01:01:00.000Z, after recovery_target_time 2026-11-27T00:00:00.000Z: a backup can only be replayed forward; choose an older one or backup: latest',
  );
  t.is(
    refusal({ backup: '20261124T010000Z-dddddd', targetTime: null }),
    'backup 20261124T010000Z-dddddd of cluster main in local store /srv/store is not in the store; the complete ones are 20261125T010000Z-aaaaaa, 20261126T010000Z-bbbbbb, 20261127T010000Z-cccccc',
  );
  const unusable = { backups: NIGHTLY, invalid: [{ id: '20261124T010000Z-dddddd', key: 'k', reason: 'base.tar.gz is missing' }], incomplete: ['20261128T010000Z-eeeeee'] };
  t.regex(refusal({ backup: '20261124T010000Z-dddddd', targetTime: null }, unusable), /^backup 20261124T010000Z-dddddd of cluster main in local store \/srv\/store is invalid: base\.tar\.gz is missing; /);
  t.regex(refusal({ backup: '20261128T010000Z-eeeeee', targetTime: null }, unusable), /is incomplete \(it has no manifest\); /);
});

test('nothing to restore: no complete backup for the name, saying what is there', (t) => {
  t.is(refusal(LATEST, catalog([])), 'no complete base backup of cluster main in local store /srv/store: nothing to restore (check cluster_name and backup.store, or set bootstrap.method: initdb)');
  t.regex(
    refusal(LATEST, { backups: [], invalid: [{ id: '20261124T010000Z-dddddd', key: 'k', reason: 'not JSON' }], incomplete: ['20261128T010000Z-eeeeee'] }),
    /^no complete base backup of cluster main in local store \/srv\/store \(1 invalid \(20261124T010000Z-dddddd: not JSON\), 1 incomplete\): nothing to restore/,
  );
});

test('backups of two database systems under one name: refused, whatever was asked for', (t) => {
  const foreign = { ...validManifest({ startedAt: '2026-11-27T13:00:00.000Z', suffix: 'ffffff' }), systemIdentifier: '7999999999999999999' };
  const mixed = [...NIGHTLY, foreign];
  for (const request of [LATEST, { backup: '20261125T010000Z-aaaaaa', targetTime: null }]) {
    t.is(
      refusal(request, catalog(mixed)),
      'the backups of cluster main in local store /srv/store belong to 2 database systems (7441234567890123456: 20261125T010000Z-aaaaaa, 20261126T010000Z-bbbbbb, 20261127T010000Z-cccccc; 7999999999999999999: 20261127T130000Z-ffffff): two clusters wrote under one name and their archived WAL may be mixed; nothing is restored until one cluster\'s objects are moved away',
    );
  }
});
