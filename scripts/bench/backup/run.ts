/**
 * One bench:backup run (options: cli.ts): everything under one temporary
 * directory, everything started registered with a teardown that runs from
 * `finally` and on SIGINT/SIGTERM alike, stopping each process by PID.
 *
 *   1. a primary (real PostgreSQL, initdb as the postgres OS user) archiving
 *      to S3 on s3rver through the agent's runtime, filled by pgbench -i;
 *   2. archive throughput on N of its WAL segments (archive.ts): cp,
 *      cp + sync, the archiver into the local store (gzip, none), into S3,
 *      and its API in-process;
 *   3. base backup into the local store, restore, and the pg_basebackup
 *      baseline (backups.ts);
 *   4. a base backup into S3, --wal-after-mb of WAL on top, then a replica
 *      from S3 and one by pg_basebackup, each until it streams.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { walInArchive } from '../../../src/backup/base-backup.js';
import { LocalStore } from '../../../src/backup/store-local.js';
import { clientScriptPath, findPerl } from '../../../src/backup/wal-commands.js';
import { findPgBinaries } from '../../../src/postgres/binaries.js';
import { chownToPg, resolvePgOsUser } from '../../../src/postgres/os-user.js';
import { startS3rver } from '../../../test/helpers/s3rver.js';
import { Teardown } from '../../lib/teardown.js';
import { copyCompletedSegments, timeArchiver, timeArchiverDirect, timeCp, timeCpCommand, WAL_SEGMENT_BYTES, type ArchiveInput } from './archive.js';
import { createReplicaSlots, timeBaseBackup, timePgBasebackup, timeReplicaByBasebackup, timeReplicaFromS3, timeRestore } from './backups.js';
import { Children } from './children.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, type BackupBenchOptions, type BenchIo } from './cli.js';
import { databaseBytes, startPrimary, switchAndArchive, untilArchived, writeWal, type Primary } from './database.js';
import { agentDir, CLUSTER, type BenchEnv } from './nodes.js';
import { renderTable, summarize, type BackupBenchMeasurements } from './report.js';

const MIB = 1024 * 1024;
const BUCKET = 'pgherd-bench';
/** The primary archives everything pgbench -i wrote before the next part starts; a big --scale takes a while. */
const ARCHIVE_WAIT_MS = 3_600_000;
/** wal_keep_size floor: the agent's default (conf.ts). */
const WAL_KEEP_BYTES_MIN = 128 * MIB;
/** Attempts to find enough completed segments in pg_wal, writing WAL in between. */
const SEGMENT_ATTEMPTS_MAX = 4;

type Say = (line: string) => void;

