import { slotNameFor, type ClusterState } from '../cluster/state.js';

/**
 * The primary's bookkeeping for the other members (DESIGN.md §6 steps 1-2):
 * slot first, then the bootstrap plan. Pure: the caller passes the local
 * slots and acts on the list, in order. Run only by the primary holding a
 * confirmed lease; every command carries its epoch, so a stale primary's
 * actions are refused by apply.
 */

export const SLOT_PREFIX = 'pgherd_';

export type PrimaryDuty =
  /** Create the physical slot (if it does not exist locally) and record it in the cluster state at this epoch. */
  | { readonly kind: 'ensureSlot'; readonly member: string; readonly slotName: string; readonly existsLocally: boolean }
  /** A pgherd slot of a member that is no longer registered: drop it locally, and its record if there is one. */
  | { readonly kind: 'dropSlot'; readonly slotName: string; readonly member: string | null }
  /** Decide how `member` gets its data: pg_basebackup from `source` (the S3 branch arrives with backups). */
  | { readonly kind: 'recordBootstrapPlan'; readonly member: string; readonly source: string; readonly reason: string };

export interface LocalSlot {
  readonly slotName: string;
  readonly slotType: string;
}

export function decidePrimaryDuties(state: ClusterState, self: string, localSlots: readonly LocalSlot[]): PrimaryDuty[] {
  const leader = state.leader;
  if (leader === null || leader.member !== self) return [];
  const duties: PrimaryDuty[] = [];
  const local = new Set(localSlots.filter((s) => s.slotType === 'physical').map((s) => s.slotName));
  const wanted = new Map<string, string>();
  for (const name of Object.keys(state.members).sort()) {
    if (name === self) continue;
    const slotName = slotNameFor(name);
    wanted.set(slotName, name);
    const recorded = state.slots[name];
    // A record from an earlier epoch was made by another primary: the slot may not exist here.
    if (!local.has(slotName) || !recorded || recorded.createdByEpoch !== leader.epoch) {
      duties.push({ kind: 'ensureSlot', member: name, slotName, existsLocally: local.has(slotName) });
    }
  }
  for (const slotName of [...local].sort()) {
    if (!slotName.startsWith(SLOT_PREFIX) || wanted.has(slotName)) continue;
    const owner = Object.entries(state.slots).find(([, slot]) => slot.slotName === slotName)?.[0] ?? null;
    duties.push({ kind: 'dropSlot', slotName, member: owner });
  }
  // Always from the primary for now: the member's slot lives there. A clonefrom replica would
  // need the slot on itself too (physical slots are not replicated); that arrives with backups.
  for (const name of Object.keys(state.members).sort()) {
    if (name === self || state.bootstrap[name]) continue;
    const slot = state.slots[name];
    if (!slot || slot.createdByEpoch !== leader.epoch) continue;
    duties.push({ kind: 'recordBootstrapPlan', member: name, source: self, reason: 'no base backup store configured: pg_basebackup from the primary' });
  }
  return duties;
}

