/**
 * What a failed PostgreSQL start means for the agent, read from the server
 * log lines it printed before exiting (PgStartFailedError.logTail). Pure.
 *
 * DIVERGED: the data directory holds WAL past the point where the timeline
 * it must follow forked off (a replica that replayed the old primary's last
 * WAL which the promoted standby never received). No start will ever
 * succeed; only pg_rewind (or a re-clone) from the new primary helps.
 * PostgreSQL says so at startup, once the new timeline's history file is
 * in pg_wal, in one of two FATAL lines (xlogrecovery.c).
 */
export type StartFailureKind = 'DIVERGED';

const DIVERGED_LINES: readonly RegExp[] = [
  /FATAL:\s+requested timeline \d+ does not contain minimum recovery point [0-9A-F]+\/[0-9A-F]+ on timeline \d+/,
  /FATAL:\s+requested timeline \d+ is not a child of this server's history/,
];

/** The kind of a start failure, or null when the log says nothing the agent acts on (it retries the start). */
export function classifyStartFailure(logTail: string): StartFailureKind | null {
  return DIVERGED_LINES.some((line) => line.test(logTail)) ? 'DIVERGED' : null;
}
