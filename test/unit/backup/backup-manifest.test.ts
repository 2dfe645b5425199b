import test from 'ava';
import {
  backupManifestKey,
  backupObjectKey,
  encodeManifest,
  formatBackupId,
  isBackupId,
  parseManifest,
  type BackupManifest,
} from '../../../src/backup/backup-manifest.js';
import { validManifest } from '../../helpers/backup-manifests.js';

const reasonOf = (text: string, expected?: { id?: string; cluster?: string }): string => {
  const parsed = parseManifest(text, expected);
  return parsed.ok ? '(valid)' : parsed.reason;
};
const withField = (field: string, value: unknown): string => JSON.stringify({ ...validManifest(), [field]: value });
const without = (field: keyof BackupManifest): string => {
  const copy: Record<string, unknown> = { ...validManifest() };
  delete copy[field];
  return JSON.stringify(copy);
};

test('ids are a UTC second plus a random suffix, and sort by time as strings', (t) => {
  t.is(formatBackupId(new Date('2026-11-26T18:15:00.999Z'), '3fa9c2'), '20261126T181500Z-3fa9c2');
  t.is(formatBackupId(new Date('2026-01-02T03:04:05+02:00'), '000000'), '20260102T010405Z-000000', 'always UTC');
  const times = ['2026-11-26T18:15:00Z', '2026-11-26T18:15:01Z', '2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z', '2026-02-28T23:59:59Z'];
  const ids = times.map((iso, i) => formatBackupId(new Date(iso), `00000${i}`));
  t.deepEqual([...ids].sort(), [...times].sort().map((iso) => ids[times.indexOf(iso)]));
  t.true(isBackupId('20261126T181500Z-3fa9c2'));
  for (const bad of ['20261126T181500Z', '20261126T181500Z-3FA9C2', '20261126T181500Z-3fa9c', '20261326T181500Z-3fa9c2', '20260230T120000Z-3fa9c2', '20261126T246000Z-3fa9c2', 'x20261126T181500Z-3fa9c2']) {
    t.false(isBackupId(bad), bad);
  }
  t.throws(() => formatBackupId(new Date(), 'XYZ123'), { code: 'PGHERD_ASSERTION_FAILED' });
});

test('keys follow the layout <cluster>/basebackups/<id>/...', (t) => {
  t.is(backupObjectKey('main', '20261126T181500Z-3fa9c2'), 'main/basebackups/20261126T181500Z-3fa9c2/base.tar.gz');
  t.is(backupManifestKey('main', '20261126T181500Z-3fa9c2'), 'main/basebackups/20261126T181500Z-3fa9c2/manifest.json');
  t.throws(() => backupObjectKey('a/b', '20261126T181500Z-3fa9c2'), { code: 'PGHERD_ASSERTION_FAILED' });
  for (const bad of ['..', '.hidden', '']) t.throws(() => backupObjectKey(bad, '20261126T181500Z-3fa9c2'), { code: 'PGHERD_ASSERTION_FAILED' }, JSON.stringify(bad));
  t.throws(() => backupObjectKey('main', '../x'), { code: 'PGHERD_ASSERTION_FAILED' });
});

test('a valid manifest round-trips through encode and parse', (t) => {
  const manifest = validManifest({ label: 'nightly', timeline: 3, startLsn: '1A/9F000060', stopLsn: '1A/A0000138' });
  const parsed = parseManifest(encodeManifest(manifest), { id: manifest.id, cluster: 'main' });
  t.true(parsed.ok);
  if (parsed.ok) {
    t.deepEqual(parsed.manifest, manifest);
    t.true(Object.isFrozen(parsed.manifest));
  }
});

test('bad JSON, a wrong version, a missing field: invalid, with the reason', (t) => {
  t.regex(reasonOf('{"format": "pgherd-base-backup", '), /^not JSON: /);
  t.regex(reasonOf(''), /^not JSON: /);
  t.regex(reasonOf(withField('version', 2)), /unsupported manifest version 2/);
  t.regex(reasonOf(withField('format', 'wal-g')), /^format: /);
  t.regex(reasonOf(without('sha256')), /^sha256: /);
  t.regex(reasonOf(without('stopLsn')), /^stopLsn: /);
  t.regex(reasonOf('[]'), /^\(root\): /);
  t.regex(reasonOf('null'), /^\(root\): /);
});

test('field values and their relations are checked', (t) => {
  t.regex(reasonOf(withField('sha256', 'A'.repeat(64))), /^sha256: expected 64 lower-case hex digits/);
  t.regex(reasonOf(withField('startLsn', '0/zz')), /^startLsn: expected an LSN/);
  t.regex(reasonOf(withField('walSegmentBytes', 3 * 1024 * 1024)), /^walSegmentBytes: /);
  t.regex(reasonOf(withField('dataBytes', -1)), /^dataBytes: /);
  t.regex(reasonOf(withField('compression', { algorithm: 'zstd', level: 1 })), /^compression\.algorithm: /);
  t.regex(reasonOf(withField('id', '2026-11-26')), /^id: expected a backup id/);
  t.regex(reasonOf(withField('startedAt', 'yesterday')), /^startedAt: /);
  t.regex(reasonOf(JSON.stringify(validManifest({ startLsn: '0/5000000', stopLsn: '0/4000000' }))), /stop LSN 0\/4000000 is before start LSN 0\/5000000/);
  t.regex(reasonOf(withField('startWalFile', '000000010000000000000009')), /^startWalFile: expected 000000010000000000000002/);
  t.regex(reasonOf(withField('stopWalFile', '000000010000000000000002')), /^stopWalFile: expected 000000010000000000000003/);
  t.regex(reasonOf(JSON.stringify(validManifest({ finishedAt: '2026-11-26T18:00:00.000Z' }))), /finishedAt is before startedAt/);
  t.regex(reasonOf(JSON.stringify(validManifest({ timeline: 2, stopTimeline: 1 }))), /stop timeline 1 is before start timeline 2/);
});

test('a manifest must belong to its key (id and cluster)', (t) => {
  const manifest = validManifest();
  t.regex(reasonOf(JSON.stringify(manifest), { id: '20261126T181501Z-3fa9c2' }), /does not match its key's id/);
  t.regex(reasonOf(JSON.stringify(manifest), { cluster: 'other' }), /cluster main does not match/);
  t.is(reasonOf(JSON.stringify(manifest), { id: manifest.id, cluster: 'main' }), '(valid)');
  t.regex(reasonOf(' '.repeat(70_000)), /more than 65536/);
});

test('writing an invalid manifest is a bug', (t) => {
  t.throws(() => encodeManifest({ ...validManifest(), sha256: 'nope' }), { code: 'PGHERD_ASSERTION_FAILED', message: /sha256/ });
});
