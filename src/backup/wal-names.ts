import type { LsnValue } from '../lib/lsn.js';

/*
 * PostgreSQL's WAL file names (src/include/access/xlog_internal.h), pure.
 *
 *   segment          TTTTTTTTXXXXXXXXYYYYYYYY           timeline, then the segment number
 *                                                       as (segno / segments per xlogid,
 *                                                       segno % segments per xlogid)
 *   partial segment  <segment>.partial                  the last, incomplete segment of the
 *                                                       old timeline, archived at promotion
 *   backup history   <segment>.OOOOOOOO.backup          OOOOOOOO: the backup's start offset
 *                                                       within the segment
 *   timeline history TTTTTTTT.history
 *
 * All hex is upper case. "segments per xlogid" is 2^32 / wal_segment_size:
 * 256 for the default 16 MiB, so with 16 MiB segments the last 8 digits run
 * 00000000..000000FF and then the middle 8 digits step. The segment number
 * therefore needs the segment size to parse; the name's syntax does not.
 *
 * isWalFileName() is the strict set of names PostgreSQL archives and
 * restores. The agent reads and writes files by these names, so nothing
 * else (no "/", no "..", no lower case) is ever accepted.
 */

export const WAL_SEGMENT_BYTES_DEFAULT = 16 * 1024 * 1024;
/** wal_segment_size is a power of two between these (initdb --wal-segsize). */
export const WAL_SEGMENT_BYTES_MIN = 1024 * 1024;
export const WAL_SEGMENT_BYTES_MAX = 1024 * 1024 * 1024;
/** One "xlogid": the high 32 bits of an LSN. */
const XLOG_ID_BYTES = 0x1_0000_0000;
const TIMELINE_MAX = 0xffff_ffff;

const SEGMENT_NAME_LENGTH = 24;
const SEGMENT = /^[0-9A-F]{24}$/;
const PARTIAL = /^[0-9A-F]{24}\.partial$/;
const BACKUP_HISTORY = /^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/;
const TIMELINE_HISTORY = /^[0-9A-F]{8}\.history$/;

export type WalFileKind = 'segment' | 'partial' | 'backup' | 'history';

/** The kind of a WAL file name; undefined when PostgreSQL would never archive or ask for it. */
export function walFileKind(name: string): WalFileKind | undefined {
  if (SEGMENT.test(name)) return 'segment';
  if (TIMELINE_HISTORY.test(name)) return 'history';
  if (PARTIAL.test(name)) return 'partial';
  if (BACKUP_HISTORY.test(name)) return 'backup';
  return undefined;
}

/** A name PostgreSQL archives (segment, partial segment, backup or timeline history file), and nothing else. */
export function isWalFileName(name: string): boolean {
  return walFileKind(name) !== undefined;
}

export function isSegmentName(name: string): boolean {
  return SEGMENT.test(name);
}

export function isTimelineHistoryName(name: string): boolean {
  return TIMELINE_HISTORY.test(name);
}

/** Whether `segmentBytes` is a valid wal_segment_size: a power of two from 1 MiB to 1 GiB. */
export function isValidSegmentBytes(segmentBytes: number): boolean {
  const powerOfTwo = Number.isInteger(segmentBytes) && segmentBytes > 0 && (segmentBytes & (segmentBytes - 1)) === 0;
  return powerOfTwo && segmentBytes >= WAL_SEGMENT_BYTES_MIN && segmentBytes <= WAL_SEGMENT_BYTES_MAX;
}

/** Throws RangeError unless `segmentBytes` is a valid wal_segment_size (a power of two from 1 MiB to 1 GiB). */
export function checkSegmentBytes(segmentBytes: number): void {
  if (!isValidSegmentBytes(segmentBytes)) {
    throw new RangeError(`WAL segment size ${segmentBytes}: expected a power of two from ${WAL_SEGMENT_BYTES_MIN} to ${WAL_SEGMENT_BYTES_MAX} bytes`);
  }
}

/** 2^32 / segmentBytes: how many segments one xlogid (the high LSN half) holds. */
export function segmentsPerXLogId(segmentBytes: number): number {
  checkSegmentBytes(segmentBytes);
  return XLOG_ID_BYTES / segmentBytes;
}

/**
 * A segment's position. Segment numbers are below 2^44 (2^64 bytes of WAL
 * over 1 MiB segments), so a number holds them exactly.
 */
