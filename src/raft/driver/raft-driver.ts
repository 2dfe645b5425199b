import { EventEmitter } from 'node:events';
import { assert } from '../../lib/assert.js';
import { ConfigError, NotLeaderError, RaftStoppedError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Rng } from '../../lib/random.js';
import type { RaftNode } from '../core/api.js';
import type { RaftOptions } from '../core/config.js';
import { decodeConfChange } from '../core/conf-change.js';
import { MemoryStorage } from '../core/memory-storage.js';
import { RawNode } from '../core/raw-node.js';
import { NONE, type ConfChange, type ConfState, type Entry, type NodeId, type RaftStatus, type Ready, type Snapshot, type SoftState } from '../core/types.js';
import type { LogStore, StateMachine, Transport, TransportHandlers } from './contracts.js';
import { PendingProposals, PendingReads } from './pending.js';
import { decodeSnapshotData, encodeSnapshotData } from './snapshot-data.js';

type CoreTuning = Partial<
  Pick<RaftOptions, 'electionTicks' | 'heartbeatTicks' | 'checkQuorum' | 'preVote' | 'maxInflightMsgs' | 'maxSizePerMsgBytes' | 'maxUncommittedEntriesBytes'>
>;

export interface RaftDriverOptions<R> extends CoreTuning {
  readonly nodeId: NodeId;
  /** Where other members reach this node's Raft transport (host:port). */
  readonly advertiseAddress: string;
  /** Addresses of the other nodes this node knows of (static peers or discovery). */
  readonly peers: ReadonlyMap<NodeId, string>;
  /**
   * True on a node of the initial cluster: a fresh store is bootstrapped with
   * every id in `peers` plus this node as voters. False for a node joining an
   * existing cluster (it waits for the leader to add it).
   */
  readonly bootstrap: boolean;
  readonly store: LogStore;
  readonly stateMachine: StateMachine<R>;
  readonly createTransport: (handlers: TransportHandlers, peers: ReadonlyMap<NodeId, string>) => Promise<Transport>;
  readonly rng: Rng;
  readonly logger: Logger;
  /** Length of one Raft tick. */
  readonly tickMs?: number;
  /** Take a snapshot of the applied state after this many applied entries since the last one. */
  readonly snapshotEveryEntries?: number;
  /** Entries kept in the log behind a snapshot so slightly lagging followers need no InstallSnapshot. */
  readonly compactionKeepEntries?: number;
  readonly proposeTimeoutMs?: number;
  readonly readTimeoutMs?: number;
  /** Called when persistence fails: the node can no longer run safely. Defaults to logging. */
  readonly onFatal?: (error: Error) => void;
}

interface DriverSettings {
  readonly tickMs: number;
  readonly snapshotEveryEntries: number;
  readonly compactionKeepEntries: number;
  readonly proposeTimeoutMs: number;
  readonly readTimeoutMs: number;
}

/** A read request unanswered this long is sent again (lost with a leader change or a dropped message). */
const READ_RETRY_MS = 500;

export const DRIVER_DEFAULTS: DriverSettings = Object.freeze({
  tickMs: 100,
  snapshotEveryEntries: 10_000,
  compactionKeepEntries: 1_000,
  proposeTimeoutMs: 5_000,
  readTimeoutMs: 5_000,
});

export interface DriverStatus extends RaftStatus {
  readonly stopped: boolean;
  readonly pendingProposals: number;
  readonly pendingReads: number;
  readonly snapshotIndex: number;
  readonly firstIndex: number;
  readonly counters: DriverCounters;
}

/** Monotonic counters of the Ready loop, for metrics and the benchmark. */
export interface DriverCounters {
  readies: number;
  entriesPersisted: number;
  syncedWrites: number;
  persistMs: number;
  entriesApplied: number;
  messagesSent: number;
}

export interface RaftDriverEvents {
  softState: [SoftState];
  confState: [ConfState];
}

/**
 * Runs the pure Raft core on a real clock, LevelDB and a transport, obeying
 * the Ready contract literally: persist → send → apply → advance. All
 * inputs are synchronous calls on the core; one async loop drains Ready.
 */
