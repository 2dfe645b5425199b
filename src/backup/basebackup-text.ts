import { z } from 'zod';
import { isLsnText, parseLsn, type LsnValue } from '../lib/lsn.js';
import type { WalRange } from './wal-names.js';

/*
 * What PostgreSQL tells about a base backup it just made, in the three
 * places it tells it. Pure parsers; base-backup.ts reads all three and
 * requires them to agree.
 *
 * 1. backup_label (the first member of the tar, written by the server):
 *      START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
 *      CHECKPOINT LOCATION: 0/2000060
 *      BACKUP METHOD: streamed
 *      BACKUP FROM: primary
 *      START TIME: 2026-11-26 18:15:00 UTC
 *      LABEL: pgherd 20261126T181500Z-3fa9c2
 *      START TIMELINE: 1
 * 2. backup_manifest (the last member: pg_basebackup injects it into the tar
 *    when writing to stdout, PostgreSQL 13+), whose end is
 *      "WAL-Ranges": [
 *      { "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }
 *      ],
 *      "Manifest-Checksum": "5f3e..."}
 *    One range per timeline the backup spans, newest timeline first.
 * 3. pg_basebackup -v on stderr (translated unless LC_MESSAGES is C; the
 *    agent runs tools under C.UTF-8):
 *      pg_basebackup: write-ahead log start point: 0/2000028 on timeline 1
 *      pg_basebackup: write-ahead log end point: 0/2000100
 */

export interface BackupLabel {
  readonly startLsn: LsnValue;
  readonly startWalFile: string;
  readonly checkpointLsn: LsnValue;
  readonly startTimeline: number;
  /** 'primary' or 'standby'. */
  readonly backupFrom: string;
  readonly label: string;
}

/** Parse backup_label. Throws naming the missing or malformed line. */
export function parseBackupLabel(text: string): BackupLabel {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(': ');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2).trim());
  }
  const need = (name: string): string => {
    const value = fields.get(name);
    if (value === undefined) throw new Error(`backup_label has no "${name}" line`);
    return value;
  };
  const start = /^([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/.exec(need('START WAL LOCATION'));
  if (start === null) throw new Error(`backup_label START WAL LOCATION is malformed: ${JSON.stringify(fields.get('START WAL LOCATION'))}`);
  const checkpoint = need('CHECKPOINT LOCATION');
  if (!isLsnText(checkpoint)) throw new Error(`backup_label CHECKPOINT LOCATION is not an LSN: ${JSON.stringify(checkpoint)}`);
  const timelineText = need('START TIMELINE');
  if (!/^[0-9]+$/.test(timelineText) || Number(timelineText) < 1) throw new Error(`backup_label START TIMELINE is not a timeline: ${JSON.stringify(timelineText)}`);
  return {
    startLsn: parseLsn(start[1]!),
    startWalFile: start[2]!,
    checkpointLsn: parseLsn(checkpoint),
    startTimeline: Number(timelineText),
    backupFrom: fields.get('BACKUP FROM') ?? 'primary',
    label: fields.get('LABEL') ?? '',
  };
}

const walRangesTail = z.object({
  'WAL-Ranges': z
    .array(z.object({ Timeline: z.number().int().min(1), 'Start-LSN': z.string().refine(isLsnText), 'End-LSN': z.string().refine(isLsnText) }))
    .min(1),
  'Manifest-Checksum': z.string().regex(/^[0-9a-f]+$/),
});

/**
 * The WAL ranges from the END of a backup_manifest (`tail` may start
 * anywhere before `"WAL-Ranges"`: the whole manifest can be large, so only
 * its tail is kept while streaming). Sorted oldest timeline first.
 */
export function parseManifestWalRanges(tail: string): WalRange[] {
  const at = tail.lastIndexOf('"WAL-Ranges"');
  if (at < 0) throw new Error('backup_manifest has no "WAL-Ranges" (or it is not within the kept tail)');
  let json: unknown;
  try {
    json = JSON.parse(`{${tail.slice(at)}`);
  } catch (error) {
    throw new Error(`backup_manifest WAL-Ranges do not parse: ${(error as Error).message}`);
  }
  const parsed = walRangesTail.safeParse(json);
  if (!parsed.success) throw new Error(`backup_manifest WAL-Ranges are malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const ranges = parsed.data['WAL-Ranges'].map((r) => ({ timeline: r.Timeline, startLsn: parseLsn(r['Start-LSN']), endLsn: parseLsn(r['End-LSN']) }));
  ranges.sort((a, b) => a.timeline - b.timeline);
  for (const [i, r] of ranges.entries()) {
    if (r.startLsn > r.endLsn) throw new Error(`backup_manifest WAL range of timeline ${r.timeline} ends before it starts`);
    const next = ranges[i + 1];
    if (next !== undefined && (next.timeline === r.timeline || next.startLsn !== r.endLsn)) throw new Error(`backup_manifest WAL ranges of timelines ${r.timeline} and ${next.timeline} do not join`);
  }
  return ranges;
}

export interface VerboseStderr {
  readonly startLsn?: LsnValue;
  readonly startTimeline?: number;
  readonly endLsn?: LsnValue;
}

/** The start and end points from `pg_basebackup -v` stderr; a field is absent when its line is. */
export function parseBasebackupStderr(text: string): VerboseStderr {
  const start = /write-ahead log start point: ([0-9A-Fa-f]+\/[0-9A-Fa-f]+) on timeline (\d+)/.exec(text);
  const end = /write-ahead log end point: ([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(text);
  return {
    ...(start === null ? {} : { startLsn: parseLsn(start[1]!), startTimeline: Number(start[2]) }),
    ...(end === null ? {} : { endLsn: parseLsn(end[1]!) }),
  };
}

/** The last `lines` non-empty lines of a tool's output, for error messages. */
export function tailLines(text: string, lines = 10): string {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .join('\n');
}
