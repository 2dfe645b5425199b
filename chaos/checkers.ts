/**
 * The chaos suite's checks over a recorded history (issue: chaos suite,
 * item 4). Pure: the workload records, these judge. Times are the
 * workload's monotonic clock (ms).
 */

/** One insert the workload saw acknowledged: sent at startedAtMs, acknowledged at ackedAtMs, by `server` on `timeline`. */
export interface AckedWrite {
  readonly id: number;
  readonly server: string;
  readonly timeline: number;
  readonly startedAtMs: number;
  readonly ackedAtMs: number;
}

/** (a) Acknowledged inserts missing from the final primary's table. */
export function lostWrites(acked: readonly AckedWrite[], finalIds: ReadonlySet<number>): AckedWrite[] {
  return acked.filter((write) => !finalIds.has(write.id));
}

/** Evidence that two servers accepted writes at the same time. */
export interface SplitBrain {
  /** The server that stayed writable on one timeline across the interval. */
  readonly primary: string;
  readonly timeline: number;
  /** The other server, and its write that happened entirely inside the interval. */
  readonly other: string;
  readonly otherTimeline: number;
  readonly fromMs: number;
  readonly toMs: number;
}

/**
 * (b) Split brain, derived from the writes alone. A server that
 * acknowledged a write on timeline T, and later another write on the same
 * timeline T, was the primary throughout: a node never becomes primary
 * again on the timeline it left (a promotion forks a new one). So any
 * write of another server that started after the first acknowledgement
 * and was acknowledged before the second was sent proves both accepted
 * writes at the same time. One finding per (run of a server on a
 * timeline, other server's run); a write's own interval only bounds when
 * it happened, so nothing weaker is reported.
 */
export function splitBrains(acked: readonly AckedWrite[]): SplitBrain[] {
  const runs = new Map<string, AckedWrite[]>();
  for (const write of acked) {
    const key = `${write.server}\u0000${write.timeline}`;
    const run = runs.get(key);
    if (run) run.push(write);
    else runs.set(key, [write]);
  }
  const findings = new Map<string, SplitBrain>();
  for (const run of runs.values()) {
    const first = run.reduce((a, b) => (b.ackedAtMs < a.ackedAtMs ? b : a));
    const last = run.reduce((a, b) => (b.startedAtMs > a.startedAtMs ? b : a));
    if (!(first.ackedAtMs < last.startedAtMs)) continue;
    for (const other of acked) {
      if (other.server === first.server) continue;
      if (other.startedAtMs > first.ackedAtMs && other.ackedAtMs < last.startedAtMs) {
        const key = `${first.server}\u0000${first.timeline}\u0000${other.server}\u0000${other.timeline}`;
        if (!findings.has(key)) {
          findings.set(key, { primary: first.server, timeline: first.timeline, other: other.server, otherTimeline: other.timeline, fromMs: other.startedAtMs, toMs: other.ackedAtMs });
        }
      }
    }
  }
  return [...findings.values()].sort((a, b) => a.fromMs - b.fromMs || a.primary.localeCompare(b.primary));
}

/** (d) Every node holds the same data: the servers whose checksum differs from the primary's (or that gave none). */
export function divergentNodes(primary: string, checksums: ReadonlyMap<string, string | null>): string[] {
  const reference = checksums.get(primary);
  if (reference === undefined || reference === null) return [...checksums.keys()].sort();
  return [...checksums.entries()].filter(([, sum]) => sum !== reference).map(([name]) => name).sort();
}

/** One read the Reader saw answered: the highest id visible on `server`. */
export interface ObservedRead {
  readonly server: string;
  readonly maxId: number;
  readonly startedAtMs: number;
  readonly doneAtMs: number;
}

/** A read that missed a write acknowledged before it began. */
export interface StaleRead {
  readonly read: ObservedRead;
  /** The highest id acknowledged before the read began. */
  readonly expectedAtLeast: number;
}

/**
 * Reads from a writable server that did not see every write acknowledged
 * before they began (ids are inserted in increasing order by one writer,
 * so "every" is "the highest"). Pass only the writes that survived (not
 * lost): in asynchronous mode a lost write is reported as lost, not again
 * as every later read's staleness.
 */
export function staleReads(survived: readonly AckedWrite[], reads: readonly ObservedRead[]): StaleRead[] {
  const byAck = [...survived].sort((a, b) => a.ackedAtMs - b.ackedAtMs);
  const stale: StaleRead[] = [];
  let next = 0;
  let expected = 0;
  for (const read of [...reads].sort((a, b) => a.startedAtMs - b.startedAtMs)) {
    while (next < byAck.length && byAck[next]!.ackedAtMs < read.startedAtMs) expected = Math.max(expected, byAck[next++]!.id);
    if (read.maxId < expected) stale.push({ read, expectedAtLeast: expected });
  }
  return stale;
}

/**
 * (e) With a store: the WAL files a restore of the run's first backup to
 * the final primary's end needs (in replay order) that the store lacks.
 */
export function archiveHoles(needed: readonly string[], stored: ReadonlySet<string>): string[] {
  return needed.filter((name) => !stored.has(name));
}