export async function runBackupBench(options: BackupBenchOptions, io: BenchIo): Promise<number> {
  const say: Say = (line) => {
    if (!options.json) io.stderr(`${line}\n`);
  };
  const teardown = new Teardown();
  const children = new Children();
  const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-bench-backup-'));
  teardown.add(`remove ${baseDir}`, () => (options.keep ? Promise.resolve() : rm(baseDir, { recursive: true, force: true })));
  teardown.add('stop child processes', () => children.stopAll());
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true;
    io.stderr(`bench:backup: ${signal}: stopping everything it started\n`);
    // The measurement may still be creating files below baseDir while the teardown runs: remove it once more last.
    void finish()
      .then(() => (options.keep ? undefined : rm(baseDir, { recursive: true, force: true })))
      .finally(() => process.exit(EXIT_INTERRUPTED));
  };
  const finish = async (): Promise<void> => {
    for (const failure of await teardown.run()) io.stderr(`bench:backup: teardown: ${failure}\n`);
    if (options.keep) io.stderr(`bench:backup: kept ${baseDir}\n`);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    clientScriptPath(); // wal-client.pl and perl: fail before starting anything
    findPerl();
    const osUser = await resolvePgOsUser();
    await chownToPg(osUser, baseDir);
    await chmod(baseDir, 0o700);
    const binaries = await findPgBinaries();
    const s3 = await startS3rver(BUCKET);
    teardown.add('stop s3rver', () => s3.close());
    const env: BenchEnv = {
      baseDir,
      binaries,
      osUser,
      teardown,
      children,
      s3: { endpoint: s3.endpoint, bucket: s3.bucket },
      discard: (path) => (options.keep ? Promise.resolve() : rm(path, { recursive: true, force: true })),
    };
    const measurements = await measure(env, options, say);
    io.stdout(options.json ? `${JSON.stringify(summarize(measurements))}\n` : renderTable(measurements));
    return EXIT_OK;
  } catch (error) {
    if (interrupted) return EXIT_INTERRUPTED;
    io.stderr(`bench:backup: ${(error as Error).message}${options.keep ? '' : ' (--keep keeps the data directories and logs)'}\n`);
    return EXIT_FAILED;
  } finally {
    // The handlers stay until the teardown is done: a signal meanwhile waits for the same teardown.
    await finish();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function measure(env: BenchEnv, options: BackupBenchOptions, say: Say): Promise<BackupBenchMeasurements> {
  // Keep the newest --segments completed segments in pg_wal however many checkpoints pass.
  const walKeepBytes = Math.max(WAL_KEEP_BYTES_MIN, (options.segments + 8) * WAL_SEGMENT_BYTES);
  say(`primary: initdb, archiving to S3 (s3rver), pgbench -i -s ${options.scale} ...`);
  const primary = await startPrimary(env, options.scale, walKeepBytes);
  const dbBytes = await databaseBytes(primary);
  const archive = primary.node.backup.config.backup.archive;

  const input = await segmentsOf(env, primary, options.segments, say);
  await untilArchived(primary, ARCHIVE_WAIT_MS);
  say(`archive throughput: ${input.names.length} segments (${input.names[0]} … ${input.names.at(-1)}) ...`);
  const cpSeconds = await timeCp(env, input, join(env.baseDir, 'cp'), false);
  const cpSyncSeconds = await timeCp(env, input, join(env.baseDir, 'cp-sync'), true);
  const cpCommandSeconds = await timeCpCommand(env, input, join(env.baseDir, 'cp-command'));
  const archiveLocal = await timeArchiver(env, input, { name: 'archive-local', store: { kind: 'local', path: join(env.baseDir, 'archive-local-store') } });
  const archiveLocalNone = await timeArchiver(env, input, { name: 'archive-local-none', store: { kind: 'local', path: join(env.baseDir, 'archive-local-none-store') }, compression: 'none' });
  const archiveS3 = await timeArchiver(env, input, { name: 'archive-s3', store: { kind: 's3' } });
  const archiveLocalDirect = await timeArchiverDirect(env, input, 'archive-local-direct', archive);
  for (const [label, run] of [['local', archiveLocal], ['local, compression none', archiveLocalNone], ['S3', archiveS3]] as const) {
    say(`archive_command → ${label}: ${run.fastPathFiles ?? 0} of ${input.names.length} segments confirmed by the shell from the agent's marker (fast path)`);
  }
  await env.discard(input.pgdata);

  say('base backup into the local store, restore, pg_basebackup baseline ...');
  const localStoreDir = await agentDir(join(env.baseDir, 'store-local'));
  const localStore = new LocalStore(localStoreDir);
  const s3Store = primary.node.backup.runtime.store;
  const basebackup = await timeBaseBackup(env, primary, localStore, walInArchive(s3Store, CLUSTER));
  const restoreSeconds = await timeRestore(env, localStore, basebackup.id, join(env.baseDir, 'restore-local', 'data'), primary.node.backup.runtime.walArchive.restoreCommand);
  await localStore.close();
  await env.discard(localStoreDir);
  const baseline = await timePgBasebackup(env, primary, join(env.baseDir, 'pg_basebackup'));

  say(`base backup into S3, then ${options.walAfterMb} MiB of WAL on top ...`);
  const basebackupS3 = await timeBaseBackup(env, primary, s3Store);
  await createReplicaSlots(primary);
  const walAfterBytes = await writeWal(primary, options.walAfterMb * MIB);
  // All of it in the archive: the S3 replica replays it from there, then streams.
  await switchAndArchive(primary, ARCHIVE_WAIT_MS);
  say('replica via S3 ...');
  const replicaS3 = await timeReplicaFromS3(env, primary);
  say('replica via pg_basebackup ...');
  const replicaBasebackup = await timeReplicaByBasebackup(env, primary);

  return {
    options,
    archiveGzipLevel: archive.gzip_level,
    archiveParallel: archive.parallel,
    archiveBytes: input.bytes,
    databaseBytes: dbBytes,
    cpSeconds,
    cpSyncSeconds,
    cpCommandSeconds,
    archiveLocal,
    archiveLocalNone,
    archiveS3,
    archiveLocalDirect,
    basebackup,
    restoreSeconds,
    baseline,
    basebackupS3,
    walAfterBytes,
    replicaS3,
    replicaBasebackup,
  };
}

/** The newest `count` completed segments of the primary, copied out; writes WAL until pg_wal holds that many. */
async function segmentsOf(env: BenchEnv, primary: Primary, count: number, say: Say): Promise<ArchiveInput> {
  const into = join(env.baseDir, 'archive-input');
  for (let attempt = 1; ; attempt++) {
    const input = await copyCompletedSegments(env, await primary.node.connection(), primary.node.dataDir, count, into);
    if (input !== undefined) return input;
    if (attempt === SEGMENT_ATTEMPTS_MAX) throw new Error(`pg_wal of the primary does not hold ${count} completed segments after ${attempt - 1} rounds of writing WAL`);
    say(`writing ${count} segments of WAL for the archive contenders ...`);
    await writeWal(primary, (count + 1) * WAL_SEGMENT_BYTES);
  }
}