export interface SegmentId {
  readonly timeline: number;
  readonly segment: number;
}

const hex8 = (value: number): string => value.toString(16).toUpperCase().padStart(8, '0');

/** Parse a segment name (24 hex digits). Throws RangeError when it is not one, or its low part does not exist for this segment size. */
export function parseSegmentName(name: string, segmentBytes: number): SegmentId {
  if (!SEGMENT.test(name)) throw new RangeError(`not a WAL segment name: ${JSON.stringify(name)}`);
  const perId = segmentsPerXLogId(segmentBytes);
  const timeline = Number.parseInt(name.slice(0, 8), 16);
  const high = Number.parseInt(name.slice(8, 16), 16);
  const low = Number.parseInt(name.slice(16, 24), 16);
  if (timeline === 0) throw new RangeError(`WAL segment name ${name}: timeline 0 does not exist`);
  if (low >= perId) throw new RangeError(`WAL segment name ${name}: with ${segmentBytes}-byte segments the last 8 digits stop at ${hex8(perId - 1)}`);
  return { timeline, segment: high * perId + low };
}

/** The segment file name of `segment` on `timeline` (XLogFileName). */
export function formatSegmentName(timeline: number, segment: number, segmentBytes: number): string {
  checkTimeline(timeline);
  const perId = segmentsPerXLogId(segmentBytes);
  if (!Number.isSafeInteger(segment) || segment < 0 || segment >= perId * XLOG_ID_BYTES) {
    throw new RangeError(`WAL segment number out of range: ${segment}`);
  }
  return `${hex8(timeline)}${hex8(Math.floor(segment / perId))}${hex8(segment % perId)}`;
}

/** The segment after `name` on the same timeline. */
export function nextSegmentName(name: string, segmentBytes: number): string {
  const { timeline, segment } = parseSegmentName(name, segmentBytes);
  return formatSegmentName(timeline, segment + 1, segmentBytes);
}

/** The name of the segment holding `lsn` on `timeline` (XLByteToSeg + XLogFileName). */
export function segmentOfLsn(lsn: LsnValue, timeline: number, segmentBytes: number): string {
  return formatSegmentName(timeline, segmentNumberOfLsn(lsn, segmentBytes), segmentBytes);
}

/**
 * The name of the segment holding the last byte before `lsn` on `timeline`
 * (XLByteToPrevSeg + XLogFileName): the last segment a stretch of WAL ending
 * at `lsn` needs. An end exactly on a segment boundary needs nothing of the
 * segment that starts there. `lsn` must be positive.
 */
export function segmentBeforeLsn(lsn: LsnValue, timeline: number, segmentBytes: number): string {
  if (lsn <= 0n) throw new RangeError(`an end LSN must be positive, got ${lsn}`);
  return segmentOfLsn(lsn - 1n, timeline, segmentBytes);
}

/**
 * The segment a WAL file name is about: the segment itself, or the one a
 * partial segment or a backup history file belongs to. undefined for a
 * timeline history file and for anything that is not a WAL file name with
 * this segment size (see parseSegmentName). Throws RangeError only for an
 * invalid `segmentBytes`.
 */
