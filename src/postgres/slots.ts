import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import { assertSlotName } from './conf.js';
import { listSlotsWith, type SlotRow } from './observe.js';
import { withConnection, type LocalConnection } from './sql.js';

/**
 * Create a physical slot that reserves WAL at once (so WAL a new replica will
 * need is kept from now on). Idempotent: an existing slot is left alone.
 * Returns whether it was created.
 */
export async function createPhysicalSlot(conn: LocalConnection, name: string, log: Logger = silentLogger): Promise<boolean> {
  assertSlotName(name);
  const created = await withConnection(conn, `create slot ${name}`, async (client) => {
    const result = await client.query(
      `SELECT pg_create_physical_replication_slot($1, true)
        WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
      [name],
    );
    return result.rowCount === 1;
  }).catch((error: unknown) => {
    // Two creators racing: the loser sees duplicate_object; the slot exists, which is what was asked.
    if ((error as { sqlState?: string }).sqlState === '42710') return false;
    throw error;
  });
  if (created) log.info({ slot: name }, 'postgres.slot_created');
  return created;
}

/** Drop a slot if it exists. An active slot (a connected standby) fails with SQLSTATE 55006. Returns whether it was dropped. */
export async function dropSlot(conn: LocalConnection, name: string, log: Logger = silentLogger): Promise<boolean> {
  assertSlotName(name);
  const dropped = await withConnection(conn, `drop slot ${name}`, async (client) => {
    const result = await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [name]);
    return result.rowCount === 1;
  });
  if (dropped) log.info({ slot: name }, 'postgres.slot_dropped');
  return dropped;
}

export async function listSlots(conn: LocalConnection): Promise<SlotRow[]> {
  return withConnection(conn, 'list slots', (client) => listSlotsWith(client));
}
