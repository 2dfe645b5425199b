import test from 'ava';
import { readControlData } from '../../../src/postgres/controldata.js';
import { REWIND_ROLE } from '../../../src/postgres/initdb.js';
import { rewind } from '../../../src/postgres/rewind.js';
import { withConnection, type LocalConnection } from '../../../src/postgres/sql.js';
import { primaryWithStandby } from './helpers.js';

/*
 * Found by the chaos suite (full profile, 3 nodes, synchronous, seed 2047):
 * n3, a former primary, was rejoined as soon as n2 held the leader key in
 * Raft, before n2's PostgreSQL had promoted. The CHECKPOINT on the source
 * was a restartpoint, both control files named timeline 2, pg_rewind
 * answered "source and target cluster are on the same timeline … no rewind
 * required", and n3 — whose WAL went past the point where n2 forked
 * timeline 3 — started as a standby that could never follow ("requested
 * timeline 3 is not a child of this server's history"). The node never
 * rejoined. A rewind source must be a primary: rewind() refuses a source
 * in recovery, before touching the target, and the next HA loop tries again.
 */

const exec = (conn: LocalConnection, sql: string): Promise<unknown> => withConnection(conn, sql, (c) => c.query(sql));

test('rewind refuses a source that is still a standby (not yet promoted) and leaves the target as it was', async (t) => {
  const { env, a, b, connA, roles } = await primaryWithStandby(t);

  // a stops (cleanly: a fast shutdown); b stays a standby, as n2 was for a moment in seed 2047.
  await exec(connA, 'INSERT INTO t VALUES (1)');
  await a.controller.stop({ mode: 'fast' });
  const before = await readControlData(env.binaries, env.osUser, a.dataDir);

  const error = await t.throwsAsync(
    rewind({ binaries: env.binaries, osUser: env.osUser, dataDir: a.dataDir, source: { host: '127.0.0.1', port: b.port, user: REWIND_ROLE, password: roles.rewindPassword } }),
    { code: 'PGHERD_PG_REWIND_SOURCE_NOT_PRIMARY' },
  );
  t.regex(error?.message ?? '', /^the rewind source 127\.0\.0\.1:\d+ is still in recovery \(not promoted yet\); the target was not touched$/);
  const after = await readControlData(env.binaries, env.osUser, a.dataDir);
  t.deepEqual(after, before, 'the target was not touched');
});
