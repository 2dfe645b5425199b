/**
 * The members bench:backup starts: PostgreSQL servers under the bench's
 * temporary directory, each with the agent's own backup runtime
 * (src/node/backup.ts: object store, WAL archiver and restorer behind the
 * agent's WAL socket, archive_command/restore_command through
 * wal-client.pl) built from a pgherd configuration file the way the agent
 * builds it, so every archive setting is the configuration's default unless
 * the bench names it. Everything started is registered with the teardown.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { startBackup, type BackupRuntime } from '../../../src/node/backup.js';
import type { PgBinaries } from '../../../src/postgres/binaries.js';
import type { ServerSettings, StandbyTarget } from '../../../src/postgres/conf.js';
import { mkdirForPg, type PgOsUser } from '../../../src/postgres/os-user.js';
import { PostgresController } from '../../../src/postgres/process.js';
import { observe } from '../../../src/postgres/observe.js';
import type { LocalConnection } from '../../../src/postgres/sql.js';
import { freePort } from '../../lib/free-port.js';
import type { Teardown } from '../../lib/teardown.js';
import type { Children } from './children.js';

/** The cluster name (store key prefix) of the database that is backed up and cloned. */
export const CLUSTER = 'bench';
/** RAM the servers are sized for (shared_buffers 256 MiB): three servers share a 2-core machine with whatever else runs. */
const MEMORY_BYTES = 1024 * 1024 * 1024;
const STORE_CHECK_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const STOP_ESCALATION_STEP_MS = 5_000;
const POLL_MS = 100;

export interface BenchEnv {
  readonly baseDir: string;
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly teardown: Teardown;
  readonly children: Children;
  /** s3rver (a child process) and its bucket. */
  readonly s3: { readonly endpoint: string; readonly bucket: string };
  /** Remove what a step is done with (disk space: every contender copies the data), unless --keep. */
  discard(path: string): Promise<void>;
}

export type StoreChoice = { readonly kind: 's3' } | { readonly kind: 'local'; readonly path: string };

export interface AgentBackupSpec {
  /** Member name; also the directory under the bench's base directory. */
  readonly name: string;
  /** Key prefix in the store. */
  readonly cluster: string;
  /** The data directory whose pg_wal the archiver reads. */
  readonly pgdata: string;
  readonly port: number;
  readonly store: StoreChoice;
  /** Only set to depart from the configuration's default. */
  readonly compression?: 'gzip' | 'none';
}

export interface AgentBackup {
  readonly runtime: BackupRuntime;
  readonly config: Config;
  /** Idempotent; also registered with the teardown. */
  close(): Promise<void>;
}

/** Write the member's pgherd.yaml, load it as the agent does, start its backup runtime and wait for the store check to pass. */
export async function startAgentBackup(env: BenchEnv, spec: AgentBackupSpec): Promise<AgentBackup> {
  const dir = join(env.baseDir, spec.name);
  await mkdirForPg(env.osUser, dir);
  const store = spec.store.kind === 's3' ? { kind: 's3', bucket: env.s3.bucket, endpoint: env.s3.endpoint, force_path_style: true } : { kind: 'local', path: spec.store.path };
  const file = join(dir, 'pgherd.yaml');
  const yaml = {
    name: spec.name,
    cluster_name: spec.cluster,
    data_dir: join(dir, 'agent'),
    // Not listened on: only the backup runtime is started.
    raft: { bind: '127.0.0.1:7400', bootstrap_expect: 1 },
    postgresql: { listen: '127.0.0.1', port: spec.port, data_dir: spec.pgdata, socket_dir: join(dir, 'run') },
    backup: { store, ...(spec.compression === undefined ? {} : { archive: { compression: spec.compression } }) },
  };
  await writeFile(file, YAML.stringify(yaml));
  const config = loadConfig({ file, env: {} });
  const runtime = await startBackup(config, env.osUser, silentLogger);
  if (runtime === null) throw new Error(`${spec.name}: no backup store configured`);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= runtime.close());
  env.teardown.add(`close the backup runtime of ${spec.name}`, close);
  const deadline = performance.now() + STORE_CHECK_TIMEOUT_MS;
  for (;;) {
    const problem = runtime.storeProblem();
    if (problem === null) break;
    if (typeof problem === 'string') throw new Error(`${spec.name}: the store ${runtime.store.description} is not usable: ${problem}`);
    if (performance.now() > deadline) throw new Error(`${spec.name}: the store check did not finish within ${STORE_CHECK_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  return { runtime, config, close };
}

export interface PgNode {
  readonly name: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly port: number;
  readonly controller: PostgresController;
  readonly backup: AgentBackup;
  /** The server settings the executor would start it with: node settings on the command line, the agent's archive_command and restore_command. */
  settings(standby?: StandbyTarget): ServerSettings;
  /** The superuser over the unix socket. */
  connection(statementTimeoutMs?: number): Promise<LocalConnection>;
}

/** A member archiving to / restoring from `store` (not started: initdb, restore or clone first). */
export async function pgNode(env: BenchEnv, name: string, superuser: { readonly user: string; readonly password: string }, store: StoreChoice, walKeepBytes?: number): Promise<PgNode> {
  const dir = join(env.baseDir, name);
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'run');
  const port = await freePort();
  const backup = await startAgentBackup(env, { name, cluster: CLUSTER, pgdata: dataDir, port, store });
  const controller = new PostgresController({ binaries: env.binaries, osUser: env.osUser, dataDir, logDir: join(dir, 'log'), superuser });
  // Registered after the backup runtime: stopped before it (teardown runs newest first).
  env.teardown.add(`stop PostgreSQL ${name}`, () => controller.stop({ mode: 'fast', timeoutMs: STOP_TIMEOUT_MS, escalationStepMs: STOP_ESCALATION_STEP_MS }));
  return {
    name,
    dataDir,
    socketDir,
    port,
    controller,
    backup,
    settings: (standby) => ({
      listenAddresses: '127.0.0.1',
      port,
      socketDir,
      clusterName: name,
      memoryBytes: MEMORY_BYTES,
      maxWalSenders: 5,
      maxReplicationSlots: 5,
      ...(walKeepBytes === undefined ? {} : { walKeepBytes }),
      walArchive: backup.runtime.walArchive,
      ...(standby === undefined ? {} : { standby }),
    }),
    connection: (statementTimeoutMs = 60_000) => controller.connection({ connectTimeoutMs: 5_000, statementTimeoutMs }),
  };
}

/** Poll until the standby's WAL receiver streams from its primary. */
export async function untilStreaming(node: PgNode, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'not asked yet';
  for (;;) {
    try {
      const o = await observe(await node.connection(5_000));
      if (o.role === 'replica' && o.streaming) return;
      last = o.role === 'replica' ? `replaying, receive ${o.receiveLsn}, replay ${o.replayLsn}` : 'is a primary';
    } catch (error) {
      last = (error as Error).message;
    }
    if (performance.now() > deadline) throw new Error(`${node.name} did not stream within ${timeoutMs} ms (last: ${last}); its log: ${node.controller.logFile}`);
    await sleep(POLL_MS);
  }
}

/** mkdir -p owned by the PostgreSQL OS user (the server and the WAL client may enter it). */
export async function pgDir(env: BenchEnv, path: string): Promise<string> {
  await mkdirForPg(env.osUser, path);
  return path;
}

/** mkdir -p for the agent's own files (a local store's root). */
export async function agentDir(path: string): Promise<string> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  return path;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