export function segmentOfWalFile(name: string, segmentBytes: number): SegmentId | undefined {
  checkSegmentBytes(segmentBytes);
  const kind = walFileKind(name);
  if (kind === undefined || kind === 'history') return undefined;
  try {
    return parseSegmentName(name.slice(0, SEGMENT_NAME_LENGTH), segmentBytes);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/** A stretch of WAL on one timeline: [startLsn, endLsn) (a backup's "WAL-Ranges" entry). */
export interface WalRange {
  readonly timeline: number;
  readonly startLsn: LsnValue;
  readonly endLsn: LsnValue;
}

/** At most this many names from walFilesForRanges (with 16 MiB segments: 16 TiB of WAL). */
export const WAL_FILES_FOR_RANGES_MAX = 1_000_000;

/**
 * Every WAL file that recovery from a backup with these WAL ranges needs, in
 * replay order: the segments of each range (oldest timeline first, each
 * range starting where the previous one ended), then the timeline history
 * file of the newest timeline when it is not 1.
 *
 * Where a range hands over to the next timeline, the segment holding the
 * switch point is read from the NEW timeline (recovery prefers the newest
 * timeline whose history covers a segment), so an older range contributes
 * only the segments strictly before that one. The last range runs through
 * the segment holding its last byte (segmentBeforeLsn), or only its start
 * segment when it is empty. Throws RangeError for no ranges, for ranges
 * that are unordered or do not join, and beyond WAL_FILES_FOR_RANGES_MAX
 * segments.
 */
export function walFilesForRanges(ranges: readonly WalRange[], segmentBytes: number): string[] {
  if (ranges.length === 0) throw new RangeError('a backup has at least one WAL range');
  const segments: Array<{ timeline: number; first: number; last: number }> = [];
  for (const [i, range] of ranges.entries()) {
    if (range.startLsn > range.endLsn) throw new RangeError(`WAL range of timeline ${range.timeline} ends before it starts`);
    const next = ranges[i + 1];
    const first = segmentNumberOfLsn(range.startLsn, segmentBytes);
    if (next === undefined) {
      const last = range.endLsn === range.startLsn ? first : segmentNumberOfLsn(range.endLsn - 1n, segmentBytes);
      segments.push({ timeline: range.timeline, first, last });
      continue;
    }
    if (next.timeline <= range.timeline || next.startLsn !== range.endLsn) throw new RangeError('WAL ranges must be ordered by timeline and join');
    segments.push({ timeline: range.timeline, first, last: segmentNumberOfLsn(range.endLsn, segmentBytes) - 1 });
  }
  const count = segments.reduce((sum, s) => sum + Math.max(0, s.last - s.first + 1), 0);
  if (count > WAL_FILES_FOR_RANGES_MAX) throw new RangeError(`WAL ranges span ${count} segments, more than ${WAL_FILES_FOR_RANGES_MAX}`);
  const names: string[] = [];
  for (const { timeline, first, last } of segments) {
    for (let segment = first; segment <= last; segment++) names.push(formatSegmentName(timeline, segment, segmentBytes));
  }
  const newest = ranges.at(-1)!.timeline;
  if (newest > 1) names.push(timelineHistoryName(newest));
  return names;
}

/** TTTTTTTT.history */
export function timelineHistoryName(timeline: number): string {
  checkTimeline(timeline);
  return `${hex8(timeline)}.history`;
}

/** The timeline in any WAL file name (its first 8 digits). Throws RangeError when `name` is not a WAL file name. */
export function timelineOf(name: string): number {
  if (!isWalFileName(name)) throw new RangeError(`not a WAL file name: ${JSON.stringify(name)}`);
  return Number.parseInt(name.slice(0, 8), 16);
}

/**
 * The order PostgreSQL's archiver takes ready files in (pgarch.c
 * ready_file_comparator): timeline history files first, then by name,
 * which for segments of one timeline is oldest first.
 */
export function compareArchiveOrder(a: string, b: string): number {
  const aHistory = TIMELINE_HISTORY.test(a);
  const bHistory = TIMELINE_HISTORY.test(b);
  if (aHistory !== bHistory) return aHistory ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Where the cluster's WAL lives in the object store. */
export function walPrefix(cluster: string): string {
  return `${cluster}/wal/`;
}

/**
 * The store key of one WAL file: "<cluster>/wal/<name>", whatever its
 * encoding. One key per name means one head() answers "is it archived?"
 * even when the compression setting changed in between; the encoding, the
 * SHA-256 and the size of the uncompressed bytes travel in the object's
 * metadata (wal-object.ts).
 */
export function walKey(cluster: string, name: string): string {
  if (!isWalFileName(name)) throw new RangeError(`not a WAL file name: ${JSON.stringify(name)}`);
  return `${walPrefix(cluster)}${name}`;
}

/** The number of the segment holding `lsn` (XLByteToSeg). */
function segmentNumberOfLsn(lsn: LsnValue, segmentBytes: number): number {
  checkSegmentBytes(segmentBytes);
  if (lsn < 0n || lsn >= 1n << 64n) throw new RangeError(`LSN out of range: ${lsn}`);
  return Number(lsn / BigInt(segmentBytes));
}

function checkTimeline(timeline: number): void {
  if (!Number.isInteger(timeline) || timeline < 1 || timeline > TIMELINE_MAX) throw new RangeError(`timeline out of range: ${timeline}`);
}
