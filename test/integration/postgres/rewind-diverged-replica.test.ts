import { access } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canonicalLsn, compareLsn } from '../../../src/cluster/lsn.js';
import { slotNameFor } from '../../../src/cluster/state.js';
import { createPhysicalSlot } from '../../../src/postgres/slots.js';
import { buildServerArgs } from '../../../src/postgres/conf.js';
import { PgStartFailedError } from '../../../src/postgres/errors.js';
import { REWIND_ROLE } from '../../../src/postgres/initdb.js';
import { observe } from '../../../src/postgres/observe.js';
import { rewind } from '../../../src/postgres/rewind.js';
import { classifyStartFailure } from '../../../src/postgres/start-failure.js';
import { withConnection, type LocalConnection } from '../../../src/postgres/sql.js';
import { primaryWithStandby, until } from './helpers.js';

/*
 * Found by the chaos suite (full profile, 3 nodes, synchronous, seed 2030):
 * an asynchronous replica had replayed WAL of the old primary past the
 * point where the synchronous standby, promoted, forked the next timeline.
 * Its WAL receiver fetched the new timeline's history file, and from then on
 * every start as a standby failed: "requested timeline 2 does not contain
 * minimum recovery point … on timeline 1". The agent only ever retried the
 * start. Such a replica has diverged exactly like a former primary: the
 * start failure says so (classifyStartFailure), and it rejoins through
 * pg_rewind — here after a crash (immediate stop), so pg_rewind's target
 * needs crash recovery first, which single-user mode refuses to run as a
 * standby.
 */

const exec = (conn: LocalConnection, sql: string): Promise<unknown> => withConnection(conn, sql, (c) => c.query(sql));
const count = (conn: LocalConnection): Promise<number> => withConnection(conn, 'count', async (c) => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows[0]!.n);
const lsnOf = (conn: LocalConnection, sql: string): Promise<string> => withConnection(conn, sql, async (c) => canonicalLsn((await c.query<{ l: string }>(sql)).rows[0]!.l));
const replayLsn = (conn: LocalConnection): Promise<string> => lsnOf(conn, 'SELECT pg_last_wal_replay_lsn()::text AS l');
const currentLsn = (conn: LocalConnection): Promise<string> => lsnOf(conn, 'SELECT pg_current_wal_lsn()::text AS l');
const reached = async (conn: LocalConnection, lsn: string): Promise<true | undefined> => (compareLsn(await replayLsn(conn), lsn) >= 0 ? true : undefined);

test('a replica that replayed past the new timeline fork fails to start, is classified as diverged, and rejoins through pg_rewind after a crash', async (t) => {
  const { env, a, b, connA, connB, roles, standbyOf, addStandby } = await primaryWithStandby(t);
  const { node: c, conn: connC } = await addStandby('c');

  await exec(connA, 'INSERT INTO t SELECT generate_series(1, 100)');
  const common = await currentLsn(connA);
  await until('b and c replayed the first 100 rows', 15_000, async () => ((await reached(connB, common)) && reached(connC, common)));
  // b falls behind (it will be promoted); c keeps receiving the old primary's WAL.
  await b.controller.stop({ mode: 'fast' });
  await exec(connA, 'INSERT INTO t SELECT generate_series(101, 200)');
  await until('c replayed 200 rows', 15_000, async () => ((await count(connC)) === 200 ? true : undefined));
  await a.controller.stop({ mode: 'immediate' });

  // b is promoted without the last 100 rows: timeline 2 forks before what c replayed.
  await b.controller.start(b.settings(), 'standby');
  await b.controller.promote();
  const connB2 = await b.controller.connection();
  await exec(connB2, 'CHECKPOINT');
  // As a pgherd primary does for every member: c's slot on the new primary.
  t.true(await createPhysicalSlot(connB2, slotNameFor('c')));
  t.is(await count(connB2), 100);

  // c follows b: its WAL receiver fetches timeline 2's history and cannot stream.
  await c.controller.stop({ mode: 'fast' });
  await c.controller.start(c.settings(standbyOf(b, 'c')), 'standby');
  await until('c fetched the history file of timeline 2', 20_000, async () =>
    access(join(c.dataDir, 'pg_wal', '00000002.history')).then(
      () => true,
      () => undefined,
    ),
  );
  const following = await observe(connC);
  t.false(following.role === 'replica' && following.streaming, 'c cannot stream from b');
  await c.controller.stop({ mode: 'immediate' });

  // From now on every standby start fails, and the failure says why.
  const failed = await t.throwsAsync(c.controller.start(c.settings(standbyOf(b, 'c')), 'standby'), { instanceOf: PgStartFailedError });
  t.log(/FATAL:.*$/m.exec(failed?.logTail ?? '')?.[0]);
  t.is(classifyStartFailure(failed?.logTail ?? ''), 'DIVERGED');

  // The rejoin: pg_rewind from b (the target crashed and is a standby), then a standby start that streams.
  const result = await rewind({
    binaries: env.binaries,
    osUser: env.osUser,
    dataDir: c.dataDir,
    source: { host: '127.0.0.1', port: b.port, user: REWIND_ROLE, password: roles.rewindPassword },
    serverArgs: buildServerArgs(c.settings()),
  });
  t.like(result, { ok: true, rewound: true });
  await c.controller.start(c.settings(standbyOf(b, 'c')), 'standby');
  await until('c streams from b on timeline 2', 20_000, async () => {
    const o = await observe(connC);
    return o.role === 'replica' && o.streaming && o.timeline === 2 ? true : undefined;
  });
  await exec(connB2, 'INSERT INTO t VALUES (1000)');
  const lsn = await currentLsn(connB2);
  await until('c replays the new primary', 15_000, () => reached(connC, lsn));
  t.is(await count(connC), 101, 'the new primary’s rows, without the 100 only the old primary had');
});
