import test from 'ava';
import { reconcileBackupPoints } from '../../../src/backup/base-backup.js';
import { parseBackupLabel, parseBasebackupStderr, parseManifestWalRanges, tailLines } from '../../../src/backup/basebackup-text.js';
import { parseLsn } from '../../../src/lib/lsn.js';
import { LABEL_TEXT, manifestText, STDERR_TEXT } from '../../helpers/fake-pg-tools.js';

const SEG16 = 16 * 1024 * 1024;

test('backup_label as the server writes it', (t) => {
  const label = parseBackupLabel(LABEL_TEXT);
  t.deepEqual(label, {
    startLsn: parseLsn('0/2000028'),
    startWalFile: '000000010000000000000002',
    checkpointLsn: parseLsn('0/2000060'),
    startTimeline: 1,
    backupFrom: 'primary',
    label: 'pgherd 20261126T181500Z-3fa9c2',
  });
});

test('backup_label without a needed line, or with a malformed one, is refused naming it', (t) => {
  t.throws(() => parseBackupLabel(LABEL_TEXT.replace(/START TIMELINE.*\n/, '')), { message: /START TIMELINE/ });
  t.throws(() => parseBackupLabel(LABEL_TEXT.replace('(file 000000010000000000000002)', '')), { message: /START WAL LOCATION is malformed/ });
  t.throws(() => parseBackupLabel(LABEL_TEXT.replace('CHECKPOINT LOCATION: 0/2000060', 'CHECKPOINT LOCATION: nope')), { message: /CHECKPOINT LOCATION/ });
  t.throws(() => parseBackupLabel(LABEL_TEXT.replace('START TIMELINE: 1', 'START TIMELINE: 0')), { message: /START TIMELINE/ });
});

test('pg_basebackup -v stderr: start point with timeline, end point', (t) => {
  t.deepEqual(parseBasebackupStderr(STDERR_TEXT), { startLsn: parseLsn('0/2000028'), startTimeline: 1, endLsn: parseLsn('0/3000100') });
  // A later timeline, and a warning between the lines.
  const text = [
    'pg_basebackup: initiating base backup, waiting for checkpoint to complete',
    'pg_basebackup: checkpoint completed',
    'pg_basebackup: write-ahead log start point: 1A/9F000060 on timeline 12',
    'WARNING:  skipping special file "./foo"',
    'pg_basebackup: write-ahead log end point: 1A/A0000138',
    'pg_basebackup: base backup completed',
  ].join('\n');
  t.deepEqual(parseBasebackupStderr(text), { startLsn: parseLsn('1A/9F000060'), startTimeline: 12, endLsn: parseLsn('1A/A0000138') });
  t.deepEqual(parseBasebackupStderr('pg_basebackup: error: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'), {});
});

test('the WAL ranges come from the end of backup_manifest, even when only its tail was kept', (t) => {
  const full = manifestText('{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/3000100" }', 2000);
  const expected = [{ timeline: 1, startLsn: parseLsn('0/2000028'), endLsn: parseLsn('0/3000100') }];
  t.deepEqual(parseManifestWalRanges(full), expected);
  t.deepEqual(parseManifestWalRanges(full.slice(-300)), expected, 'a tail cut in the middle of the file list');
  // Two timelines (a standby that was promoted during the backup): newest first in the file, oldest first out.
  const two = manifestText('{ "Timeline": 2, "Start-LSN": "0/3800000", "End-LSN": "0/4000100" },\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/3800000" }');
  t.deepEqual(parseManifestWalRanges(two).map((r) => r.timeline), [1, 2]);
});

test('malformed WAL ranges are refused', (t) => {
  t.throws(() => parseManifestWalRanges('{"Files": []}'), { message: /no "WAL-Ranges"/ });
  t.throws(() => parseManifestWalRanges(manifestText('{ "Timeline": 1, "Start-LSN": "0/2000028" }')), { message: /malformed/ });
  t.throws(() => parseManifestWalRanges(manifestText('{ "Timeline": 1, "Start-LSN": "0/3000028", "End-LSN": "0/2000000" }')), { message: /ends before it starts/ });
  t.throws(() => parseManifestWalRanges(manifestText('{ "Timeline": 2, "Start-LSN": "0/3900000", "End-LSN": "0/4000100" },\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/3800000" }')), { message: /do not join/ });
  t.throws(() => parseManifestWalRanges(manifestText('').replace(/\],\n"Manifest/, '],\n"Manifest')), { message: /malformed/ }, 'an empty range list');
  t.throws(() => parseManifestWalRanges(manifestText().slice(0, -20)), { message: /do not parse/ }, 'a truncated manifest');
});

test('reconcileBackupPoints: the three accounts agree, or the disagreement is named', (t) => {
  const label = parseBackupLabel(LABEL_TEXT);
  const ranges = parseManifestWalRanges(manifestText());
  const stderr = parseBasebackupStderr(STDERR_TEXT);
  t.deepEqual(reconcileBackupPoints(label, ranges, stderr, SEG16), { timeline: 1, stopTimeline: 1, startLsn: parseLsn('0/2000028'), stopLsn: parseLsn('0/3000100') });
  t.deepEqual(reconcileBackupPoints(label, ranges, {}, SEG16).stopLsn, parseLsn('0/3000100'), 'stderr is optional');
  t.throws(() => reconcileBackupPoints(label, ranges, { ...stderr, endLsn: parseLsn('0/3000200') }, SEG16), { message: /end LSN \(pg_basebackup -v vs backup_manifest\): 0\/3000200 vs 0\/3000100/ });
  t.throws(() => reconcileBackupPoints(label, ranges, stderr, 64 * 1024 * 1024), { message: /start WAL file/ }, 'a wrong segment size shows in the start file name');
  t.throws(() => reconcileBackupPoints({ ...label, startTimeline: 2 }, ranges, {}, SEG16), { message: /start timeline/ });
  t.throws(() => reconcileBackupPoints(label, [{ timeline: 1, startLsn: parseLsn('0/2000028'), endLsn: parseLsn('0/2000028') }], {}, SEG16), { message: /not after/ });
});

test('tailLines keeps the last non-empty lines', (t) => {
  t.is(tailLines('a\n\nb\nc\n\n', 2), 'b\nc');
  t.is(tailLines('', 3), '');
});
