/**
 * What one chaos run recorded and what the checkers concluded: the input
 * of the report (JSON, summary, timeline picture) and of the final line.
 * Every time is in milliseconds since the run started.
 */
import type { AckedWrite, SplitBrain, StaleRead } from './checkers.js';

export type FaultKind =
  | 'kill-agent'
  | 'kill-postgres'
  | 'kill-host'
  | 'freeze-host'
  | 'isolate-primary'
  | 'isolate-replica'
  | 'partition-halves'
  | 'partition-bridge'
  | 'partition-ring'
  | 'packet-loss'
  | 'switchover'
  | 'replace-node';

/** One fault: injected at startMs, healed at healMs (null: never healed, the run broke off). */
export interface FaultRecord {
  readonly kind: FaultKind;
  /** The nodes it hit (for a partition: the side that was cut off, or every node for a ring). */
  readonly targets: readonly string[];
  /** One line for a human: e.g. "n1 | n2 n3", "30% loss on n2", "switchover n1 -> n3". */
  readonly detail: string;
  readonly startMs: number;
  readonly healMs: number | null;
}

export type ObservedRole = 'primary' | 'replica' | 'starting' | 'stopped' | 'unreachable';

/** What a node's HTTP status said at one moment (sampled a few times a second). */
export interface RoleSample {
  readonly atMs: number;
  readonly node: string;
  readonly role: ObservedRole;
  readonly timeline: number | null;
}

export interface RunChecks {
  /** (a) Acknowledged inserts missing from the final primary. */
  readonly lostWrites: readonly AckedWrite[];
  /** Their size on disk (rows × row size), for asynchronous mode's bound. */
  readonly lostBytes: number;
  /** Asynchronous mode: maximum_lag_on_failover in bytes (losses up to it are allowed); null in synchronous mode (none are). */
  readonly allowedLossBytes: number | null;
  /** (b) Intervals in which two servers accepted writes. */
  readonly splitBrains: readonly SplitBrain[];
  /** (c) One primary and every replica streaming, within boundMs of the final heal. */
  readonly recovery: { readonly boundMs: number; readonly recoveredAtMs: number | null; readonly ok: boolean };
  /** (d) Nodes whose test table's checksum differs from the primary's. */
  readonly divergent: readonly string[];
  /** Reads from a writable server that missed a write acknowledged before they began. */
  readonly staleReads: readonly StaleRead[];
  /** How many reads the reader made (the denominator of staleReads). */
  readonly reads: number;
  /** (e) With a store (--store local): the archive from the first backup to the final primary's end; null without a store. */
  readonly archive: ArchiveCheck | null;
}

/** What check (e) found: the WAL a restore of backupId to toLsn on the final timeline needs, and which of it the store lacks. */
export interface ArchiveCheck {
  readonly backupId: string;
  readonly fromLsn: string;
  readonly toLsn: string;
  readonly timeline: number;
  /** Files needed (segments along the timeline's history, and its history file). */
  readonly needed: number;
  readonly missing: readonly string[];
}

export interface RunRecord {
  readonly seed: number;
  readonly backend: 'netns' | 'docker';
  readonly profile: string;
  readonly nodes: readonly string[];
  readonly synchronous: boolean;
  /** Where the nodes archived WAL: 'none' (no store) or 'local'; absent in reports of older versions. */
  readonly store?: 'none' | 'local';
  /** Wall-clock start (ISO 8601). */
  readonly startedAt: string;
  readonly durationMs: number;
  readonly faults: readonly FaultRecord[];
  readonly roles: readonly RoleSample[];
  /** Every acknowledged insert, times relative to the run's start. */
  readonly acked: readonly AckedWrite[];
  /** When the last fault was healed and the checkers' clock started. */
  readonly finalHealMs: number | null;
  /** null when the run broke off before the checks (see error). */
  readonly checks: RunChecks | null;
  /** The harness failed (not a finding about pgherd): what happened. */
  readonly error: string | null;
  /** Each finding in one line; empty when the run passed. */
  readonly problems: readonly string[];
}
