import { MANIFEST_FORMAT, MANIFEST_VERSION, formatBackupId, type BackupManifest } from '../../src/backup/backup-manifest.js';
import { segmentBeforeLsn, segmentOfLsn } from '../../src/backup/wal-names.js';
import { parseLsn } from '../../src/lib/lsn.js';

const SEG16 = 16 * 1024 * 1024;

/** A valid manifest; `finishedAt` and the LSNs drive the derived fields (id, WAL file names). */
export function validManifest(overrides: Partial<BackupManifest> & { suffix?: string } = {}): BackupManifest {
  const { suffix = '3fa9c2', ...rest } = overrides;
  const startedAt = rest.startedAt ?? '2026-11-26T18:15:00.000Z';
  const finishedAt = rest.finishedAt ?? new Date(Date.parse(startedAt) + 60_000).toISOString();
  const timeline = rest.timeline ?? 1;
  const stopTimeline = rest.stopTimeline ?? timeline;
  const startLsn = rest.startLsn ?? '0/2000028';
  const stopLsn = rest.stopLsn ?? '0/3000100';
  const walSegmentBytes = rest.walSegmentBytes ?? SEG16;
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    id: rest.id ?? formatBackupId(new Date(startedAt), suffix),
    cluster: 'main',
    systemIdentifier: '7441234567890123456',
    pgVersion: 150018,
    timeline,
    stopTimeline,
    startLsn,
    stopLsn,
    startWalFile: segmentOfLsn(parseLsn(startLsn), timeline, walSegmentBytes),
    stopWalFile: segmentBeforeLsn(parseLsn(stopLsn), stopTimeline, walSegmentBytes),
    walSegmentBytes,
    dataBytes: 50_000_000,
    storedBytes: 12_000_000,
    sha256: 'a'.repeat(64),
    compression: { algorithm: 'gzip', level: 1 },
    fileChecksums: 'CRC32C',
    durationMs: 60_000,
    takenOn: 'n1',
    label: '',
    ...rest,
    startedAt,
    finishedAt,
  };
}
