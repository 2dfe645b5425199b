import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { PgherdError } from '../../lib/errors.js';
import { CertificateExistsError, CertificateGenerationError, OpensslMissingError } from '../../tls/errors.js';
import { VALIDITY_DAYS_MAX } from '../../tls/generate.js';
import { EXIT_CERTS_FAILED, EXIT_OK, EXIT_USAGE_OR_CONFIG } from '../exit-codes.js';
import type { CommandIo } from './validate-config.js';

/** What `pgherd certs init` and `issue` share: argument checks, error → exit code, output helpers. */

/** A bad argument of `pgherd certs`: the message names it and what was expected. Exit 2; nothing written. */
export class CertsUsageError extends PgherdError {
  constructor(message: string) {
    super('PGHERD_CERTS_USAGE', message);
  }
}

export const DAY_MS = 86_400_000;

/**
 * Run a certs command: 0 when done; 2 with `error: …` for a bad argument or
 * a file it would overwrite without --force (nothing written); 3 when the
 * certificate could not be made (openssl missing or failing). Anything else
 * is a bug (runProgram: exit 1 with the stack).
 */
export async function runCerts(io: CommandIo, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CertsUsageError) {
      io.stderr(`error: ${error.message}\n`);
      return EXIT_USAGE_OR_CONFIG;
    }
    if (error instanceof CertificateExistsError) {
      io.stderr(`error: ${error.message} (--force replaces it)\n`);
      return EXIT_USAGE_OR_CONFIG;
    }
    if (error instanceof OpensslMissingError || error instanceof CertificateGenerationError) {
      io.stderr(`error: ${error.code}: ${error.message}\n`);
      return EXIT_CERTS_FAILED;
    }
    throw error;
  }
}

/** A directory argument as an absolute path (printed into configuration, which takes absolute paths only); it may not exist yet, but must not be a file. */
export function directoryOf(text: string, flag: string): string {
  if (text.trim() === '' || text.includes('\0')) throw new CertsUsageError(`${flag}: expected a directory, got ${JSON.stringify(text)}`);
  const path = resolve(text);
  let isDirectory: boolean | undefined;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new CertsUsageError(`${flag}: cannot inspect ${path} (${(error as NodeJS.ErrnoException).code})`);
  }
  if (isDirectory === false) throw new CertsUsageError(`${flag}: ${path} is not a directory`);
  return path;
}

/** --days: a whole number from 1 to VALIDITY_DAYS_MAX; `fallback` when not given. */
export function daysOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const days = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(days >= 1 && days <= VALIDITY_DAYS_MAX)) throw new CertsUsageError(`--days: expected a whole number of days from 1 to ${VALIDITY_DAYS_MAX}, got ${JSON.stringify(text)}`);
  return days;
}

/** commander's collector for a repeatable option that also takes comma-separated values. */
export const collect = (value: string, previous: readonly string[] | undefined): string[] => [...(previous ?? []), ...value.split(',').map((part) => part.trim())];

/** A certificate's notAfter as RFC 3339 (UTC). */
export function isoDate(x509Date: string): string {
  return new Date(Date.parse(x509Date)).toISOString();
}

/** A path as one shell word (quoted only when it needs to be), for the lines printed to copy. */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
