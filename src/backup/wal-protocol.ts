/*
 * The protocol between archive_command / restore_command (wal-client.pl)
 * and the agent (wal-service.ts): the one place it is written down. The
 * client, a perl script, repeats the values below; a unit test
 * (wal-service.test.ts) holds the two to the same values.
 *
 * A unix socket, one request per connection:
 *
 *   client → agent  one JSON line, at most WAL_REQUEST_BYTES_MAX bytes with its "\n":
 *                   {"v":1,"op":"archive","name":"<%f>"}
 *                   {"v":1,"op":"restore","name":"<%f>"}
 *
 *   archive answer  one JSON line: {"ok":true} | {"ok":false,"error":"<message>"}
 *
 *   restore answer  {"ok":true,"size":N} "\n" followed by exactly N raw bytes (uncompressed)
 *                   | {"ok":false,"missing":true}      the archive does not hold the file
 *                   | {"ok":false,"error":"<message>"}
 *
 * Then the agent closes the connection. The client never half-closes its
 * side: it sends the line and reads the answer to the end.
 */

export const WAL_PROTOCOL_VERSION = 1;
/** The longest WAL file name is 40 characters; a request is far below this. */
export const WAL_REQUEST_BYTES_MAX = 1024;
/** An answer's JSON line (an error message) is cut to fit in this. */
export const WAL_ANSWER_LINE_BYTES_MAX = 16 * 1024;
/** The client gives up (exit 1) after this long; override with the environment variable below (milliseconds). */
export const WAL_CLIENT_TIMEOUT_MS_DEFAULT = 10 * 60 * 1000;
/** Not PGHERD_…: the agent refuses unknown PGHERD_ variables in its own environment. */
export const WAL_CLIENT_TIMEOUT_ENV = 'PGHERDWAL_CLIENT_TIMEOUT_MS';
/** restore writes "<%p>" + this suffix, then renames it to "<%p>": PostgreSQL never sees a partial file. */
export const WAL_RESTORE_TEMP_SUFFIX = '.pgherd-tmp';

export type WalOp = 'archive' | 'restore';

export interface WalRequest {
  readonly v: number;
  readonly op: WalOp;
  readonly name: string;
}

export type ArchiveAnswer = { readonly ok: true } | { readonly ok: false; readonly error: string };

export type RestoreHeader = { readonly ok: true; readonly size: number } | { readonly ok: false; readonly missing: true } | { readonly ok: false; readonly error: string };
