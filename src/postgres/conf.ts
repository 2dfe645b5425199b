import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../lib/assert.js';
import { PgInvalidNameError, PgParameterRefusedError } from './errors.js';
import { chownToPg, type PgOsUser } from './os-user.js';
import { AGENT_OWNED_PARAMETERS } from '../config/dynamic.js';

/*
 * Where node-specific settings live — the decision.
 *
 * pg_basebackup and pg_rewind copy the source's postgresql.conf and
 * postgresql.auto.conf, so anything node-specific written there is wrong on
 * every clone. pgherd therefore passes every node-specific setting on the
 * `postgres` command line (buildServerArgs), including a standby's
 * primary_conninfo and primary_slot_name. Command-line values outrank every
 * config file, so a copied auto.conf cannot override them.
 *
 * The password never appears in the conninfo (the command line is visible
 * in `ps`): the conninfo names a libpq `passfile=` — a 0600 file owned by
 * the postgres OS user, outside PGDATA (writePassfile).
 *
 * Costs, accepted: changing a command-line setting (re-pointing a replica,
 * changing a cluster-wide parameter given here) needs a restart, not a
 * reload. synchronous_standby_names is deliberately NOT on the command line:
 * the primary changes it with ALTER SYSTEM + reload (sync.ts).
 * The only file the agent writes into PGDATA is `standby.signal`.
 */

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;


export interface StandbyTarget {
  /** The primary's address and port as reachable from this node. */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** A libpq password file outside PGDATA (see writePassfile). */
  readonly passfile: string;
  /** This node's physical slot on the primary. */
  readonly slotName: string;
  /** application_name on the primary: this member's name (used in synchronous_standby_names). */
  readonly applicationName: string;
}

export interface ServerSettings {
  readonly listenAddresses: string;
  readonly port: number;
  /** Outside PGDATA, or pg_basebackup copies the socket lock file. */
  readonly socketDir: string;
  /** This member's name. */
  readonly clusterName: string;
  /** Bytes of RAM the sizing is based on (os.totalmem() in production). */
  readonly memoryBytes: number;
  /** Fraction of RAM for shared_buffers; default 0.25. */
  readonly sharedBuffersFraction?: number;
  /** Cap on shared_buffers; default 8 GiB. */
  readonly sharedBuffersMaxBytes?: number;
  readonly maxWalSenders?: number;
  readonly maxReplicationSlots?: number;
  /**
   * WAL kept beyond what slots and checkpoints need; default 128 MiB. pg_rewind
   * needs the target's WAL back to the last common checkpoint: without this, a
   * fast shutdown of the old primary recycles it and the rewind fails.
   */
  readonly walKeepBytes?: number;
  /** Present: start as a standby streaming from this primary. */
  readonly standby?: StandbyTarget;
  /**
   * Present when a backup store is configured: the agent-served
   * archive_command and restore_command (src/backup/wal-commands.ts), and
   * archive_mode=always — a standby archives what it receives too. With
   * archive_mode=on a standby marks streamed segments archived and, once
   * promoted, archives only WAL it wrote itself, so segments the old primary
   * completed but had not archived when it died would never reach the store:
   * a hole in the archive right before every failover's new timeline. The
   * store keeps one copy (an identical file archived again succeeds without
   * an upload). Archive recovery of a restored backup (`recovery`) keeps
   * archive_mode=on: everything it replays came from the store.
   * On the command line like every agent-owned setting; a restart applies a change.
   */
  readonly walArchive?: { readonly archiveCommand: string; readonly restoreCommand: string; readonly archiveTimeoutS?: number };
  /** Cluster-wide parameters (dynamic config); they override the sizing defaults, never node settings. */
  readonly parameters?: Readonly<Record<string, string | number | boolean>>;
  /**
   * Archive recovery of a restored base backup (start role 'recovery'): restore_command and the
   * recovery_target_* settings. Only for that start: a target left in place would stop every
   * later start of the node at it.
   */
  readonly recovery?: Readonly<Record<string, string>>;
}

export interface MemorySizing {
  readonly sharedBuffersBytes: number;
  readonly effectiveCacheSizeBytes: number;
  readonly maintenanceWorkMemBytes: number;
}

/** shared_buffers = fraction of RAM (capped, at least 16 MiB); effective_cache_size = 75% of RAM; maintenance_work_mem = RAM/16 in [64 MiB, 2 GiB]. */
export function sizeMemory(memoryBytes: number, sharedBuffersFraction = 0.25, sharedBuffersMaxBytes = 8 * GIB): MemorySizing {
  assert(Number.isFinite(memoryBytes) && memoryBytes > 0, `memoryBytes must be positive, got ${memoryBytes}`);
  assert(sharedBuffersFraction > 0 && sharedBuffersFraction <= 0.8, `sharedBuffersFraction must be in (0, 0.8], got ${sharedBuffersFraction}`);
  assert(sharedBuffersMaxBytes >= 16 * MIB, `sharedBuffersMaxBytes must be at least 16 MiB, got ${sharedBuffersMaxBytes}`);
  const floorMib = (bytes: number): number => Math.floor(bytes / MIB) * MIB;
  return {
    sharedBuffersBytes: Math.max(16 * MIB, floorMib(Math.min(memoryBytes * sharedBuffersFraction, sharedBuffersMaxBytes))),
    effectiveCacheSizeBytes: Math.max(32 * MIB, floorMib(memoryBytes * 0.75)),
    maintenanceWorkMemBytes: Math.min(2 * GIB, Math.max(64 * MIB, floorMib(memoryBytes / 16))),
  };
}

