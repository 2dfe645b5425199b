import test from 'ava';
import { BootstrapCatalog } from '../../../src/ha/bootstrap-catalog.js';
import type { BackupSummary } from '../../../src/ha/bootstrap-rule.js';
import { silentLogger } from '../../../src/lib/logger.js';

const BACKUP: BackupSummary = { id: '20261126T181500Z-3fa9c2', systemIdentifier: '7300000000000000001', timeline: 1, stopTimeline: 1, startLsn: '0/2000028', stopLsn: '0/2000100', dataBytes: 1000 };

/** Resolves when `onSettled` is called. */
function settled(): { onSettled: () => void; done: Promise<void> } {
  let onSettled!: () => void;
  const done = new Promise<void>((resolve) => (onSettled = resolve));
  return { onSettled, done };
}

test('the loop never waits: pending while the store is read, then the backups until they are too old', async (t) => {
  let nowMs = 0;
  let reads = 0;
  const catalog = new BootstrapCatalog({ read: async () => (reads++, [BACKUP]), now: () => nowMs, log: silentLogger, maxAgeMs: 10_000 });
  const first = settled();
  t.deepEqual(catalog.view(first.onSettled), { kind: 'pending' });
  t.deepEqual(catalog.view(() => t.fail('one read at a time')), { kind: 'pending' }, 'a second look while reading starts nothing');
  await first.done;
  t.deepEqual(catalog.view(() => t.fail('fresh')), { kind: 'read', backups: [BACKUP] });
  nowMs = 10_000;
  t.deepEqual(catalog.view(() => t.fail('still fresh')), { kind: 'read', backups: [BACKUP] });
  nowMs = 10_001;
  const second = settled();
  t.deepEqual(catalog.view(second.onSettled), { kind: 'pending' }, 'too old: read again, never decide on it');
  await second.done;
  t.is(reads, 2);
});

test('a backup the cluster state recorded since the read makes a fresh catalog stale at once', async (t) => {
  let reads = 0;
  const catalog = new BootstrapCatalog({ read: async () => (reads++, [BACKUP]), now: () => 0, log: silentLogger, maxAgeMs: 10_000 });
  const first = settled();
  catalog.view(first.onSettled, null);
  await first.done;
  t.deepEqual(catalog.view(() => t.fail('fresh'), null), { kind: 'read', backups: [BACKUP] });
  const second = settled();
  t.deepEqual(catalog.view(second.onSettled, BACKUP.id), { kind: 'pending' }, 'a backup was recorded: read again');
  await second.done;
  t.deepEqual(catalog.view(() => t.fail('fresh for that backup'), BACKUP.id), { kind: 'read', backups: [BACKUP] });
  t.is(reads, 2);
});

test('a store that fails or hangs is unreadable, saying why; a later look reads again', async (t) => {
  let nowMs = 0;
  let fail = true;
  const failing = new BootstrapCatalog({ read: async () => (fail ? Promise.reject(new Error('AccessDenied: no ListBucket')) : [BACKUP]), now: () => nowMs, log: silentLogger, maxAgeMs: 1_000 });
  const first = settled();
  failing.view(first.onSettled);
  await first.done;
  t.deepEqual(failing.view(() => undefined), { kind: 'unreadable', error: 'AccessDenied: no ListBucket' });
  fail = false;
  nowMs = 2_000;
  const second = settled();
  failing.view(second.onSettled);
  await second.done;
  t.deepEqual(failing.view(() => undefined), { kind: 'read', backups: [BACKUP] });

  const hanging = new BootstrapCatalog({ read: () => new Promise(() => undefined), now: () => 0, log: silentLogger, timeoutMs: 50 });
  const third = settled();
  hanging.view(third.onSettled);
  await third.done;
  t.deepEqual(hanging.view(() => undefined), { kind: 'unreadable', error: 'listing the base backups took longer than 50 ms' });
});
