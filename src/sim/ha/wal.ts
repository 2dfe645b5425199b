import { formatLsn } from '../../lib/lsn.js';

/**
 * A model of one node's WAL: a list of timeline segments. Segment i holds
 * the positions (end of segment i-1, end of segment i] written on timeline
 * `tl`; the first starts at 0. A write is the pair (timeline, lsn): since a
 * timeline belongs to one primary's lineage, that pair names it exactly.
 * The last segment may be empty (a fresh fork: the new timeline before its
 * first write). LSNs are small integers here (one write = one position).
 * Pure functions over immutable arrays.
 */
export interface Segment {
  readonly tl: number;
  readonly end: number;
}

export type Wal = readonly Segment[];

export const EMPTY_WAL: Wal = Object.freeze([]);

export function walEnd(wal: Wal): number {
  return wal.length === 0 ? 0 : wal[wal.length - 1]!.end;
}

/** The timeline a node with this WAL is on (0: none yet). */
export function walTimeline(wal: Wal): number {
  return wal.length === 0 ? 0 : wal[wal.length - 1]!.tl;
}

/** Drop empty segments except the last (which says which timeline comes next). */
function normalize(segments: Segment[]): Wal {
  const out: Segment[] = [];
  let start = 0;
  segments.forEach((s, i) => {
    if (s.end > start || i === segments.length - 1) out.push(s);
    start = s.end;
  });
  return out;
}

/** Append one write on the WAL's own timeline; returns the new WAL and the write's LSN. */
export function appendWrite(wal: Wal, tl: number): { wal: Wal; lsn: number } {
  const last = wal[wal.length - 1];
  const lsn = walEnd(wal) + 1;
  if (last !== undefined && last.tl === tl) return { wal: [...wal.slice(0, -1), { tl, end: lsn }], lsn };
  return { wal: normalize([...wal, { tl, end: lsn }]), lsn };
}

/** Promotion: the WAL continues on a new timeline from its current end. */
export function fork(wal: Wal, tl: number): Wal {
  return normalize([...wal, { tl, end: walEnd(wal) }]);
}

/** The prefix of `wal` up to position `upto` (with the timeline switch at exactly `upto`, if any). */
export function truncate(wal: Wal, upto: number): Wal {
  const out: Segment[] = [];
  let start = 0;
  for (const s of wal) {
    if (start > upto) break;
    out.push({ tl: s.tl, end: Math.min(s.end, upto) });
    start = s.end;
  }
  return normalize(out);
}

/** The longest position up to which both WALs hold the same writes. */
export function commonPrefixEnd(a: Wal, b: Wal): number {
  const xs = a.filter((s, i) => s.end > (i === 0 ? 0 : a[i - 1]!.end));
  const ys = b.filter((s, i) => s.end > (i === 0 ? 0 : b[i - 1]!.end));
  let pos = 0;
  let i = 0;
  let j = 0;
  while (i < xs.length && j < ys.length && xs[i]!.tl === ys[j]!.tl) {
    const end = Math.min(xs[i]!.end, ys[j]!.end);
    pos = end;
    if (xs[i]!.end === end) i++;
    if (ys[j]!.end === end) j++;
  }
  return pos;
}

/** Every write `a` holds, `b` holds too (a replica may stream from b). */
export function isPrefixOf(a: Wal, b: Wal): boolean {
  return commonPrefixEnd(a, b) === walEnd(a);
}

/** Whether the write (tl, lsn) is in this WAL. */
export function hasWrite(wal: Wal, tl: number, lsn: number): boolean {
  let start = 0;
  for (const s of wal) {
    if (lsn > start && lsn <= s.end) return s.tl === tl;
    start = s.end;
  }
  return false;
}

export function lsnText(position: number): string {
  return formatLsn(BigInt(position));
}

export function describeWal(wal: Wal): string {
  return wal.length === 0 ? '(empty)' : wal.map((s) => `tl${s.tl}..${s.end}`).join(' ');
}
