import { ConfigError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Rng } from '../../lib/random.js';
import type { NodeId, Storage } from './types.js';

/** Options of one Raft core instance. Times are in ticks; the driver decides how long a tick is. */
export interface RaftOptions {
  readonly id: NodeId;
  /** Minimum election timeout; each node randomises its timeout in [electionTicks, 2 * electionTicks). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly storage: Storage;
  /** The last index the state machine has applied (on restart); 0 = from the storage's snapshot. */
  readonly applied: number;
  /** Upper bound on the bytes of entries in one AppendEntries message (at least one entry is always sent). */
  readonly maxSizePerMsgBytes: number;
  /** Upper bound on the entries committed-but-not-applied handed out in one Ready. */
  readonly maxCommittedSizePerReadyBytes: number;
  /** Upper bound on AppendEntries messages in flight to one follower in replicate state. */
  readonly maxInflightMsgs: number;
  /** Upper bound on the bytes of uncommitted entries the leader accepts before dropping proposals. */
  readonly maxUncommittedEntriesBytes: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly rng: Rng;
  readonly logger: Logger;
}

export const RAFT_DEFAULTS = Object.freeze({
  electionTicks: 10,
  heartbeatTicks: 1,
  applied: 0,
  maxSizePerMsgBytes: 1024 * 1024,
  maxCommittedSizePerReadyBytes: 8 * 1024 * 1024,
  maxInflightMsgs: 256,
  maxUncommittedEntriesBytes: 64 * 1024 * 1024,
  checkQuorum: true,
  preVote: true,
});

export type RaftOptionsInput = Pick<RaftOptions, 'id' | 'storage' | 'rng' | 'logger'> &
  Partial<Omit<RaftOptions, 'id' | 'storage' | 'rng' | 'logger'>>;

/** Fill defaults and reject invalid combinations, naming the option. Never adjusts silently. */
export function resolveRaftOptions(input: RaftOptionsInput): RaftOptions {
  const options: RaftOptions = { ...RAFT_DEFAULTS, ...input };
  if (typeof options.id !== 'string' || options.id === '') {
    throw new ConfigError('raft.id', 'must be a non-empty string');
  }
  positiveInteger('raft.electionTicks', options.electionTicks);
  positiveInteger('raft.heartbeatTicks', options.heartbeatTicks);
  if (options.heartbeatTicks >= options.electionTicks) {
    throw new ConfigError(
      'raft.heartbeatTicks',
      `must be less than raft.electionTicks (${options.electionTicks}), got ${options.heartbeatTicks}`,
    );
  }
  if (!Number.isInteger(options.applied) || options.applied < 0) {
    throw new ConfigError('raft.applied', `must be a non-negative integer, got ${options.applied}`);
  }
  positiveInteger('raft.maxSizePerMsgBytes', options.maxSizePerMsgBytes);
  positiveInteger('raft.maxCommittedSizePerReadyBytes', options.maxCommittedSizePerReadyBytes);
  positiveInteger('raft.maxInflightMsgs', options.maxInflightMsgs);
  positiveInteger('raft.maxUncommittedEntriesBytes', options.maxUncommittedEntriesBytes);
  return Object.freeze(options);
}

function positiveInteger(key: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(key, `must be a positive integer, got ${String(value)}`);
  }
}
