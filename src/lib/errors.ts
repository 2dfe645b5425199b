/**
 * One error hierarchy for pgherd. Every error carries a stable `code` that
 * callers (and the API edge) may branch on; never branch on message text.
 * Codes are API: test/unit/lib/errors.test.ts freezes them.
 */
export class PgherdError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A configuration option is invalid; `key` names it. */
export class ConfigError extends PgherdError {
  readonly key: string;

  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super('PGHERD_CONFIG_INVALID', `${key}: ${message}`, options);
    this.key = key;
  }
}

/** Raft: this node is not the leader; `leaderId` is a hint ('' when unknown). */
export class NotLeaderError extends PgherdError {
  readonly leaderId: string;

  constructor(leaderId: string) {
    super('PGHERD_RAFT_NOT_LEADER', leaderId === '' ? 'not the Raft leader; no leader known' : `not the Raft leader; leader is ${leaderId}`);
    this.leaderId = leaderId;
  }
}

/** Raft: an operation did not complete within its deadline. */
export class RaftTimeoutError extends PgherdError {
  constructor(operation: string, timeoutMs: number) {
    super('PGHERD_RAFT_TIMEOUT', `${operation} did not complete within ${timeoutMs} ms`);
  }
}

/** Raft: a proposal was dropped (leadership lost, transfer in progress, too many uncommitted entries, ...). */
export class ProposalDroppedError extends PgherdError {
  constructor(reason: string) {
    super('PGHERD_RAFT_PROPOSAL_DROPPED', `proposal dropped: ${reason}`);
  }
}

/**
 * Raft: the node a proposal was forwarded to refused it for good: the command
 * does not decode there, the sender is not of its cluster, or it does not
 * accept forwarded proposals. Unlike ProposalDroppedError, retrying the same
 * proposal will not help.
 */
export class ProposalRefusedError extends PgherdError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('PGHERD_RAFT_PROPOSAL_REFUSED', `proposal refused: ${reason}`, options);
  }
}

/** Raft: the node was stopped while an operation was pending. */
export class RaftStoppedError extends PgherdError {
  constructor() {
    super('PGHERD_RAFT_STOPPED', 'raft node stopped');
  }
}

/** Persistent storage failed; `path` names the file or directory. The message starts with the path. */
export abstract class StorageError extends PgherdError {
  readonly path: string;

  protected constructor(code: string, path: string, message: string, options?: { cause?: unknown }) {
    super(code, `${path}: ${message}`, options);
    this.path = path;
  }
}

/** Persistent storage is unreadable, corrupt or belongs to someone else. */
export class StorageCorruptError extends StorageError {
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('PGHERD_STORAGE_CORRUPT', path, message, options);
  }
}

/** Persistent storage is held by another process (e.g. the LevelDB lock). */
export class StorageLockedError extends StorageError {
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('PGHERD_STORAGE_LOCKED', path, message, options);
  }
}

/** Reading or writing persistent storage failed. */
export class StorageIoError extends StorageError {
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('PGHERD_STORAGE_IO', path, message, options);
  }
}

/** A network address could not be bound. */
export class BindError extends PgherdError {
  readonly address: string;

  constructor(address: string, options?: { cause?: unknown }) {
    const detail = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super('PGHERD_BIND_FAILED', `cannot listen on ${address}${detail}`, options);
    this.address = address;
  }
}

/** Thrown by assert(): a programmer bug. Never caught to continue. */
export class AssertionFailedError extends PgherdError {
  constructor(message: string) {
    super('PGHERD_ASSERTION_FAILED', message);
  }
}
