import test from 'ava';
import fc from 'fast-check';
import type { BackupManifest } from '../../../src/backup/backup-manifest.js';
import { DAY_MS, isWalPrunable, planRetention, sortBackups, walPruneBefore } from '../../../src/backup/retention.js';
import { formatLsn } from '../../../src/lib/lsn.js';
import { validManifest } from '../../helpers/backup-manifests.js';

const NOW = new Date('2026-11-26T12:00:00Z');
const SEG = 16 * 1024 * 1024;

/** Backup n finished `ageDays` before NOW; later backups start at higher LSNs. */
function backup(n: number, ageDays: number): BackupManifest {
  const finished = NOW.getTime() - ageDays * DAY_MS;
  return validManifest({
    suffix: n.toString(16).padStart(6, '0'),
    startedAt: new Date(finished - 60_000).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    startLsn: formatLsn(BigInt(n) * BigInt(SEG) * 10n + 0x28n),
    stopLsn: formatLsn(BigInt(n) * BigInt(SEG) * 10n + 0x100000n),
  });
}

const ids = (list: readonly BackupManifest[]): string[] => list.map((b) => b.id);

test('count only (keepDays 0): the newest keepCount stay, the rest go', (t) => {
  const backups = [backup(1, 30), backup(2, 20), backup(3, 10), backup(4, 1)];
  const plan = planRetention({ backups: [...backups].reverse(), keepCount: 2, keepDays: 0, now: NOW });
  t.deepEqual(ids(plan.keep), ids([backups[3]!, backups[2]!]));
  t.deepEqual(ids(plan.delete), ids([backups[1]!, backups[0]!]));
  t.is(plan.reasons[backups[0]!.id], 'expired');
  t.is(plan.reasons[backups[3]!.id], 'newest');
});

test('count and age: everything within the window stays, plus the newest backup before it (the anchor)', (t) => {
  const backups = [backup(1, 40), backup(2, 15), backup(3, 9), backup(4, 6), backup(5, 3), backup(6, 0.5)];
  const plan = planRetention({ backups, keepCount: 1, keepDays: 7, now: NOW });
  t.deepEqual(plan.reasons, {
    [backups[5]!.id]: 'newest',
    [backups[4]!.id]: 'within_window',
    [backups[3]!.id]: 'within_window',
    [backups[2]!.id]: 'window_anchor',
    [backups[1]!.id]: 'expired',
    [backups[0]!.id]: 'expired',
  });
});

test('the count wins when the window holds fewer backups', (t) => {
  const backups = [backup(1, 40), backup(2, 30), backup(3, 20)];
  const plan = planRetention({ backups, keepCount: 2, keepDays: 7, now: NOW });
  // The newest two are old but kept by count; the second of them already covers the window start, so no extra anchor.
  t.deepEqual(plan.reasons, { [backups[2]!.id]: 'newest', [backups[1]!.id]: 'newest', [backups[0]!.id]: 'expired' });
});

test('the newest complete backup is never deleted, however old', (t) => {
  const only = [backup(1, 365)];
  t.deepEqual(planRetention({ backups: only, keepCount: 1, keepDays: 1, now: NOW }).delete, []);
  t.deepEqual(planRetention({ backups: [], keepCount: 1, keepDays: 1, now: NOW }), { keep: [], delete: [], reasons: {} });
  t.throws(() => planRetention({ backups: only, keepCount: 0, keepDays: 1, now: NOW }), { code: 'PGHERD_ASSERTION_FAILED' });
  t.throws(() => planRetention({ backups: only, keepCount: 1, keepDays: -1, now: NOW }), { code: 'PGHERD_ASSERTION_FAILED' });
});

test('property: the plan partitions the backups, keeps the newest keepCount, and leaves every point of the window restorable', (t) => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 60, noNaN: true }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 20 }), (ages, keepCount, keepDays) => {
      // Older backups have lower LSNs: sort ages descending before numbering.
      const backups = [...ages].sort((a, b) => b - a).map((age, i) => backup(i + 1, age));
      const plan = planRetention({ backups, keepCount, keepDays, now: NOW });
      if (plan.keep.length + plan.delete.length !== backups.length) return false;
      const newest = sortBackups(backups).reverse();
      if (!newest.slice(0, keepCount).every((b) => plan.reasons[b.id] !== 'expired')) return false;
      if (keepDays === 0) return plan.keep.length === Math.min(keepCount, backups.length);
      // Any time in the window after the oldest backup finished has a kept backup finished at or before it.
      const windowStart = NOW.getTime() - keepDays * DAY_MS;
      const oldestFinish = Math.min(...backups.map((b) => Date.parse(b.finishedAt)));
      const probe = Math.max(windowStart, oldestFinish);
      return plan.keep.some((b) => Date.parse(b.finishedAt) <= probe);
    }),
  );
  t.pass();
});

test('sortBackups: by start LSN, then id', (t) => {
  const a = backup(1, 3);
  const b = backup(2, 2);
  const c = { ...backup(2, 1), id: `${backup(2, 2).id.slice(0, -6)}ffffff` };
  t.deepEqual(ids(sortBackups([c, b, a])), [a.id, b.id, c.id]);
});

test('WAL prune boundary: the oldest kept backup\'s start segment', (t) => {
  const oldest = validManifest({ timeline: 2, startLsn: '0/5000028', stopLsn: '0/6000100' });
  const boundary = walPruneBefore(oldest);
  t.is(boundary, '000000020000000000000005');
  const cases: Array<[string, boolean]> = [
    ['000000020000000000000004', true],
    ['000000010000000000000004', true],
    ['000000010000000000000004.partial', true],
    ['000000020000000000000003.00000028.backup', true],
    ['000000020000000000000005', false],
    ['000000020000000000000005.00000028.backup', false],
    ['000000010000000000000005', false],
    ['000000010000000000000006', false],
    ['000000030000000000000001', false],
    ['00000001.history', false],
    ['00000002.history', false],
    ['0000000200000000000000FF', false],
    ['000000010000000100000000', false],
    ['something-else', false],
  ];
  for (const [name, prunable] of cases) t.is(isWalPrunable(name, boundary, oldest.walSegmentBytes), prunable, name);
  // Across a log id: boundary 0/0 of log 1.
  t.true(isWalPrunable('0000000100000000000000FF', '000000010000000100000000', SEG));
  // The segment size decides what a name means: 64 MiB segments stop at ...3F.
  t.false(isWalPrunable('000000010000000000000040', '000000010000000100000000', 64 * 1024 * 1024));
  t.throws(() => isWalPrunable('000000010000000000000001', '00000002.history', SEG), { instanceOf: RangeError });
});
