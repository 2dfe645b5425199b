import { appendFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { assert } from '../lib/assert.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { PgBinaries } from '../postgres/binaries.js';
import { scrubAutoConf } from '../postgres/conf.js';
import { PgTargetNotEmptyError } from '../postgres/errors.js';
import { chownToPg, mkdirForPg, type PgOsUser } from '../postgres/os-user.js';
import { describeExit, runTool, spawnToolStdin, type ToolExit } from '../postgres/tool.js';
import { readBackupManifest } from './backup-catalog.js';
import { BackupError } from './backup-errors.js';
import { backupObjectKey, type BackupManifest } from './backup-manifest.js';
import { tailLines } from './basebackup-text.js';
import { DigestTap } from './body.js';
import { StoreError, type ObjectStore } from './store.js';

/*
 * Restore a base backup into an empty data directory, streaming:
 *   store.get → DigestTap (SHA-256, byte count) → gunzip → `tar -x` (as the PostgreSQL OS user)
 * then check the whole object against the manifest (size and SHA-256),
 * `pg_verifybackup -n` (every file against PostgreSQL's backup_manifest; WAL
 * is not checked: it comes from the archive), scrub the copied
 * node-specific settings and write the signal file. Any failure empties the
 * target directory again (it was empty, so everything in it is ours).
 *
 * Settings for recovery (restore_command, a recovery target) are returned
 * for the caller's command line, and written into postgresql.auto.conf only
 * when asked (writeRestoreCommand): a recovery target left in a file would
 * stop every later standby start of this node, and would travel with every
 * clone of it.
 */

export const RESTORE_TIMEOUT_MS_DEFAULT = 3_600_000;

export type RestoreMode = 'standby' | 'recovery';

export interface RestoreBaseBackupOptions {
  readonly store: ObjectStore;
  readonly cluster: string;
  readonly backupId: string;
  /** Must be empty or absent; a non-empty directory is refused (PgTargetNotEmptyError). */
  readonly targetDir: string;
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  /** The restore_command the server fetches archived WAL with. */
  readonly restoreCommand: string;
  /** 'standby': standby.signal (replay, then stream or keep replaying). 'recovery': recovery.signal (replay, then promote). */
  readonly mode: RestoreMode;
  /** recovery only: stop replay at this time and promote (recovery_target_time, recovery_target_action=promote). */
  readonly targetTime?: Date;
  /** Also write the recovery settings into postgresql.auto.conf (to start the server outside the agent). */
  readonly writeRestoreCommand?: boolean;
  /** Deadline for extracting and for pg_verifybackup, each. */
  readonly timeoutMs?: number;
  readonly log?: Logger;
}

export interface RestoreResult {
  readonly manifest: BackupManifest;
  /** Settings the server must start with for this recovery (command line, or written when asked). */
  readonly recoveryParameters: Readonly<Record<string, string>>;
  /** Node-specific settings removed from the copied postgresql.auto.conf. */
  readonly scrubbed: readonly string[];
  readonly durationMs: number;
}

export async function restoreBaseBackup(options: RestoreBaseBackupOptions): Promise<RestoreResult> {
  assert(options.targetTime === undefined || options.mode === 'recovery', 'a recovery target time needs mode recovery (a standby never stops replaying)');
  assert(options.restoreCommand.trim() !== '', 'restoreCommand must not be empty');
  const started = performance.now();
  const log = (options.log ?? silentLogger).child({ component: 'backup', backupId: options.backupId });
  const manifest = await readBackupManifest(options.store, options.cluster, options.backupId);
  await mkdirForPg(options.osUser, options.targetDir);
  if ((await readdir(options.targetDir)).length > 0) throw new PgTargetNotEmptyError(options.targetDir);
  log.info({ targetDir: options.targetDir, storedBytes: manifest.storedBytes, mode: options.mode }, 'backup.restore_started');
  const timeoutMs = options.timeoutMs ?? RESTORE_TIMEOUT_MS_DEFAULT;
  try {
    await extract(options, manifest, timeoutMs);
    await verify(options, manifest, timeoutMs);
    const scrubbed = await scrubAutoConf(options.targetDir);
    const recoveryParameters = recoverySettings(options);
    await writeSignal(options.targetDir, options.osUser, options.mode);
    if (options.writeRestoreCommand === true) await appendAutoConf(options.targetDir, options.osUser, recoveryParameters);
    const durationMs = Math.round(performance.now() - started);
    log.info({ targetDir: options.targetDir, durationMs, dataBytes: manifest.dataBytes, scrubbed }, 'backup.restore_done');
    return { manifest, recoveryParameters, scrubbed, durationMs };
  } catch (error) {
    await emptyDir(options.targetDir);
    log.error({ targetDir: options.targetDir, code: (error as { code?: string }).code, err: (error as Error).message }, 'backup.restore_failed');
    throw error;
  }
}

/**
 * recovery_target_time in UTC with a numeric offset ('2026-11-26 19:30:00.123+00'):
 * PostgreSQL refuses time zone abbreviations there, and takes the ISO "Z" for one.
 */
export function formatRecoveryTargetTime(time: Date): string {
  assert(!Number.isNaN(time.getTime()), 'recovery target time is not a date');
  return `${time.toISOString().replace('T', ' ').replace('Z', '')}+00`;
}

/** The settings a server restored from a backup must start with. Pure. */
export function recoverySettings(options: Pick<RestoreBaseBackupOptions, 'restoreCommand' | 'targetTime'>): Record<string, string> {
  return {
    restore_command: options.restoreCommand,
    ...(options.targetTime === undefined ? {} : { recovery_target_time: formatRecoveryTargetTime(options.targetTime), recovery_target_action: 'promote' }),
  };
}

async function extract(options: RestoreBaseBackupOptions, manifest: BackupManifest, timeoutMs: number): Promise<void> {
  const key = backupObjectKey(options.cluster, manifest.id);
  const tar = spawnToolStdin('tar', ['-x', '-f', '-', '-C', options.targetDir], { user: options.osUser, timeoutMs });
  const tap = new DigestTap();
  let streamError: unknown;
  try {
    const source = await options.store.get(key).catch((error: unknown) => {
      tar.child.kill('SIGKILL');
      if (error instanceof StoreError && error.reason === 'NOT_FOUND') {
        throw new BackupError('INVALID', `backup ${manifest.id}: ${key} is missing from ${options.store.description} although the manifest exists`, { backupId: manifest.id, key, cause: error });
      }
      throw error;
    });
    await pipeline(source, tap, createGunzip(), (data: AsyncIterable<Buffer>) => feedTar(data, tar.child.stdin, tar.exited));
  } catch (error) {
    streamError = error;
    if (tar.child.exitCode === null && tar.child.signalCode === null) tar.child.kill('SIGKILL');
  }
  if (streamError instanceof BackupError) {
    await tar.exited.catch(() => undefined);
    throw streamError;
  }
  const exit = await tar.exited.catch((spawnError: unknown) => {
    throw new BackupError('RESTORE_FAILED', `restore of backup ${manifest.id}: cannot run tar: ${(spawnError as Error).message}`, { backupId: manifest.id, key, cause: spawnError });
  });
  if (streamError === undefined && exit.code === 0) {
    const actual = tap.sha256();
    if (actual !== manifest.sha256 || tap.bytes !== manifest.storedBytes) throw mismatch(manifest, key, actual, tap.bytes, options.store.description);
    return;
  }
  // Something broke mid-stream. Corruption of the stored object (gunzip fails on it first) is the
  // likely cause: re-read the object to name its real digest, and blame it only if it differs.
  const reread = await digestObject(options.store, key).catch(() => undefined);
  if (reread !== undefined && (reread.sha256 !== manifest.sha256 || reread.bytes !== manifest.storedBytes)) throw mismatch(manifest, key, reread.sha256, reread.bytes, options.store.description, streamError);
  const stderr = tar.stderrTail();
  const how = exit.code === 0 ? 'the stream failed' : `tar ${describeExit(exit)}`;
  const detail = [streamError === undefined ? '' : (streamError as Error).message, tailLines(stderr, 5)].filter((s) => s !== '').join('; ');
  throw new BackupError('RESTORE_FAILED', `restore of backup ${manifest.id} into ${options.targetDir} failed: ${how}${detail === '' ? '' : `: ${detail}`}`, { backupId: manifest.id, key, stderrTail: tailLines(stderr), cause: streamError });
}

/**
 * Write the tar stream into tar's stdin. tar may stop reading once it has
 * seen the end-of-archive blocks (GNU tar does, leaving the record padding
 * unread): then, if it exited 0, the rest is only read on, for the digest.
 * If it stopped reading and failed, this fails at once.
 */
async function feedTar(data: AsyncIterable<Buffer>, stdin: Writable, exited: Promise<ToolExit>): Promise<void> {
  // EPIPE when tar stops reading early is expected; tar's exit code says whether that was fine.
  stdin.on('error', () => {});
  let tarDone = false;
  for await (const chunk of data) {
    if (!tarDone && (stdin.destroyed || stdin.writableEnded)) {
      const exit = await exited;
      if (exit.code !== 0) throw new Error(`tar stopped reading its input and ${describeExit(exit)}`);
      tarDone = true;
    }
    if (tarDone) continue;
    if (!stdin.write(chunk)) await drainOrClose(stdin);
  }
  if (!tarDone && !stdin.destroyed) stdin.end();
}

function drainOrClose(stream: Writable): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

function mismatch(manifest: BackupManifest, key: string, actualSha256: string, actualBytes: number, where: string, cause?: unknown): BackupError {
  return new BackupError(
    'INVALID',
    `backup ${manifest.id}: ${key} in ${where} does not match its manifest: sha256 ${actualSha256} (${actualBytes} bytes), manifest says sha256 ${manifest.sha256} (${manifest.storedBytes} bytes)`,
    { backupId: manifest.id, key, expectedSha256: manifest.sha256, actualSha256, ...(cause === undefined ? {} : { cause }) },
  );
}

/** SHA-256 and size of a stored object, read whole. */
export async function digestObject(store: ObjectStore, key: string): Promise<{ sha256: string; bytes: number }> {
  const tap = new DigestTap();
  await pipeline(await store.get(key), tap, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) void chunk;
  });
  return { sha256: tap.sha256(), bytes: tap.bytes };
}

