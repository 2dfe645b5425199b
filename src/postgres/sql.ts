import pg from 'pg';
import { PgherdError } from '../lib/errors.js';
import { PgQueryError } from './errors.js';

/** Where and as whom to connect: the agent's own PostgreSQL over its unix socket as superuser, or (rarely) a peer over TCP. */
export interface LocalConnection {
  /** The unix socket directory (outside PGDATA) for the local server, or an address for a remote one. */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database?: string;
  /** Bounds connect time; default 2000. */
  readonly connectTimeoutMs?: number;
  /** Bounds each statement (server side and client side); default 5000. */
  readonly statementTimeoutMs?: number;
  /**
   * A replication connection: `true` (replication=database) also runs SQL;
   * 'physical' (replication=true) runs only replication commands
   * (IDENTIFY_SYSTEM, SHOW) and is what pg_hba.conf's `replication` lines admit.
   */
  readonly replication?: boolean | 'physical';
}

export const CONNECT_TIMEOUT_MS_DEFAULT = 2000;
export const STATEMENT_TIMEOUT_MS_DEFAULT = 5000;

/**
 * Open a connection, run `work`, always close it. Connection and query
 * errors become PgQueryError (with SQLSTATE when there is one). One short
 * connection per operation: the agent's queries are rare and must never
 * hang on a stale pooled connection.
 */
export async function withConnection<T>(conn: LocalConnection, what: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const statementTimeoutMs = conn.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS_DEFAULT;
  const client = new pg.Client({
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database: conn.database ?? 'postgres',
    connectionTimeoutMillis: conn.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + 1000,
    application_name: 'pgherd',
    // Not in @types/pg, but a documented connection parameter node-postgres sends in the startup packet.
    ...(conn.replication === true ? ({ replication: 'database' } as object) : {}),
    ...(conn.replication === 'physical' ? ({ replication: 'true' } as object) : {}),
  });
  // An error event after connect (server shutdown) must not crash the agent; the pending query rejects anyway.
  client.on('error', () => {});
  try {
    await client.connect();
    return await work(client);
  } catch (cause) {
    if (cause instanceof PgherdError) throw cause;
    throw new PgQueryError(what, { cause });
  } finally {
    await client.end().catch(() => {});
  }
}
