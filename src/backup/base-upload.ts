import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { assert } from '../lib/assert.js';
import type { Logger } from '../lib/logger.js';
import { BASEBACKUP_TIMEOUT_MS_DEFAULT, type SourceServer } from '../postgres/basebackup.js';
import type { PgBinaries } from '../postgres/binaries.js';
import type { PgOsUser } from '../postgres/os-user.js';
import { withTempPassfile } from '../postgres/passfile-temp.js';
import { describeExit, spawnToolStdout, type ToolExit } from '../postgres/tool.js';
import { BackupError } from './backup-errors.js';
import { parseBackupLabel, parseBasebackupStderr, parseManifestWalRanges, tailLines, type BackupLabel, type VerboseStderr } from './basebackup-text.js';
import { DigestTap } from './body.js';
import type { ObjectStore } from './store.js';
import { TarPeek } from './tar-peek.js';
import type { WalRange } from './wal-names.js';

/*
 * The streaming half of a base backup (see base-backup.ts):
 *
 *   pg_basebackup -D - -Ft -X none --checkpoint=fast -v --manifest-checksums=CRC32C
 *   → TarPeek (also counts dataBytes) → gzip → DigestTap (SHA-256, storedBytes) → the gate → store.put
 *
 * File checksums in PostgreSQL's backup_manifest: CRC32C (pg_basebackup's
 * default). They let pg_verifybackup check every restored file against what
 * the server read. Tamper-evidence is not their job: the stored object's
 * SHA-256 (computed here, checked on every restore) is. SHA-256 would cost
 * the server CPU for every byte of the backup for nothing more.
 */

export const MANIFEST_FILE_CHECKSUMS = 'CRC32C';

/** Where and as whom pg_basebackup connects: a replication role over TCP, or a unix socket directory (as `host`) and the superuser. */
export type BackupConnection = SourceServer;

export interface UploadOptions {
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly store: ObjectStore;
  readonly connection: BackupConnection;
  readonly key: string;
  readonly backupId: string;
  readonly compressionLevel: number;
  /** backup_label's LABEL. */
  readonly pgLabel: string;
  readonly timeoutMs?: number;
  readonly log: Logger;
  /** Aborting kills pg_basebackup and fails the upload (the store commits nothing). */
  readonly signal?: AbortSignal;
}

export interface UploadResult {
  readonly dataBytes: number;
  readonly storedBytes: number;
  readonly sha256: string;
  readonly backupLabel: BackupLabel;
  /** Oldest timeline first. */
  readonly walRanges: readonly WalRange[];
  readonly stderr: VerboseStderr;
}

/**
 * Run pg_basebackup and stream its tar, gzipped, into `key`. The object is
 * committed by the store only if pg_basebackup exited 0 and the tar held a
 * parseable backup_label and backup_manifest: the last stage of the stream
 * fails otherwise, so the store discards the upload. Throws BackupError
 * FAILED (the caller deletes the key anyway, in case a store kept a part).
 */
export async function uploadBaseBackup(options: UploadOptions): Promise<UploadResult> {
  const { connection } = options;
  const args = ['-D', '-', '-F', 't', '-X', 'none', '--checkpoint=fast', '--no-password', '-v', `--manifest-checksums=${MANIFEST_FILE_CHECKSUMS}`, '-l', options.pgLabel, '-h', connection.host, '-p', String(connection.port), '-U', connection.user];
  return withTempPassfile(options.osUser, connection.user, connection.password, async (passfile) => {
    const tool = spawnToolStdout(options.binaries.path('pg_basebackup'), args, {
      user: options.osUser,
      // pg_basebackup's own deadline: a whole cluster copy, as when cloning a member.
      timeoutMs: options.timeoutMs ?? BASEBACKUP_TIMEOUT_MS_DEFAULT,
      env: { PGPASSFILE: passfile, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'pgherd_basebackup' },
    });
    const peek = new TarPeek();
    const stored = new DigestTap();
    let facts: { label: BackupLabel; ranges: WalRange[] } | undefined;
    // The gate: the stored stream ends only if pg_basebackup succeeded and its tar held what a backup
    // needs; otherwise it fails before its end, and the store commits nothing.
    const gate = async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      yield* source;
      const exit = await tool.exited;
      if (exit.code !== 0) throw toolFailed(options.backupId, exit, tool.stderrTail());
      facts = readPeek(options.backupId, peek);
    };
    try {
      await pipeline(tool.child.stdout, peek, createGzip({ level: options.compressionLevel }), stored, gate, async (source: AsyncIterable<Buffer>) => {
        await options.store.put(options.key, Readable.from(source), { metadata: { 'backup-id': options.backupId } });
      }, ...(options.signal === undefined ? [] : [{ signal: options.signal }]));
    } catch (error) {
      if (tool.child.exitCode === null && tool.child.signalCode === null) tool.child.kill('SIGKILL');
      const exit = await tool.exited.catch((spawnError: unknown) => {
        throw new BackupError('FAILED', `backup ${options.backupId}: cannot run pg_basebackup: ${(spawnError as Error).message}`, { backupId: options.backupId, cause: spawnError });
      });
      if (error instanceof BackupError) throw error;
      if (exit.code !== 0 && exit.signal !== 'SIGKILL') throw toolFailed(options.backupId, exit, tool.stderrTail(), error);
      throw new BackupError('FAILED', `backup ${options.backupId}: streaming to ${options.store.description} key ${options.key} failed: ${(error as Error).message}`, { backupId: options.backupId, key: options.key, stderrTail: tool.stderrTail(), cause: error });
    }
    assert(facts !== undefined, 'the upload completed without its gate checking the backup');
    const tar = peek.result();
    options.log.debug({ entries: tar.entries, manifestBytes: tar.manifestBytes }, 'backup.base_tar_read');
    return { dataBytes: tar.bytes, storedBytes: stored.bytes, sha256: stored.sha256(), backupLabel: facts.label, walRanges: facts.ranges, stderr: parseBasebackupStderr(tool.stderrTail()) };
  });
}

function toolFailed(backupId: string, exit: ToolExit, stderr: string, cause?: unknown): BackupError {
  const tail = tailLines(stderr);
  return new BackupError('FAILED', `backup ${backupId}: pg_basebackup ${describeExit(exit)}${exit.code === null ? ' (timeout?)' : ''}: ${tail || '(no output)'}`, { backupId, stderrTail: tail, ...(cause === undefined ? {} : { cause }) });
}

function readPeek(backupId: string, peek: TarPeek): { label: BackupLabel; ranges: WalRange[] } {
  const result = peek.result();
  const fail = (what: string): never => {
    throw new BackupError('FAILED', `backup ${backupId}: pg_basebackup's tar stream ${what}${result.warnings.length > 0 ? ` (tar: ${result.warnings.slice(0, 3).join('; ')})` : ''}`, { backupId });
  };
  if (result.backupLabel === undefined) fail('has no backup_label');
  if (result.manifestTail === undefined) fail('has no backup_manifest');
  try {
    return { label: parseBackupLabel(result.backupLabel!), ranges: parseManifestWalRanges(result.manifestTail!) };
  } catch (error) {
    return fail(`is not usable: ${(error as Error).message}`);
  }
}
