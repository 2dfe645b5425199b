/**
 * What the report shows, derived from a RunRecord: role segments, primary
 * terms, write counts and gaps, the verdict. Pure: the summary and the
 * timeline picture both read these, so they cannot disagree.
 */
import type { AckedWrite } from '../checkers.js';
import type { ObservedRole, RunChecks, RunRecord } from '../history.js';

/** Width of one bucket of the write-availability lane. */
export const WRITE_BUCKET_MS = 250;

/** The end of the picture: the run's duration, or anything recorded after it. */
export function endMs(record: RunRecord): number {
  let end = record.durationMs;
  for (const sample of record.roles) end = Math.max(end, sample.atMs);
  for (const write of record.acked) end = Math.max(end, write.ackedAtMs);
  for (const fault of record.faults) end = Math.max(end, fault.startMs, fault.healMs ?? 0);
  end = Math.max(end, record.finalHealMs ?? 0, record.checks?.recovery.recoveredAtMs ?? 0);
  return Math.max(end, 1);
}

/** Every node the record mentions: the configured ones first, then any seen only in samples or writes (a replaced node). */
export function nodeNames(record: RunRecord): string[] {
  const names = [...record.nodes];
  const extra = new Set<string>();
  for (const sample of record.roles) if (!names.includes(sample.node)) extra.add(sample.node);
  for (const write of record.acked) if (!names.includes(write.server)) extra.add(write.server);
  return [...names, ...[...extra].sort()];
}

/** A node in one role (and timeline) from one sample until the next sample of that node differs. */
export interface RoleSegment {
  readonly node: string;
  readonly role: ObservedRole;
  readonly timeline: number | null;
  readonly fromMs: number;
  readonly toMs: number;
}

/** Consecutive equal samples of a node merged; a node's last segment lasts until the end of the run. */
export function roleSegments(record: RunRecord): RoleSegment[] {
  const end = endMs(record);
  const segments: RoleSegment[] = [];
  for (const node of nodeNames(record)) {
    const samples = record.roles.filter((s) => s.node === node).sort((a, b) => a.atMs - b.atMs);
    let open: { role: ObservedRole; timeline: number | null; fromMs: number } | undefined;
    for (const sample of samples) {
      if (open && open.role === sample.role && open.timeline === sample.timeline) continue;
      if (open) segments.push({ node, ...open, toMs: sample.atMs });
      open = { role: sample.role, timeline: sample.timeline, fromMs: sample.atMs };
    }
    if (open) segments.push({ node, ...open, toMs: end });
  }
  return segments;
}

/** One node's time as primary on one timeline: first seen until last seen (a node is never primary again on a timeline it left). */
export interface PrimaryTerm {
  readonly node: string;
  readonly timeline: number | null;
  readonly fromMs: number;
  readonly toMs: number;
}

export function primaryTerms(record: RunRecord): PrimaryTerm[] {
  const terms = new Map<string, PrimaryTerm>();
  for (const segment of roleSegments(record)) {
    if (segment.role !== 'primary') continue;
    const key = `${segment.node}\u0000${segment.timeline}`;
    const term = terms.get(key);
    terms.set(key, term
      ? { ...term, fromMs: Math.min(term.fromMs, segment.fromMs), toMs: Math.max(term.toMs, segment.toMs) }
      : { node: segment.node, timeline: segment.timeline, fromMs: segment.fromMs, toMs: segment.toMs });
  }
  return [...terms.values()].sort((a, b) => a.fromMs - b.fromMs || a.node.localeCompare(b.node));
}

/** Acknowledged writes per server and timeline, in the order each was first written to. */
export function writesByServer(acked: readonly AckedWrite[]): Array<{ server: string; timeline: number; count: number }> {
  const counts = new Map<string, { server: string; timeline: number; count: number; firstMs: number }>();
  for (const write of acked) {
    const key = `${write.server}\u0000${write.timeline}`;
    const entry = counts.get(key);
    if (entry) {
      entry.count += 1;
      entry.firstMs = Math.min(entry.firstMs, write.ackedAtMs);
    } else {
      counts.set(key, { server: write.server, timeline: write.timeline, count: 1, firstMs: write.ackedAtMs });
    }
  }
  return [...counts.values()].sort((a, b) => a.firstMs - b.firstMs).map(({ server, timeline, count }) => ({ server, timeline, count }));
}

/** The longest time between two consecutive acknowledgements; null with fewer than two writes. */
export function longestWriteGap(acked: readonly AckedWrite[]): { fromMs: number; toMs: number; gapMs: number } | null {
  const times = acked.map((w) => w.ackedAtMs).sort((a, b) => a - b);
  let best: { fromMs: number; toMs: number; gapMs: number } | null = null;
  for (let i = 1; i < times.length; i++) {
    const gapMs = times[i]! - times[i - 1]!;
    if (!best || gapMs > best.gapMs) best = { fromMs: times[i - 1]!, toMs: times[i]!, gapMs };
  }
  return best;
}

/** Acknowledged writes per WRITE_BUCKET_MS bucket and server: index i covers [i·bucket, (i+1)·bucket). */
export function writeBuckets(record: RunRecord): Array<Map<string, number>> {
  const count = Math.max(1, Math.ceil(endMs(record) / WRITE_BUCKET_MS));
  const buckets = Array.from({ length: count }, () => new Map<string, number>());
  for (const write of record.acked) {
    const bucket = buckets[Math.min(count - 1, Math.max(0, Math.floor(write.ackedAtMs / WRITE_BUCKET_MS)))]!;
    bucket.set(write.server, (bucket.get(write.server) ?? 0) + 1);
  }
  return buckets;
}

/**
 * Rows for intervals so that no two in a row overlap: each goes to the
 * first row free at its start, in order of start. Returns each interval's
 * row, in the input's order.
 */
export function stackRows(intervals: ReadonlyArray<{ readonly from: number; readonly to: number }>): number[] {
  const rowEnds: number[] = [];
  const rowOf: number[] = new Array<number>(intervals.length).fill(0);
  const order = intervals.map((_, index) => index).sort((a, b) => intervals[a]!.from - intervals[b]!.from || a - b);
  for (const index of order) {
    const { from, to } = intervals[index]!;
    let row = rowEnds.findIndex((rowEnd) => rowEnd <= from);
    if (row < 0) row = rowEnds.push(0) - 1;
    rowEnds[row] = Math.max(from, to);
    rowOf[index] = row;
  }
  return rowOf;
}

/** The lost writes are within what the mode allows (none in synchronous mode, up to the lag bound in asynchronous). */
export function lossAllowed(checks: RunChecks): boolean {
  return checks.lostWrites.length === 0 || (checks.allowedLossBytes !== null && checks.lostBytes <= checks.allowedLossBytes);
}

/** PASS only when the checks ran, found nothing, and the harness did not fail. */
export function passed(record: RunRecord): boolean {
  return record.error === null && record.checks !== null && record.problems.length === 0;
}

/** Recovered: the checks ran and one primary with every replica streaming came within the bound. */
export function recovered(record: RunRecord): boolean {
  return record.checks !== null && record.checks.recovery.ok;
}
