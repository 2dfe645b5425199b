import test from 'ava';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import { initialClusterState } from '../../../src/cluster/state.js';
import type { ClusterStore } from '../../../src/cluster/store.js';
import { BootstrapRunner } from '../../../src/ha/bootstrap-runner.js';
import type { HaExecutor } from '../../../src/ha/executor.js';
import type { Logger } from '../../../src/lib/logger.js';

const ID = '20261126T181500Z-3fa9c2';

function harness(restore: () => Promise<void>, clone: () => Promise<void> = async () => undefined) {
  const proposed: ClusterCommandInput[] = [];
  const logged: Array<{ level: string; fields: Record<string, unknown>; msg: string }> = [];
  const log = (level: string) => (fields: Record<string, unknown>, msg: string) => void logged.push({ level, fields, msg });
  const logger = { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug'), child: () => logger } as unknown as Logger;
  const store = { propose: async (command: ClusterCommandInput) => (proposed.push(command), { ok: true }) } as unknown as ClusterStore;
  const executor = { restore, clone } as unknown as HaExecutor;
  const runner = new BootstrapRunner({ self: 'n4', store, executor, log: logger, wallNow: () => 1234 });
  return { runner, proposed, logged };
}

test('a failed restore is logged with its error as fields and remembered, not thrown; the fallback is proposed once, then forgotten', async (t) => {
  const error = Object.assign(new Error(`backup ${ID}: base.tar.gz does not match its manifest:\n sha256 abc`), { code: 'PGHERD_BACKUP_INVALID' });
  const { runner, proposed, logged } = harness(async () => Promise.reject(error));
  const state = initialClusterState();
  await runner.run(state, { kind: 'restore', backupId: ID, upstream: 'n1', reason: 'BOOTSTRAP_PLAN' });
  t.deepEqual(runner.failure, { kind: 's3', backupId: ID, error: `backup ${ID}: base.tar.gz does not match its manifest: sha256 abc` });
  t.deepEqual(logged.find((l) => l.msg === 'ha.bootstrap_s3_failed'), { level: 'error', msg: 'ha.bootstrap_s3_failed', fields: { backupId: ID, code: 'PGHERD_BACKUP_INVALID', err: error.message } });
  await runner.run(state, { kind: 'recordBootstrapFallback', backupId: ID, source: 'n1', error: runner.failure!.error, reason: 'BOOTSTRAP_S3_FAILED' });
  t.deepEqual(proposed, [
    { type: 'bootstrapFallback', atMs: 1234, member: 'n4', backupId: ID, source: 'n1', reason: `S3 restore of ${ID} failed: backup ${ID}: base.tar.gz does not match its manifest: sha256 abc; pg_basebackup from n1` },
  ]);
  t.is(runner.failure, null);
  t.truthy(logged.find((l) => l.msg === 'ha.bootstrap_fallback' && l.fields['recorded'] === true));
});

test('a long error is clipped in the recorded reason (the plan is one line of at most 1 KiB)', async (t) => {
  const { runner, proposed } = harness(async () => undefined);
  await runner.run(initialClusterState(), { kind: 'recordBootstrapFallback', backupId: ID, source: 'n1', error: 'e'.repeat(5000), reason: 'BOOTSTRAP_S3_FAILED' });
  const reason = (proposed[0] as { reason: string }).reason;
  t.true(reason.length < 1024, `${reason.length} characters`);
  t.regex(reason, /e…; pg_basebackup from n1$/);
});

test('a failed clone is thrown (the loop retries) and remembered with its source; a success clears it', async (t) => {
  let fail = true;
  const { runner } = harness(async () => undefined, async () => (fail ? Promise.reject(new Error('connection refused')) : undefined));
  const state = initialClusterState();
  await t.throwsAsync(runner.run(state, { kind: 'clone', source: 'n3', reason: 'BOOTSTRAP_PLAN' }), { message: 'connection refused' });
  t.deepEqual(runner.failure, { kind: 'basebackup', source: 'n3', error: 'connection refused' });
  fail = false;
  await runner.run(state, { kind: 'clone', source: 'n1', reason: 'BOOTSTRAP_PLAN' });
  t.is(runner.failure, null);
});
