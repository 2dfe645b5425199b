import type { Entry, HardState, Message, Snapshot } from '../core/types.js';

/** The replicated state machine the driver applies committed entries to. */
export interface StateMachine<Result = unknown> {
  /** Apply one committed normal entry (never the leader's empty no-op). Must be deterministic. */
  apply(entry: Entry): Result;
  /** Encode the whole applied state (for log compaction). */
  snapshot(): Uint8Array;
  /** Replace the whole state with a decoded snapshot. */
  restore(data: Uint8Array): void;
}

/** What the driver needs of durable storage (implemented by LevelLogStore). */
export interface LogStore {
  load(): Promise<{ hardState: HardState; snapshot: Snapshot; entries: Entry[] }>;
  /** One durable atomic write per Ready. `snapshot` here is a snapshot received from the leader: it replaces the log. */
  save(update: { hardState?: HardState; entries: readonly Entry[]; snapshot?: Snapshot; sync?: boolean }): Promise<void>;
  /** Store a snapshot this node took of its own applied state; later entries are kept. */
  saveLocalSnapshot(snapshot: Snapshot): Promise<void>;
  /** Delete entries with index <= throughIndex (after a local snapshot covers them). */
  compact(throughIndex: number): Promise<void>;
  close(): Promise<void>;
}

/** Callbacks a transport delivers into. */
export interface TransportHandlers {
  onMessage(message: Message): void;
  onUnreachable(peerId: string): void;
  onSnapshotStatus(peerId: string, ok: boolean): void;
}

/** What the driver needs of a transport (implemented by GrpcTransport). */
export interface Transport {
  send(messages: readonly Message[]): void;
  setPeers(peers: ReadonlyMap<string, string>): void;
  stop(): Promise<void>;
  /**
   * Forward an encoded proposal to the leader `peerId` and resolve with the
   * result bytes it answered (GrpcTransport.forwardProposal). Optional: the
   * driver never calls it; the cluster store does, on a follower.
   */
  forwardProposal?(peerId: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}
