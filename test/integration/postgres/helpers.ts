import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { findPgBinaries, type PgBinaries } from '../../../src/postgres/binaries.js';
import type { ServerSettings, StandbyTarget } from '../../../src/postgres/conf.js';
import { chownToPg, resolvePgOsUser, type PgOsUser } from '../../../src/postgres/os-user.js';
import { PostgresController } from '../../../src/postgres/process.js';
import { untilValue } from '../../helpers/wait.js';
import { slotNameFor } from '../../../src/cluster/state.js';
import { basebackup } from '../../../src/postgres/basebackup.js';
import { createRoles, initdb, REPLICATION_ROLE } from '../../../src/postgres/initdb.js';
import { observe } from '../../../src/postgres/observe.js';
import { writePassfile } from '../../../src/postgres/passfile.js';
import { createPhysicalSlot } from '../../../src/postgres/slots.js';
import { withConnection, type LocalConnection } from '../../../src/postgres/sql.js';
import { freePort } from '../../../scripts/lib/free-port.js';

/** Below the ephemeral range, where no client socket takes it first (scripts/lib/free-port.ts). */
export { freePort };

export interface Env {
  readonly baseDir: string;
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
}

/** A private test directory the postgres OS user owns, removed (after every node is stopped) in teardown. */
export async function testEnv(t: ExecutionContext, nodes: TestNode[]): Promise<Env> {
  const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-pg-it-'));
  const osUser = await resolvePgOsUser();
  await chownToPg(osUser, baseDir);
  await chmod(baseDir, 0o700);
  t.teardown(async () => {
    for (const node of nodes) await node.controller.stop({ mode: 'immediate', timeoutMs: 5000, escalationStepMs: 2000 }).catch(() => {});
    await rm(baseDir, { recursive: true, force: true });
  });
  return { baseDir, osUser, binaries: await findPgBinaries() };
}

export interface TestNode {
  readonly name: string;
  readonly dataDir: string;
  readonly port: number;
  readonly controller: PostgresController;
  settings(standby?: StandbyTarget, parameters?: ServerSettings['parameters']): ServerSettings;
}

export async function testNode(env: Env, name: string, superuser: { user: string; password: string }): Promise<TestNode> {
  const dir = join(env.baseDir, name);
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'run');
  const port = await freePort();
  const controller = new PostgresController({ binaries: env.binaries, osUser: env.osUser, dataDir, logDir: join(dir, 'log'), superuser });
  return {
    name,
    dataDir,
    port,
    controller,
    settings: (standby, parameters) => ({
      listenAddresses: '127.0.0.1',
      port,
      socketDir,
      clusterName: name,
      memoryBytes: 256 * 1024 * 1024,
      maxWalSenders: 5,
      maxReplicationSlots: 5,
      ...(standby === undefined ? {} : { standby }),
      ...(parameters === undefined ? {} : { parameters }),
    }),
  };
}

/** Postgres tests poll a little slower: every probe opens a connection. */
export function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  return untilValue(what, timeoutMs, probe, 50);
}

/**
 * Primary `a` (initdb, roles, a table `t (id int PRIMARY KEY)`) and standby
 * `b` cloned with pg_basebackup through its own slot and streaming from it,
 * both with `parameters`. `standbyOf(primary, member)` points a node at
 * another one; `addStandby(name)` clones and starts one more standby of `a`.
 */
export async function primaryWithStandby(t: ExecutionContext, parameters?: ServerSettings['parameters']) {
  const nodes: TestNode[] = [];
  const env = await testEnv(t, nodes);
  const su = { user: 'postgres', password: '' };
  const a = await testNode(env, 'a', su);
  nodes.push(a);
  su.password = (await initdb({ binaries: env.binaries, osUser: env.osUser, dataDir: a.dataDir, memberCidrs: ['127.0.0.1/32'] })).superuserPassword;
  await a.controller.start(a.settings(undefined, parameters), 'primary');
  const connA = await a.controller.connection();
  const roles = await createRoles(connA);
  await withConnection(connA, 'create table t', (c) => c.query('CREATE TABLE t (id int PRIMARY KEY)'));
  const passfile = join(env.baseDir, 'pgpass-replication');
  await writePassfile(passfile, env.osUser, REPLICATION_ROLE, roles.replicatorPassword);
  const standbyOf = (primary: TestNode, member: string): StandbyTarget => ({ host: '127.0.0.1', port: primary.port, user: REPLICATION_ROLE, passfile, slotName: slotNameFor(member), applicationName: member });
  const addStandby = async (name: string): Promise<{ node: TestNode; conn: LocalConnection }> => {
    const node = await testNode(env, name, su);
    nodes.push(node);
    if (!(await createPhysicalSlot(connA, slotNameFor(name)))) throw new Error(`the slot for ${name} existed already`);
    await basebackup({ binaries: env.binaries, osUser: env.osUser, targetDir: node.dataDir, slotName: slotNameFor(name), source: { host: '127.0.0.1', port: a.port, user: REPLICATION_ROLE, password: roles.replicatorPassword } });
    await node.controller.start(node.settings(standbyOf(a, name), parameters), 'standby');
    const conn = await node.controller.connection();
    await until(`${name} streams`, 15_000, async () => {
      const o = await observe(conn);
      return o.role === 'replica' && o.streaming ? true : undefined;
    });
    return { node, conn };
  };
  const { node: b, conn: connB } = await addStandby('b');
  return { env, a, b, connA, connB, roles, standbyOf, addStandby };
}
