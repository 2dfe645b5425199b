import test from 'ava';
import fc from 'fast-check';
import { parseLsn } from '../../../src/lib/lsn.js';
import {
  compareArchiveOrder,
  formatSegmentName,
  isValidSegmentBytes,
  isWalFileName,
  nextSegmentName,
  parseSegmentName,
  segmentBeforeLsn,
  segmentOfLsn,
  segmentOfWalFile,
  segmentsPerXLogId,
  timelineHistoryName,
  timelineOf,
  walFileKind,
  walFilesForRanges,
  walKey,
  type WalRange,
} from '../../../src/backup/wal-names.js';

const MIB = 1024 * 1024;

test('segmentOfLsn: the names PostgreSQL gives (pg_walfile_name) with 16 MiB segments', (t) => {
  t.is(segmentOfLsn(parseLsn('0/3000000'), 1, 16 * MIB), '000000010000000000000003');
  t.is(segmentOfLsn(parseLsn('0/3FFFFFF'), 1, 16 * MIB), '000000010000000000000003');
  t.is(segmentOfLsn(parseLsn('1/0'), 1, 16 * MIB), '000000010000000100000000');
  t.is(segmentOfLsn(parseLsn('16/B374D848'), 1, 16 * MIB), '0000000100000016000000B3');
  t.is(segmentOfLsn(parseLsn('0/FF000000'), 2, 16 * MIB), '0000000200000000000000FF');
  t.is(segmentOfLsn(parseLsn('FFFFFFFF/FFFFFFFF'), 0xffffffff, 16 * MIB), 'FFFFFFFFFFFFFFFF000000FF');
});

test('segments per xlogid: 16 MiB names run 00..FF in the last digits, then the middle part steps', (t) => {
  t.is(segmentsPerXLogId(16 * MIB), 256);
  t.is(nextSegmentName('0000000100000000000000FE', 16 * MIB), '0000000100000000000000FF');
  t.is(nextSegmentName('0000000100000000000000FF', 16 * MIB), '000000010000000100000000');
  t.is(nextSegmentName('00000003000000AB000000FF', 16 * MIB), '00000003000000AC00000000');
  t.throws(() => parseSegmentName('000000010000000000000100', 16 * MIB), { instanceOf: RangeError, message: /stop at 000000FF/ });
});

test('other segment sizes: 1 MiB runs to FFF, 64 MiB to 3F', (t) => {
  t.is(segmentsPerXLogId(MIB), 4096);
  t.is(segmentOfLsn(parseLsn('0/FFF00000'), 1, MIB), '000000010000000000000FFF');
  t.is(nextSegmentName('000000010000000000000FFF', MIB), '000000010000000100000000');
  t.is(segmentOfLsn(parseLsn('0/3000000'), 1, MIB), '000000010000000000000030');
  t.is(segmentsPerXLogId(64 * MIB), 64);
  t.is(segmentOfLsn(parseLsn('0/FC000000'), 1, 64 * MIB), '00000001000000000000003F');
  t.is(nextSegmentName('00000001000000000000003F', 64 * MIB), '000000010000000100000000');
  t.is(segmentOfLsn(parseLsn('1/4000000'), 1, 64 * MIB), '000000010000000100000001');
  t.throws(() => parseSegmentName('000000010000000000000040', 64 * MIB), { instanceOf: RangeError });
  for (const bad of [0, 1000, 512 * 1024, 3 * MIB, 2048 * MIB]) t.throws(() => segmentsPerXLogId(bad), { instanceOf: RangeError }, String(bad));
});

test('parse and format a segment: timeline and segment number', (t) => {
  t.deepEqual(parseSegmentName('0000000200000016000000B3', 16 * MIB), { timeline: 2, segment: 0x16b3 });
  t.is(formatSegmentName(2, 0x16b3, 16 * MIB), '0000000200000016000000B3');
  t.throws(() => parseSegmentName('000000000000000000000001', 16 * MIB), { message: /timeline 0/ });
  t.throws(() => parseSegmentName('00000001.history', 16 * MIB), { instanceOf: RangeError });
  t.throws(() => formatSegmentName(0, 1, 16 * MIB), { instanceOf: RangeError });
  t.throws(() => formatSegmentName(1, -1, 16 * MIB), { instanceOf: RangeError });
  t.throws(() => formatSegmentName(1, 2 ** 40, 16 * MIB), { instanceOf: RangeError }, '2^64 bytes of WAL is 2^40 segments of 16 MiB');
});

