import test from 'ava';
import { backupTaker, decideBackupDuty, type BackupDutyObservation } from '../../../src/backup/backup-duty.js';
import { parseDynamicConfig } from '../../../src/config/dynamic.js';
import { BACKUP_STALE_MS, type BackupRun, type ClusterState, type MemberStatus } from '../../../src/cluster/state.js';
import { runningCluster, T0_MS } from '../cluster/helpers.js';

/** n1 is the primary (runningCluster, initialized at T0_MS + a little); n2 and n3 replicas. */
const HOUR = 3_600_000;
const BOOT = runningCluster();
const INIT_MS = BOOT.initialize!.doneAtMs!;

function state(over: { config?: Record<string, unknown>; current?: BackupRun | null; last?: BackupRun | null; lastScheduledFireMs?: number | null; statuses?: Record<string, Partial<MemberStatus>> } = {}): ClusterState {
  const members = Object.fromEntries(
    Object.entries(BOOT.members).map(([name, member]) => {
      const status = over.statuses?.[name];
      return [name, status === undefined ? member : { ...member, status: { role: 'replica', state: 'streaming', timeline: 1, receiveLsn: '0/3000000', replayLsn: '0/3000000', flushLsn: null, lagBytes: 0, archive: null, reportedAtMs: T0_MS, ...status } as MemberStatus }];
    }),
  );
  return {
    ...BOOT,
    members,
    config: { version: 1, values: parseDynamicConfig({ backup_schedule: '0 1 * * *', ...over.config }) },
    backup: { current: over.current ?? null, last: over.last ?? null, lastScheduledFireMs: over.lastScheduledFireMs ?? null },
  };
}

const run = (over: Partial<BackupRun> = {}): BackupRun => ({
  id: '0000aaaa',
  trigger: 'operator',
  by: 'alice',
  label: '',
  member: null,
  requestedAtMs: INIT_MS + HOUR,
  status: 'pending',
  takenBy: null,
  startedAtMs: null,
  heartbeatAtMs: null,
  finishedAtMs: null,
  backupId: null,
  detail: '',
  ...over,
});

const observe = (o: Partial<BackupDutyObservation> = {}): BackupDutyObservation => ({ state: state(), self: 'n1', wallNowMs: INIT_MS + HOUR, handled: new Set(), storeConfigured: true, ...o });
/** The first 01:00 UTC after the bootstrap. */
const firstFire = (() => {
  const d = new Date(INIT_MS);
  const fire = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 1);
  return fire > INIT_MS ? fire : fire + 24 * HOUR;
})();

test('the taker is the primary, or with backup_take_on replica the least-lagging streaming replica on its timeline', (t) => {
  t.is(backupTaker(state()), 'n1');
  const replica = { config: { backup_take_on: 'replica' } };
  t.is(backupTaker(state(replica)), 'n1', 'no replica reports streaming: the primary');
  t.is(backupTaker(state({ ...replica, statuses: { n2: { lagBytes: 500 }, n3: { lagBytes: 100 } } })), 'n3');
  t.is(backupTaker(state({ ...replica, statuses: { n2: { lagBytes: 100 }, n3: { lagBytes: 100 } } })), 'n2', 'then by name');
  t.is(backupTaker(state({ ...replica, statuses: { n2: { timeline: 2 }, n3: { receiveLsn: null } } })), 'n1', 'another timeline, or not receiving: not a taker');
  t.is(backupTaker({ ...state(), leader: null }), null);
});

test('a pending run is taken by its taker; others leave it; no store: it fails saying so', (t) => {
  const pending = run();
  t.deepEqual(decideBackupDuty(observe({ state: state({ current: pending }) })), { kind: 'take', run: pending });
  t.deepEqual(decideBackupDuty(observe({ state: state({ current: pending }), self: 'n2' })), { kind: 'none', reason: 'NOT_TAKER' });
  const named = run({ member: 'n2' });
  t.deepEqual(decideBackupDuty(observe({ state: state({ current: named }), self: 'n2' })), { kind: 'take', run: named });
  t.deepEqual(decideBackupDuty(observe({ state: state({ current: named }) })), { kind: 'none', reason: 'NOT_TAKER' });
  const noStore = decideBackupDuty(observe({ state: state({ current: pending }), storeConfigured: false }));
  t.like(noStore, { kind: 'fail', reason: 'NO_STORE' });
  const gone = run({ member: 'n9' });
  t.like(decideBackupDuty(observe({ state: state({ current: gone }) })), { kind: 'fail', reason: 'MEMBER_GONE' });
  t.deepEqual(decideBackupDuty(observe({ state: state({ current: gone }), self: 'n2' })), { kind: 'none', reason: 'NOT_TAKER' });
});

