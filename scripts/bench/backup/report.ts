/**
 * bench:backup's figures from its measurements, and how they are printed:
 * one JSON line (--json), or a short table under the command line that
 * produced it. Pure. 1 MB = 2^20 bytes throughout.
 */
import type { BackupBenchOptions } from './cli.js';

const MIB = 1024 * 1024;

export interface ArchiveFigures {
  readonly seconds: number;
  readonly storedBytes: number;
}

export interface BackupBenchMeasurements {
  readonly options: BackupBenchOptions;
  /** The archive settings the agent's configuration defaults to (what the archiver ran with). */
  readonly archiveGzipLevel: number;
  readonly archiveParallel: number;
  readonly archiveBytes: number;
  readonly databaseBytes: number;
  readonly cpSeconds: number;
  readonly cpSyncSeconds: number;
  /** PostgreSQL's documented `cp %p <dir>/%f` as archive_command, one sh per segment. */
  readonly cpCommandSeconds: number;
  readonly archiveLocal: ArchiveFigures;
  readonly archiveLocalNone: ArchiveFigures;
  readonly archiveS3: ArchiveFigures;
  /** WalArchiver.archive() called in-process: no client process, no socket. */
  readonly archiveLocalDirect: ArchiveFigures;
  readonly basebackup: { readonly seconds: number; readonly dataBytes: number; readonly storedBytes: number };
  readonly restoreSeconds: number;
  readonly baseline: { readonly seconds: number; readonly bytes: number };
  readonly basebackupS3: { readonly seconds: number; readonly dataBytes: number };
  readonly walAfterBytes: number;
  readonly replicaS3: { readonly seconds: number; readonly restoreSeconds: number };
  readonly replicaBasebackup: { readonly seconds: number; readonly copySeconds: number };
}

/** How the archiver got its input: PostgreSQL's own path. */
export const ARCHIVE_VIA = "archive_command (one sh per segment as PostgreSQL runs it: the agent's marker when it has stored the segment ahead, else wal-client.pl over the agent socket)";
/** The baseline's options: a tar like ours, no WAL (ours takes it from the archive), the fast checkpoint takeBaseBackup asks for too. */
export const BASELINE_ARGS = ['-Ft', '-X', 'none', '--checkpoint=fast'] as const;
export const BASELINE_COMMAND = `pg_basebackup -D DIR ${BASELINE_ARGS.join(' ')}`;

/** The keys every run reports (the integration test checks each is a positive number). */
export const REQUIRED_KEYS = [
  'archive_local_mb_s',
  'archive_s3_mb_s',
  'archive_local_none_mb_s',
  'cp_mb_s',
  'cp_sync_mb_s',
  'cp_archive_command_mb_s',
  'basebackup_mb_s',
  'basebackup_baseline_mb_s',
  'restore_mb_s',
  'replica_s3_s',
  'replica_basebackup_s',
  'segments',
  'archive_bytes',
  'scale',
] as const;

const round = (value: number, digits: number): number => Math.round(value * 10 ** digits) / 10 ** digits;
const mbPerS = (bytes: number, seconds: number): number => round(bytes / MIB / seconds, 1);

export function summarize(m: BackupBenchMeasurements): Record<string, number | string> {
  const cp = mbPerS(m.archiveBytes, m.cpSeconds);
  const cpSync = mbPerS(m.archiveBytes, m.cpSyncSeconds);
  const cpCommand = mbPerS(m.archiveBytes, m.cpCommandSeconds);
  const archive = (prefix: string, run: ArchiveFigures): Record<string, number> => {
    const mbS = mbPerS(m.archiveBytes, run.seconds);
    return {
      [`${prefix}_mb_s`]: mbS,
      [`${prefix}_segments_s`]: round(m.options.segments / run.seconds, 2),
      [`${prefix}_stored_ratio`]: round(run.storedBytes / m.archiveBytes, 3),
      [`${prefix}_to_cp`]: round(mbS / cp, 3),
      [`${prefix}_to_cp_sync`]: round(mbS / cpSync, 3),
      [`${prefix}_to_cp_archive_command`]: round(mbS / cpCommand, 3),
    };
  };
  const basebackupMbS = mbPerS(m.basebackup.dataBytes, m.basebackup.seconds);
  const baselineMbS = mbPerS(m.baseline.bytes, m.baseline.seconds);
  return {
    segments: m.options.segments,
    archive_bytes: m.archiveBytes,
    scale: m.options.scale,
    database_bytes: m.databaseBytes,
    wal_after_mb: m.options.walAfterMb,
    wal_after_bytes: m.walAfterBytes,
    archive_gzip_level: m.archiveGzipLevel,
    archive_parallel: m.archiveParallel,
    archive_via: ARCHIVE_VIA,
    cp_mb_s: cp,
    cp_sync_mb_s: cpSync,
    cp_archive_command_mb_s: cpCommand,
    ...archive('archive_local', m.archiveLocal),
    ...archive('archive_local_none', m.archiveLocalNone),
    ...archive('archive_s3', m.archiveS3),
    ...archive('archive_local_direct', m.archiveLocalDirect),
    basebackup_mb_s: basebackupMbS,
    basebackup_s: round(m.basebackup.seconds, 2),
    basebackup_data_bytes: m.basebackup.dataBytes,
    basebackup_stored_bytes: m.basebackup.storedBytes,
    basebackup_baseline_mb_s: baselineMbS,
    basebackup_baseline_s: round(m.baseline.seconds, 2),
    basebackup_to_baseline: round(basebackupMbS / baselineMbS, 3),
    basebackup_s3_mb_s: mbPerS(m.basebackupS3.dataBytes, m.basebackupS3.seconds),
    restore_mb_s: mbPerS(m.basebackup.dataBytes, m.restoreSeconds),
    restore_s: round(m.restoreSeconds, 2),
    replica_s3_s: round(m.replicaS3.seconds, 2),
    replica_s3_restore_s: round(m.replicaS3.restoreSeconds, 2),
    replica_basebackup_s: round(m.replicaBasebackup.seconds, 2),
    replica_basebackup_copy_s: round(m.replicaBasebackup.copySeconds, 2),
  };
}

