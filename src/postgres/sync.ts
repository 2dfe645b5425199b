import { assert } from '../lib/assert.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import { assertMemberName } from './conf.js';
import { PgSettingNotAppliedError } from './errors.js';
import { withConnection, type LocalConnection } from './sql.js';

const READBACK_TIMEOUT_MS_DEFAULT = 5000;
const READBACK_POLL_MS = 20;

/** `FIRST n ("a", "b")`, or '' for none. Names are validated and double-quoted. Pure. */
export function renderSynchronousStandbyNames(count: number, members: readonly string[]): string {
  if (members.length === 0) return '';
  assert(Number.isInteger(count) && count >= 1 && count <= members.length, () => `sync count ${count} must be in [1, ${members.length}]`);
  for (const member of members) assertMemberName(member);
  return `FIRST ${count} (${members.map((m) => `"${m}"`).join(', ')})`;
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Set synchronous_standby_names with ALTER SYSTEM, reload, and wait until
 * the server reports the new value (the reload is asynchronous). Returns the
 * value read back; PgSettingNotAppliedError when it did not take effect in time.
 */
export async function setSynchronousStandbys(
  conn: LocalConnection,
  count: number,
  members: readonly string[],
  options: { timeoutMs?: number; log?: Logger } = {},
): Promise<string> {
  return setSynchronousStandbyNames(conn, renderSynchronousStandbyNames(count, members), options);
}

/** The same for an already rendered value: '', '*' (block every commit) or `FIRST n (...)`. */
export async function setSynchronousStandbyNames(conn: LocalConnection, wanted: string, options: { timeoutMs?: number; log?: Logger } = {}): Promise<string> {
  assert(wanted === '' || wanted === '*' || /^FIRST [0-9]+ \("[A-Za-z0-9_.-]+"(, "[A-Za-z0-9_.-]+")*\)$/.test(wanted), () => `not a synchronous_standby_names value pgherd writes: ${wanted}`);
  const deadline = performance.now() + (options.timeoutMs ?? READBACK_TIMEOUT_MS_DEFAULT);
  const readBack = await withConnection(conn, 'set synchronous_standby_names', async (client) => {
    // ALTER SYSTEM takes no bind parameters; the value is built from validated names and quoted.
    await client.query(`ALTER SYSTEM SET synchronous_standby_names = ${quoteLiteral(wanted)}`);
    await client.query('SELECT pg_reload_conf()');
    for (;;) {
      const value = (await client.query<{ v: string }>('SELECT current_setting($1) AS v', ['synchronous_standby_names'])).rows[0]!.v;
      if (value === wanted || performance.now() >= deadline) return value;
      await new Promise((resolve) => setTimeout(resolve, READBACK_POLL_MS));
    }
  });
  if (readBack !== wanted) throw new PgSettingNotAppliedError('synchronous_standby_names', wanted, readBack);
  (options.log ?? silentLogger).info({ synchronousStandbyNames: readBack }, 'postgres.sync_standbys_set');
  return readBack;
}

export async function getSynchronousStandbyNames(conn: LocalConnection): Promise<string> {
  return withConnection(conn, 'show synchronous_standby_names', async (client) => (await client.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v")).rows[0]!.v);
}
