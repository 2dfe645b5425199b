import { describeWal, hasWrite, walTimeline, type Wal } from './wal.js';

/**
 * The HA safety checkers: what must hold whatever the faults.
 *  - TWO_WRITERS: never two members allowed to accept writes at one instant;
 *  - ACKED_WRITE_LOST: in synchronous mode, every acknowledged write on
 *    timeline T is in the WAL of every primary that forked a later timeline
 *    (checked at each fork and at each acknowledgement);
 *  - EPOCH_CONFLICT / EPOCH_REGRESSED: a leader epoch is granted to one
 *    member only, and no node's applied epoch goes back within a lifetime;
 *  - TIMELINE_REUSED / HISTORY_MISMATCH: each timeline is forked once, from
 *    an older one, by the member the cluster history names.
 * HaRecorder keeps the history; each method returns a violation or null.
 */
export const HA_VIOLATION_CODES = ['TWO_WRITERS', 'ACKED_WRITE_LOST', 'EPOCH_CONFLICT', 'EPOCH_REGRESSED', 'TIMELINE_REUSED', 'HISTORY_MISMATCH'] as const;
export type HaViolationCode = (typeof HA_VIOLATION_CODES)[number];

export interface HaViolation {
  readonly code: HaViolationCode;
  readonly message: string;
}

export interface Write {
  readonly tl: number;
  readonly lsn: number;
  readonly node: string;
}

export interface Fork {
  readonly node: string;
  readonly tl: number;
  /** The new primary's WAL at the moment it forked (its whole history). */
  readonly wal: Wal;
}

/** `writers`: the members that may accept a write right now. */
export function checkSingleWriter(writers: readonly string[]): HaViolation | null {
  if (writers.length <= 1) return null;
  return { code: 'TWO_WRITERS', message: `${writers.join(' and ')} accept writes at the same time` };
}

export function checkWriteKept(write: Write, fork: Fork): HaViolation | null {
  if (fork.tl <= write.tl || hasWrite(fork.wal, write.tl, write.lsn)) return null;
  return {
    code: 'ACKED_WRITE_LOST',
    message: `write ${write.lsn} on timeline ${write.tl} (acknowledged by ${write.node}) is not in the history of ${fork.node}, primary of timeline ${fork.tl}: ${describeWal(fork.wal)}`,
  };
}

export class HaRecorder {
  readonly acknowledged: Write[] = [];
  readonly forks: Fork[] = [];
  /** epoch -> the member it was granted to. */
  readonly epochs = new Map<number, string>();
  /** timeline -> the new primary the cluster history names. */
  readonly historyPrimaries = new Map<number, string>();
  private readonly appliedEpochs = new Map<string, { life: number; epoch: number }>();

  /** `checkLoss`: synchronous mode (asynchronous replication may lose acknowledged writes by design). */
  constructor(private readonly checkLoss: boolean) {}

  acknowledge(write: Write): HaViolation | null {
    if (!this.checkLoss) return null;
    this.acknowledged.push(write);
    for (const fork of this.forks) {
      const found = checkWriteKept(write, fork);
      if (found) return found;
    }
    return null;
  }

  fork(fork: Fork): HaViolation | null {
    const earlier = this.forks.find((f) => f.tl === fork.tl);
    if (earlier) return { code: 'TIMELINE_REUSED', message: `${fork.node} forked timeline ${fork.tl}, already forked by ${earlier.node}` };
    const parent = walTimeline(fork.wal.slice(0, -1));
    if (parent >= fork.tl) return { code: 'HISTORY_MISMATCH', message: `${fork.node} forked timeline ${fork.tl} from timeline ${parent}` };
    const named = this.historyPrimaries.get(fork.tl);
    if (named !== undefined && named !== fork.node) {
      return { code: 'HISTORY_MISMATCH', message: `${fork.node} forked timeline ${fork.tl}, the cluster history names ${named}` };
    }
    this.forks.push(fork);
    if (!this.checkLoss) return null;
    for (const write of this.acknowledged) {
      const found = checkWriteKept(write, fork);
      if (found) return found;
    }
    return null;
  }

  /** A node applied an accepted promote granting `epoch` to `member` (on `timeline`, a history entry when it switched). */
  granted(epoch: number, member: string, timeline: number, switched: boolean): HaViolation | null {
    const holder = this.epochs.get(epoch);
    if (holder !== undefined && holder !== member) return { code: 'EPOCH_CONFLICT', message: `epoch ${epoch} granted to ${holder} and to ${member}` };
    this.epochs.set(epoch, member);
    if (!switched) return null;
    const named = this.historyPrimaries.get(timeline);
    if (named !== undefined && named !== member) return { code: 'HISTORY_MISMATCH', message: `timeline ${timeline} names ${named} and ${member}` };
    this.historyPrimaries.set(timeline, member);
    const forked = this.forks.find((f) => f.tl === timeline);
    if (forked && forked.node !== member) return { code: 'HISTORY_MISMATCH', message: `timeline ${timeline} was forked by ${forked.node}, the history names ${member}` };
    return null;
  }

  /** `node`'s applied state has leader epoch `epoch` (lifetime `life`): it never goes back within a lifetime. */
  applied(node: string, life: number, epoch: number): HaViolation | null {
    const last = this.appliedEpochs.get(node);
    this.appliedEpochs.set(node, { life, epoch });
    if (last === undefined || last.life !== life || epoch >= last.epoch) return null;
    return { code: 'EPOCH_REGRESSED', message: `${node} applied epoch ${epoch} after ${last.epoch}` };
  }
}
