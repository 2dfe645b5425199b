import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalLsn } from '../cluster/lsn.js';
import type { ClusterStore } from '../cluster/store.js';
import type { Credentials, ClusterState, RestoredFrom } from '../cluster/state.js';
import { slotNameFor } from '../cluster/state.js';
import type { Config } from '../config/schema.js';
import { parseHostPort } from '../config/address.js';
import type { Logger } from '../lib/logger.js';
import {
  basebackup,
  cleanlyShutDownPrimary,
  createPhysicalSlot,
  createRoles,
  buildServerArgs,
  dropSlot as dropLocalSlot,
  generatePassword,
  initdb,
  PgRewindSourceNotPrimaryError,
  PostgresController,
  readControlData,
  REPLICATION_ROLE,
  REWIND_ROLE,
  rewind,
  setSynchronousStandbyNames,
  writePassfile,
  type PgBinaries,
  type PgOsUser,
  type ServerSettings,
  type LocalConnection,
} from '../postgres/index.js';
import { withConnection } from '../postgres/sql.js';
import type { ObjectStore } from '../backup/store.js';
import type { CallbackRunner } from './callbacks.js';
import type { PrimaryDuty } from './duties.js';
import { removePendingRestore, restoreClusterFromBackup, RESTORE_PENDING_FILE } from './restore-bootstrap.js';
import { bootstrapFromBackup } from './s3-bootstrap.js';

/**
 * The only code that changes PostgreSQL on behalf of the HA loop: each
 * method is one step an operator would recognise (initdb, clone, start,
 * promote, demote, rewind). Thin: the decisions were made by the pure
 * deciders; this file carries them out and logs one line per step.
 */

export interface ExecutorContext {
  readonly self: string;
  readonly config: Config;
  readonly binaries: PgBinaries;
  readonly osUser: PgOsUser;
  readonly store: ClusterStore;
  readonly callbacks: CallbackRunner;
  readonly log: Logger;
  /** Bytes of RAM PostgreSQL's memory settings are sized from. */
  readonly memoryBytes: number;
  /** Monotonic clock, ms. */
  readonly now: () => number;
  /** Wall clock for commands (atMs): only recorded, never compared across nodes. */
  readonly wallNow: () => number;
  /** The agent-served archive_command and restore_command, when a backup store is configured. */
  readonly walArchive?: ServerSettings['walArchive'];
  /** This node's backup store, when one is configured: a new member restores its S3 plan's backup from it. */
  readonly backupStore?: ObjectStore;
}

const CREDENTIALS_FILE = 'initialize-credentials.json';
const PASSFILE = 'pgpass-replication';
const OBSERVE_TIMEOUT_MS = 2_000;

export class HaExecutor {
  private controllerCache: { password: string; controller: PostgresController } | undefined;
  /** The upstream each standby start pointed at (null: none); undefined until this agent started PostgreSQL itself. */
  upstream: string | null | undefined = undefined;
  readonly pgDataDir: string;
  readonly socketDir: string;
  readonly logDir: string;
  private readonly passfile: string;

  constructor(private readonly ctx: ExecutorContext) {
    const pg = ctx.config.postgresql;
    this.pgDataDir = pg.data_dir;
    this.socketDir = pg.socket_dir;
    this.logDir = join(ctx.config.data_dir, 'log');
    this.passfile = join(ctx.config.data_dir, PASSFILE);
  }

  /** A controller that connects with the cluster's superuser password (once known). */
  controller(credentials: Credentials | null): PostgresController {
    const password = credentials?.superuserPassword ?? '';
    if (this.controllerCache?.password !== password) {
      this.controllerCache = {
        password,
        controller: new PostgresController({
          binaries: this.ctx.binaries,
          osUser: this.ctx.osUser,
          dataDir: this.pgDataDir,
          logDir: this.logDir,
          superuser: { user: this.ctx.config.postgresql.superuser, password },
          log: this.ctx.log,
        }),
      };
    }
    return this.controllerCache.controller;
  }

