import { assert } from '../lib/assert.js';
import { silentLogger } from '../lib/logger.js';
import type { SeededRng } from '../lib/random.js';
import type { RaftNode } from '../raft/core/api.js';
import type { RaftOptionsInput } from '../raft/core/config.js';
import type { MemoryStorage } from '../raft/core/memory-storage.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, Ready, ReadState, Snapshot, SoftState } from '../raft/core/types.js';
import type { Violation } from './checkers.js';
import type { SimDisk } from './disk.js';
import type { Observation } from './history.js';
import { entryHash, readyFingerprints, readyLogView } from './log-view.js';
import { describeReady } from './trace-format.js';
import { AppliedList } from './state-machine.js';
import type { Profile } from './swarm.js';

/** The real core, injected (raft-factory.ts) so this file depends only on the RaftNode interface. */
export interface Core {
  create(options: RaftOptionsInput): RaftNode;
  decodeConfChange(data: Uint8Array): ConfChange;
}

/** What a node process needs from the simulated world. */
export interface NodeEnv {
  now(): number;
  /** The current Ready's disk write completes at `at`: call onPersisted() then. */
  persistedAt(node: SimNode, at: number): void;
  send(from: SimNode, messages: readonly Message[]): void;
  observe(observation: Observation): void;
  fail(violation: Violation): void;
  /** The committed prefix a new leader of `term` must hold (leader completeness). */
  committedBefore(term: number): number;
  applied(node: SimNode, entry: Entry, change: ConfChange | null): void;
  readServed(node: SimNode, readState: ReadState): void;
  trace(value: number): void;
  /** Replay trace (a no-op unless tracing). */
  log(node: NodeId, text: () => string): void;
}

/** Bound on inputs queued while a Ready is being persisted (a few ticks' worth of messages). */
const INBOX_MAX = 100_000;

export type ProcessState = 'up' | 'down' | 'retired';

type Input = (raft: RaftNode) => void;

/**
 * One simulated pgherd process around the real core: handles each Ready
 * exactly as the driver contract says (persist, then send, then apply, then
 * advance), writes through a simulated disk, and loses everything volatile
 * on a crash. A restart rebuilds its storage from what the disk made durable.
 */
export class SimNode {
  state: ProcessState = 'down';
  /** Process lifetime counter: events of an earlier lifetime are ignored. */
  life = 0;
  pausedUntil = 0;
  private raft: RaftNode | null = null;
  private storage: MemoryStorage | null = null;
  private sm = new AppliedList();
  private confState: ConfState = { voters: [], learners: [] };
  private appliedIndex = 0;
  private busy: Ready | null = null;
  private inbox: Input[] = [];
  private soft: SoftState = { leader: '', role: 'follower' };
  private term = 0;
  private leaderTerm = 0;
  private pendingElection: { term: number; committedIndex: number } | null = null;
  snapshotsTaken = 0;
  snapshotsInstalled = 0;

  constructor(
    readonly id: NodeId,
    readonly tickUnits: number,
    private readonly rng: SeededRng,
    private readonly disk: SimDisk,
    private readonly profile: Profile,
    private readonly core: Core,
    private readonly env: NodeEnv,
  ) {}

  get applied(): number {
    return this.appliedIndex;
  }

  get stateMachine(): AppliedList {
    return this.sm;
  }

  get role(): SoftState {
    return this.soft;
  }

  /** Start the process from its disk (first boot or restart). */
  start(): void {
    assert(this.state === 'down', `${this.id}: start while ${this.state}`);
    this.life++;
    const storage = this.disk.load();
    const snapshot = storage.snapshot();
    const hardState = storage.initialState().hardState;
    this.storage = storage;
    this.sm = AppliedList.decode(snapshot.data);
    this.confState = snapshot.metadata.confState;
    this.appliedIndex = snapshot.metadata.index;
    this.soft = { leader: '', role: 'follower' };
    this.term = hardState.term;
    this.leaderTerm = 0;
    this.pendingElection = null;
    this.state = 'up';
    const { index, term } = snapshot.metadata;
    this.env.log(this.id, () => `start: term ${hardState.term} vote ${hardState.vote || '-'} commit ${hardState.commit}, snapshot ${index}/${term}, last ${storage.lastIndex()}`);
    this.env.observe({ kind: 'boot', node: this.id, hardState, snapshot: { index, term, digest: this.sm.digest } });
    try {
      this.raft = this.core.create({ id: this.id, storage, applied: index, rng: this.rng.fork(), logger: silentLogger, ...this.profile.raft });
    } catch (error) {
      this.env.fail(exceptionViolation(this.id, 'constructor', error));
      return;
    }
    this.pump();
  }

