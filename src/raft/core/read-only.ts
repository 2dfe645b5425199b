import type { Message, NodeId } from './types.js';

/**
 * Upper bound on read-index requests a leader holds at once (waiting for its
 * first commit in the term, or for a heartbeat round). Reads are cheap and
 * batched by the driver, so thousands outstanding means something is stuck;
 * further requests are refused rather than queued without bound.
 */
export const READ_INDEX_PENDING_MAX = 4096;

/** Upper bound on a read request's context: it rides in every heartbeat of the confirmation round. */
export const READ_INDEX_CONTEXT_MAX_BYTES = 1024;

/** A read request waiting for a quorum to confirm this leader is still the leader. */
export interface ReadIndexStatus {
  /** The original request: from the leader itself or forwarded by a follower. */
  readonly request: Message;
  /** The commit index when the request arrived: the read point once confirmed. */
  readonly index: number;
  /** Voters that acknowledged a heartbeat carrying this request's context. Never records false. */
  readonly acks: Map<NodeId, boolean>;
}

/** Read-only requests in safe mode (ReadIndex confirmed by a heartbeat round). */
export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private readonly queue: string[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Track `request` (its context must be unique; a duplicate is ignored) at read point `index`. */
  addRequest(index: number, request: Message): void {
    const key = contextKey(request.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { request, index, acks: new Map() });
    this.queue.push(key);
  }

  /** `from` answered a heartbeat carrying `context`; returns the acks so far (undefined if unknown). */
  recvAck(from: NodeId, context: Uint8Array | undefined): ReadonlyMap<NodeId, boolean> | undefined {
    const status = this.pending.get(contextKey(context));
    if (status === undefined) return undefined;
    status.acks.set(from, true);
    return status.acks;
  }

  /**
   * The request with `context` is confirmed: so is every request queued
   * before it (the leader was leader when they arrived, too). Dequeue and
   * return them in order.
   */
  advance(context: Uint8Array | undefined): ReadIndexStatus[] {
    const position = this.queue.indexOf(contextKey(context));
    if (position < 0) return [];
    const keys = this.queue.splice(0, position + 1);
    const confirmed: ReadIndexStatus[] = [];
    for (const key of keys) {
      confirmed.push(this.pending.get(key)!);
      this.pending.delete(key);
    }
    return confirmed;
  }

  /** The context of the newest request, to attach to the next heartbeat round. */
  lastPendingContext(): Uint8Array | undefined {
    const key = this.queue[this.queue.length - 1];
    return key === undefined ? undefined : this.pending.get(key)!.request.context;
  }
}

/** A map key for a context: its bytes as hex. */
export function contextKey(context: Uint8Array | undefined): string {
  if (context === undefined) return '';
  let key = '';
  for (const byte of context) key += byte.toString(16).padStart(2, '0');
  return key;
}
