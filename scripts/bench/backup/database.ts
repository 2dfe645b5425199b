/**
 * The database of bench:backup parts 2 and 3: a primary that archives to
 * S3 (s3rver) through the agent's runtime, filled by `pgbench -i`, and the
 * WAL it is asked to write on top.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { walInArchive } from '../../../src/backup/base-backup.js';
import { REPLICATION_ROLE, createRoles, generatePassword, initdb } from '../../../src/postgres/initdb.js';
import { writePassfile } from '../../../src/postgres/passfile.js';
import { withConnection } from '../../../src/postgres/sql.js';
import { CLUSTER, pgNode, sleep, type BenchEnv, type PgNode } from './nodes.js';

/** Rows of pgbench_accounts per unit of scale (pgbench's own constant). */
const ACCOUNTS_PER_SCALE = 100_000;
/** Accounts updated per statement while writing WAL: a few MiB of WAL each, so the target is overshot by little. */
const UPDATE_BATCH_ROWS = 5_000;
const PGBENCH_INIT_TIMEOUT_MS = 3_600_000;
const POLL_MS = 200;

export interface Primary {
  readonly node: PgNode;
  readonly superuser: { readonly user: string; readonly password: string };
  /** The replication role, over TCP from 127.0.0.1 (what replicas and pg_basebackup use). */
  readonly replication: { readonly host: string; readonly port: number; readonly user: string; readonly password: string };
  /** A libpq password file for the replication role, owned by the PostgreSQL OS user. */
  readonly replicationPassfile: string;
  readonly scale: number;
}

/** initdb, start with archiving to S3, create the roles, `pgbench -i -s scale`. */
export async function startPrimary(env: BenchEnv, scale: number, walKeepBytes: number): Promise<Primary> {
  const superuser = { user: 'postgres', password: generatePassword() };
  const node = await pgNode(env, 'primary', superuser, { kind: 's3' }, walKeepBytes);
  await initdb({ binaries: env.binaries, osUser: env.osUser, dataDir: node.dataDir, superuserPassword: superuser.password, memberCidrs: ['127.0.0.1/32'] });
  await node.controller.start(node.settings(), 'primary');
  const roles = await createRoles(await node.connection());
  const replicationPassfile = join(env.baseDir, 'pgpass-replication');
  await writePassfile(replicationPassfile, env.osUser, REPLICATION_ROLE, roles.replicatorPassword);
  const superuserPassfile = join(env.baseDir, 'pgpass-superuser');
  await writeFile(superuserPassfile, `*:*:*:${superuser.user}:${superuser.password}\n`, { mode: 0o600 });
  const pgbench = join(env.binaries.binDir, 'pgbench');
  const pgEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', PGHOST: node.socketDir, PGPORT: String(node.port), PGUSER: superuser.user, PGDATABASE: 'postgres', PGPASSFILE: superuserPassfile };
  await env.children.run('pgbench -i', pgbench, ['-i', '-s', String(scale), '-q'], { env: pgEnv, timeout: PGBENCH_INIT_TIMEOUT_MS, killSignal: 'SIGKILL' });
  return { node, superuser, replication: { host: '127.0.0.1', port: node.port, user: REPLICATION_ROLE, password: roles.replicatorPassword }, replicationPassfile, scale };
}

export async function databaseBytes(primary: Primary): Promise<number> {
  return withConnection(await primary.node.connection(), 'the database size', async (c) => Number((await c.query<{ b: string }>("SELECT pg_database_size('postgres')::text AS b")).rows[0]!.b));
}

/**
 * Write at least `bytes` of WAL on the primary: pgbench_accounts updated in
 * batches (heap updates and full-page images, what replay does in real
 * life). Returns the bytes of WAL written.
 */
export async function writeWal(primary: Primary, bytes: number): Promise<number> {
  if (bytes <= 0) return 0;
  const accounts = primary.scale * ACCOUNTS_PER_SCALE;
  return withConnection(await primary.node.connection(600_000), 'write WAL', async (c) => {
    const start = (await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    for (let from = 0; ; from = (from + UPDATE_BATCH_ROWS) % accounts) {
      await c.query('UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid > $1 AND aid <= $2', [from, from + UPDATE_BATCH_ROWS]);
      const written = Number((await c.query<{ d: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text AS d', [start])).rows[0]!.d);
      if (written >= bytes) return written;
    }
  });
}

/** End the current segment (pg_switch_wal) and wait until the archive holds it: everything written so far is archived. */
export async function switchAndArchive(primary: Primary, timeoutMs: number): Promise<void> {
  const name = await withConnection(await primary.node.connection(), 'switch WAL', async (c) => (await c.query<{ f: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS f')).rows[0]!.f);
  const inArchive = walInArchive(primary.node.backup.runtime.store, CLUSTER);
  const deadline = performance.now() + timeoutMs;
  while (!(await inArchive(name))) {
    if (performance.now() > deadline) throw new Error(`${name} was not archived within ${timeoutMs} ms (last error: ${primary.node.backup.runtime.archiverStats().lastError ?? 'none'})`);
    await sleep(POLL_MS);
  }
}

/** Wait until the primary's agent has archived every WAL file PostgreSQL has marked ready. */
export async function untilArchived(primary: Primary, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const ready = await primary.node.backup.runtime.readyFiles();
    if (ready === 0) return;
    if (performance.now() > deadline) {
      const stats = primary.node.backup.runtime.archiverStats();
      throw new Error(`the primary still has ${ready} WAL files waiting to be archived after ${timeoutMs} ms (last error: ${stats.lastError ?? 'none'})`);
    }
    await sleep(POLL_MS);
  }
}