export class RaftDriver<R = unknown> extends EventEmitter<RaftDriverEvents> {
  private readonly memory: MemoryStorage;
  private readonly node: RaftNode;
  private readonly proposals = new PendingProposals<R | undefined>();
  private readonly reads = new PendingReads();
  private readonly addresses: Map<NodeId, string>;
  private transport: Transport | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private kicked = false;
  private stopped = false;
  private applied: number;
  private confState: ConfState;
  private softState: SoftState = { leader: '', role: 'follower' };
  private readonly counters: DriverCounters = { readies: 0, entriesPersisted: 0, syncedWrites: 0, persistMs: 0, entriesApplied: 0, messagesSent: 0 };
  private readonly settings: DriverSettings;
  private readonly log: Logger;

  private constructor(
    private readonly options: RaftDriverOptions<R>,
    memory: MemoryStorage,
    addresses: Map<NodeId, string>,
  ) {
    super();
    this.settings = resolveDriverSettings(options);
    this.log = options.logger;
    this.memory = memory;
    this.addresses = addresses;
    const snapshot = memory.snapshot();
    this.applied = snapshot.metadata.index;
    this.confState = snapshot.metadata.confState;
    this.node = new RawNode({
      id: options.nodeId,
      storage: memory,
      applied: this.applied,
      rng: options.rng,
      logger: options.logger,
      ...pickCoreTuning(options),
    });
  }

  static async start<R>(options: RaftDriverOptions<R>): Promise<RaftDriver<R>> {
    resolveDriverSettings(options);
    const { memory, addresses } = await recover(options);
    const driver = new RaftDriver(options, memory, addresses);
    await driver.startTransport();
    driver.ticker = setInterval(() => driver.onTick(), driver.settings.tickMs);
    driver.log.info(
      { node: options.nodeId, applied: driver.applied, lastIndex: memory.lastIndex(), voters: driver.confState.voters, learners: driver.confState.learners },
      'raft.started',
    );
    driver.kick();
    return driver;
  }

  /** Append `data` through Raft; resolves with the state machine's result once applied here. */
  propose(data: Uint8Array, timeoutMs = this.settings.proposeTimeoutMs): Promise<R | undefined> {
    this.assertRunning();
    const { index, term } = this.node.propose(data);
    const result = this.proposals.add(index, term, timeoutMs, 'proposal');
    this.kick();
    return result;
  }

  /** Resolves once a linearizable read of the state machine is safe on this node. */
  read(timeoutMs = this.settings.readTimeoutMs): Promise<void> {
    this.assertRunning();
    const { key, context, done } = this.reads.add(timeoutMs);
    this.sendRead(key, context);
    this.kick();
    return done;
  }

  /**
   * Hand a read request to the core. With no leader known it stays pending:
   * it is sent when one is (softState) or at the next retry, until its
   * deadline. Any other refusal (the leader's queue is full) fails it.
   */
  private sendRead(key: string, context: Uint8Array): void {
    try {
      this.node.readIndex(context);
      this.reads.sent(key, performance.now());
    } catch (error) {
      if (!(error instanceof NotLeaderError)) this.reads.reject(key, error as Error);
    }
  }

  /** Send again the reads no leader has answered (`beforeMs`: only those last sent by then). */
  private resendReads(beforeMs?: number): void {
    for (const { key, context } of this.reads.unanswered(beforeMs)) this.sendRead(key, context);
  }

  /** Propose a membership change; resolves when it has been applied here. `address` is required for additions. */
  async changeMembership(change: Omit<ConfChange, 'context'> & { address?: string }, timeoutMs = this.settings.proposeTimeoutMs): Promise<void> {
    this.assertRunning();
    if (change.type !== 'removeNode' && change.address === undefined) {
      throw new ConfigError('address', `a ${change.type} change needs the new member's address`);
    }
    const context = change.address === undefined ? undefined : new TextEncoder().encode(JSON.stringify({ address: change.address }));
    const { index, term } = this.node.proposeConfChange({ type: change.type, nodeId: change.nodeId, ...(context ? { context } : {}) });
    const done = this.proposals.add(index, term, timeoutMs, `membership change ${change.type} ${change.nodeId}`);
    this.kick();
    await done;
  }