  /** Power loss: volatile state and unsynced writes are gone. */
  crash(now: number): void {
    if (this.state !== 'up') return;
    this.env.log(this.id, () => `crash${this.busy === null ? '' : ' (a Ready in flight)'}`);
    for (const hardState of this.disk.crash(now)) this.env.observe({ kind: 'durable', node: this.id, hardState });
    this.raft = null;
    this.storage = null;
    this.busy = null;
    this.inbox = [];
    this.pausedUntil = 0;
    this.state = 'down';
    this.life++;
  }

  /** Decommissioned (after its removal from the cluster): never comes back. */
  retire(now: number): void {
    this.crash(now);
    this.state = 'retired';
  }

  /** Let the disk make durable what is due, reporting durable hard states to the checkers. */
  flushDisk(now: number): void {
    if (this.state !== 'up') return;
    for (const hardState of this.disk.flush(now)) this.env.observe({ kind: 'durable', node: this.id, hardState });
  }

  /**
   * Feed one input (tick, message, proposal, ...) to the core. While a
   * Ready is in progress the input is either stepped right away (the
   * profile's stepWhileBusy, as etcd allows) or queued until advance().
   */
  input(action: Input): void {
    if (this.state !== 'up' || this.raft === null) return;
    if (this.busy !== null && !this.profile.driver.stepWhileBusy) {
      assert(this.inbox.length < INBOX_MAX, `${this.id}: inbox overflow`);
      this.inbox.push(action);
      return;
    }
    this.run(action);
    if (this.busy !== null) this.pollRole();
    else this.pump();
  }

  /** The disk acknowledged the current Ready's write. */
  onPersisted(): void {
    if (this.state !== 'up' || this.busy === null) return;
    this.finishReady(this.busy);
    this.pump();
  }

  private run(action: Input): void {
    try {
      action(this.raft!);
    } catch (error) {
      this.env.fail(exceptionViolation(this.id, 'input', error));
    }
  }

  private pump(): void {
    while (this.state === 'up' && this.busy === null && this.raft !== null) {
      let ready: Ready;
      try {
        if (!this.raft.hasReady()) return;
        ready = this.raft.ready();
      } catch (error) {
        this.env.fail(exceptionViolation(this.id, 'ready', error));
        return;
      }
      this.busy = ready;
      if (!this.beginReady(ready)) return;
      this.finishReady(ready);
    }
  }

  /** Observe the Ready and issue its disk write; true when there is nothing to wait for. */
  private beginReady(ready: Ready): boolean {
    const env = this.env;
    env.trace(ready.entries.length * 65536 + ready.committedEntries.length * 256 + ready.messages.length);
    env.log(this.id, () => describeReady(ready));
    if (ready.hardState !== undefined) {
      this.term = ready.hardState.term;
      env.trace(ready.hardState.term * 65536 + ready.hardState.commit);
      env.observe({ kind: 'commit', node: this.id, commit: ready.hardState.commit, term: ready.hardState.term });
    }
    if (ready.softState !== undefined) this.noteRole(ready.softState);
    const log = readyLogView(this.storage!, ready);
    if (ready.entries.length > 0) env.observe({ kind: 'entries', node: this.id, entries: readyFingerprints(log, ready) });
    const election = this.pendingElection;
    if (election !== null) {
      this.pendingElection = null;
      if (election.term === this.term) env.observe({ kind: 'leaderLog', node: this.id, ...election, log });
    }
    if (ready.snapshot === undefined && ready.entries.length === 0 && ready.hardState === undefined) return true;
    const now = env.now();
    const { snapshot, entries, hardState } = ready;
    const at = this.disk.write(now, { kind: 'ready', snapshot, entries, hardState }, ready.mustSync);
    if (at <= now) return true;
    env.persistedAt(this, at);
    return false;
  }

  private finishReady(ready: Ready): void {
    const storage = this.storage!;
    if (ready.snapshot !== undefined) storage.applySnapshot(ready.snapshot);
    storage.append(ready.entries);
    if (ready.hardState !== undefined) {
      storage.setHardState(ready.hardState);
      // Acted on from here (messages go out next), synced or not: term and vote must survive a crash.
      this.env.observe({ kind: 'acknowledged', node: this.id, hardState: ready.hardState });
    }
    this.env.send(this, ready.messages);
    if (ready.snapshot !== undefined) this.restore(ready.snapshot);
    for (const entry of ready.committedEntries) {
      if (this.state !== 'up') return;
      this.apply(entry);
    }
    for (const readState of ready.readStates) this.env.readServed(this, readState);
    try {
      this.raft!.advance(ready);
    } catch (error) {
      this.env.fail(exceptionViolation(this.id, 'advance', error));
    }
    this.busy = null;
    this.maybeSnapshot();
    const queued = this.inbox;
    this.inbox = [];
    for (const action of queued) this.run(action);
  }

