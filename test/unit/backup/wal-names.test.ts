import test from 'ava';
import fc from 'fast-check';
import { parseLsn } from '../../../src/lib/lsn.js';
import {
  compareArchiveOrder,
  formatSegmentName,
  isWalFileName,
  nextSegmentName,
  parseSegmentName,
  segmentOfLsn,
  segmentsPerXLogId,
  timelineHistoryName,
  timelineOf,
  walFileKind,
  walKey,
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
