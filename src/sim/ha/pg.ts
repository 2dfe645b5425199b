import type { CurrentSssn } from '../../ha/sync.js';
import { EMPTY_WAL, type Wal } from './wal.js';

/** A write the primary has in its WAL whose commit waits for synchronous replication. */
export interface PendingWrite {
  readonly tl: number;
  readonly lsn: number;
}

/**
 * The model of one node's PostgreSQL: its role, its WAL (wal.ts), the
 * synchronous_standby_names it runs with, the walreceiver's connection
 * (which primary it streams from, and whether it has caught up once since
 * connecting: pg_stat_replication's 'catchup' vs 'streaming'), and the
 * commits waiting for their synchronous standbys. Plain mutable data: the
 * HA world (world.ts) changes it.
 */
export class PgModel {
  running = false;
  role: 'primary' | 'replica' = 'replica';
  wal: Wal = EMPTY_WAL;
  sssn: CurrentSssn | null = null;
  /** Only ever started once initialized (initdb or base backup done). */
  initialized = false;
  connectedTo: string | null = null;
  caughtUp = false;
  pending: PendingWrite[] = [];

  /** Host crash or the fence stopping it: connections and waiting commits are gone (clients get errors). */
  stop(): void {
    this.running = false;
    this.connectedTo = null;
    this.caughtUp = false;
    this.pending = [];
  }

  /** Restart as a read-only standby (demotion): waiting commits fail. */
  demote(): void {
    this.role = 'replica';
    this.pending = [];
    this.connectedTo = null;
    this.caughtUp = false;
  }
}
