import { ProposalDroppedError, RaftStoppedError, RaftTimeoutError } from '../../lib/errors.js';

interface PendingProposal<T> {
  readonly term: number;
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Proposals waiting to be applied, keyed by the log index they were given.
 * A proposal succeeded iff the entry applied at its index carries its term.
 */
export class PendingProposals<T> {
  private readonly byIndex = new Map<number, PendingProposal<T>>();

  get size(): number {
    return this.byIndex.size;
  }

  add(index: number, term: number, timeoutMs: number, operation: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.byIndex.delete(index);
        reject(new RaftTimeoutError(operation, timeoutMs));
      }, timeoutMs);
      this.byIndex.set(index, { term, resolve, reject, timer });
    });
  }

  /** The entry at `index` with `term` was applied with `result`. */
  applied(index: number, term: number, result: T): void {
    const pending = this.byIndex.get(index);
    if (!pending) return;
    this.byIndex.delete(index);
    clearTimeout(pending.timer);
    if (pending.term === term) pending.resolve(result);
    else pending.reject(new ProposalDroppedError(`entry ${index} was replaced by a leader of term ${term}`));
  }

  /** Entries up to `index` were replaced wholesale by a snapshot: their outcome is unknown to this node. */
  skippedThrough(index: number): void {
    for (const [i, pending] of this.byIndex) {
      if (i > index) continue;
      this.byIndex.delete(i);
      clearTimeout(pending.timer);
      pending.reject(new ProposalDroppedError(`entry ${i} was covered by a snapshot before this node applied it`));
    }
  }

  rejectAll(): void {
    for (const pending of this.byIndex.values()) {
      clearTimeout(pending.timer);
      pending.reject(new RaftStoppedError());
    }
    this.byIndex.clear();
  }
}

interface PendingRead {
  readonly context: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** Set once the leader confirmed the read index; resolved when applied >= it. */
  index: number | undefined;
  /** When the request was last handed to the core (monotonic ms); undefined: not yet (no leader known). */
  sentAtMs: number | undefined;
}

/**
 * Linearizable reads waiting for their ReadIndex answer and then for apply
 * to catch up. A request forwarded to a leader can be lost (the leader
 * stepped down, the message was dropped, no leader was known yet): the
 * driver sends unanswered ones again, with the same context, until their
 * deadline. The leader ignores a context it already holds; a second
 * answer is ignored here.
 */
export class PendingReads {
  private readonly byContext = new Map<string, PendingRead>();
  private nextId = 0;

  get size(): number {
    return this.byContext.size;
  }

  add(timeoutMs: number): { key: string; context: Uint8Array; done: Promise<void> } {
    const key = `${process.pid}-${this.nextId++}`;
    const context = new TextEncoder().encode(key);
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.byContext.delete(key);
        reject(new RaftTimeoutError('linearizable read', timeoutMs));
      }, timeoutMs);
      this.byContext.set(key, { context, resolve, reject, timer, index: undefined, sentAtMs: undefined });
    });
    return { key, context, done };
  }

  /** The request `key` was handed to the core at `nowMs`. */
  sent(key: string, nowMs: number): void {
    const pending = this.byContext.get(key);
    if (pending) pending.sentAtMs = nowMs;
  }

  /** Unanswered requests not sent since `beforeMs` (all unanswered ones without it): to send again. */
  unanswered(beforeMs = Number.POSITIVE_INFINITY): { key: string; context: Uint8Array }[] {
    const due: { key: string; context: Uint8Array }[] = [];
    for (const [key, pending] of this.byContext) {
      if (pending.index === undefined && (pending.sentAtMs === undefined || pending.sentAtMs <= beforeMs)) due.push({ key, context: pending.context });
    }
    return due;
  }

  /** The leader confirmed `context` at `index`. */
  confirmed(context: Uint8Array, index: number, applied: number): void {
    const key = new TextDecoder().decode(context);
    const pending = this.byContext.get(key);
    if (!pending || pending.index !== undefined) return;
    pending.index = index;
    this.appliedTo(applied);
  }

  appliedTo(applied: number): void {
    for (const [key, pending] of this.byContext) {
      if (pending.index === undefined || pending.index > applied) continue;
      this.byContext.delete(key);
      clearTimeout(pending.timer);
      pending.resolve();
    }
  }

  /** Fail one request (the core refused it for good). */
  reject(key: string, error: Error): void {
    const pending = this.byContext.get(key);
    if (!pending) return;
    this.byContext.delete(key);
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  rejectAll(): void {
    for (const pending of this.byContext.values()) {
      clearTimeout(pending.timer);
      pending.reject(new RaftStoppedError());
    }
    this.byContext.clear();
  }
}