test('a running run: this process keeps it; after an agent restart it ended as interrupted; a silent taker is abandoned by the taker after BACKUP_STALE_MS', (t) => {
  const running = run({ status: 'running', takenBy: 'n1', startedAtMs: INIT_MS + HOUR, heartbeatAtMs: INIT_MS + HOUR });
  t.deepEqual(decideBackupDuty(observe({ state: state({ current: running }), handled: new Set(['0000aaaa']) })), { kind: 'none', reason: 'RUNNING_HERE' });
  t.like(decideBackupDuty(observe({ state: state({ current: running }) })), { kind: 'fail', reason: 'INTERRUPTED' });
  const elsewhere = run({ status: 'running', takenBy: 'n2', startedAtMs: INIT_MS + HOUR, heartbeatAtMs: INIT_MS + HOUR });
  t.deepEqual(decideBackupDuty(observe({ state: state({ current: elsewhere }), wallNowMs: INIT_MS + HOUR + BACKUP_STALE_MS - 1 })), { kind: 'none', reason: 'RUNNING_ELSEWHERE' });
  t.like(decideBackupDuty(observe({ state: state({ current: elsewhere }), wallNowMs: INIT_MS + HOUR + BACKUP_STALE_MS })), { kind: 'fail', reason: 'ABANDONED' });
  t.deepEqual(decideBackupDuty(observe({ state: state({ current: elsewhere }), self: 'n3', wallNowMs: INIT_MS + HOUR + BACKUP_STALE_MS })), { kind: 'none', reason: 'RUNNING_ELSEWHERE' }, 'only the taker abandons it');
});

test('the schedule: the first schedule time after the bootstrap, then each later one once; a successful backup since covers it', (t) => {
  t.deepEqual(decideBackupDuty(observe({ wallNowMs: firstFire - 1 })), { kind: 'none', reason: 'NOT_DUE' });
  t.deepEqual(decideBackupDuty(observe({ wallNowMs: firstFire })), { kind: 'request', fireAtMs: firstFire });
  t.deepEqual(decideBackupDuty(observe({ wallNowMs: firstFire + 5 * HOUR })), { kind: 'request', fireAtMs: firstFire }, 'late: the missed time is asked for once');
  t.deepEqual(decideBackupDuty(observe({ state: state({ lastScheduledFireMs: firstFire }), wallNowMs: firstFire + 5 * HOUR })), { kind: 'none', reason: 'NOT_DUE' });
  t.deepEqual(decideBackupDuty(observe({ state: state({ lastScheduledFireMs: firstFire }), wallNowMs: firstFire + 24 * HOUR })), { kind: 'request', fireAtMs: firstFire + 24 * HOUR });
  const covering = run({ status: 'done', takenBy: 'n1', startedAtMs: firstFire + 60_000, finishedAtMs: firstFire + 120_000, backupId: '20261126T181500Z-3fa9c2' });
  t.deepEqual(decideBackupDuty(observe({ state: state({ last: covering }), wallNowMs: firstFire + HOUR })), { kind: 'none', reason: 'NOT_DUE' });
  t.deepEqual(decideBackupDuty(observe({ state: state({ last: { ...covering, status: 'failed', backupId: null } }), wallNowMs: firstFire + HOUR })), { kind: 'request', fireAtMs: firstFire });
  t.deepEqual(decideBackupDuty(observe({ wallNowMs: firstFire, self: 'n2' })), { kind: 'none', reason: 'NOT_TAKER' });
  t.deepEqual(decideBackupDuty(observe({ wallNowMs: firstFire, storeConfigured: false })), { kind: 'none', reason: 'NO_STORE' });
  t.deepEqual(decideBackupDuty(observe({ state: state({ config: { backup_schedule: 'off' } }), wallNowMs: firstFire })), { kind: 'none', reason: 'SCHEDULE_OFF' });
  t.deepEqual(decideBackupDuty(observe({ state: { ...state(), leader: null }, wallNowMs: firstFire })), { kind: 'none', reason: 'NOT_READY' });
});

test('backup_schedule: a cron expression in UTC or off; anything else is refused naming the key', (t) => {
  t.is(parseDynamicConfig({}).backup_schedule, '0 1 * * *');
  t.is(parseDynamicConfig({ backup_schedule: '*/10 * * * * *' }).backup_schedule, '*/10 * * * * *');
  t.throws(() => parseDynamicConfig({ backup_schedule: 'daily' }), { message: /backup_schedule.*cron expression in UTC.*1 fields, expected 5/ });
  t.throws(() => parseDynamicConfig({ backup_schedule: '61 * * * *' }), { message: /backup_schedule.*61/ });
  t.throws(() => parseDynamicConfig({ backup_keep_count: 0 }), { message: /backup_keep_count/ });
  t.throws(() => parseDynamicConfig({ backup_take_on: 'any' }), { message: /backup_take_on/ });
});