  /**
   * Form the cluster from a never-configured start (the agent decides when:
   * src/node/discovery.ts): `voters` become the initial configuration, as
   * the index-0 snapshot every initial voter writes. False when this node
   * is configured already.
   */
  bootstrapNow(voters: ReadonlyMap<NodeId, string>): boolean {
    this.assertRunning();
    for (const [id, address] of voters) if (id !== this.options.nodeId && !this.addresses.has(id)) this.addresses.set(id, address);
    const data = encodeSnapshotData({ addresses: Object.fromEntries(this.addresses), app: this.options.stateMachine.snapshot() });
    const confState = { voters: [...voters.keys()].sort(), learners: [] };
    const done = this.node.bootstrap({ metadata: { index: 0, term: 0, confState }, data });
    if (done) this.log.info({ node: this.options.nodeId, voters: confState.voters }, 'raft.bootstrapped');
    this.kick();
    return done;
  }

  transferLeadership(to: NodeId): void {
    this.assertRunning();
    this.node.transferLeadership(to);
    this.kick();
  }

  /** Start an election now (used by tests and by an operator's forced election). */
  campaign(): void {
    this.assertRunning();
    this.node.campaign();
    this.kick();
  }

  get nodeId(): NodeId {
    return this.options.nodeId;
  }

  /** What propose() waits for when given no timeout. */
  get proposeTimeoutMs(): number {
    return this.settings.proposeTimeoutMs;
  }

  isLeader(): boolean {
    return this.softState.role === 'leader';
  }

  leaderId(): NodeId {
    return this.softState.leader;
  }

  addressOf(id: NodeId): string | undefined {
    return this.addresses.get(id);
  }

  status(): DriverStatus {
    return {
      ...this.node.status(),
      applied: this.applied,
      stopped: this.stopped,
      pendingProposals: this.proposals.size,
      pendingReads: this.reads.size,
      snapshotIndex: this.memory.snapshot().metadata.index,
      firstIndex: this.memory.firstIndex(),
      counters: { ...this.counters },
    };
  }

  /** Stop ticking, finish the Ready in progress, close the transport and the store. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    await this.loop?.catch(() => undefined);
    this.proposals.rejectAll();
    this.reads.rejectAll();
    await this.transport?.stop();
    await this.options.store.close();
    this.log.info({ node: this.options.nodeId }, 'raft.stopped');
  }

  private async startTransport(): Promise<void> {
    const handlers: TransportHandlers = {
      onMessage: (message) => {
        if (this.stopped) return;
        this.node.step(message);
        this.kick();
      },
      onUnreachable: (peer) => {
        if (this.stopped) return;
        this.node.reportUnreachable(peer);
      },
      onSnapshotStatus: (peer, ok) => {
        if (this.stopped) return;
        this.node.reportSnapshot(peer, ok);
        this.kick();
      },
    };
    this.transport = await this.options.createTransport(handlers, this.peerAddresses());
  }

  private peerAddresses(): Map<NodeId, string> {
    const peers = new Map(this.addresses);
    peers.delete(this.options.nodeId);
    return peers;
  }

  private onTick(): void {
    if (this.stopped) return;
    this.node.tick();
    if (this.reads.size > 0) this.resendReads(performance.now() - READ_RETRY_MS);
    this.kick();
  }

  private assertRunning(): void {
    if (this.stopped) throw new RaftStoppedError();
  }

  /** Schedule the Ready loop; coalesces many inputs into one pass. */
  private kick(): void {
    if (this.kicked || this.stopped) return;
    this.kicked = true;
    const previous = this.loop ?? Promise.resolve();
    this.loop = previous.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(() => this.drain());
  }

  private async drain(): Promise<void> {
    this.kicked = false;
    try {
      while (!this.stopped && this.node.hasReady()) {
        await this.handleReady(this.node.ready());
      }
    } catch (error) {
      this.fatal(error as Error);
    }
  }

