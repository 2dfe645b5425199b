import type { ExecutionContext } from 'ava';
import type { AdminBackend, AdminRaftView } from '../../../src/admin/backend.js';
import type { ObjectStore } from '../../../src/backup/store.js';
import { AdminClient } from '../../../src/admin/client.js';
import { AdminCallError } from '../../../src/admin/errors.js';
import { NotLeaderError } from '../../../src/lib/errors.js';
import { AdminService, type AdminServiceOptions } from '../../../src/admin/service.js';
import { encodeCommand, type ClusterCommandInput } from '../../../src/cluster/commands.js';
import type { ApplyResult } from '../../../src/cluster/results.js';
import { ClusterStateMachine, type AppliedEvent } from '../../../src/cluster/state-machine.js';
import type { ClusterState } from '../../../src/cluster/state.js';
import type { CandidatePosition } from '../../../src/ha/candidates.js';
import type { HaStatus } from '../../../src/ha/loop.js';
import { GrpcTransport } from '../../../src/raft/transport/grpc-transport.js';
import { mutualTlsCredentials, type GateOptions, type TlsFiles } from '../../../src/tls/credentials.js';
import { recordingLogger, type LogLine } from '../../helpers/recording-logger.js';
import type { Pki } from '../tls/helpers.js';
import { T0_MS } from '../cluster/helpers.js';

export const CLUSTER = 'pg-main';

/**
 * An AdminBackend over the real cluster state machine: propose encodes the
 * command and applies it as a committed log entry would be, so every
 * refusal is the real apply's. Raft trouble is simulated by `raftError`
 * (read and propose reject with it); WAL positions come from `positions`.
 */
export class MemoryBackend implements AdminBackend {
  readonly self = 'n1';
  readonly clusterName = CLUSTER;
  readonly machine: ClusterStateMachine;
  /** When set, read() and propose() reject with it. */
  raftError: Error | null = null;
  /** What backupStore() answers (ListBackups); null: none configured. */
  store: ObjectStore | null = null;
  /** The next this-many propose() calls reject with NotLeaderError('') (an election under way). */
  proposalsDuringElection = 0;
  readonly positions = new Map<string, CandidatePosition>();
  /** The members each queryPositions call asked for. */
  readonly asked: string[][] = [];
  /** Every command proposed (accepted or refused). */
  readonly proposed: ClusterCommandInput[] = [];
  wallMs = T0_MS + 60_000;
  /** Runs inside queryPositions, before it answers (to race a change in). */
  duringPositionQuery: (() => void) | null = null;
  private index = 0;

  constructor(state: ClusterState) {
    this.machine = new ClusterStateMachine(state);
  }

  local(): ClusterState {
    return this.machine.state;
  }

  async read(): Promise<ClusterState> {
    if (this.raftError !== null) throw this.raftError;
    return this.machine.state;
  }

  async propose(command: ClusterCommandInput): Promise<ApplyResult> {
    if (this.raftError !== null) throw this.raftError;
    if (this.proposalsDuringElection > 0) {
      this.proposalsDuringElection -= 1;
      throw new NotLeaderError('');
    }
    this.proposed.push(command);
    return this.apply(command);
  }

  /** Commit a command as another node would (the HA layer in tests). */
  apply(command: ClusterCommandInput): ApplyResult {
    this.index += 1;
    return this.machine.apply({ term: 1, index: this.index, type: 'normal', data: encodeCommand(command) });
  }

  backupStore(): ObjectStore | null {
    return this.store;
  }

  haStatus(): HaStatus {
    return { role: 'primary', state: 'running', timeline: 1, lsn: '0/3000000', lastAction: 'renew', lastReason: 'LEASE_HELD', leaseRemainingMs: 2_500, refused: null };
  }

  raft(): AdminRaftView {
    return { leaderId: 'n2', role: 'follower', term: 4, commit: this.index, applied: this.index, confState: { voters: ['n1', 'n2', 'n3'], learners: [] } };
  }

  async queryPositions(members: readonly string[]): Promise<CandidatePosition[]> {
    this.asked.push([...members]);
    this.duringPositionQuery?.();
    return members.map((member) => this.positions.get(member) ?? { member, reachable: false, healthy: false, timeline: null, receiveLsn: null });
  }

  wallNow(): number {
    return this.wallMs;
  }

