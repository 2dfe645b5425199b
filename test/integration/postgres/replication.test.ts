import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { basebackup } from '../../../src/postgres/basebackup.js';
import type { StandbyTarget } from '../../../src/postgres/conf.js';
import { PgTargetNotEmptyError } from '../../../src/postgres/errors.js';
import { createRoles, initdb, REPLICATION_ROLE, REWIND_ROLE } from '../../../src/postgres/initdb.js';
import { observe, type Observation, type ReplicaObservation } from '../../../src/postgres/observe.js';
import { writePassfile } from '../../../src/postgres/passfile.js';
import { rewind } from '../../../src/postgres/rewind.js';
import { slotNameFor } from '../../../src/cluster/state.js';
import { createPhysicalSlot, dropSlot, listSlots } from '../../../src/postgres/slots.js';
import { withConnection, type LocalConnection } from '../../../src/postgres/sql.js';
import { getSynchronousStandbyNames, setSynchronousStandbys } from '../../../src/postgres/sync.js';
import { testEnv, testNode, until, type TestNode } from './helpers.js';

const exec = (conn: LocalConnection, sql: string): Promise<unknown> => withConnection(conn, sql, (c) => c.query(sql));
const count = async (conn: LocalConnection): Promise<number> =>
  withConnection(conn, 'count', async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM t')).rows[0]!.n));
const asReplica = (o: Observation): ReplicaObservation | undefined => (o.role === 'replica' ? o : undefined);

test('replica via slot + pg_basebackup streams; promote gives timeline 2; the diverged old primary is rewound and streams from the new one; sync standbys', async (t) => {
  const nodes: TestNode[] = [];
  const env = await testEnv(t, nodes);
  const su = { user: 'postgres', password: '' };
  const a = await testNode(env, 'a', su);
  const b = await testNode(env, 'b', su);
  nodes.push(a, b);
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
    }
  };

  // Primary a.
  su.password = (await timed('initdb', () => initdb({ binaries: env.binaries, osUser: env.osUser, dataDir: a.dataDir, memberCidrs: ['127.0.0.1/32'] }))).superuserPassword;
  await timed('start a', () => a.controller.start(a.settings(), 'primary'));
  const connA = await a.controller.connection();
  const roles = await createRoles(connA);
  await exec(connA, 'CREATE TABLE t (id serial PRIMARY KEY, v text)');
  await exec(connA, "INSERT INTO t (v) SELECT 'x' FROM generate_series(1, 100)");

  // Replica b: slot first, then the copy, then stream with the slot.
  const slotB = slotNameFor('b');
  t.true(await createPhysicalSlot(connA, slotB));
  t.false(await createPhysicalSlot(connA, slotB), 'idempotent');
  await t.throwsAsync(
    basebackup({ binaries: env.binaries, osUser: env.osUser, targetDir: a.dataDir, slotName: slotB, source: { host: '127.0.0.1', port: a.port, user: REPLICATION_ROLE, password: roles.replicatorPassword } }),
    { instanceOf: PgTargetNotEmptyError },
  );
  await timed('basebackup', () =>
    basebackup({ binaries: env.binaries, osUser: env.osUser, targetDir: b.dataDir, slotName: slotB, source: { host: '127.0.0.1', port: a.port, user: REPLICATION_ROLE, password: roles.replicatorPassword } }),
  );
  const passfile = join(env.baseDir, 'pgpass-replication');
  await writePassfile(passfile, env.osUser, REPLICATION_ROLE, roles.replicatorPassword);
  const standbyOf = (primary: TestNode, member: string): StandbyTarget => ({ host: '127.0.0.1', port: primary.port, user: REPLICATION_ROLE, passfile, slotName: slotNameFor(member), applicationName: member });
  await timed('start b', () => b.controller.start(b.settings(standbyOf(a, 'b')), 'standby'));
  const connB = await b.controller.connection();

  const first = await until('b streaming', 10_000, async () => asReplica(await observe(connB))?.streaming ? asReplica(await observe(connB)) : undefined);
  t.is(first.timeline, 1);
  t.is(first.systemIdentifier, (await observe(connA)).systemIdentifier);
  t.true(first.slots.length === 0, 'the slot is on the primary only');
  await exec(connA, "INSERT INTO t (v) SELECT 'y' FROM generate_series(1, 1000)");
  const primaryLsn = await observe(connA);
  t.is(primaryLsn.role, 'primary');
  const target = primaryLsn.role === 'primary' ? primaryLsn.currentLsn : 0n;
  const caught = await until('b replayed the inserts', 10_000, async () => {
    const o = asReplica(await observe(connB));
    return o !== undefined && o.replayLsn !== null && o.receiveLsn !== null && o.replayLsn >= target ? o : undefined;
  });
  t.true(caught.receiveLsn! > first.receiveLsn! && caught.replayLsn! > first.replayLsn!, 'receive and replay LSNs advanced');
  t.is(await count(connB), 1100);
  const obsA = await observe(connA);
  t.like(obsA.replication[0], { applicationName: 'b', state: 'streaming', syncState: 'async' });
  t.like(obsA.slots.find((s) => s.slotName === slotB), { active: true, slotType: 'physical' });

  // Promote b: timeline 2, at once.
  await timed('promote', () => b.controller.promote());
  const promoted = await observe(connB);
  t.is(promoted.role, 'primary');
  t.is(promoted.timeline, 2);

  // a diverges (a write after the promotion), then stops; b gets a's slot; rewind a from b.
  await exec(connA, "INSERT INTO t (v) VALUES ('lost')");
  await a.controller.stop({ mode: 'fast', timeoutMs: 10_000 });
  t.true(await createPhysicalSlot(connB, slotNameFor('a')));
  const rewound = await timed('rewind', () =>
    rewind({ binaries: env.binaries, osUser: env.osUser, dataDir: a.dataDir, source: { host: '127.0.0.1', port: b.port, user: REWIND_ROLE, password: roles.rewindPassword } }),
  );
  if (!rewound.ok) t.log(rewound.stderrTail);
  t.like(rewound, { ok: true, rewound: true });
  t.false(/primary_slot_name|primary_conninfo/.test(await readFile(join(a.dataDir, 'postgresql.auto.conf'), 'utf8')));
  await timed('start a as standby', () => a.controller.start(a.settings(standbyOf(b, 'a')), 'standby'));
  await exec(connB, "INSERT INTO t (v) VALUES ('after')");
  const streamingA = await until('a streams from b on timeline 2', 15_000, async () => {
    const o = asReplica(await observe(connA));
    return o?.streaming === true && o.timeline === 2 ? o : undefined;
  });
  t.is(streamingA.timeline, 2);
  await until('a has b\'s write and not its own lost one', 10_000, async () => ((await count(connA)) === 1101 ? true : undefined));
  t.is(await withConnection(connA, 'lost', async (c) => (await c.query("SELECT 1 FROM t WHERE v = 'lost'")).rowCount), 0);

  // Synchronous standbys on the new primary.
  t.is(await setSynchronousStandbys(connB, 1, ['a', 'c.d-e']), 'FIRST 1 ("a", "c.d-e")');
  t.is(await getSynchronousStandbyNames(connB), 'FIRST 1 ("a", "c.d-e")');
  await until('a is sync', 10_000, async () => ((await observe(connB)).replication.find((r) => r.applicationName === 'a')?.syncState === 'sync' ? true : undefined));
  await exec(connB, "INSERT INTO t (v) VALUES ('sync')");
  t.is(await setSynchronousStandbys(connB, 1, []), '');

  // Slots: list, drop (idempotent), an active slot is refused.
  t.deepEqual((await listSlots(connB)).map((s) => s.slotName), ['pgherd_a']);
  await t.throwsAsync(dropSlot(connB, 'pgherd_a'), { code: 'PGHERD_PG_QUERY_FAILED' });
  t.false(await dropSlot(connB, 'pgherd_nope'));
  t.log(timings);
});
