import pg from 'pg';
import type { AckedWrite, ObservedRead } from './checkers.js';

export interface WorkloadTarget {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

export interface WorkloadOptions {
  readonly targets: readonly WorkloadTarget[];
  readonly password: string;
  /** The table (id bigint primary key) it inserts into; created by the caller. */
  readonly table: string;
  readonly everyMs?: number;
  /** The first id to insert (default 1): a later workload on the same table starts after an earlier one's `nextId`. */
  readonly firstId?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A client that keeps a session on whichever server is writable (it
 * re-finds it after an error, as libpq's target_session_attrs=read-write
 * does) and runs `once` on it over and over until stopped: the loop the
 * writer and the reader share.
 */
abstract class WritableSession {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private client: { pg: pg.Client; name: string } | undefined;

  constructor(
    protected readonly o: Omit<WorkloadOptions, 'firstId'>,
    private readonly pauseMs: number,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.client?.pg.end().catch(() => undefined);
  }

  /** One statement on `server`; throws when the session broke (the next run finds the writable server again). */
  protected abstract once(client: pg.Client, server: string): Promise<void>;

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.client ??= await connectWritable(this.o.targets, this.o.password);
      if (this.client === undefined) {
        await sleep(20);
        continue;
      }
      try {
        await this.once(this.client.pg, this.client.name);
        await sleep(this.pauseMs);
      } catch {
        await this.client.pg.end().catch(() => undefined);
        this.client = undefined;
      }
    }
  }
}

/**
 * The writer: unique ids into whichever server is writable, recording
 * every acknowledged insert with the server and the timeline it was
 * written on — the history the checkers judge. An insert whose outcome is
 * unknown (an error after sending) is not recorded as acknowledged: it may
 * or may not be there.
 */
export class Workload extends WritableSession {
  readonly acked: AckedWrite[] = [];
  private next: number;

  constructor(o: WorkloadOptions) {
    super(o, o.everyMs ?? 5);
    this.next = o.firstId ?? 1;
  }

  /** The next id this workload would insert: every id below it was sent at most once. */
  get nextId(): number {
    return this.next;
  }

  protected async once(client: pg.Client, server: string): Promise<void> {
    const id = this.next++;
    const startedAtMs = performance.now();
    const r = await client.query<{ tl: string }>(
      `INSERT INTO ${this.o.table} (id) VALUES ($1) RETURNING substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS tl`,
      [id],
    );
    this.acked.push({ id, server, timeline: Number.parseInt(r.rows[0]!.tl, 16), startedAtMs, ackedAtMs: performance.now() });
  }
}

/**
 * The first server of `targets` that accepts a connection and is not in
 * recovery — what libpq's target_session_attrs=read-write does with a
 * multi-host connection string.
 */
async function connectWritable(targets: readonly WorkloadTarget[], password: string): Promise<{ pg: pg.Client; name: string } | undefined> {
  for (const target of targets) {
    const client = new pg.Client({ host: target.host, port: target.port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 500, query_timeout: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const r = await client.query<{ ro: boolean }>('SELECT pg_is_in_recovery() AS ro');
      if (r.rows[0]?.ro === false) return { pg: client, name: target.name };
    } catch {
      // the next server
    }
    await client.end().catch(() => undefined);
  }
  return undefined;
}

/**
 * A client reading from whichever server is writable, as an application's
 * read-write session does: the highest id it sees, with when it asked.
 * The single writer inserts ids in increasing order, so a read must see
 * at least the highest id acknowledged before it began — a server that
 * answers with less is a deposed primary still serving (a stale read).
 */
export class Reader extends WritableSession {
  readonly reads: ObservedRead[] = [];

  constructor(o: Omit<WorkloadOptions, 'firstId'>) {
    super(o, o.everyMs ?? 20);
  }

  protected async once(client: pg.Client, server: string): Promise<void> {
    const startedAtMs = performance.now();
    const r = await client.query<{ m: string }>(`SELECT coalesce(max(id), 0) AS m FROM ${this.o.table}`);
    this.reads.push({ server, maxId: Number(r.rows[0]!.m), startedAtMs, doneAtMs: performance.now() });
  }
}
