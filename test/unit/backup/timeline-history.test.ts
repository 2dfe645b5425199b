import test from 'ava';
import { parseTimelineHistory, timelineRanges } from '../../../src/backup/timeline-history.js';
import { walFilesForRanges } from '../../../src/backup/wal-names.js';
import { parseLsn } from '../../../src/lib/lsn.js';

const MiB16 = 16 * 1024 * 1024;

// What PostgreSQL 15 wrote for timeline 3 after two promotions (and a comment, as old versions did).
const HISTORY_3 = '1\t0/5000148\tno recovery target specified\n\n# comment\n2\t0/7A00000\tno recovery target specified\n';

test('parseTimelineHistory: one entry per ancestor, oldest first', (t) => {
  t.deepEqual(parseTimelineHistory(HISTORY_3), [
    { timeline: 1, switchLsn: parseLsn('0/5000148'), reason: 'no recovery target specified' },
    { timeline: 2, switchLsn: parseLsn('0/7A00000'), reason: 'no recovery target specified' },
  ]);
  t.deepEqual(parseTimelineHistory(''), []);
});

test('parseTimelineHistory: malformed lines are refused, naming the line', (t) => {
  t.throws(() => parseTimelineHistory('1\tnot-an-lsn\treason\n'), { instanceOf: RangeError, message: /line 1 .*not an LSN/ });
  t.throws(() => parseTimelineHistory('x 0/1 reason'), { instanceOf: RangeError, message: /line 1/ });
  t.throws(() => parseTimelineHistory('2\t0/5000000\tr\n1\t0/6000000\tr\n'), { instanceOf: RangeError, message: /line 2 .*must increase/ });
  t.throws(() => parseTimelineHistory('1\t0/5000000\tr\n2\t0/4000000\tr\n'), { instanceOf: RangeError, message: /line 2/ });
});

test('timelineRanges + walFilesForRanges: the files a restore from the start to the end needs, across both switches', (t) => {
  const ranges = timelineRanges(parseTimelineHistory(HISTORY_3), 3, parseLsn('0/2000028'), parseLsn('0/9000000'));
  t.deepEqual(walFilesForRanges(ranges, MiB16), [
    '000000010000000000000002',
    '000000010000000000000003',
    '000000010000000000000004',
    // 0/5000148 is in segment 5: timeline 2 holds it (and the rest of timeline 1 up to the switch)
    '000000020000000000000005',
    '000000020000000000000006',
    // the switch at 0/7A00000 is in segment 7: timeline 3's
    '000000030000000000000007',
    '000000030000000000000008',
    '00000003.history',
  ]);
});

test('timelineRanges: ancestors that ended before the start add nothing; bad input is refused', (t) => {
  const ancestors = parseTimelineHistory(HISTORY_3);
  t.deepEqual(timelineRanges(ancestors, 3, parseLsn('0/6000000'), parseLsn('0/8000000')), [
    { timeline: 2, startLsn: parseLsn('0/6000000'), endLsn: parseLsn('0/7A00000') },
    { timeline: 3, startLsn: parseLsn('0/7A00000'), endLsn: parseLsn('0/8000000') },
  ]);
  t.deepEqual(timelineRanges([], 1, parseLsn('0/1000000'), parseLsn('0/3000000')), [{ timeline: 1, startLsn: parseLsn('0/1000000'), endLsn: parseLsn('0/3000000') }]);
  t.throws(() => timelineRanges(ancestors, 2, parseLsn('0/1000000'), parseLsn('0/9000000')), { instanceOf: RangeError, message: /not an ancestor/ });
  t.throws(() => timelineRanges(ancestors, 3, parseLsn('0/1000000'), parseLsn('0/7000000')), { instanceOf: RangeError, message: /lies before 0\/7A00000/ });
});
