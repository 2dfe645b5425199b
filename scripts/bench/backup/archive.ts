/**
 * WAL archive throughput, bench:backup part 1. The same N real segments
 * (copied out of the primary's pg_wal) are copied by every contender:
 *
 *   cp                     one `cp` of all segments into a directory on the same file system
 *   cp + sync              the same, then `sync --file-system` (the archiver makes every segment durable)
 *   cp as archive_command  PostgreSQL's documented `cp %p <dir>/%f`, one sh per segment, run
 *                          as the archiver contenders are: the plain-cp archive PostgreSQL would have
 *   archiver → local store the agent's archiver (configuration defaults: gzip level 1, parallel 4)
 *   archiver → local store, compression none
 *   archiver → S3          the same archiver against s3rver (a child process)
 *   archiver API → local   WalArchiver.archive() called directly, no client process and no
 *                          socket: what the archive_command path itself costs
 *
 * The archiver is driven the way PostgreSQL drives it: each segment is
 * marked .ready in archive_status, then the agent's archive_command (its
 * sh fast path — the agent's marker for a segment it has already stored —
 * or else wal-client.pl over the agent's unix socket; run by /bin/sh
 * as the PostgreSQL OS user, cwd = the data directory) runs once per
 * segment in PostgreSQL's order, and the marker is renamed .done after each
 * success — pgarch.c's loop. The archiver watches archive_status and
 * uploads ahead meanwhile, as in production, so the clock runs from the
 * first .ready. Before each contender the file system is synced (not
 * timed), so no contender pays for another's dirty pages; the input
 * segments are in the page cache for all of them.
 */
import { copyFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalStore } from '../../../src/backup/store-local.js';
import { WalArchiver } from '../../../src/backup/wal-archiver.js';
import { expandArchiveCommand } from '../../../src/backup/wal-commands.js';
import { isSegmentName } from '../../../src/backup/wal-names.js';
import type { Config } from '../../../src/config/schema.js';
import { chownToPg, spawnIdentity } from '../../../src/postgres/os-user.js';
import { withConnection, type LocalConnection } from '../../../src/postgres/sql.js';
import { agentDir, pgDir, sleep, startAgentBackup, type BenchEnv, type StoreChoice } from './nodes.js';

export const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;
/** More than two of the archiver's archive_status scans (250 ms). */
const FAST_PATH_COUNT_WAIT_MS = 600;

/** Segments copied out of a server's pg_wal: a data directory of their own for the archiver to read. */
export interface ArchiveInput {
  /** Holds pg_wal/<segments> and pg_wal/archive_status. */
  readonly pgdata: string;
  /** PostgreSQL's archive order (oldest first). */
  readonly names: readonly string[];
  readonly bytes: number;
}

export interface ArchiveRun {
  readonly seconds: number;
  /** Bytes the store holds for the segments (compressed or not). */
  readonly storedBytes: number;
  /** Segments archive_command confirmed from the agent's marker without starting the client (its fast path). */
  readonly fastPathFiles?: number;
}

/**
 * Copy the newest `count` completed segments of a running server (older
 * than the segment holding its flush position, so every byte is on disk).
 * undefined when pg_wal holds fewer: write more WAL and ask again.
 */