/** The command line that reproduces a run: every option spelled out. */
export function commandLine(options: BackupBenchOptions): string {
  return `npm run bench:backup -- --segments ${options.segments} --scale ${options.scale} --wal-after-mb ${options.walAfterMb}`;
}

const mib = (bytes: number): string => `${round(bytes / MIB, 1)} MiB`;

/** The human report: the command line, what was measured on what, and one row per figure. */
export function renderTable(m: BackupBenchMeasurements): string {
  const s = summarize(m);
  const archiveRow = (label: string, prefix: string): string =>
    `| ${label} | ${s[`${prefix}_mb_s`]} MB/s, ${s[`${prefix}_segments_s`]} segments/s (${s[`${prefix}_to_cp`]}× cp, ${s[`${prefix}_to_cp_sync`]}× cp + sync, ${s[`${prefix}_to_cp_archive_command`]}× cp as archive_command; stored ${s[`${prefix}_stored_ratio`]} of the bytes) |`;
  const lines = [
    commandLine(m.options),
    '',
    `${m.options.segments} WAL segments (${mib(m.archiveBytes)}) from the primary's pg_wal after pgbench; database pgbench scale ${m.options.scale} (${mib(m.databaseBytes)}); 1 MB = 2^20 bytes.`,
    `Archiver input (except the in-process row): ${ARCHIVE_VIA}; gzip level ${m.archiveGzipLevel}, parallel ${m.archiveParallel} (the configuration defaults).`,
    '',
    '| figure | value |',
    '|---|---|',
    `| cp of the segments (same file system) | ${s.cp_mb_s} MB/s |`,
    `| cp + sync --file-system | ${s.cp_sync_mb_s} MB/s |`,
    `| cp as archive_command: \`cp %p DIR/%f\`, one sh per segment (not durable) | ${s.cp_archive_command_mb_s} MB/s |`,
    archiveRow(`WAL archive → local store (gzip ${m.archiveGzipLevel})`, 'archive_local'),
    archiveRow('WAL archive → local store (compression none)', 'archive_local_none'),
    archiveRow(`WAL archive → S3 on s3rver (gzip ${m.archiveGzipLevel})`, 'archive_s3'),
    archiveRow('WAL archive → local store, WalArchiver API in-process (no client process, no socket)', 'archive_local_direct'),
    `| base backup → local store (takeBaseBackup, ${mib(m.basebackup.dataBytes)}) | ${s.basebackup_mb_s} MB/s (${s.basebackup_s} s; ${s.basebackup_to_baseline}× the baseline) |`,
    `| baseline: ${BASELINE_COMMAND} | ${s.basebackup_baseline_mb_s} MB/s (${s.basebackup_baseline_s} s) |`,
    `| base backup → S3 on s3rver | ${s.basebackup_s3_mb_s} MB/s |`,
    `| restore from the local store (restoreBaseBackup, with pg_verifybackup) | ${s.restore_mb_s} MB/s (${s.restore_s} s) |`,
    `| replica via S3: restore the latest backup, replay ${mib(m.walAfterBytes)} of WAL from the archive, stream | ${s.replica_s3_s} s (restore ${s.replica_s3_restore_s} s) |`,
    `| replica via pg_basebackup from the primary, start, stream | ${s.replica_basebackup_s} s (copy ${s.replica_basebackup_copy_s} s) |`,
  ];
  return `${lines.join('\n')}\n`;
}