  private async handleReady(ready: Ready): Promise<void> {
    if (ready.softState) this.onSoftState(ready.softState);
    this.counters.readies += 1;
    // 1. persist, then mirror into the storage the core reads.
    if (ready.snapshot || ready.entries.length > 0 || ready.hardState) {
      const sync = ready.mustSync || ready.snapshot !== undefined;
      const started = performance.now();
      await this.options.store.save({
        entries: ready.entries,
        sync,
        ...(ready.hardState ? { hardState: ready.hardState } : {}),
        ...(ready.snapshot ? { snapshot: ready.snapshot } : {}),
      });
      this.counters.persistMs += performance.now() - started;
      this.counters.entriesPersisted += ready.entries.length;
      if (sync) this.counters.syncedWrites += 1;
    }
    if (ready.snapshot) this.memory.applySnapshot(ready.snapshot);
    this.memory.append(ready.entries);
    if (ready.hardState) this.memory.setHardState(ready.hardState);
    // 2. send.
    if (ready.messages.length > 0) this.transport?.send(ready.messages);
    this.counters.messagesSent += ready.messages.length;
    // 3. apply.
    if (ready.snapshot) this.restoreSnapshot(ready.snapshot);
    for (const entry of ready.committedEntries) this.applyEntry(entry);
    this.counters.entriesApplied += ready.committedEntries.length;
    for (const readState of ready.readStates) this.reads.confirmed(readState.context, readState.index, this.applied);
    // 4. advance.
    this.node.advance(ready);
    await this.maybeSnapshot();
  }

  private onSoftState(softState: SoftState): void {
    const previous = this.softState;
    this.softState = softState;
    // A read the old leader (or nobody) was asked would otherwise wait for its deadline: ask the new one.
    if (softState.leader !== previous.leader && softState.leader !== NONE) this.resendReads();
    this.emit('softState', softState);
  }

  private applyEntry(entry: Entry): void {
    assert(entry.index === this.applied + 1, () => `applying entry ${entry.index} after ${this.applied}: gap`);
    let result: R | undefined;
    if (entry.type === 'conf') this.applyConfEntry(entry);
    else if (entry.data.byteLength > 0) result = this.options.stateMachine.apply(entry);
    this.applied = entry.index;
    this.proposals.applied(entry.index, entry.term, result);
    this.reads.appliedTo(this.applied);
  }

  private applyConfEntry(entry: Entry): void {
    const change = decodeConfChange(entry.data);
    this.confState = this.node.applyConfChange(change);
    if (change.type === 'removeNode') {
      if (change.nodeId !== this.options.nodeId) this.addresses.delete(change.nodeId);
    } else if (change.context) {
      const { address } = JSON.parse(new TextDecoder().decode(change.context)) as { address: string };
      this.addresses.set(change.nodeId, address);
    }
    this.transport?.setPeers(this.peerAddresses());
    this.log.info({ node: this.options.nodeId, change: change.type, member: change.nodeId, index: entry.index, voters: this.confState.voters, learners: this.confState.learners }, 'raft.membershipChanged');
    this.emit('confState', this.confState);
  }

  private restoreSnapshot(snapshot: Snapshot): void {
    const data = decodeSnapshotData(snapshot.data, `snapshot ${snapshot.metadata.index}`);
    this.options.stateMachine.restore(data.app);
    for (const [id, address] of Object.entries(data.addresses)) this.addresses.set(id, address);
    this.applied = snapshot.metadata.index;
    this.confState = snapshot.metadata.confState;
    this.proposals.skippedThrough(snapshot.metadata.index);
    this.transport?.setPeers(this.peerAddresses());
    this.log.info({ node: this.options.nodeId, index: snapshot.metadata.index, term: snapshot.metadata.term }, 'raft.snapshotRestored');
    this.emit('confState', this.confState);
  }

  private async maybeSnapshot(): Promise<void> {
    const snapshotIndex = this.memory.snapshot().metadata.index;
    const index = Math.min(this.applied, this.memory.lastIndex());
    if (index - snapshotIndex < this.settings.snapshotEveryEntries) return;
    const data = encodeSnapshotData({ addresses: Object.fromEntries(this.addresses), app: this.options.stateMachine.snapshot() });
    const snapshot = this.memory.createSnapshot(index, this.confState, data);
    await this.options.store.saveLocalSnapshot(snapshot);
    const compactThrough = index - this.settings.compactionKeepEntries;
    if (compactThrough >= this.memory.firstIndex()) {
      this.memory.compact(compactThrough);
      await this.options.store.compact(compactThrough);
    }
    this.log.info({ node: this.options.nodeId, index, compactedThrough: Math.max(compactThrough, 0), bytes: data.byteLength }, 'raft.snapshotTaken');
  }

