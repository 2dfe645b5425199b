import { PgherdError } from '../lib/errors.js';

/*
 * Errors of WAL archiving and restore. Codes are API (PGHERD_WAL_*): the
 * unix-socket service turns them into the client's one-line message, the
 * agent's metrics count them; nobody branches on the message.
 */

/** A name that is not one PostgreSQL archives: refused before any file is touched. */
export class WalNameError extends PgherdError {
  readonly walName: string;

  constructor(name: string) {
    super('PGHERD_WAL_INVALID_NAME', `${JSON.stringify(name)} is not a WAL file name (expected a segment, <segment>.partial, <segment>.<offset>.backup or <timeline>.history)`);
    this.walName = name;
  }
}

/**
 * The archive already holds different bytes under this name. Never
 * overwritten: PostgreSQL keeps the file and retries, an operator decides.
 */
export class WalConflictError extends PgherdError {
  readonly key: string;
  readonly localSha256: string;
  readonly storedSha256: string;

  constructor(name: string, key: string, localSha256: string, storedSha256: string) {
    super(
      'PGHERD_WAL_CONFLICT',
      `${name}: the archive already holds different content under ${key} (stored sha256 ${storedSha256}, local sha256 ${localSha256}); refusing to overwrite it`,
    );
    this.key = key;
    this.localSha256 = localSha256;
    this.storedSha256 = storedSha256;
  }
}

/** An archived object does not decode or does not match its own metadata (digest, size): never served. `detail` says what is wrong. */
export class WalCorruptError extends PgherdError {
  readonly key: string;

  constructor(key: string, detail: string, options?: { cause?: unknown }) {
    super('PGHERD_WAL_CORRUPT', `${key} is corrupt: ${detail}`, options);
    this.key = key;
  }
}

/** Archiving one file failed for a reason that may pass (read error, store unavailable). The message names the file and the cause. */
export class WalArchiveError extends PgherdError {
  readonly walName: string;

  constructor(name: string, options: { cause: unknown }) {
    super('PGHERD_WAL_ARCHIVE_FAILED', `archive ${name}: ${causeText(options.cause)}`, options);
    this.walName = name;
  }
}

/** Restoring one file failed for a reason that may pass. The message names the file and the cause. */
export class WalRestoreError extends PgherdError {
  readonly walName: string;

  constructor(name: string, options: { cause: unknown }) {
    super('PGHERD_WAL_RESTORE_FAILED', `restore ${name}: ${causeText(options.cause)}`, options);
    this.walName = name;
  }
}

/** archive_command and restore_command cannot be run: wal-client.pl or perl is missing (the message says which and what to do). */
export class WalClientMissingError extends PgherdError {
  constructor(message: string) {
    super('PGHERD_WAL_CLIENT_MISSING', message);
  }
}

function causeText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
