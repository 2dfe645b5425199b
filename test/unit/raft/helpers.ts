/**
 * Test harness for the Raft core: nodes over MemoryStorage whose Readies
 * are handled exactly as the driver contract says (persist, send, apply,
 * advance), and a synchronous network between them in the spirit of
 * etcd-io/raft's `network` (cut links, isolate nodes, drop message types).
 */
import { silentLogger, type Logger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/random.js';
import type { RaftOptionsInput } from '../../../src/raft/core/config.js';
import { decodeConfChange } from '../../../src/raft/core/conf-change.js';
import { MemoryStorage } from '../../../src/raft/core/memory-storage.js';
import { makeMessage, type MessageFields } from '../../../src/raft/core/message.js';
import { RawNode } from '../../../src/raft/core/raw-node.js';
import type {
  ConfState,
  Entry,
  HardState,
  Message,
  MessageType,
  NodeId,
  ReadState,
  Ready,
  Snapshot,
} from '../../../src/raft/core/types.js';
import { recordingLogger as recordLines, type LogLine } from '../../helpers/recording-logger.js';

export type NodeOptions = Partial<Omit<RaftOptionsInput, 'id' | 'storage' | 'rng' | 'logger'>> & {
  seed?: number;
  logger?: Logger;
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

/** n1..nN */
export function ids(count: number): NodeId[] {
  return Array.from({ length: count }, (_, i) => `n${i + 1}`);
}

/** Storage of a brand-new member of a cluster bootstrapped with `voters` (an index-0 snapshot). */
export function bootstrapStorage(voters: readonly NodeId[], learners: readonly NodeId[] = []): MemoryStorage {
  const storage = new MemoryStorage();
  storage.applySnapshot({
    metadata: { index: 0, term: 0, confState: { voters: [...voters].sort(), learners: [...learners].sort() } },
    data: new Uint8Array(0),
  });
  return storage;
}

/** Bootstrap storage holding entries 1..terms.length with the given terms (and an optional hard state). */
export function storageWithLog(voters: readonly NodeId[], terms: readonly number[], hardState?: HardState): MemoryStorage {
  const storage = bootstrapStorage(voters);
  storage.append(terms.map((term, i) => entry(i + 1, term)));
  const lastTerm = terms[terms.length - 1] ?? 0;
  storage.setHardState(hardState ?? { term: lastTerm, vote: '', commit: 0 });
  return storage;
}

export function entry(index: number, term: number, data = ''): Entry {
  return { index, term, type: 'normal', data: bytes(data) };
}

/** A message as a peer would send it. */
export function msg(fields: MessageFields & { from: NodeId }): Message {
  return makeMessage(fields);
}

/** One member: a RawNode, its storage, and a toy state machine (the list of applied payloads). */
export class TestNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  readonly node: RawNode;
  /** Payloads of applied non-empty normal entries, in order (restored from snapshots). */
  state: string[] = [];
  appliedIndex = 0;
  confState: ConfState;
  readStates: ReadState[] = [];
  readies: Ready[] = [];
  /** When false, committed conf entries are applied to the state machine but not to Raft. */
  applyConfChanges = true;

  constructor(id: NodeId, storage: MemoryStorage, options: NodeOptions = {}) {
    const { seed, logger, ...raftOptions } = options;
    this.id = id;
    this.storage = storage;
    this.confState = storage.initialState().confState;
    this.appliedIndex = storage.snapshot().metadata.index;
    this.node = new RawNode({
      electionTicks: 10,
      heartbeatTicks: 1,
      ...raftOptions,
      id,
      storage,
      rng: new SeededRng(seed ?? hashId(id)),
      logger: logger ?? silentLogger,
    });
  }

  /** Handle every pending Ready like a driver; returns the messages to send. */
  drain(): Message[] {
    const messages: Message[] = [];
    for (let i = 0; i < 1000 && this.node.hasReady(); i++) {
      messages.push(...this.handleReady().messages);
    }
    return messages;
  }

  /** Handle exactly one Ready: persist snapshot, entries and hard state, apply, advance. */
  handleReady(): Ready {
    const ready = this.node.ready();
    this.readies.push(ready);
    if (ready.snapshot !== undefined) this.restore(ready.snapshot);
    this.storage.append(ready.entries);
    if (ready.hardState !== undefined) this.storage.setHardState(ready.hardState);
    for (const committed of ready.committedEntries) this.apply(committed);
    this.readStates.push(...ready.readStates);
    this.node.advance(ready);
    return ready;
  }

  /** Snapshot the state machine at the applied index and discard the log up to `compactIndex` (default: applied). */
  compact(compactIndex = this.appliedIndex): Snapshot {
    const snapshot = this.storage.createSnapshot(this.appliedIndex, this.confState, bytes(JSON.stringify(this.state)));
    this.storage.compact(compactIndex);
    return snapshot;
  }

  private restore(snapshot: Snapshot): void {
    this.storage.applySnapshot(snapshot);
    this.confState = snapshot.metadata.confState;
    this.state = snapshot.data.byteLength === 0 ? [] : (JSON.parse(text(snapshot.data)) as string[]);
    this.appliedIndex = snapshot.metadata.index;
  }

  private apply(committed: Entry): void {
    if (committed.type === 'conf') {
      if (this.applyConfChanges) this.confState = this.node.applyConfChange(decodeConfChange(committed.data));
    } else if (committed.data.byteLength > 0) {
      this.state.push(text(committed.data));
    }
    this.appliedIndex = committed.index;
  }
}

/** Upper bound on deliveries in one flush: more means a message storm (a bug). */
const DELIVERIES_PER_FLUSH_MAX = 100_000;

/** Synchronous delivery between TestNodes, with faults. */
export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Every message that left a node, delivered or not. */
  readonly sent: Message[] = [];
  private readonly blockedLinks = new Set<string>();
  private readonly droppedTypes = new Set<MessageType>();

  /**
   * A bootstrapped cluster of `voters` (plus `learners`), every node with the
   * same options; a given `seed` is offset per node (identical seeds would
   * draw identical election timeouts).
   */
  static create(voters: readonly NodeId[], options: NodeOptions = {}, learners: readonly NodeId[] = []): Network {
    const network = new Network();
    [...voters, ...learners].forEach((id, i) => {
      const seed = options.seed === undefined ? undefined : options.seed + i;
      network.add(new TestNode(id, bootstrapStorage(voters, learners), { ...options, seed }));
    });
    return network;
  }

  add(node: TestNode): TestNode {
    this.nodes.set(node.id, node);
    return node;
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  raw(id: NodeId): RawNode {
    return this.node(id).node;
  }

  /** Drop messages from `from` to `to` (one way). */
  block(from: NodeId, to: NodeId): void {
    this.blockedLinks.add(`${from}->${to}`);
  }

  /** Cut the link both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.blockedLinks.add(`${a}->${b}`);
    this.blockedLinks.add(`${b}->${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  /** Split into groups that cannot talk to each other. */
  partition(...groups: NodeId[][]): void {
    for (const group of groups) {
      for (const other of groups) {
        if (other === group) continue;
        for (const a of group) for (const b of other) this.cut(a, b);
      }
    }
  }

  dropType(type: MessageType): void {
    this.droppedTypes.add(type);
  }

  recover(): void {
    this.blockedLinks.clear();
    this.droppedTypes.clear();
  }

  /** Deliver `messages` and everything they cause, until quiet. */
  deliver(messages: readonly Message[]): void {
    const queue = [...messages];
    for (let delivered = 0; queue.length > 0; delivered++) {
      if (delivered >= DELIVERIES_PER_FLUSH_MAX) throw new Error('message storm: too many deliveries');
      const m = queue.shift()!;
      const target = this.nodes.get(m.to);
      if (target === undefined || this.blockedLinks.has(`${m.from}->${m.to}`) || this.droppedTypes.has(m.type)) continue;
      target.node.step(m);
      queue.push(...this.collect(target));
    }
  }

  /** Handle every node's pending Readies and deliver the resulting messages. */
  flush(): void {
    const messages: Message[] = [];
    for (const node of this.nodes.values()) messages.push(...this.collect(node));
    this.deliver(messages);
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.raw(id).tick();
      this.flush();
    }
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const node of this.nodes.values()) node.node.tick();
      this.flush();
    }
  }

  /** Make `id` campaign and deliver everything. */
  campaign(id: NodeId): void {
    this.raw(id).campaign();
    this.flush();
  }

  propose(id: NodeId, data: string): { index: number; term: number } {
    const result = this.raw(id).propose(bytes(data));
    this.flush();
    return result;
  }

  private collect(node: TestNode): Message[] {
    const messages = node.drain();
    this.sent.push(...messages);
    return messages;
  }
}

/** A logger that records every line (for asserting on events). */
export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return Object.assign(recordLines(lines), { lines });
}

function hashId(id: string): number {
  let hash = 17;
  for (let i = 0; i < id.length; i++) hash = (Math.imul(hash, 31) + id.charCodeAt(i)) | 0;
  return hash;
}
