import test from 'ava';
import { slotNameFor } from '../../../src/cluster/state.js';
import { buildServerArgs } from '../../../src/postgres/conf.js';
import { REWIND_ROLE } from '../../../src/postgres/initdb.js';
import { observe } from '../../../src/postgres/observe.js';
import { rewind } from '../../../src/postgres/rewind.js';
import { createPhysicalSlot } from '../../../src/postgres/slots.js';
import { withConnection, type LocalConnection } from '../../../src/postgres/sql.js';
import { primaryWithStandby, until } from './helpers.js';

/*
 * Found by the chaos suite (full profile, seed 1009): a former primary
 * killed by its fence (not shut down) was handed to pg_rewind, whose own
 * single-user crash recovery reads postgresql.conf alone — initdb's
 * max_connections = 100 went into the control file, the node runs with 50
 * (a -c setting), and every standby start failed with "recovery aborted
 * because of insufficient parameter settings". The node never rejoined.
 * pgherd recovers a crashed target itself, with the node's settings.
 * This test runs that path (a crashed primary with non-default settings,
 * rewound and started as a standby); here the recovery's own records make
 * pg_rewind rewind and copy the source's control file, so it passes
 * without the fix too: it guards the path, the chaos seed found the bug.
 */

const exec = (conn: LocalConnection, sql: string): Promise<unknown> => withConnection(conn, sql, (c) => c.query(sql));
const PARAMETERS = { max_connections: 50 };

test('a crashed former primary with nothing to rewind is recovered with its own settings and starts as a standby', async (t) => {
  const { env, a, b, connA, connB, roles, standbyOf } = await primaryWithStandby(t, PARAMETERS);

  // a dies as a fence kills it (no shutdown checkpoint); b, which received all of a's WAL, is promoted.
  // a has not diverged: its crash recovery's checkpoint lands at the fork point, pg_rewind finds
  // nothing to rewind and leaves a's control file as that recovery wrote it.
  await exec(connA, 'INSERT INTO t VALUES (1)');
  const { pid } = await a.controller.status();
  if (pid === null) return t.fail('a is not running');
  process.kill(pid, 'SIGKILL');
  await until('a is gone', 10_000, async () => ((await a.controller.status()).running ? undefined : true));
  let last: bigint | null = null;
  await until('b has all of a\'s WAL (its receive position stays put)', 15_000, async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const o = await observe(connB);
    const received = o.role === 'replica' ? o.replayLsn : null;
    const settled = received !== null && received === last;
    last = received;
    return settled ? true : undefined;
  });
  await b.controller.promote();

  t.true(await createPhysicalSlot(connB, slotNameFor('a')));
  const rewound = await rewind({
    binaries: env.binaries,
    osUser: env.osUser,
    dataDir: a.dataDir,
    source: { host: '127.0.0.1', port: b.port, user: REWIND_ROLE, password: roles.rewindPassword },
    serverArgs: buildServerArgs(a.settings(undefined, PARAMETERS)),
  });
  if (!rewound.ok) t.log(rewound.stderrTail); else t.log(`rewound ${rewound.rewound}`);
  t.true(rewound.ok);
  await a.controller.start(a.settings(standbyOf(b, 'a'), PARAMETERS), 'standby');
  const streaming = await until('a streams from b on timeline 2', 15_000, async () => {
    const o = await observe(connA);
    return o.role === 'replica' && o.streaming && o.timeline === 2 ? o : undefined;
  });
  t.is(streaming.timeline, 2);
  const rows = await withConnection(connA, 'the row', async (c) => (await c.query('SELECT 1 FROM t WHERE id = 1')).rowCount);
  t.is(rows, 1);
});
