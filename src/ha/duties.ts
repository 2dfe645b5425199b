import { lookup } from '../cluster/records.js';
import { slotNameFor, type BootstrapMethod, type ClusterState } from '../cluster/state.js';
import { chooseCloneSource, decideBootstrap, type BackupCatalogView } from './bootstrap-rule.js';

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
  /** Record how `member` gets its data (bootstrap-rule.ts): a base backup id (s3) or a member (basebackup), with the numbers behind it. */
  | {
      readonly kind: 'recordBootstrapPlan';
      readonly member: string;
      readonly method: BootstrapMethod;
      readonly source: string;
      readonly reason: string;
      readonly walBytesSinceBackup: number | null;
      readonly backupBytes: number | null;
    };

export interface LocalSlot {
  readonly slotName: string;
  readonly slotType: string;
}

/** What the bootstrap plans are decided on besides the state: the store's backups and the primary's position. */
export interface PrimaryBootstrapFacts {
  readonly catalog: BackupCatalogView;
  readonly primaryLsn: string;
  readonly primaryTimeline: number;
}

export function decidePrimaryDuties(state: ClusterState, self: string, localSlots: readonly LocalSlot[], facts: PrimaryBootstrapFacts): PrimaryDuty[] {
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
  for (const name of membersAwaitingPlan(state, self)) {
    const status = state.members[name]!.status;
    // Wait for the member's first report: it says whether it has a store to restore from.
    if (status === null) continue;
    const choice = decideBootstrap({
      member: name,
      catalog: facts.catalog,
      primaryLsn: facts.primaryLsn,
      primaryTimeline: facts.primaryTimeline,
      systemIdentifier: state.initialize?.systemIdentifier ?? '',
      history: state.history,
      firstTimeline: state.initialize?.restoredFrom?.timeline ?? 1,
      memberStore: { configured: status.archive !== null, failure: status.archive?.failure ?? null },
      maxWalBytes: state.config.values.bootstrap_s3_max_wal_bytes,
      maxWalRatio: state.config.values.bootstrap_s3_max_wal_ratio,
      cloneSource: chooseCloneSource(state, name) ?? self,
    });
    if (choice !== null) duties.push({ kind: 'recordBootstrapPlan', member: name, ...choice });
  }
  return duties;
}

/** Members with a slot recorded in this epoch and no bootstrap plan yet: the primary owes each a plan (and reads the catalog for them). */
export function membersAwaitingPlan(state: ClusterState, self: string): string[] {
  const leader = state.leader;
  if (leader === null || leader.member !== self) return [];
  return Object.keys(state.members)
    .sort()
    .filter((name) => name !== self && lookup(state.bootstrap, name) === undefined && lookup(state.slots, name)?.createdByEpoch === leader.epoch);
}
