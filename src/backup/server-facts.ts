import { withConnection, type LocalConnection } from '../postgres/sql.js';

/** What a backup records about the server it was taken from. */
export interface ServerFacts {
  /** Decimal text (a uint64). */
  readonly systemIdentifier: string;
  /** The server's timeline when asked (the backup's own comes from backup_label). */
  readonly timeline: number;
  /** server_version_num, e.g. 150018. */
  readonly pgVersion: number;
  readonly walSegmentBytes: number;
}

const UNIT_BYTES: Readonly<Record<string, number>> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** A memory-valued setting as SHOW prints it ('16MB', '1GB', '8kB') in bytes. Throws on anything else. */
export function parseShowBytes(text: string): number {
  const match = /^(\d+)\s*(B|kB|MB|GB|TB)$/.exec(text.trim());
  if (match === null) throw new Error(`not a memory size: ${JSON.stringify(text)}`);
  return Number(match[1]) * UNIT_BYTES[match[2]!]!;
}

/**
 * Ask the server over a physical replication connection (the replication
 * role is admitted only to those; the local superuser is too):
 * IDENTIFY_SYSTEM, SHOW wal_segment_size, SHOW server_version_num.
 */
export async function readServerFacts(conn: LocalConnection): Promise<ServerFacts> {
  return withConnection({ ...conn, replication: 'physical' }, 'read the server facts for a base backup', async (client) => {
    const identify = (await client.query<{ systemid: string; timeline: string | number }>('IDENTIFY_SYSTEM')).rows[0];
    const segment = (await client.query<{ wal_segment_size: string }>('SHOW wal_segment_size')).rows[0];
    const version = (await client.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0];
    if (identify === undefined || segment === undefined || version === undefined) throw new Error('IDENTIFY_SYSTEM or SHOW returned no row');
    if (!/^[0-9]+$/.test(String(identify.systemid))) throw new Error(`IDENTIFY_SYSTEM returned system identifier ${JSON.stringify(identify.systemid)}`);
    return {
      systemIdentifier: String(identify.systemid),
      timeline: Number(identify.timeline),
      pgVersion: Number(version.server_version_num),
      walSegmentBytes: parseShowBytes(segment.wal_segment_size),
    };
  });
}