test('format/parse round trip for every segment size', (t) => {
  const sizes = fc.constantFrom(...[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024].map((m) => m * MIB));
  fc.assert(
    fc.property(sizes, fc.integer({ min: 1, max: 0xffffffff }), fc.double({ min: 0, max: 1, noNaN: true }), (size, timeline, where) => {
      const segment = Math.floor(where * (2 ** 64 / size - 1));
      const name = formatSegmentName(timeline, segment, size);
      const back = parseSegmentName(name, size);
      return name.length === 24 && back.timeline === timeline && back.segment === segment && name === segmentOfLsn(BigInt(segment) * BigInt(size), timeline, size);
    }),
  );
  t.pass();
});

test('isWalFileName: exactly what PostgreSQL archives', (t) => {
  t.is(walFileKind('000000010000000000000003'), 'segment');
  t.is(walFileKind('00000002.history'), 'history');
  t.is(walFileKind('000000010000000000000003.partial'), 'partial');
  t.is(walFileKind('000000010000000000000002.00000028.backup'), 'backup');
  t.is(timelineHistoryName(2), '00000002.history');
  t.is(timelineHistoryName(0x1a), '0000001A.history');
  t.is(timelineOf('0000001A0000000000000003.partial'), 26);
  const refused = [
    '',
    '00000001000000000000000', // 23 digits
    '0000000100000000000000030', // 25
    '00000001000000000000000a', // lower case
    '0000002.history',
    '00000002.History',
    '000000010000000000000003.ready',
    '000000010000000000000003.partial.gz',
    '000000010000000000000002.0000028.backup',
    '000000010000000000000002.backup',
    '../000000010000000000000003',
    'pg_wal/000000010000000000000003',
    '000000010000000000000003/',
    '000000010000000000000003\n',
    'RECOVERYXLOG',
    'postmaster.pid',
    '..',
    '/etc/passwd',
  ];
  for (const name of refused) t.false(isWalFileName(name), JSON.stringify(name));
  t.throws(() => timelineOf('x'), { instanceOf: RangeError });
});

test('archive order is pgarch.c ready_file_comparator: timeline history files first, then oldest first', (t) => {
  const ready = ['000000020000000000000005', '000000010000000000000004.partial', '00000002.history', '000000010000000000000003', '000000010000000000000002.00000028.backup', '00000003.history'];
  t.deepEqual([...ready].sort(compareArchiveOrder), [
    '00000002.history',
    '00000003.history',
    '000000010000000000000002.00000028.backup',
    '000000010000000000000003',
    '000000010000000000000004.partial',
    '000000020000000000000005',
  ]);
});

test('walKey: one key per WAL file name, under the cluster; anything else throws', (t) => {
  t.is(walKey('prod', '000000010000000000000003'), 'prod/wal/000000010000000000000003');
  t.is(walKey('prod', '00000002.history'), 'prod/wal/00000002.history');
  t.throws(() => walKey('prod', '../x'), { instanceOf: RangeError });
});

test('segmentBeforeLsn: the segment holding the byte before an end LSN (XLByteToPrevSeg)', (t) => {
  t.is(segmentBeforeLsn(parseLsn('0/3000000'), 1, 16 * MIB), '000000010000000000000002', 'an end exactly on a boundary needs nothing of the next segment');
  t.is(segmentBeforeLsn(parseLsn('0/3000001'), 1, 16 * MIB), '000000010000000000000003');
  t.is(segmentBeforeLsn(parseLsn('1/0'), 2, 16 * MIB), '0000000200000000000000FF');
  t.throws(() => segmentBeforeLsn(0n, 1, 16 * MIB), { instanceOf: RangeError });
});

test('isValidSegmentBytes: powers of two from 1 MiB to 1 GiB', (t) => {
  for (const good of [MIB, 16 * MIB, 1024 * MIB]) t.true(isValidSegmentBytes(good), String(good));
  for (const bad of [0, 512 * 1024, 2048 * MIB, 3 * MIB, 16.5 * MIB]) t.false(isValidSegmentBytes(bad), String(bad));
});