async function verify(options: RestoreBaseBackupOptions, manifest: BackupManifest, timeoutMs: number): Promise<void> {
  const run = await runTool(options.binaries.path('pg_verifybackup'), ['-n', '-m', join(options.targetDir, 'backup_manifest'), options.targetDir], { user: options.osUser, timeoutMs });
  if (run.exitCode !== 0) {
    const tail = tailLines(run.stderrTail || run.stdout);
    throw new BackupError('INVALID', `backup ${manifest.id}: pg_verifybackup refused the restored files in ${options.targetDir}: ${tail || `exit code ${run.exitCode}`}`, { backupId: manifest.id, stderrTail: tail });
  }
}

async function writeSignal(dataDir: string, osUser: PgOsUser, mode: RestoreMode): Promise<void> {
  const path = join(dataDir, mode === 'standby' ? 'standby.signal' : 'recovery.signal');
  await writeFile(path, '', { mode: 0o600 });
  await chownToPg(osUser, path);
}

/** A postgresql.conf string literal: single quotes, a quote doubled. */
export function quoteConfValue(value: string): string {
  assert(!/[\n\r\0]/.test(value), 'a configuration value cannot hold a line break or NUL');
  return `'${value.replace(/'/g, "''")}'`;
}

async function appendAutoConf(dataDir: string, osUser: PgOsUser, settings: Readonly<Record<string, string>>): Promise<void> {
  const lines = Object.entries(settings).map(([name, value]) => `${name} = ${quoteConfValue(value)}`);
  const path = join(dataDir, 'postgresql.auto.conf');
  await appendFile(path, `\n# Written by pgherd for the restore of a base backup.\n${lines.join('\n')}\n`, { mode: 0o600 });
  await chownToPg(osUser, path);
}

async function emptyDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) await rm(join(dir, entry), { recursive: true, force: true });
}
