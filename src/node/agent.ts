import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { AdminBackend, AdminRaftView } from '../admin/backend.js';
import { AdminService } from '../admin/service.js';
import type { ApplyResult } from '../cluster/results.js';
import { ClusterStateMachine } from '../cluster/state-machine.js';
import { ClusterStore } from '../cluster/store.js';
import type { Credentials } from '../cluster/state.js';
import { parseHostPort } from '../config/address.js';
import { otherPeers } from '../config/rules.js';
import { raftLogDir, type Config } from '../config/schema.js';
import { isWritablePrimary, startHttp } from '../api/http.js';
import { AgentMetrics } from '../api/metrics.js';
import { CallbackRunner } from '../ha/callbacks.js';
import { HaExecutor } from '../ha/executor.js';
import { Fence } from '../ha/fence.js';
import { FenceKeeper } from '../ha/fence-keeper.js';
import { HaLoop } from '../ha/loop.js';
import { BootstrapCatalog, readBackupSummaries } from '../ha/bootstrap-catalog.js';
import { ConfigError, ProposalDroppedError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { productionRng } from '../lib/random.js';
import { resolveTls } from '../tls/resolve.js';
import { findPgBinaries, mkdirForPg, resolvePgOsUser, writePassfile } from '../postgres/index.js';
import { LevelLogStore } from '../raft/driver/level-storage.js';
import { RaftDriver } from '../raft/driver/raft-driver.js';
import { GrpcTransport } from '../raft/transport/grpc-transport.js';
import { decodePositionResponse, encodePositionAnswer, unreachablePosition } from '../raft/transport/position.js';
import type { CandidatePosition } from '../ha/candidates.js';
import { logConfigChanges } from './config-log.js';
import { startBackup } from './backup.js';
import { BackupRunner } from './backup-runner.js';
import { isConfigured, recordJoin, startMembership } from './membership.js';

/**
 * The composition root of one node: Raft (LevelDB log, gRPC transport),
 * the cluster state on top of it, the PostgreSQL controller, the fence,
 * callbacks, the HA loop and the HTTP health and metrics endpoints. Everything that
 * needs a clock or a socket is created here and handed down.
 */

export interface RunningAgent {
  readonly driver: RaftDriver<ApplyResult>;
  readonly store: ClusterStore;
  readonly loop: HaLoop;
  readonly httpAddress: string;
  /** Stop the node. PostgreSQL is stopped too unless the cluster is paused (or `keepPostgres`). */
  stop(options?: { keepPostgres?: boolean }): Promise<void>;
}

/** The first bootstrap_expect member names, sorted: every node computes the same initial voters. */
export function initialVoters(config: Config): Map<string, string> {
  const all = new Map<string, string>([[config.name, config.raft.advertise], ...otherPeers(config).map((p): [string, string] => [p.name, p.address])]);
  const names = [...all.keys()].sort().slice(0, config.raft.bootstrap_expect);
  return new Map(names.map((name) => [name, all.get(name)!]));
}

export async function startAgent(config: Config, log: Logger): Promise<RunningAgent> {
  const voters = initialVoters(config);
  // Not among the initial voters: a node that joins the running cluster (as a learner, then a voter).
  const joiner = !voters.has(config.name);
  if (joiner && otherPeers(config).length === 0) {
    throw new ConfigError('raft.peers', `${config.name} is not among the first ${config.raft.bootstrap_expect} members by name and knows no peer to join through`);
  }
  const binaries = await findPgBinaries(config.postgresql.bin_dir === undefined ? {} : { binDir: config.postgresql.bin_dir });
  const osUser = await resolvePgOsUser();
  await mkdirForPg(osUser, config.data_dir);
  log.info({ binDir: binaries.binDir, pgVersion: binaries.majorVersion, osUser: osUser.name, dataDir: config.data_dir }, 'agent.starting');

  // Before PostgreSQL starts: its archive_command and restore_command talk to this.
  const backup = await startBackup(config, osUser, log);
  const tls = await resolveTls(config, log, config.tls.local_ca_dir === undefined ? {} : { caDir: config.tls.local_ca_dir });
  const raftLog = log.child({ component: 'raft' });
  const machine = new ClusterStateMachine();
  const logStore = await LevelLogStore.open(raftLogDir(config), { nodeId: config.name, clusterName: config.cluster_name }, raftLog);
  let loop: HaLoop | undefined;
  let transport: GrpcTransport | undefined;
  let store: ClusterStore | undefined;
  // The admin service shares the peer port and its mutual TLS; it answers UNAVAILABLE until the backend is set below.
  let adminBackend: AdminBackend | undefined;
  const admin = new AdminService(() => adminBackend, log);
  // Every peer of the static list: a fresh node asks them all before it forms or joins the cluster.
  const peers = new Map(otherPeers(config).map((p): [string, string] => [p.name, p.address]));
  peers.delete(config.name);
  const driver = await RaftDriver.start<ApplyResult>({
    nodeId: config.name,
    advertiseAddress: config.raft.advertise,
    peers,
    // A fresh node is configured by discovery (below) or by the leader it joins, never blindly at start.
    bootstrap: false,
    store: logStore,
    stateMachine: machine,
    rng: productionRng(),
    logger: raftLog,
    tickMs: config.raft.tick_ms,
    electionTicks: config.raft.election_ticks,
    heartbeatTicks: config.raft.heartbeat_ticks,
    snapshotEveryEntries: config.raft.snapshot_every_entries,
    compactionKeepEntries: config.raft.compaction_keep_entries,
    onFatal: (error) => {
      log.error({ err: error }, 'agent.raft_storage_failed');
      process.exit(70);
    },
    createTransport: async (handlers, initialPeers) => {
      transport = await GrpcTransport.start({
        nodeId: config.name,
        clusterName: config.cluster_name,
        bindAddress: config.raft.bind,
        peers: initialPeers,
        logger: raftLog,
        serverCredentials: tls.server,
        channelCredentials: tls.channel,
        services: [admin.registration()],
        ...handlers,
        onProposeRequest: (data, timeoutMs) => {
          if (!store) throw new Error('the cluster store has not started');
          return store.proposeEncoded(data, timeoutMs);
        },
        onHelloRequest: () => {
          const conf = driver.status().confState;
          return { configured: isConfigured(conf), voters: conf.voters, learners: conf.learners };
        },
        onJoinRequest: (member, address, timeoutMs) => {
          if (!store) throw new ProposalDroppedError('the cluster store has not started');
          return recordJoin(store, driver, member, address, timeoutMs, log);
        },
        onPositionRequest: () => {
          if (!loop) throw new Error('the HA loop has not started');
          return loop.positionAnswer();
        },
      });
      return transport;
    },
  });
  store = new ClusterStore(driver, machine, { forward: (leaderId, data, timeoutMs) => transport!.forwardProposal(leaderId, data, timeoutMs) });
  const haLog = log.child({ component: 'ha' });
  const callbacks = new CallbackRunner({ paths: config.postgresql.callbacks, clusterName: config.cluster_name, log: haLog });
  const now = (): number => performance.now();
  const executor = new HaExecutor({
    self: config.name,
    config,
    binaries,
    osUser,
    store,
    callbacks,
    log: haLog,
    memoryBytes: totalmem(),
    now,
    wallNow: () => Date.now(),
    ...(backup ? { walArchive: { ...backup.walArchive, archiveTimeoutS: config.backup.archive.timeout_s }, backupStore: backup.store } : {}),
  });
  const runDir = join(config.data_dir, 'fence');
  const fenceLog = log.child({ component: 'fence' });
  const openFence = async (): Promise<Fence> => (await Fence.adopt({ runDir, logger: fenceLog })) ?? (await Fence.start({ runDir, dataDir: config.postgresql.data_dir, logger: fenceLog }));
  const fence = new FenceKeeper(await openFence(), openFence, fenceLog);
  const pgAddress = parseHostPort(config.postgresql.connect_address)!;
  const raftView = (): AdminRaftView => {
    const raft = driver.status();
    return { leaderId: raft.leader, role: raft.role, term: raft.term, commit: raft.commit, applied: raft.applied, confState: raft.confState };
  };
  // Read when served (after the loop started): the loop's status, the applied state, Raft (its leader as of the last Ready, as /cluster always said).
  const httpSources = { self: config.name, status: () => loop!.status, state: () => machine.state, sinceLastLoopMs: () => loop!.sinceLastLoopMs(), raft: () => ({ ...raftView(), leaderId: driver.leaderId() }) };
  const metrics = new AgentMetrics({ ...httpSources, isWritablePrimary: () => isWritablePrimary(httpSources), ...(backup ? { backup } : {}) });
  // The Raft leader may itself be a candidate: it answers for itself locally, the others over gRPC.
  const queryPositions = (members: readonly string[], timeoutMs: number): Promise<CandidatePosition[]> =>
    Promise.all(members.map((member) => (member === config.name ? ownPosition(loop!, member, timeoutMs, haLog) : transport!.queryPosition(member, timeoutMs))));
  loop = new HaLoop({
    self: config.name,
    config,
    store,
    driver,
    executor,
    binaries,
    osUser,
    registration: {
      raftAddress: config.raft.advertise,
      postgresHost: pgAddress.host.replace(/^\[|\]$/g, ''),
      postgresPort: pgAddress.port,
      httpAddress: config.http.listen,
      tags: { ...config.tags },
    },
    queryPositions,
    fence,
    log: haLog,
    now,
    wallNow: () => Date.now(),
    onLoopRun: (durationMs) => metrics.observeHaLoop(durationMs),
    ...(backup ? { archiveReport: () => backup.archiveReport() } : {}),
    ...(backup ? { bootstrapCatalog: new BootstrapCatalog({ read: () => readBackupSummaries(backup.store, config.cluster_name), now, log: haLog }) } : {}),
  });
  const startedStore = store;
  const startedLoop = loop;
  adminBackend = {
    self: config.name,
    clusterName: config.cluster_name,
    local: () => startedStore.local(),
    read: (timeoutMs) => startedStore.read(timeoutMs),
    propose: (command, timeoutMs) => startedStore.propose(command, timeoutMs),
    haStatus: () => startedLoop.status,
    raft: raftView,
    queryPositions,
    wallNow: () => Date.now(),
    onApplied: (listener) => startedStore.on('applied', (event) => listener(event, startedStore.local())),
    backupStore: () => backup?.store ?? null,
  };
  const backups = new BackupRunner({
    self: config.name,
    cluster: config.cluster_name,
    store,
    objectStore: backup?.store ?? null,
    binaries,
    osUser,
    log: log.child({ component: 'backup' }),
    wallNow: () => Date.now(),
    onEnded: (run) => metrics.observeBackup(run),
  });

  // Operators on the node connect as the superuser with PGPASSFILE=<data_dir>/pgpass.
  let passfileWritten = false;
  const writeOperatorPassfile = async (credentials: Credentials | null): Promise<void> => {
    if (credentials === null || passfileWritten) return;
    passfileWritten = true;
    await writePassfile(join(config.data_dir, 'pgpass'), { ...osUser, switchUser: false }, config.postgresql.superuser, credentials.superuserPassword);
  };
  await writeOperatorPassfile(machine.state.initialize?.credentials ?? null);
  const unsubscribe = store.on('applied', (event) => {
    if (event.command?.type === 'initializeDone' && event.result.ok) void writeOperatorPassfile(machine.state.initialize?.credentials ?? null).catch((error) => log.warn({ err: error }, 'agent.passfile_failed'));
  });

  const unsubscribeConfig = logConfigChanges(store, log.child({ component: 'config' }));
  const stopMembership = startMembership({
    self: config.name,
    advertise: config.raft.advertise,
    initialVoters: voters,
    joiner,
    peers: [...peers.keys()].sort(),
    driver,
    store,
    transport: () => transport!,
    replaceAfterMs: config.raft.replace_unreachable_after_ms,
    log: log.child({ component: 'membership' }),
  });

  loop.start();
  backups.start();
  let http: { server: Server; address: string };
  try {
    http = await startHttp(config.http.listen, { ...httpSources, metrics }, log.child({ component: 'http' }));
  } catch (error) {
    await backups.stop();
    await loop.stop();
    await driver.stop();
    await fence.close();
    await backup?.close();
    throw error;
  }
  log.info({ raft: config.raft.advertise, http: http.address, postgres: config.postgresql.connect_address, initialVoters: [...voters.keys()], raftVoters: driver.status().confState.voters }, 'agent.started');

  let stopping: Promise<void> | undefined;
  const stop = (options: { keepPostgres?: boolean } = {}): Promise<void> => {
    stopping ??= (async () => {
      log.info({}, 'agent.stopping');
      stopMembership();
      await backups.stop();
      await loop!.stop();
      const state = machine.state;
      const keep = options.keepPostgres === true || state.pause.paused;
      if (!keep) {
        await loop!.shutdownPostgres().catch((error: unknown) => log.error({ err: error }, 'agent.postgres_stop_failed'));
        await fence.close();
      }
      // After PostgreSQL stopped: its shutdown archives the last WAL through the agent.
      await backup?.close().catch((error: unknown) => log.error({ err: error }, 'agent.backup_close_failed'));
      unsubscribe();
      unsubscribeConfig();
      await callbacks.close(2_000);
      await new Promise<void>((resolve) => http.server.close(() => resolve()));
      http.server.closeAllConnections();
      await driver.stop();
      log.info({ keptPostgres: keep }, 'agent.stopped');
    })();
    return stopping;
  };
  return { driver, store, loop, httpAddress: http.address, stop };
}

/** This node's own answer as a candidate, bounded like a peer's. */
async function ownPosition(loop: HaLoop, member: string, timeoutMs: number, log: Logger): Promise<CandidatePosition> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = await Promise.race([
      loop.positionAnswer(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return decodePositionResponse(member, encodePositionAnswer(member, answer), log);
  } catch (error) {
    log.warn({ member, err: (error as Error).message }, 'ha.own_position_failed');
    return unreachablePosition(member);
  } finally {
    clearTimeout(timer);
  }
}