test('segmentOfWalFile: the segment of a segment, partial segment or backup history file; nothing for the rest', (t) => {
  t.deepEqual(segmentOfWalFile('000000020000000100000003', 16 * MIB), { timeline: 2, segment: 0x103 });
  t.deepEqual(segmentOfWalFile('000000010000000000000007.partial', 16 * MIB), { timeline: 1, segment: 7 });
  t.deepEqual(segmentOfWalFile('000000010000000000000002.00000028.backup', 16 * MIB), { timeline: 1, segment: 2 });
  for (const none of ['00000002.history', '', '000000000000000000000001', '000000010000000000000100', '000000010000000000000002.gz', 'backup_label']) {
    t.is(segmentOfWalFile(none, 16 * MIB), undefined, none);
  }
  t.throws(() => segmentOfWalFile('000000010000000000000002', 3 * MIB), { instanceOf: RangeError });
});

test('walFilesForRanges: one timeline, then a switch mid-segment, then a switch on a boundary', (t) => {
  const r = (timeline: number, start: string, end: string): WalRange => ({ timeline, startLsn: parseLsn(start), endLsn: parseLsn(end) });
  const SEG16 = 16 * MIB;
  t.deepEqual(walFilesForRanges([r(1, '0/2000028', '0/4000100')], SEG16), ['000000010000000000000002', '000000010000000000000003', '000000010000000000000004']);
  t.deepEqual(walFilesForRanges([r(1, '0/FF000028', '1/1000010')], SEG16), ['0000000100000000000000FF', '000000010000000100000000', '000000010000000100000001'], 'across an xlogid');
  t.deepEqual(walFilesForRanges([r(1, '0/2000028', '0/2000028')], SEG16), ['000000010000000000000002'], 'an empty range needs its start segment');
  t.deepEqual(walFilesForRanges([r(2, '0/2000028', '0/2000100')], SEG16), ['000000020000000000000002', '00000002.history'], 'a backup on timeline 2 needs its history file');
  // Timeline 1 until 0/3800000 (inside segment 3), timeline 2 from there: segment 3 comes from timeline 2.
  t.deepEqual(walFilesForRanges([r(1, '0/2000028', '0/3800000'), r(2, '0/3800000', '0/4000100')], SEG16), [
    '000000010000000000000002',
    '000000020000000000000003',
    '000000020000000000000004',
    '00000002.history',
  ]);
  t.deepEqual(walFilesForRanges([r(1, '0/2000028', '0/3000000'), r(2, '0/3000000', '0/3000100')], SEG16), ['000000010000000000000002', '000000020000000000000003', '00000002.history']);
  t.throws(() => walFilesForRanges([r(2, '0/2000028', '0/3000000'), r(1, '0/3000000', '0/3000100')], SEG16), { instanceOf: RangeError });
  t.throws(() => walFilesForRanges([r(1, '0/2000028', '0/3000000'), r(2, '0/3000008', '0/3000100')], SEG16), { instanceOf: RangeError }, 'ranges that do not join');
  t.throws(() => walFilesForRanges([r(1, '0/3000000', '0/2000000')], SEG16), { instanceOf: RangeError });
  t.throws(() => walFilesForRanges([], SEG16), { instanceOf: RangeError });
  t.throws(() => walFilesForRanges([r(1, '0/0', '10000/0')], MIB), { instanceOf: RangeError, message: /more than/ });
});

test('property: one range needs every segment from its start through the byte before its end, contiguous', (t) => {
  const sizes = fc.constantFrom(MIB, 16 * MIB, 64 * MIB, 1024 * MIB);
  const lsn = fc.bigInt({ min: 0n, max: (1n << 40n) - 1n });
  fc.assert(
    fc.property(sizes, lsn, fc.bigInt({ min: 0n, max: 64n * 1024n * 1024n * 64n }), fc.integer({ min: 1, max: 0xffff }), (size, start, length, timeline) => {
      const end = start + length;
      const names = walFilesForRanges([{ timeline, startLsn: start, endLsn: end }], size).filter((n) => n.length === 24);
      const expected = end === start ? 1 : Number((end - 1n) / BigInt(size) - start / BigInt(size)) + 1;
      const contiguous = names.every((name, i) => i === 0 || nextSegmentName(names[i - 1]!, size) === name);
      return names.length === expected && names[0] === segmentOfLsn(start, timeline, size) && contiguous && (end === start || names.at(-1) === segmentBeforeLsn(end, timeline, size));
    }),
  );
  t.pass();
});
