/**
 * pgherdctl backup create and backup list in-process (a fake terminal)
 * against the real admin service on real gRPC with mutual TLS; the member
 * taking the backup is played by commands applied as its runner would, the
 * store is a real local store holding a backup's objects.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { backupManifestKey, backupObjectKey, encodeManifest } from '../../../src/backup/backup-manifest.js';
import { LocalStore } from '../../../src/backup/store-local.js';
import type { CommandOf } from '../../../src/cluster/commands.js';
import { validManifest } from '../../helpers/backup-manifests.js';
import { runningCluster } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { CLUSTER, MemoryBackend, serveAdmin } from '../admin/helpers.js';
import { ctl } from './helpers.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

const BACKUP_ID = '20261126T181500Z-3fa9c2';

/** n1 primary; `outcome`: how the taker ends each run (null: never takes it up). */
async function served(t: ExecutionContext, outcome: 'done' | 'failed' | null = 'done') {
  const backend = new MemoryBackend(runningCluster());
  if (outcome !== null) {
    backend.reactTo('requestBackup', (event) => {
      const c = event.command as CommandOf<'requestBackup'>;
      backend.apply({ type: 'updateBackup', atMs: backend.wallMs, id: c.id, member: 'n1', status: 'running', detail: 'taking a base backup on n1' });
      backend.apply({ type: 'updateBackup', atMs: backend.wallMs, id: c.id, member: 'n1', status: outcome, backupId: outcome === 'done' ? BACKUP_ID : null, detail: outcome === 'done' ? `backup ${BACKUP_ID}: 47.7 MiB (stored 11.4 MiB) in 60 s` : 'pg_basebackup exited with code 1: could not connect' });
    });
  }
  const server = await serveAdmin(t, pki, backend);
  const flags = ['--endpoint', server.address, '--ca-file', pki.ca.caCertPath, '--cert-file', pki.n2.certPath, '--key-file', pki.n2.keyPath];
  return { backend, flags };
}

test('argument errors exit 2 naming the flag, before anything is asked', async (t) => {
  const reach = ['-e', '127.0.0.1:1', '--insecure'];
  const cases: Array<[string[], RegExp]> = [
    [['backup', 'create', '--label', 'é', ...reach], /--label: expected printable ASCII of at most 200 characters/],
    [['backup', 'create', '--member', 'N 1', ...reach], /--member: expected a member name/],
    [['backup', 'create', '--timeout', 'soon', ...reach], /--timeout: expected a number of seconds/],
    [['backup', 'drop', ...reach], /unknown command 'drop'/],
  ];
  for (const [argv, message] of cases) {
    const run = await ctl(t, argv);
    t.is(run.code, 2, `${argv.join(' ')}: ${run.stderr}`);
    t.regex(run.stderr, message, argv.join(' '));
  }
});

test('backup create: waits for the run and prints what the taker said; a failed backup exits 1 saying so', async (t) => {
  const ok = await served(t);
  const run = await ctl(t, ['backup', 'create', '--label', 'before upgrade', ...ok.flags]);
  t.is(run.code, 0, run.stderr);
  t.is(run.stdout, `backup ${BACKUP_ID}: 47.7 MiB (stored 11.4 MiB) in 60 s (taken on n1)\n`);
  t.like(ok.backend.machine.state.backup.last, { status: 'done', label: 'before upgrade', trigger: 'operator', backupId: BACKUP_ID });
  t.regex(ok.backend.machine.state.backup.last!.by, /^pgherdctl@.* \(certificate n2\)$/);
  const bad = await served(t, 'failed');
  const failed = await ctl(t, ['--json', 'backup', 'create', ...bad.flags]);
  t.is(failed.code, 1);
  t.like(JSON.parse(failed.stdout), { run: { status: 'failed', takenBy: 'n1', detail: 'pg_basebackup exited with code 1: could not connect' } });
});

test('backup create while one is pending: refused ALREADY_EXISTS, exit 1; --no-wait answers at once', async (t) => {
  const { backend, flags } = await served(t, null);
  const recorded = await ctl(t, ['backup', 'create', '--no-wait', ...flags]);
  t.is(recorded.code, 0, recorded.stderr);
  t.regex(recorded.stdout, /^recorded backup run [0-9a-f]{12}; n1 takes it: follow it with pgherdctl backup list\n$/);
  const again = await ctl(t, ['backup', 'create', ...flags]);
  t.is(again.code, 1);
  t.regex(again.stderr, /refused \(ALREADY_EXISTS BACKUP_PENDING\): [0-9.:]+: backup run [0-9a-f]{12} is pending \(requested by pgherdctl@/);
  t.is(backend.proposed.filter((c) => c.type === 'requestBackup').length, 1);
  const list = await ctl(t, ['list', ...flags]);
  t.regex(list.stdout, /\nBackup: pending since .*, requested by pgherdctl@/);
});

test('backup list: the store\'s backups as a table, the schedule and the last run; without a store: refused NO_STORE', async (t) => {
  const { backend, flags } = await served(t);
  const none = await ctl(t, ['backup', 'list', ...flags]);
  t.is(none.code, 1);
  t.regex(none.stderr, /refused \(FAILED_PRECONDITION NO_STORE\): [0-9.:]+: no backup store is configured on n1/);
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-cli-backup-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new LocalStore(dir);
  t.teardown(() => store.close());
  const manifest = validManifest({ cluster: CLUSTER, storedBytes: 5, label: 'nightly' });
  await store.put(backupObjectKey(CLUSTER, manifest.id), Buffer.from('12345'));
  await store.put(backupManifestKey(CLUSTER, manifest.id), Buffer.from(encodeManifest(manifest)));
  await store.put(backupObjectKey(CLUSTER, '20261127T010000Z-aaaaaa'), Buffer.from('partial'));
  backend.store = store;
  t.is((await ctl(t, ['backup', 'create', ...flags])).code, 0);
  const run = await ctl(t, ['backup', 'list', ...flags]);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /^Cluster pg-main, store: file:\/\/.*\nSchedule: '0 1 \* \* \*' \(UTC\), next \d{4}-\d\d-\d\dT01:00:00\.000Z; taken on n1; keep the newest 2 and 7 days\n/);
  t.regex(run.stdout, new RegExp(`\\| ${manifest.id} \\| 2026-11-26T18:16:00.000Z \\| +47\\.7 MiB \\| +5 B \\| +60 s \\| +1 \\| 0/2000028-0/3000100 \\| n1 +\\| nightly \\|`));
  t.regex(run.stdout, /\nUnusable: 20261127T010000Z-aaaaaa — incomplete: it has no manifest/);
  t.regex(run.stdout, /\nLast: operator run [0-9a-f]{12} done on n1 at .*, requested by pgherdctl@.* — backup 20261126T181500Z-3fa9c2: 47\.7 MiB/);
  const json = await ctl(t, ['--json', 'backup', 'list', ...flags]);
  t.like(JSON.parse(json.stdout), { backups: [{ id: manifest.id, label: 'nightly', dataBytes: 50_000_000 }], schedule: '0 1 * * *', taker: 'n1', keepCount: 2, keepDays: 7 });
});