  async connection(credentials: Credentials | null, timeoutMs = OBSERVE_TIMEOUT_MS): Promise<LocalConnection> {
    return this.controller(credentials).connection({ connectTimeoutMs: timeoutMs, statementTimeoutMs: timeoutMs });
  }

  serverSettings(state: ClusterState, upstream: string | null): ServerSettings {
    const pg = this.ctx.config.postgresql;
    const parameters = { ...state.config.values.postgresql_parameters, ...pg.parameters };
    let standby: ServerSettings['standby'];
    if (upstream !== null) {
      const member = state.members[upstream];
      if (member) {
        standby = {
          host: member.registration.postgresHost,
          port: member.registration.postgresPort,
          user: REPLICATION_ROLE,
          passfile: this.passfile,
          slotName: slotNameFor(this.ctx.self),
          applicationName: this.ctx.self,
        };
      }
    }
    return {
      listenAddresses: pg.listen,
      port: pg.port,
      socketDir: this.socketDir,
      clusterName: this.ctx.self,
      memoryBytes: this.ctx.memoryBytes,
      sharedBuffersFraction: pg.shared_buffers_fraction,
      parameters,
      ...(standby ? { standby } : {}),
      ...(this.ctx.walArchive ? { walArchive: this.ctx.walArchive } : {}),
    };
  }

  /** Initialize the database as the claimant: initdb (fresh) or resume, start as primary, create roles, record the system identifier. */
  async initialize(state: ClusterState, fresh: boolean): Promise<void> {
    const credentials = await this.pendingCredentials();
    if (fresh) {
      this.ctx.log.info({ dataDir: this.pgDataDir }, 'ha.initdb_started');
      await initdbWithPassword(this.ctx, this.pgDataDir, credentials.superuserPassword, memberCidrs(this.ctx.config, state));
    }
    await this.controller(credentials).start(this.serverSettings(state, null), 'primary');
    await this.finishInitialize(state, credentials, null);
  }

  /**
   * bootstrap.method restore (restore-bootstrap.ts): the claimant restores the store's backup and
   * promotes it on a new timeline instead of running initdb, then finishes as initialize() does.
   * `skip`: backups that failed verification on this node.
   */
  async restoreCluster(state: ClusterState, skip: ReadonlyMap<string, string>): Promise<void> {
    const credentials = await this.pendingCredentials();
    const config = this.ctx.config;
    const restore = config.bootstrap.restore;
    const restored = await restoreClusterFromBackup({
      store: this.ctx.backupStore,
      cluster: config.cluster_name,
      restoreCommand: this.ctx.walArchive?.restoreCommand,
      request: { backup: restore.backup, targetTime: restore.recovery_target_time === undefined ? null : new Date(restore.recovery_target_time) },
      skip,
      binaries: this.ctx.binaries,
      osUser: this.ctx.osUser,
      dataDir: this.pgDataDir,
      pendingFile: join(config.data_dir, RESTORE_PENDING_FILE),
      controller: () => this.controller(credentials),
      serverSettings: () => this.serverSettings(state, null),
      hba: { superuser: config.postgresql.superuser, memberCidrs: memberCidrs(config, state), clientCidrs: config.postgresql.client_cidrs },
      superuserPassword: credentials.superuserPassword,
      connection: () => this.connection(credentials, 60_000),
      wallNow: this.ctx.wallNow,
      log: this.ctx.log,
    });
    await this.finishInitialize(state, credentials, { backupId: restored.backupId, timeline: restored.timeline, targetTimeMs: restored.targetTimeMs });
    await removePendingRestore(join(config.data_dir, RESTORE_PENDING_FILE));
  }

