import { parseLsn, parseLsnOrNull, type LsnValue as Lsn } from '../lib/lsn.js';
import { withConnection, type LocalConnection } from './sql.js';

export interface ReplicationRow {
  readonly applicationName: string;
  readonly clientAddr: string | null;
  readonly state: string;
  readonly syncState: string;
  readonly sentLsn: Lsn | null;
  readonly flushLsn: Lsn | null;
  readonly replayLsn: Lsn | null;
}

export interface SlotRow {
  readonly slotName: string;
  readonly slotType: string;
  readonly active: boolean;
  readonly restartLsn: Lsn | null;
}

interface Common {
  /** pg_control_system(): identical on every member of one cluster. */
  readonly systemIdentifier: bigint;
  readonly slots: readonly SlotRow[];
  /** Standbys streaming from this node (a replica can cascade, so both roles have it). */
  readonly replication: readonly ReplicationRow[];
}

export interface PrimaryObservation extends Common {
  readonly role: 'primary';
  /** From the current WAL file name: exact right after promotion, unlike pg_control_checkpoint(). */
  readonly timeline: number;
  readonly currentLsn: Lsn;
}

export interface ReplicaObservation extends Common {
  readonly role: 'replica';
  /** The timeline being streamed (pg_stat_wal_receiver.received_tli) when streaming, else the one replayed (replayedTimeline). */
  readonly timeline: number;
  /** Whether a WAL receiver is connected to a primary. */
  readonly streaming: boolean;
  readonly receiveLsn: Lsn | null;
  readonly replayLsn: Lsn | null;
  /** The settings it streams with (from the command line the agent gave it); '' when unset. */
  readonly primaryConninfo: string;
  readonly primarySlotName: string;
}

export type Observation = PrimaryObservation | ReplicaObservation;

/** One round trip's worth of facts about the local PostgreSQL, over the unix socket, with short timeouts. */
export async function observe(conn: LocalConnection): Promise<Observation> {
  return withConnection(conn, 'observe', async (client) => {
    const base = (
      await client.query<{ in_recovery: boolean; system_identifier: string; checkpoint_tli: number }>(
        `SELECT pg_is_in_recovery() AS in_recovery,
                (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
                (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli`,
      )
    ).rows[0]!;
    const replication = (
      await client.query<{ application_name: string; client_addr: string | null; state: string; sync_state: string; sent_lsn: string | null; flush_lsn: string | null; replay_lsn: string | null }>(
        'SELECT application_name, client_addr::text, state, sync_state, sent_lsn::text, flush_lsn::text, replay_lsn::text FROM pg_stat_replication ORDER BY application_name',
      )
    ).rows.map((r) => ({
      applicationName: r.application_name,
      clientAddr: r.client_addr,
      state: r.state,
      syncState: r.sync_state,
      sentLsn: parseLsnOrNull(r.sent_lsn),
      flushLsn: parseLsnOrNull(r.flush_lsn),
      replayLsn: parseLsnOrNull(r.replay_lsn),
    }));
    const slots = await listSlotsWith(client);
    const common = { systemIdentifier: BigInt(base.system_identifier), slots, replication };
    if (!base.in_recovery) {
      const row = (await client.query<{ lsn: string; walfile: string }>('SELECT pg_current_wal_lsn()::text AS lsn, pg_walfile_name(pg_current_wal_lsn()) AS walfile')).rows[0]!;
      return { role: 'primary', ...common, timeline: parseInt(row.walfile.slice(0, 8), 16), currentLsn: parseLsn(row.lsn) };
    }
    const row = (
      await client.query<{ receive: string | null; replay: string | null; received_tli: number | null; status: string | null; conninfo: string; slot: string }>(
        `SELECT pg_last_wal_receive_lsn()::text AS receive, pg_last_wal_replay_lsn()::text AS replay,
                current_setting('primary_conninfo') AS conninfo, current_setting('primary_slot_name') AS slot,
                (SELECT received_tli FROM pg_stat_wal_receiver) AS received_tli,
                (SELECT status FROM pg_stat_wal_receiver) AS status`,
      )
    ).rows[0]!;
    return {
      role: 'replica',
      ...common,
      timeline: row.received_tli ?? (await replayedTimeline(conn, base.checkpoint_tli)),
      streaming: row.status === 'streaming',
      receiveLsn: parseLsnOrNull(row.receive),
      replayLsn: parseLsnOrNull(row.replay),
      primaryConninfo: row.conninfo,
      primarySlotName: row.slot,
    };
  });
}

/**
 * The timeline a standby with no WAL receiver has replayed up to. Its
 * control file's checkpoint timeline lags: it changes only at the next
 * restartpoint, minutes after a promotion, and a replica reported a
 * timeline behind is no failover candidate — after two failovers in a row
 * none would be. IDENTIFY_SYSTEM on a replication connection to the
 * standby itself answers the replay timeline (what a cascading standby
 * would be sent). Never lower than the checkpoint's.
 */
async function replayedTimeline(conn: LocalConnection, checkpointTimeline: number): Promise<number> {
  const identified = await withConnection({ ...conn, replication: true }, 'identify the replayed timeline', async (client) => {
    const row = (await client.query<{ timeline: string | number }>('IDENTIFY_SYSTEM')).rows[0];
    return Number(row?.timeline);
  }).catch(() => Number.NaN); // e.g. a pg_hba.conf written before it admitted this connection: the checkpoint's, as before
  return Number.isInteger(identified) && identified > checkpointTimeline ? identified : checkpointTimeline;
}

type Queryable = { query<R extends object>(text: string): Promise<{ rows: R[] }> };

export async function listSlotsWith(client: Queryable): Promise<SlotRow[]> {
  const rows = (await client.query<{ slot_name: string; slot_type: string; active: boolean; restart_lsn: string | null }>('SELECT slot_name, slot_type, active, restart_lsn::text FROM pg_replication_slots ORDER BY slot_name')).rows;
  return rows.map((r) => ({ slotName: r.slot_name, slotType: r.slot_type, active: r.active, restartLsn: parseLsnOrNull(r.restart_lsn) }));
}

/** The few facts a failover asks for (one statement, for a short deadline): role, timeline, newest WAL received (or written). */
export interface PositionObservation {
  readonly role: 'primary' | 'replica';
  readonly timeline: number | null;
  readonly lsn: Lsn | null;
}

export async function observePosition(conn: LocalConnection): Promise<PositionObservation> {
  return withConnection(conn, 'observe position', async (client) => {
    const row = (
      await client.query<{ in_recovery: boolean; receive: string | null; replay: string | null; received_tli: number | null; walfile: string | null; current: string | null; checkpoint_tli: number }>(
        `SELECT pg_is_in_recovery() AS in_recovery,
                pg_last_wal_receive_lsn()::text AS receive, pg_last_wal_replay_lsn()::text AS replay,
                (SELECT received_tli FROM pg_stat_wal_receiver) AS received_tli,
                (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli,
                CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current,
                CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS walfile`,
      )
    ).rows[0]!;
    if (!row.in_recovery) return { role: 'primary', timeline: row.walfile === null ? null : parseInt(row.walfile.slice(0, 8), 16), lsn: parseLsnOrNull(row.current) };
    return { role: 'replica', timeline: row.received_tli ?? (await replayedTimeline(conn, row.checkpoint_tli)), lsn: parseLsnOrNull(row.receive) ?? parseLsnOrNull(row.replay) };
  });
}
