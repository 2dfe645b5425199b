import { formatLsn, parseLsn, type LsnValue } from '../lib/lsn.js';
import type { WalRange } from './wal-names.js';

/*
 * A timeline history file (TTTTTTTT.history) and the WAL a timeline's
 * history is made of. PostgreSQL writes one line per ancestor, oldest
 * first, tab-separated:
 *
 *   <parent timeline> <switch point X/Y> <reason>
 *
 * meaning the parent's WAL ends at the switch point and the next timeline
 * (the next line's, or the file's own) begins there. '#' starts a comment;
 * blank lines are skipped (timeline.c readTimeLineHistory).
 */

export interface TimelineSwitch {
  /** An ancestor timeline. */
  readonly timeline: number;
  /** Where its WAL ends and the next timeline's begins. */
  readonly switchLsn: LsnValue;
  readonly reason: string;
}

/** The ancestors in a history file, oldest first. Throws RangeError naming the line for anything PostgreSQL would not have written. */
export function parseTimelineHistory(text: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [timelineText, lsnText, ...reason] = line.split(/\s+/);
    const where = `timeline history line ${index + 1} (${JSON.stringify(line.slice(0, 80))})`;
    if (timelineText === undefined || !/^[0-9]{1,10}$/.test(timelineText) || lsnText === undefined) throw new RangeError(`${where}: expected "<timeline> <X/Y> <reason>"`);
    const timeline = Number(timelineText);
    let switchLsn: LsnValue;
    try {
      switchLsn = parseLsn(lsnText);
    } catch {
      throw new RangeError(`${where}: switch point ${JSON.stringify(lsnText)} is not an LSN`);
    }
    const previous = switches.at(-1);
    if (timeline < 1 || (previous !== undefined && (timeline <= previous.timeline || switchLsn < previous.switchLsn))) {
      throw new RangeError(`${where}: timelines must increase and switch points must not go back`);
    }
    switches.push({ timeline, switchLsn, reason: reason.join(' ') });
  }
  return switches;
}

/**
 * The WAL of `timeline` from `startLsn` to `endLsn` as ranges along its
 * ancestry (walFilesForRanges names the files): each ancestor from where
 * the previous one switched (or from startLsn) to its own switch point,
 * then the timeline itself to endLsn. Ancestors that switched at or before
 * startLsn contribute nothing. Throws RangeError when an ancestor is not
 * older than `timeline` or endLsn lies before the last switch (or start).
 */
export function timelineRanges(ancestors: readonly TimelineSwitch[], timeline: number, startLsn: LsnValue, endLsn: LsnValue): WalRange[] {
  const ranges: WalRange[] = [];
  let cursor = startLsn;
  for (const ancestor of ancestors) {
    if (ancestor.timeline >= timeline) throw new RangeError(`timeline ${timeline}'s history names timeline ${ancestor.timeline}, not an ancestor`);
    if (ancestor.switchLsn <= cursor) continue;
    ranges.push({ timeline: ancestor.timeline, startLsn: cursor, endLsn: ancestor.switchLsn });
    cursor = ancestor.switchLsn;
  }
  if (endLsn < cursor) throw new RangeError(`the end ${formatLsn(endLsn)} lies before ${formatLsn(cursor)}, where timeline ${timeline} begins or the start is`);
  ranges.push({ timeline, startLsn: cursor, endLsn });
  return ranges;
}