  onApplied(listener: (event: AppliedEvent, state: ClusterState) => void): () => void {
    const onApplied = (event: AppliedEvent): void => listener(event, this.machine.state);
    this.machine.on('applied', onApplied);
    return () => this.machine.off('applied', onApplied);
  }

  /** Call `react` after each applied command of `type` (an HA layer's reaction), later, as the HA loop would. */
  reactTo(type: string, react: (event: AppliedEvent) => void, delayMs = 30): void {
    this.machine.on('applied', (event) => {
      if (event.command?.type === type && event.result.ok) setTimeout(() => react(event), delayMs);
    });
  }
}

export function healthy(member: string, receiveLsn = '0/3000000', timeline = 1): CandidatePosition {
  return { member, reachable: true, healthy: true, timeline, receiveLsn };
}

/** The promote an HA layer commits for a switchover to `candidate` from the epoch-1 primary. */
export function promoteCommand(candidate: string, atMs = T0_MS + 61_000): ClusterCommandInput {
  return { type: 'promote', atMs, candidate, expectedEpoch: 1, timeline: 2, reason: 'switchover', kind: 'switchover', switchLsn: '0/3000100' };
}

/** What the HA layer commits for a switchover to `candidate`: the promote, then the new primary's report that it runs as one. */
export function handOver(backend: MemoryBackend, candidate: string): void {
  backend.apply(promoteCommand(candidate));
  backend.apply({ type: 'updateMemberStatus', atMs: T0_MS + 62_000, member: candidate, role: 'primary', state: 'running', timeline: 2, receiveLsn: null, replayLsn: null, flushLsn: '0/3000200', lagBytes: 0 });
}

export interface AdminServer {
  readonly address: string;
  readonly logs: LogLine[];
  readonly service: AdminService;
  readonly transport: GrpcTransport;
}

/** The admin service on a real GrpcTransport (127.0.0.1, any port) with mutual TLS: n1's certificate of the cluster CA. */
export function serveAdmin(t: ExecutionContext, pki: Pki, backend: AdminBackend | undefined, options: AdminServiceOptions = {}): Promise<AdminServer> {
  return serveAdminWith(t, { caFile: pki.ca.caCertPath, certFile: pki.n1.certPath, keyFile: pki.n1.keyPath }, backend, options);
}

/** The same with the given CA, certificate and key (a node certificate for 127.0.0.1), and the bearer tokens of `gate`. */
export async function serveAdminWith(t: ExecutionContext, files: TlsFiles, backend: AdminBackend | undefined, options: AdminServiceOptions = {}, gate: Omit<GateOptions, 'logger'> = {}): Promise<AdminServer> {
  const logs: LogLine[] = [];
  const logger = recordingLogger(logs);
  const service = new AdminService(() => backend, logger, options);
  const tls = mutualTlsCredentials(files, { ...gate, logger });
  const transport = await GrpcTransport.start({
    nodeId: 'n1',
    clusterName: CLUSTER,
    bindAddress: '127.0.0.1:0',
    peers: new Map(),
    onMessage: () => {},
    logger,
    serverCredentials: tls.server,
    channelCredentials: tls.channel,
    services: [service.registration()],
  });
  t.teardown(() => transport.stop());
  return { address: transport.boundAddress, logs, service, transport };
}

/** A client with n2's certificate (any certificate of the cluster CA is admitted). */
export async function connectClient(t: ExecutionContext, pki: Pki, address: string): Promise<AdminClient> {
  const client = await AdminClient.connect({ endpoint: address, caFile: pki.ca.caCertPath, certFile: pki.n2.certPath, keyFile: pki.n2.keyPath });
  t.teardown(() => client.close());
  return client;
}

/** `call` is refused with this status, reason and message, and nothing changed or was proposed. */
export async function refused(t: ExecutionContext, backend: MemoryBackend, call: Promise<unknown>, status: string, reason: string, message: RegExp): Promise<AdminCallError> {
  const before = backend.machine.state;
  const proposedBefore = backend.proposed.length;
  const error = await t.throwsAsync(call, { instanceOf: AdminCallError });
  t.is(error.status, status, error.details);
  t.is(error.reason, reason, error.details);
  t.regex(error.details, message);
  t.is(backend.machine.state, before, 'the cluster state is unchanged');
  t.is(backend.proposed.length, proposedBefore, 'nothing was proposed');
  return error;
}
