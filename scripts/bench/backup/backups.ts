/**
 * bench:backup parts 2 and 3: base backup, restore and replica creation
 * against the primary of database.ts, each timed from the first step to
 * the last.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { latestBackup } from '../../../src/backup/backup-catalog.js';
import { takeBaseBackup } from '../../../src/backup/base-backup.js';
import { restoreBaseBackup } from '../../../src/backup/restore-backup.js';
import type { ObjectStore } from '../../../src/backup/store.js';
import { slotNameFor } from '../../../src/cluster/state.js';
import { basebackup } from '../../../src/postgres/basebackup.js';
import type { StandbyTarget } from '../../../src/postgres/conf.js';
import { spawnIdentity } from '../../../src/postgres/os-user.js';
import { createPhysicalSlot } from '../../../src/postgres/slots.js';
import type { Primary } from './database.js';
import { CLUSTER, pgDir, pgNode, untilStreaming, type BenchEnv } from './nodes.js';
import { BASELINE_ARGS } from './report.js';

/** Replay of a large --wal-after-mb may take long on a loaded machine. */
const REPLICA_TIMEOUT_MS = 3_600_000;
const WAL_POLL_MS = 100;
const BASEBACKUP_TIMEOUT_MS = 3_600_000;

export const REPLICA_S3 = 'replica-s3';
export const REPLICA_BASEBACKUP = 'replica-basebackup';

export interface BaseBackupRun {
  readonly id: string;
  readonly seconds: number;
  /** The tar stream's bytes (what pg_basebackup sent). */
  readonly dataBytes: number;
  readonly storedBytes: number;
}

/**
 * takeBaseBackup into `store`. `walAvailable` defaults to the WAL archive
 * in that same store; the primary archives to S3, so a backup into another
 * store checks the S3 archive instead.
 */
export async function timeBaseBackup(env: BenchEnv, primary: Primary, store: ObjectStore, walAvailable?: (walFileName: string) => Promise<boolean>): Promise<BaseBackupRun> {
  const started = performance.now();
  const manifest = await takeBaseBackup({
    binaries: env.binaries,
    osUser: env.osUser,
    store,
    cluster: CLUSTER,
    connection: primary.replication,
    takenOn: primary.node.name,
    label: 'bench:backup',
    walPollMs: WAL_POLL_MS,
    ...(walAvailable === undefined ? {} : { walAvailable }),
  });
  return { id: manifest.id, seconds: (performance.now() - started) / 1000, dataBytes: manifest.dataBytes, storedBytes: manifest.storedBytes };
}

/** restoreBaseBackup (download, gunzip, tar -x, pg_verifybackup) into an empty directory, then discard it. Seconds. */
export async function timeRestore(env: BenchEnv, store: ObjectStore, backupId: string, targetDir: string, restoreCommand: string): Promise<number> {
  const started = performance.now();
  await restoreBaseBackup({ store, cluster: CLUSTER, backupId, targetDir, binaries: env.binaries, osUser: env.osUser, restoreCommand, mode: 'standby' });
  const seconds = (performance.now() - started) / 1000;
  await env.discard(targetDir);
  return seconds;
}

/** The same-run baseline: `pg_basebackup -D <dir> -Ft -X none --checkpoint=fast` to local disk (uncompressed, fsynced). Seconds and base.tar's bytes. */
export async function timePgBasebackup(env: BenchEnv, primary: Primary, dir: string): Promise<{ seconds: number; bytes: number }> {
  await pgDir(env, dir);
  const r = primary.replication;
  const identity = spawnIdentity(env.osUser);
  const args = ['-D', dir, ...BASELINE_ARGS, '-h', r.host, '-p', String(r.port), '-U', r.user, '--no-password'];
  const started = performance.now();
  await env.children.run('pg_basebackup (baseline)', env.binaries.path('pg_basebackup'), args, {
    ...identity,
    env: { ...identity.env, PGPASSFILE: primary.replicationPassfile },
    cwd: '/',
    timeout: BASEBACKUP_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  const seconds = (performance.now() - started) / 1000;
  const bytes = (await stat(join(dir, 'base.tar'))).size;
  await env.discard(dir);
  return { seconds, bytes };
}

/** Each replica's slot on the primary, as the primary creates it for a member (created before the WAL they need is written). */
export async function createReplicaSlots(primary: Primary): Promise<void> {
  for (const name of [REPLICA_S3, REPLICA_BASEBACKUP]) await createPhysicalSlot(await primary.node.connection(), slotNameFor(name));
}

function standbyOf(primary: Primary, member: string): StandbyTarget {
  return { host: primary.replication.host, port: primary.replication.port, user: primary.replication.user, passfile: primary.replicationPassfile, slotName: slotNameFor(member), applicationName: member };
}

/**
 * A new member from the S3 archive: the latest base backup restored into an
 * empty data directory, started as a standby of the primary with the
 * agent's restore_command (replay from the archive), until its WAL receiver
 * streams. The replica is stopped and discarded afterwards.
 */
export async function timeReplicaFromS3(env: BenchEnv, primary: Primary): Promise<{ seconds: number; restoreSeconds: number }> {
  const node = await pgNode(env, REPLICA_S3, primary.superuser, { kind: 's3' });
  const store = node.backup.runtime.store;
  const started = performance.now();
  const latest = await latestBackup(store, CLUSTER);
  if (latest === undefined) throw new Error(`no base backup of ${CLUSTER} in ${store.description}`);
  await restoreBaseBackup({ store, cluster: CLUSTER, backupId: latest.id, targetDir: node.dataDir, binaries: env.binaries, osUser: env.osUser, restoreCommand: node.backup.runtime.walArchive.restoreCommand, mode: 'standby' });
  const restoreSeconds = (performance.now() - started) / 1000;
  await node.controller.start(node.settings(standbyOf(primary, node.name)), 'standby', REPLICA_TIMEOUT_MS);
  await untilStreaming(node, REPLICA_TIMEOUT_MS);
  const seconds = (performance.now() - started) / 1000;
  await node.controller.stop({ mode: 'fast' });
  await env.discard(node.dataDir);
  return { seconds, restoreSeconds };
}

/** A new member by pg_basebackup from the primary (src/postgres/basebackup.ts, with its slot), started as its standby until it streams. */
export async function timeReplicaByBasebackup(env: BenchEnv, primary: Primary): Promise<{ seconds: number; copySeconds: number }> {
  const node = await pgNode(env, REPLICA_BASEBACKUP, primary.superuser, { kind: 's3' });
  const started = performance.now();
  await basebackup({ binaries: env.binaries, osUser: env.osUser, targetDir: node.dataDir, source: primary.replication, slotName: slotNameFor(node.name), timeoutMs: BASEBACKUP_TIMEOUT_MS });
  const copySeconds = (performance.now() - started) / 1000;
  await node.controller.start(node.settings(standbyOf(primary, node.name)), 'standby', REPLICA_TIMEOUT_MS);
  await untilStreaming(node, REPLICA_TIMEOUT_MS);
  const seconds = (performance.now() - started) / 1000;
  await node.controller.stop({ mode: 'fast' });
  await env.discard(node.dataDir);
  return { seconds, copySeconds };
}