/** libpq conninfo value quoting: single quotes, with ' and \ escaped. */
export function quoteConninfoValue(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

export function buildConninfo(fields: Readonly<Record<string, string | number>>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${quoteConninfoValue(String(value))}`)
    .join(' ');
}

/** Replication slot names: lower-case letters, digits and underscores, at most 63. */
export function assertSlotName(name: string): void {
  if (!/^[a-z0-9_]{1,63}$/.test(name)) throw new PgInvalidNameError('replication slot name', name, 'use 1-63 of [a-z0-9_]');
}

/** Member names end up in application_name, cluster_name and synchronous_standby_names. */
export function assertMemberName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,63}$/.test(name)) throw new PgInvalidNameError('member name', name, 'use 1-63 of [A-Za-z0-9_.-]');
}

function renderValue(value: string | number | boolean): string {
  return typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
}

/**
 * The `postgres` arguments after `-D <dataDir>`: every node-specific setting
 * and the sizing defaults as `-c name=value` pairs (one argv element each, so
 * no shell quoting is involved). Pure.
 */
export function buildServerArgs(settings: ServerSettings): string[] {
  assert(Number.isInteger(settings.port) && settings.port > 0 && settings.port < 65536, `port out of range: ${settings.port}`);
  assert(settings.socketDir !== '' && !settings.socketDir.includes(','), 'socketDir must be one non-empty path');
  assertMemberName(settings.clusterName);
  const sizing = sizeMemory(settings.memoryBytes, settings.sharedBuffersFraction, settings.sharedBuffersMaxBytes);
  const params = new Map<string, string>([
    ['wal_level', 'replica'],
    ['wal_log_hints', 'on'],
    ['max_wal_senders', String(settings.maxWalSenders ?? 10)],
    ['max_replication_slots', String(settings.maxReplicationSlots ?? 10)],
    ['wal_keep_size', `${Math.floor((settings.walKeepBytes ?? 128 * MIB) / MIB)}MB`],
    ['shared_buffers', `${sizing.sharedBuffersBytes / MIB}MB`],
    ['effective_cache_size', `${sizing.effectiveCacheSizeBytes / MIB}MB`],
    ['maintenance_work_mem', `${sizing.maintenanceWorkMemBytes / MIB}MB`],
  ]);
  for (const [name, value] of Object.entries(settings.parameters ?? {})) {
    if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw new PgParameterRefusedError(name, 'not a PostgreSQL parameter name');
    if (AGENT_OWNED_PARAMETERS.has(name)) throw new PgParameterRefusedError(name, 'is set by the agent on each node');
    params.set(name, renderValue(value));
  }
  params.set('listen_addresses', settings.listenAddresses);
  params.set('port', String(settings.port));
  params.set('unix_socket_directories', settings.socketDir);
  params.set('cluster_name', settings.clusterName);
  params.set('hot_standby', 'on');
  if (settings.walArchive !== undefined) {
    params.set('archive_mode', settings.recovery === undefined ? 'always' : 'on');
    params.set('archive_command', settings.walArchive.archiveCommand);
    params.set('restore_command', settings.walArchive.restoreCommand);
    if (settings.walArchive.archiveTimeoutS !== undefined) params.set('archive_timeout', String(settings.walArchive.archiveTimeoutS));
  }
  for (const [name, value] of Object.entries(settings.recovery ?? {})) {
    assert(name === 'restore_command' || /^recovery_target(_[a-z]+)?$/.test(name), () => `${name} is not a recovery setting`);
    params.set(name, value);
  }
  if (settings.standby !== undefined) {
    const s = settings.standby;
    assertSlotName(s.slotName);
    assertMemberName(s.applicationName);
    params.set('primary_conninfo', buildConninfo({ host: s.host, port: s.port, user: s.user, passfile: s.passfile, application_name: s.applicationName, connect_timeout: 5 }));
    params.set('primary_slot_name', s.slotName);
  }
  return [...params].flatMap(([name, value]) => ['-c', `${name}=${value}`]);
}

/** Make the next start a standby start (PostgreSQL 12+: `standby.signal` in PGDATA). */
export async function writeStandbySignal(dataDir: string, osUser: PgOsUser): Promise<void> {
  const path = join(dataDir, 'standby.signal');
  await writeFile(path, '', { mode: 0o600 });
  await chownToPg(osUser, path);
}

/** Make the next start an archive recovery that ends in a promotion (`recovery.signal`; never together with standby.signal). */
export async function writeRecoverySignal(dataDir: string, osUser: PgOsUser): Promise<void> {
  await rm(join(dataDir, 'standby.signal'), { force: true });
  const path = join(dataDir, 'recovery.signal');
  await writeFile(path, '', { mode: 0o600 });
  await chownToPg(osUser, path);
}

/** Make the next start a primary start (no recovery). */
export async function removeStandbySignal(dataDir: string): Promise<void> {
  await rm(join(dataDir, 'standby.signal'), { force: true });
  await rm(join(dataDir, 'recovery.signal'), { force: true });
}

/**
 * Remove node-specific settings that a clone or rewind copied from the source
 * into postgresql.auto.conf (primary_conninfo, primary_slot_name). They are
 * outranked by the command line anyway; removing them keeps the file honest.
 * `alsoRemove` names more (a restored cluster drops the source's
 * synchronous_standby_names). Returns the names removed.
 */
export async function scrubAutoConf(dataDir: string, alsoRemove: readonly string[] = []): Promise<string[]> {
  const path = join(dataDir, 'postgresql.auto.conf');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  const kept = text.split('\n').filter((line) => {
    const name = /^\s*([a-z_]+)\s*=/.exec(line)?.[1];
    if (name === 'primary_conninfo' || name === 'primary_slot_name' || (name !== undefined && alsoRemove.includes(name))) {
      removed.push(name);
      return false;
    }
    return true;
  });
  if (removed.length > 0) await writeFile(path, kept.join('\n'));
  return removed;
}
