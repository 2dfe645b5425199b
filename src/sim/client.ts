import type { Entry, NodeId } from '../raft/core/types.js';
import { checkReadIndex, type Violation } from './checkers.js';
import { decodePayload, encodePayload } from './state-machine.js';

interface PendingProposal {
  readonly payload: string;
  readonly term: number;
  readonly atUnits: number;
  /** The process lifetime that proposed it: a crash forgets the proposal (outcome unknown). */
  readonly life: number;
}

interface PendingRead {
  readonly node: NodeId;
  readonly life: number;
  /** Highest index of a write acknowledged when the read was requested. */
  readonly acknowledgedIndex: number;
  readonly atUnits: number;
}

/**
 * The client: proposes unique payloads through the node that believes it
 * is the leader, and counts a proposal as acknowledged when that same
 * process applies the entry at the returned index with the returned term.
 */
export class SimClient {
  private nextPayload = 1;
  private readonly pending = new Map<NodeId, Map<number, PendingProposal>>();
  private pendingCount = 0;
  private readonly reads = new Map<string, PendingRead>();
  private nextRead = 1;
  private acknowledgedIndexMax = 0;
  readsServed = 0;
  /** Acknowledged payloads with their index, in acknowledgement order. */
  readonly acknowledged: { payload: string; index: number }[] = [];
  proposed = 0;
  rejected = 0;

  nextData(): { payload: string; data: Uint8Array } {
    const payload = `c${this.nextPayload++}`;
    return { payload, data: encodePayload(payload) };
  }

  /** Proposals waiting for their outcome. */
  get outstanding(): number {
    return this.pendingCount;
  }

  /** The core accepted `payload` at index/term on `node` (lifetime `life`) at time `nowUnits`. */
  accepted(node: NodeId, life: number, payload: string, at: { index: number; term: number }, nowUnits: number): void {
    this.proposed++;
    let byIndex = this.pending.get(node);
    if (byIndex === undefined) {
      byIndex = new Map();
      this.pending.set(node, byIndex);
    }
    if (!byIndex.has(at.index)) this.pendingCount++;
    byIndex.set(at.index, { payload, term: at.term, life, atUnits: nowUnits });
  }

  /** Give up on proposals older than `timeoutUnits` (outcome unknown: never acknowledged). */
  expire(nowUnits: number, timeoutUnits: number): void {
    for (const [key, read] of this.reads) {
      if (nowUnits - read.atUnits > timeoutUnits) this.reads.delete(key);
    }
    for (const byIndex of this.pending.values()) {
      for (const [index, proposal] of byIndex) {
        if (nowUnits - proposal.atUnits <= timeoutUnits) continue;
        byIndex.delete(index);
        this.pendingCount--;
      }
    }
  }

  /** `node` applied `entry`: acknowledge (or fail) the proposal waiting on that index. */
  applied(node: NodeId, life: number, entry: Entry): Violation | null {
    const byIndex = this.pending.get(node);
    const proposal = byIndex?.get(entry.index);
    if (proposal === undefined || proposal.life !== life) return null;
    byIndex!.delete(entry.index);
    this.pendingCount--;
    if (entry.term !== proposal.term) return null; // lost to another leader: not acknowledged
    const got = entry.type === 'normal' ? decodePayload(entry.data) : `(${entry.type} entry)`;
    if (got !== proposal.payload) {
      return {
        code: 'CLIENT_ACK_MISMATCH',
        message: `${node} applied ${got} at index ${entry.index} term ${entry.term}, where the core had put ${proposal.payload}`,
      };
    }
    this.acknowledged.push({ payload: proposal.payload, index: entry.index });
    this.acknowledgedIndexMax = Math.max(this.acknowledgedIndexMax, entry.index);
    return null;
  }

  /** A linearizable read is requested on `node`: returns its unique context. */
  readRequested(node: NodeId, life: number, nowUnits: number): Uint8Array {
    const context = `r${this.nextRead++}`;
    this.reads.set(context, { node, life, acknowledgedIndex: this.acknowledgedIndexMax, atUnits: nowUnits });
    return encodePayload(context);
  }

  /** The read request was refused right away (no leader known). */
  readRefused(context: Uint8Array): void {
    this.reads.delete(decodePayload(context));
  }

  /** `node` was handed a ReadState: its index must cover every write acknowledged before the request. */
  readServed(node: NodeId, life: number, readState: { index: number; context: Uint8Array }): Violation | null {
    const key = decodePayload(readState.context);
    const read = this.reads.get(key);
    if (read === undefined || read.node !== node || read.life !== life) return null;
    this.reads.delete(key);
    this.readsServed++;
    return checkReadIndex(node, readState.index, read.acknowledgedIndex);
  }

  /** The process crashed: its pending proposals have an unknown outcome. */
  forget(node: NodeId): void {
    this.pendingCount -= this.pending.get(node)?.size ?? 0;
    this.pending.delete(node);
  }
}