export async function copyCompletedSegments(env: BenchEnv, conn: LocalConnection, serverPgdata: string, count: number, into: string): Promise<ArchiveInput | undefined> {
  const flushFile = await withConnection(conn, 'the flush position', async (c) => (await c.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_flush_lsn()) AS f')).rows[0]!.f);
  const timeline = flushFile.slice(0, 8);
  const completed = (await readdir(join(serverPgdata, 'pg_wal'))).filter((name) => isSegmentName(name) && name.startsWith(timeline) && name < flushFile).sort();
  if (completed.length < count) return undefined;
  const names = completed.slice(-count);
  const walDir = await pgDir(env, join(into, 'pg_wal'));
  await pgDir(env, join(walDir, 'archive_status'));
  let bytes = 0;
  for (const name of names) {
    await copyFile(join(serverPgdata, 'pg_wal', name), join(walDir, name));
    // PostgreSQL's own, as in its pg_wal: archive_command (the cp baseline, the fast path's stat) runs as its OS user.
    await chownToPg(env.osUser, join(walDir, name));
    bytes += (await stat(join(walDir, name))).size;
  }
  return { pgdata: into, names, bytes };
}

/** `cp` of every segment into a new directory on the same file system; with `sync`, then `sync --file-system` on it. Seconds. */
export async function timeCp(env: BenchEnv, input: ArchiveInput, destination: string, sync: boolean): Promise<number> {
  await agentDir(destination);
  await syncFileSystem(env, destination);
  const started = performance.now();
  await env.children.run('cp', 'cp', [...input.names.map((name) => join(input.pgdata, 'pg_wal', name)), destination]);
  if (sync) await syncFileSystem(env, destination);
  const seconds = (performance.now() - started) / 1000;
  await env.discard(destination);
  return seconds;
}

/** PostgreSQL's documented archive_command `cp %p <destination>/%f`, driven as the archiver is (archiveInOrder). Seconds. */
export async function timeCpCommand(env: BenchEnv, input: ArchiveInput, destination: string): Promise<number> {
  await pgDir(env, destination);
  const template = `cp %p '${destination}'/%f`;
  const seconds = await archiveInOrder(env, input, (name) =>
    env.children.run(`cp archive_command for ${name}`, '/bin/sh', ['-c', expandArchiveCommand(template, name)], { ...spawnIdentity(env.osUser), cwd: input.pgdata }),
  );
  await env.discard(destination);
  return seconds;
}

export interface ArchiverContender {
  /** Member name (the directory of its agent files) and store key prefix. */
  readonly name: string;
  readonly store: StoreChoice;
  readonly compression?: 'gzip' | 'none';
}

/** Every segment through the agent's archive_command, as PostgreSQL's archiver runs it. */
export async function timeArchiver(env: BenchEnv, input: ArchiveInput, contender: ArchiverContender): Promise<ArchiveRun> {
  if (contender.store.kind === 'local') await agentDir(contender.store.path);
  // The port is not used: only the backup runtime of this "member" is started.
  const backup = await startAgentBackup(env, { name: contender.name, cluster: contender.name, pgdata: input.pgdata, port: 5432, store: contender.store, ...(contender.compression === undefined ? {} : { compression: contender.compression }) });
  try {
    const template = backup.runtime.walArchive.archiveCommand;
    const seconds = await archiveInOrder(env, input, (name) =>
      env.children.run(`archive_command for ${name}`, '/bin/sh', ['-c', expandArchiveCommand(template, name)], { ...spawnIdentity(env.osUser), cwd: input.pgdata }),
    );
    const stats = backup.runtime.archiverStats();
    if (stats.archivedFiles !== input.names.length) throw new Error(`${contender.name}: ${stats.archivedFiles} of ${input.names.length} segments uploaded (already archived: ${stats.alreadyArchivedFiles})`);
    // Not timed: the archiver counts a consumed marker at its next scan of archive_status.
    await sleep(FAST_PATH_COUNT_WAIT_MS);
    return { seconds, storedBytes: stats.storedBytes, fastPathFiles: backup.runtime.archiverStats().markersConsumed };
  } finally {
    await backup.close();
    if (contender.store.kind === 'local') await env.discard(contender.store.path);
  }
}

/** Every segment through WalArchiver.archive() in this process, with the same settings and read-ahead: no client process, no socket. */
export async function timeArchiverDirect(env: BenchEnv, input: ArchiveInput, name: string, archive: Config['backup']['archive']): Promise<ArchiveRun> {
  const path = await agentDir(join(env.baseDir, `${name}-store`));
  const store = new LocalStore(path);
  const archiver = new WalArchiver({ store, cluster: name, pgdata: input.pgdata, compression: archive.compression, gzipLevel: archive.gzip_level, parallel: archive.parallel });
  try {
    const seconds = await archiveInOrder(env, input, (segment) => archiver.archive(segment));
    const stats = archiver.stats();
    if (stats.archivedFiles !== input.names.length) throw new Error(`${name}: ${stats.archivedFiles} of ${input.names.length} segments uploaded`);
    return { seconds, storedBytes: stats.storedBytes };
  } finally {
    await archiver.close();
    await store.close();
    await env.discard(path);
  }
}

/**
 * Sync, then mark every segment .ready and run pgarch.c's loop: archive
 * one, rename its marker .done, next. Seconds of both: the archiver watches
 * archive_status and starts uploading the moment a segment is marked ready,
 * so the clock starts before the first marker is written.
 */
async function archiveInOrder(env: BenchEnv, input: ArchiveInput, archiveOne: (name: string) => Promise<unknown>): Promise<number> {
  const statusDir = join(input.pgdata, 'pg_wal', 'archive_status');
  for (const entry of await readdir(statusDir)) await rm(join(statusDir, entry), { force: true });
  await syncFileSystem(env, input.pgdata);
  const started = performance.now();
  for (const name of input.names) await writeFile(join(statusDir, `${name}.ready`), '');
  for (const name of input.names) {
    await archiveOne(name);
    await rename(join(statusDir, `${name}.ready`), join(statusDir, `${name}.done`));
  }
  return (performance.now() - started) / 1000;
}

function syncFileSystem(env: BenchEnv, path: string): Promise<string> {
  return env.children.run('sync --file-system', 'sync', ['--file-system', path]);
}
