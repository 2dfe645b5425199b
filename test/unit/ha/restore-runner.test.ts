import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { BackupError } from '../../../src/backup/backup-errors.js';
import { initialClusterState } from '../../../src/cluster/state.js';
import type { HaExecutor } from '../../../src/ha/executor.js';
import { RESTORE_REFUSAL_RECHECK_MS, RESTORE_RETRY_MS, RestoreRunner } from '../../../src/ha/restore-runner.js';
import type { Logger } from '../../../src/lib/logger.js';

const ID = '20261126T181500Z-3fa9c2';

async function harness(t: import('ava').ExecutionContext, attempt: (skip: ReadonlyMap<string, string>) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-restore-runner-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const logged: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  const log = (level: string) => (fields: Record<string, unknown>, msg: string) => void logged.push({ level, fields, msg });
  const logger = { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug'), child: () => logger } as unknown as Logger;
  const skips: Array<ReadonlyMap<string, string>> = [];
  const executor = { restoreCluster: async (_state: unknown, skip: ReadonlyMap<string, string>) => (skips.push(new Map(skip)), attempt(skip)) } as unknown as HaExecutor;
  const clock = { ms: 1_000 };
  const pendingFile = join(dir, 'restore-pending.json');
  const runner = new RestoreRunner({ executor, pendingFile, log: logger, now: () => clock.ms });
  return { runner, logged, skips, clock, pendingFile };
}

test('a refusal is shown until it is time to look again, and logged once per attempt; never thrown', async (t) => {
  const { runner, logged, clock } = await harness(t, async () => Promise.reject(new BackupError('RESTORE_REFUSED', 'no complete base backup of cluster demo')));
  await runner.run(initialClusterState());
  t.deepEqual(await runner.progress(), { pending: false, refusal: 'no complete base backup of cluster demo', retryAtMs: null });
  clock.ms += RESTORE_REFUSAL_RECHECK_MS - 1;
  t.is((await runner.progress()).refusal, 'no complete base backup of cluster demo');
  clock.ms += 1;
  t.is((await runner.progress()).refusal, null, 'time to look again');
  t.deepEqual(logged.map((l) => [l.level, l.msg]), [['error', 'ha.restore_refused']]);
});

test('a failure waits before the next attempt; a backup that failed verification is skipped from then on', async (t) => {
  let fail: Error | null = new BackupError('INVALID', `backup ${ID}: pg_verifybackup refused the restored files`, { backupId: ID });
  const { runner, logged, skips, clock, pendingFile } = await harness(t, async () => {
    if (fail !== null) throw fail;
  });
  await runner.run(initialClusterState());
  t.deepEqual(await runner.progress(), { pending: false, refusal: null, retryAtMs: 1_000 + RESTORE_RETRY_MS });
  t.truthy(logged.find((l) => l.msg === 'ha.restore_failed' && l.fields['code'] === 'PGHERD_BACKUP_INVALID'));
  clock.ms += RESTORE_RETRY_MS;
  t.is((await runner.progress()).retryAtMs, null);
  fail = null;
  await runner.run(initialClusterState());
  t.deepEqual([...skips[1]!.keys()], [ID], 'the next attempt skips the backup that failed verification');
  t.deepEqual(await runner.progress(), { pending: false, refusal: null, retryAtMs: null });
  await writeFile(pendingFile, JSON.stringify({ backupId: ID }));
  t.true((await runner.progress()).pending, 'the marker file says a restore was started here');
});