  /** The running primary of a new cluster: this cluster's roles, the initial dynamic configuration, the system identifier and credentials recorded. */
  private async finishInitialize(state: ClusterState, credentials: Credentials, restoredFrom: RestoredFrom | null): Promise<void> {
    this.upstream = null;
    // Restored roles exist already, with the source cluster's passwords: createRoles sets this cluster's.
    await createRoles(await this.connection(credentials, 10_000), { replicatorPassword: credentials.replicationPassword, rewindPassword: credentials.rewindPassword }, this.ctx.log);
    // The initial dynamic configuration (bootstrap.dynamic) becomes the cluster's, once: version 0 → 1.
    if (state.config.version === 0) {
      const patched = await this.ctx.store.propose({ type: 'patchConfig', atMs: this.ctx.wallNow(), expectedVersion: 0, patch: { ...this.ctx.config.bootstrap.dynamic } });
      this.ctx.log.info({ ok: patched.ok, ...(patched.ok ? { version: patched.version } : { code: patched.code }) }, 'ha.initial_config');
    }
    const systemIdentifier = await withConnection(await this.connection(credentials), 'read the system identifier', async (client) =>
      (await client.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')).rows[0]!.id,
    );
    const result = await this.ctx.store.propose({ type: 'initializeDone', atMs: this.ctx.wallNow(), member: this.ctx.self, systemIdentifier, credentials, restoredFrom });
    if (!result.ok) throw new Error(`initializeDone refused: ${result.code}: ${result.reason}`);
    await rm(join(this.ctx.config.data_dir, CREDENTIALS_FILE), { force: true });
    this.ctx.log.info({ systemIdentifier, ...(restoredFrom === null ? {} : { restoredFrom }) }, 'ha.initialized');
    this.ctx.callbacks.notify('on_start', 'primary');
  }

  /** The initializer's passwords while its bootstrap is unfinished; null elsewhere. */
  async pendingCredentialsIfAny(): Promise<Credentials | null> {
    try {
      return JSON.parse(await readFile(join(this.ctx.config.data_dir, CREDENTIALS_FILE), 'utf8')) as Credentials;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** Passwords for a bootstrap, kept in a 0600 file until recorded, so a crash mid-bootstrap can resume with the same ones. */
  private async pendingCredentials(): Promise<Credentials> {
    const path = join(this.ctx.config.data_dir, CREDENTIALS_FILE);
    const pending = await this.pendingCredentialsIfAny();
    if (pending !== null) return pending;
    const credentials: Credentials = { superuserPassword: generatePassword(), replicationPassword: generatePassword(), rewindPassword: generatePassword() };
    await writeFile(`${path}.tmp`, JSON.stringify(credentials), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
    return credentials;
  }

  /** pg_basebackup from `source` into the (empty) data directory, then start as the primary's standby with this member's slot. */
  async clone(state: ClusterState, source: string): Promise<void> {
    await this.copyFrom(state, source, false);
  }

  /**
   * An S3 plan: restore base backup `backupId` from this node's store into the (empty) data
   * directory, start as `upstream`'s standby (replaying the archive, then streaming with its slot)
   * and wait until it streams. On any failure the data directory is left empty and the error thrown.
   */
  async restore(state: ClusterState, backupId: string, upstream: string): Promise<void> {
    this.ctx.log.info({ backupId, upstream }, 'ha.bootstrap_s3_started');
    const credentials = requireCredentials(state);
    await bootstrapFromBackup(
      {
        store: this.ctx.backupStore,
        cluster: this.ctx.config.cluster_name,
        restoreCommand: this.ctx.walArchive?.restoreCommand,
        binaries: this.ctx.binaries,
        osUser: this.ctx.osUser,
        dataDir: this.pgDataDir,
        controller: () => this.controller(credentials),
        startStandby: () => this.startStandby(state, upstream),
        connection: () => this.connection(credentials),
        now: this.ctx.now,
        log: this.ctx.log,
      },
      backupId,
    );
  }

  /**
   * The one pg_basebackup path: a new member's first copy, or a re-clone (`overwrite`) of a
   * diverged one. From the primary with this member's slot; from a replica (clonefrom) through a
   * temporary slot there, since this member's slot lives on the primary. Either way the copy then
   * streams from the primary with its slot.
   */
  private async copyFrom(state: ClusterState, source: string, overwrite: boolean): Promise<void> {
    const credentials = requireCredentials(state);
    const member = state.members[source];
    if (!member) throw new Error(`clone source ${source} is not a member`);
    const primary = state.leader?.member ?? source;
    await basebackup({
      binaries: this.ctx.binaries,
      osUser: this.ctx.osUser,
      targetDir: this.pgDataDir,
      source: { host: member.registration.postgresHost, port: member.registration.postgresPort, user: REPLICATION_ROLE, password: credentials.replicationPassword },
      slotName: source === primary ? slotNameFor(this.ctx.self) : null,
      overwrite,
      log: this.ctx.log,
    });
    await this.startStandby(state, primary);
  }

  async startStandby(state: ClusterState, upstream: string | null): Promise<void> {
    const credentials = requireCredentials(state);
    const controller = this.controller(credentials);
    if ((await controller.status()).running) await controller.stop({ mode: 'fast' });
    await writePassfile(this.passfile, this.ctx.osUser, REPLICATION_ROLE, credentials.replicationPassword);
    await controller.start(this.serverSettings(state, upstream), 'standby');
    this.upstream = upstream;
    this.ctx.callbacks.notify('on_start', 'replica');
  }

  async startPrimary(state: ClusterState): Promise<void> {
    await this.controller(requireCredentials(state)).start(this.serverSettings(state, null), 'primary');
    this.upstream = null;
    this.ctx.callbacks.notify('on_start', 'primary');
  }

  /**
   * Rejoin behind `source`: stop, pg_rewind (when use_rewind), and on
   * failure re-clone (when reclone_on_rewind_failure) — never leave a
   * diverged data directory streaming. Then start as its standby.
   */
  async rejoin(state: ClusterState, source: string): Promise<void> {
    const credentials = requireCredentials(state);
    const controller = this.controller(credentials);
    const member = state.members[source];
    if (!member) throw new Error(`rejoin source ${source} is not a member`);
    // A dead source (the primary's host is gone, a failover is pending) is no reason to stop a
    // running replica that may be the next primary: check it answers first. And that it is a
    // primary already: a leader-key holder that has not promoted yet is no rewind source (seed 2047).
    if (await this.checkSourceAnswers(state, source, 'rejoin')) {
      const pg = state.members[source]!.registration;
      throw new PgRewindSourceNotPrimaryError(`${source} (${pg.postgresHost}:${pg.postgresPort})`);
    }
    await controller.stop({ mode: 'fast' });
    const values = state.config.values;
    if (values.use_rewind) {
      const result = await rewind({
        binaries: this.ctx.binaries,
        osUser: this.ctx.osUser,
        dataDir: this.pgDataDir,
        source: { host: member.registration.postgresHost, port: member.registration.postgresPort, user: REWIND_ROLE, password: credentials.rewindPassword },
        serverArgs: buildServerArgs(this.serverSettings(state, null)),
        log: this.ctx.log,
      });
      if (result.ok) {
        await this.startStandby(state, source);
        return;
      }
      if (!values.reclone_on_rewind_failure) throw new Error(`pg_rewind failed (exit ${result.exitCode}) and reclone_on_rewind_failure is off: left stopped`);
    }
    this.ctx.log.warn({ source }, 'ha.reclone');
    await this.copyFrom(state, source, true);
  }

  /** Connect to `source`'s PostgreSQL as the rewind role (what pg_rewind and a clone need), or throw saying so. Answers whether it is in recovery. */
  private async checkSourceAnswers(state: ClusterState, source: string, what: string): Promise<boolean> {
    const credentials = requireCredentials(state);
    const member = state.members[source];
    if (!member) throw new Error(`${what} source ${source} is not a member`);
    return withConnection(
      { host: member.registration.postgresHost, port: member.registration.postgresPort, user: REWIND_ROLE, password: credentials.rewindPassword, database: 'postgres', connectTimeoutMs: 2_000, statementTimeoutMs: 2_000 },
      `reach the ${what} source ${source}`,
      async (client) => (await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r,
    );
  }

  /** An operator's restart: a fast stop, then a start in the same role (a replica behind `upstream`). */
  async restart(state: ClusterState, role: 'primary' | 'replica', upstream: string | null): Promise<void> {
    await this.controller(requireCredentials(state)).stop({ mode: 'fast' });
    this.upstream = undefined;
    this.ctx.callbacks.notify('on_stop', role);
    if (role === 'primary') await this.startPrimary(state);
    else await this.startStandby(state, upstream);
  }

  /**
   * An operator's reinit of this replica: only once `source` answers (never
   * empty a data directory with nothing to copy from), stop, empty the data
   * directory and clone it again with this member's slot through the one
   * pg_basebackup path, then start as `source`'s standby.
   */
  async reinit(state: ClusterState, source: string): Promise<void> {
    await this.checkSourceAnswers(state, source, 'reinit');
    const controller = this.controller(requireCredentials(state));
    if ((await controller.status()).running) {
      await controller.stop({ mode: 'fast' });
      this.ctx.callbacks.notify('on_stop', 'replica');
    }
    this.upstream = undefined;
    await this.copyFrom(state, source, true);
  }

  /** Promote the local standby (after the synchronous pre_promote fence), then CHECKPOINT so rewinds of others see the new timeline. */
  async promote(state: ClusterState): Promise<boolean> {
    const pre = await this.ctx.callbacks.prePromote(this.ctx.config.postgresql.pre_promote_timeout_ms);
    if (!pre.ok) {
      this.ctx.log.error({ reason: pre.reason, exitCode: pre.exitCode, stderrTail: pre.stderrTail }, 'ha.pre_promote_refused');
      return false;
    }
    const credentials = requireCredentials(state);
    if (state.config.values.synchronous_mode !== 'off') {
      // In synchronous mode the new primary acknowledges nothing until the sync rules have named a
      // standby: otherwise a commit acknowledged before that could be missing from every member in
      // `sync` (ALTER SYSTEM works on a standby; the setting survives the promotion).
      await setSynchronousStandbyNames(await this.connection(credentials, 10_000), '*', { log: this.ctx.log });
    }
    await this.controller(credentials).promote();
    this.upstream = null;
    await withConnection(await this.connection(credentials, 30_000), 'checkpoint after promote', (client) => client.query('CHECKPOINT'));
    this.ctx.callbacks.notify('on_role_change', 'primary');
    return true;
  }

  callbacksNotifyStop(role: 'primary' | 'replica'): void {
    this.ctx.callbacks.notify('on_stop', role);
  }

  /**
   * The primary's half of a switchover: a CHECKPOINT while still serving
   * (so the shutdown checkpoint has little left to write), then a fast
   * shutdown (clients disconnected, every WAL record sent to the connected
   * standbys, the shutdown checkpoint last). Returns where that checkpoint
   * record starts when the shutdown was clean; null when it was not (the
   * stop escalated): then nobody may be promoted on the strength of it.
   */
  async stopForSwitchover(state: ClusterState, budgetMs: number): Promise<string | null> {
    const credentials = requireCredentials(state);
    const started = this.ctx.now();
    await withConnection(await this.connection(credentials, Math.max(100, budgetMs)), 'checkpoint before the switchover', (client) => client.query('CHECKPOINT'));
    const left = Math.max(100, budgetMs - (this.ctx.now() - started));
    await this.controller(credentials).stop({ mode: 'fast', timeoutMs: left });
    this.upstream = undefined;
    this.ctx.callbacks.notify('on_stop', 'primary');
    const control = await readControlData(this.ctx.binaries, this.ctx.osUser, this.pgDataDir);
    return cleanlyShutDownPrimary(control) ? canonicalLsn(control.checkpointLsn) : null;
  }

  /** Stop accepting writes now: an immediate stop (the next loop rejoins it as a standby). */
  async demote(state: ClusterState): Promise<void> {
    await this.controller(state.initialize?.credentials ?? null).stop({ mode: 'immediate', timeoutMs: 5_000 });
    this.upstream = undefined;
    this.ctx.callbacks.notify('on_role_change', 'demoted');
  }

  /** Carry out the primary's duties in order; each command carries the epoch it was decided in. */
  async runDuties(state: ClusterState, duties: readonly PrimaryDuty[], epoch: number, currentLsn: string): Promise<void> {
    const conn = await this.connection(requireCredentials(state), 10_000);
    for (const duty of duties) {
      switch (duty.kind) {
        case 'ensureSlot': {
          if (!duty.existsLocally) await createPhysicalSlot(conn, duty.slotName, this.ctx.log);
          const result = await this.ctx.store.propose({ type: 'recordSlot', atMs: this.ctx.wallNow(), member: duty.member, createdAtLsn: currentLsn, leaderEpoch: epoch });
          this.logResult('recordSlot', duty.member, result);
          break;
        }
        case 'dropSlot': {
          await dropLocalSlot(conn, duty.slotName, this.ctx.log).catch((error: unknown) => this.ctx.log.warn({ slot: duty.slotName, err: error }, 'ha.slot_drop_failed'));
          if (duty.member !== null) {
            const result = await this.ctx.store.propose({ type: 'dropSlot', atMs: this.ctx.wallNow(), member: duty.member, leaderEpoch: epoch });
            this.logResult('dropSlot', duty.member, result);
          }
          break;
        }
        case 'recordBootstrapPlan': {
          const result = await this.ctx.store.propose({
            type: 'recordBootstrapPlan',
            atMs: this.ctx.wallNow(),
            member: duty.member,
            method: duty.method,
            source: duty.source,
            reason: duty.reason,
            walBytesSinceBackup: duty.walBytesSinceBackup,
            backupBytes: duty.backupBytes,
            leaderEpoch: epoch,
          });
          if (result.ok) this.ctx.log.info({ member: duty.member, method: duty.method, source: duty.source, reason: duty.reason, walBytesSinceBackup: duty.walBytesSinceBackup, backupBytes: duty.backupBytes }, 'ha.bootstrap_planned');
          this.logResult('recordBootstrapPlan', duty.member, result);
          break;
        }
      }
    }
  }

  private logResult(command: string, member: string, result: { ok: boolean; code?: string; reason?: string }): void {
    if (result.ok) this.ctx.log.info({ command, member }, 'ha.primary_duty_done');
    else this.ctx.log.warn({ command, member, code: result.code, detail: result.reason }, 'ha.primary_duty_refused');
  }
}

function requireCredentials(state: ClusterState): Credentials {
  const credentials = state.initialize?.credentials;
  if (!credentials) throw new Error('the cluster has not been initialized (no credentials recorded)');
  return credentials;
}

/** pg_hba admits replication and rewind from every member's address: the static peers and this node. */
export function memberCidrs(config: Config, state: ClusterState): string[] {
  const hosts = new Set<string>();
  const add = (address: string): void => {
    const parsed = parseHostPort(address);
    if (parsed) hosts.add(parsed.host.replace(/^\[|\]$/g, ''));
  };
  add(config.postgresql.connect_address);
  add(config.raft.advertise);
  for (const peer of config.raft.peers) add(peer.address);
  for (const member of Object.values(state.members)) {
    hosts.add(member.registration.postgresHost);
    add(member.registration.raftAddress);
  }
  return [...hosts].filter((h) => /^[0-9.]+$/.test(h) || h.includes(':')).map((h) => (h.includes(':') ? `${h}/128` : `${h}/32`)).sort();
}

async function initdbWithPassword(ctx: ExecutorContext, dataDir: string, superuserPassword: string, cidrs: string[]): Promise<void> {
  await initdb({
    binaries: ctx.binaries,
    osUser: ctx.osUser,
    dataDir,
    superuser: ctx.config.postgresql.superuser,
    superuserPassword,
    memberCidrs: cidrs,
    clientCidrs: ctx.config.postgresql.client_cidrs,
    log: ctx.log,
  });
}