  private fatal(error: Error): void {
    this.log.error({ node: this.options.nodeId, err: error }, 'raft.fatal');
    this.stopped = true;
    clearInterval(this.ticker);
    this.proposals.rejectAll();
    this.reads.rejectAll();
    this.options.onFatal?.(error);
  }
}

function resolveDriverSettings(options: RaftDriverOptions<unknown>): DriverSettings {
  const settings = {
    tickMs: options.tickMs ?? DRIVER_DEFAULTS.tickMs,
    snapshotEveryEntries: options.snapshotEveryEntries ?? DRIVER_DEFAULTS.snapshotEveryEntries,
    compactionKeepEntries: options.compactionKeepEntries ?? DRIVER_DEFAULTS.compactionKeepEntries,
    proposeTimeoutMs: options.proposeTimeoutMs ?? DRIVER_DEFAULTS.proposeTimeoutMs,
    readTimeoutMs: options.readTimeoutMs ?? DRIVER_DEFAULTS.readTimeoutMs,
  };
  for (const [key, value] of Object.entries(settings)) {
    if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`raft.${key}`, `must be a positive integer, got ${value}`);
  }
  if (settings.compactionKeepEntries >= settings.snapshotEveryEntries) {
    throw new ConfigError('raft.compactionKeepEntries', `must be less than raft.snapshotEveryEntries (${settings.snapshotEveryEntries})`);
  }
  if (options.advertiseAddress === '') throw new ConfigError('raft.advertiseAddress', 'must be host:port');
  if (options.peers.has(options.nodeId) && options.peers.get(options.nodeId) !== options.advertiseAddress) {
    throw new ConfigError('raft.peers', `lists ${options.nodeId} (this node) at ${options.peers.get(options.nodeId)}, but it advertises ${options.advertiseAddress}`);
  }
  return settings;
}

function pickCoreTuning(options: CoreTuning): CoreTuning {
  const keys = ['electionTicks', 'heartbeatTicks', 'checkQuorum', 'preVote', 'maxInflightMsgs', 'maxSizePerMsgBytes', 'maxUncommittedEntriesBytes'] as const;
  const tuning: Record<string, unknown> = {};
  for (const key of keys) if (options[key] !== undefined) tuning[key] = options[key];
  return tuning as CoreTuning;
}

/** Rebuild the in-memory log and state machine from the durable store (or bootstrap a fresh one). */
async function recover<R>(options: RaftDriverOptions<R>): Promise<{ memory: MemoryStorage; addresses: Map<NodeId, string> }> {
  const addresses = new Map(options.peers);
  addresses.set(options.nodeId, options.advertiseAddress);
  let persisted = await options.store.load();
  const fresh = persisted.hardState.term === 0 && persisted.entries.length === 0 && persisted.snapshot.metadata.index === 0 && persisted.snapshot.metadata.confState.voters.length === 0;
  if (fresh && options.bootstrap) {
    const voters = [...addresses.keys()].sort();
    const data = encodeSnapshotData({ addresses: Object.fromEntries(addresses), app: options.stateMachine.snapshot() });
    const snapshot: Snapshot = { metadata: { index: 0, term: 0, confState: { voters, learners: [] } }, data };
    await options.store.save({ entries: [], snapshot });
    persisted = { ...persisted, snapshot };
    options.logger.info({ node: options.nodeId, voters }, 'raft.bootstrapped');
  }
  const memory = new MemoryStorage();
  memory.applySnapshot(persisted.snapshot);
  memory.append(persisted.entries);
  memory.setHardState(persisted.hardState);
  if (persisted.snapshot.data.byteLength > 0) {
    const data = decodeSnapshotData(persisted.snapshot.data, 'raft snapshot');
    options.stateMachine.restore(data.app);
    for (const [id, address] of Object.entries(data.addresses)) if (!addresses.has(id)) addresses.set(id, address);
  }
  return { memory, addresses };
}