  private noteRole(soft: SoftState): void {
    this.soft = soft;
    if (soft.role !== 'leader') return;
    const term = this.raft!.status().term;
    this.term = Math.max(this.term, term);
    if (term === this.leaderTerm) return;
    this.leaderTerm = term;
    this.env.log(this.id, () => `leader of term ${term}; committed in earlier terms up to ${this.env.committedBefore(term)}`);
    this.env.observe({ kind: 'leader', node: this.id, term });
    this.pendingElection = { term, committedIndex: this.env.committedBefore(term) };
  }

  /** While a Ready is in progress, role changes show up only in status(). */
  private pollRole(): void {
    if (this.raft === null) return;
    const status = this.raft.status();
    this.term = Math.max(this.term, status.term);
    if (status.role !== this.soft.role || status.leader !== this.soft.leader) {
      this.noteRole({ leader: status.leader, role: status.role });
    }
  }

  private restore(snapshot: Snapshot): void {
    this.snapshotsInstalled++;
    this.sm = AppliedList.decode(snapshot.data);
    this.confState = snapshot.metadata.confState;
    this.appliedIndex = snapshot.metadata.index;
    const { index, term } = snapshot.metadata;
    this.env.observe({ kind: 'restore', node: this.id, index, term, digest: this.sm.digest });
  }

  private apply(entry: Entry): void {
    let change: ConfChange | null = null;
    let payloadHash: number | null = null;
    if (entry.type === 'conf') {
      try {
        change = this.core.decodeConfChange(entry.data);
        this.confState = this.raft!.applyConfChange(change);
        this.env.log(this.id, () => `applied ${change!.type} ${change!.nodeId} at ${entry.index}: voters ${this.confState.voters.join(',')} learners ${this.confState.learners.join(',')}`);
      } catch (error) {
        this.env.fail(exceptionViolation(this.id, 'applyConfChange', error));
        return;
      }
    } else if (entry.data.byteLength > 0) {
      payloadHash = this.sm.apply(entry.data);
    }
    this.appliedIndex = entry.index;
    this.env.observe({ kind: 'apply', node: this.id, index: entry.index, term: entry.term, hash: entryHash(entry), payloadHash });
    this.env.applied(this, entry, change);
  }

  /** Periodic snapshot + compaction, so that followers far behind get InstallSnapshot. */
  private maybeSnapshot(): void {
    const storage = this.storage;
    if (storage === null) return;
    const { snapshotEveryEntries, snapshotKeepEntries } = this.profile.driver;
    const index = this.appliedIndex;
    if (index - storage.snapshot().metadata.index < snapshotEveryEntries) return;
    const data = this.sm.encode();
    storage.createSnapshot(index, this.confState, data);
    const compactIndex = index - snapshotKeepEntries;
    if (compactIndex >= storage.firstIndex()) storage.compact(compactIndex);
    this.disk.write(this.env.now(), { kind: 'compact', index, confState: this.confState, data, compactIndex }, true);
    this.snapshotsTaken++;
  }

  /** The configuration this process has applied. */
  get conf(): ConfState {
    return this.confState;
  }

  status(): ReturnType<RaftNode['status']> | null {
    if (this.state !== 'up' || this.raft === null) return null;
    return this.raft.status();
  }
}

/**
 * An exception escaping a step: a bug. It is the core's (CORE_EXCEPTION)
 * unless the innermost pgherd frame is in the simulator (SIMULATOR_ERROR).
 */
export function exceptionViolation(node: NodeId, during: string, error: unknown): Violation {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const frames = error instanceof Error ? (error.stack ?? '').split('\n').filter((line) => line.includes(' at ')) : [];
  const frame = frames.find((line) => line.includes('/src/') && !line.includes('/src/lib/')) ?? frames[0] ?? '';
  const where = /(src\/[^):]+:\d+)/.exec(frame)?.[1] ?? frame.trim();
  const code = where.startsWith('src/sim/') ? 'SIMULATOR_ERROR' : 'CORE_EXCEPTION';
  return { code, message: `${node} threw during ${during}: ${message}${where === '' ? '' : ` (${where})`}` };
}
