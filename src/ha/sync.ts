import { compareLsn, type Lsn } from '../cluster/lsn.js';
import type { ClusterState } from '../cluster/state.js';

/**
 * Synchronous-mode rules of DESIGN.md §5, pure: what the primary does next
 * about `synchronous_standby_names` (sssn) and the cluster state's `sync`
 * key, one step per call. The executor performs the step (ALTER SYSTEM +
 * reload, or a setSync proposal), observes again and calls again.
 *
 * The invariant every step keeps: sync ⊆ sssn (a member recorded as a
 * synchronous standby, and so promotable, is one the primary waits for).
 * Hence the strict order:
 *  - removals: record `sync` without the member first, then shrink sssn;
 *  - additions: widen sssn first, then record in `sync` — only once
 *    pg_stat_replication shows the standby as synchronous AND it has flushed
 *    the WAL the primary had written when sssn was changed (writes
 *    acknowledged before the change did not wait for it; Patroni's
 *    SyncHandler checks the same LSN).
 * "Not in sync" must be known, not assumed from a possibly stale applied
 * state: sssn loses a name only when the local `sync` is CAS-confirmed
 * (SyncInput.syncConfirmed); otherwise the current set is committed again
 * first (SYNC_CONFIRM). The simulator found this (a restarted primary with
 * a stale view dropped its recorded synchronous standby from sssn).
 * sssn is always `FIRST k (k names)`: every listed standby must confirm a
 * commit, so every member of `sync` holds every acknowledged write.
 */

/** What the local PostgreSQL's synchronous_standby_names says. */
export type SynchronousStandbyNames =
  /** `FIRST count (names)`; names sorted, count = names.length. */
  | { readonly kind: 'first'; readonly count: number; readonly names: readonly string[] }
  /**
   * strict mode without an eligible standby: writes must block. PostgreSQL's
   * `*` (as Patroni sets it) matches any standby; the rules treat it as
   * matching none of the registered members, so nobody is recorded in sync.
   */
  | { readonly kind: 'blockWrites' };

export interface CurrentSssn {
  readonly value: SynchronousStandbyNames;
  /** The primary's WAL write position when this value took effect (the executor notes it). */
  readonly setAtLsn: Lsn;
}

/** One row of the primary's pg_stat_replication (application_name = member name). */
export interface ReplicationRow {
  readonly applicationName: string;
  /** walsender state: 'startup' | 'catchup' | 'streaming' | 'backup' | 'stopping'. */
  readonly state: string;
  /** pg_stat_replication.sync_state: 'sync' and 'quorum' confirm commits; 'potential' and the asynchronous state do not. */
  readonly syncState: string;
  readonly flushLsn: Lsn | null;
}

export interface SyncInput {
  readonly state: ClusterState;
  readonly self: string;
  /** null: sssn is empty (asynchronous replication). */
  readonly currentSssn: CurrentSssn | null;
  readonly replication: readonly ReplicationRow[];
  /**
   * The local `sync` is known current: this primary's own latest setSync was
   * applied (accepted) and produced exactly state.sync.epoch, and it has
   * proposed none since. The applied state may lag the log (a restarted
   * agent, a slow follower) and an older setSync of this primary may still
   * be in flight; a CAS-confirmed epoch rules out both, because any older
   * proposal expects an older epoch and is refused.
   */
  readonly syncConfirmed: boolean;
}

export const SYNC_REASONS = [
  /** This node does not hold the leader key: it manages nothing. */
  'NOT_PRIMARY',
  /** synchronous_mode is off: empty sync, then empty sssn. */
  'MODE_OFF',
  /** Members left the desired set (not streaming, nosync, unregistered, the primary itself): out of sync first. */
  'SYNC_REMOVE',
  /** sssn must lose names but the local sync may be stale: commit the current set again (CAS) first. */
  'SYNC_CONFIRM',
  /** sssn changes to the desired set (after removals from sync, before additions). */
  'SSSN_UPDATE',
  /** strict mode and no eligible standby: block writes. */
  'SSSN_BLOCK_WRITES',
  /** on mode and no eligible standby: replicate asynchronously (no failover while degraded). */
  'SSSN_CLEAR',
  /** Standbys in sssn that confirmed synchronous replication are recorded. */
  'SYNC_ADD',
  /** Waiting for standbys in sssn to show as synchronous and caught up. */
  'WAITING_FOR_STANDBY',
  'IN_SYNC',
] as const;
export type SyncReason = (typeof SYNC_REASONS)[number];

export type SyncDecision =
  | { readonly kind: 'setSssn'; readonly value: SynchronousStandbyNames | null; readonly reason: 'MODE_OFF' | 'SSSN_UPDATE' | 'SSSN_BLOCK_WRITES' | 'SSSN_CLEAR' }
  | {
      readonly kind: 'recordSync';
      readonly members: readonly string[];
      readonly expectedEpoch: number;
      readonly leaderEpoch: number;
      readonly reason: 'MODE_OFF' | 'SYNC_REMOVE' | 'SYNC_CONFIRM' | 'SYNC_ADD';
    }
  | { readonly kind: 'none'; readonly reason: 'NOT_PRIMARY' | 'WAITING_FOR_STANDBY' | 'IN_SYNC' | 'MODE_OFF' };

export function decideSync(input: SyncInput): SyncDecision {
  const { state, self } = input;
  const leader = state.leader;
  if (leader === null || leader.member !== self) return { kind: 'none', reason: 'NOT_PRIMARY' };
  const mode = state.config.values.synchronous_mode;
  const desired = desiredStandbys(input);
  const sync = state.sync.members;
  const record = (members: readonly string[], reason: 'MODE_OFF' | 'SYNC_REMOVE' | 'SYNC_CONFIRM' | 'SYNC_ADD'): SyncDecision => ({
    kind: 'recordSync',
    members: [...members].sort(),
    expectedEpoch: state.sync.epoch,
    leaderEpoch: leader.epoch,
    reason,
  });

  const kept = sync.filter((name) => desired.includes(name));
  if (kept.length < sync.length) return record(kept, mode === 'off' ? 'MODE_OFF' : 'SYNC_REMOVE');

  const target = targetSssn(mode, desired);
  const currentValue = input.currentSssn?.value ?? null;
  if (!sameSssn(currentValue, target)) {
    // Dropping a name is safe only if it is not in sync; a stale local view cannot tell.
    if (shrinks(currentValue, target) && !input.syncConfirmed) return record(sync, 'SYNC_CONFIRM');
    const reason = mode === 'off' ? 'MODE_OFF' : target === null ? 'SSSN_CLEAR' : target.kind === 'blockWrites' ? 'SSSN_BLOCK_WRITES' : 'SSSN_UPDATE';
    return { kind: 'setSssn', value: target, reason };
  }
  if (mode === 'off') return { kind: 'none', reason: 'MODE_OFF' };

  const setAtLsn = input.currentSssn?.setAtLsn ?? null;
  const ready = desired.filter((name) => sync.includes(name) || (setAtLsn !== null && confirmedSync(input.replication, name, setAtLsn)));
  if (ready.length > sync.length) return record(ready, 'SYNC_ADD');
  return { kind: 'none', reason: ready.length < desired.length ? 'WAITING_FOR_STANDBY' : 'IN_SYNC' };
}

/**
 * Up to synchronous_node_count registered members that stream from this
 * primary, are not tagged nosync and are not being removed: those already in sync first
 * (stability), then by name. Sorted by name in the result.
 */
export function desiredStandbys(input: SyncInput): string[] {
  const { state, self } = input;
  const values = state.config.values;
  if (values.synchronous_mode === 'off') return [];
  const streaming = new Set(input.replication.filter((row) => row.state === 'streaming').map((row) => row.applicationName));
  const eligible = Object.keys(state.members)
    .filter((name) => name !== self && streaming.has(name) && !state.members[name]!.registration.tags.nosync && state.membership[name]?.target !== 'removed')
    .sort((a, b) => {
      const inA = state.sync.members.includes(a) ? 0 : 1;
      const inB = state.sync.members.includes(b) ? 0 : 1;
      return inA - inB || a.localeCompare(b);
    });
  return eligible.slice(0, values.synchronous_node_count).sort();
}

function targetSssn(mode: 'off' | 'on' | 'strict', desired: readonly string[]): SynchronousStandbyNames | null {
  if (mode === 'off') return null;
  if (desired.length === 0) return mode === 'strict' ? { kind: 'blockWrites' } : null;
  return { kind: 'first', count: desired.length, names: [...desired].sort() };
}

function confirmedSync(rows: readonly ReplicationRow[], name: string, setAtLsn: Lsn): boolean {
  const row = rows.find((r) => r.applicationName === name);
  if (row === undefined || row.state !== 'streaming') return false;
  if (row.syncState !== 'sync' && row.syncState !== 'quorum') return false;
  return row.flushLsn !== null && compareLsn(row.flushLsn, setAtLsn) >= 0;
}

/** Whether going from `from` to `to` stops waiting for a standby that `from` waited for. */
export function shrinks(from: SynchronousStandbyNames | null, to: SynchronousStandbyNames | null): boolean {
  if (from === null || to?.kind === 'blockWrites') return false;
  if (from.kind === 'blockWrites') return true;
  const kept = sssnMembers(to);
  return from.names.some((name) => !kept.includes(name));
}

export function sameSssn(a: SynchronousStandbyNames | null, b: SynchronousStandbyNames | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.kind !== b.kind) return false;
  if (a.kind === 'blockWrites' || b.kind === 'blockWrites') return true;
  return a.count === b.count && a.names.length === b.names.length && a.names.every((name, i) => name === b.names[i]);
}

/** The members a value names (none for blockWrites: `*` names no registered member). */
export function sssnMembers(value: SynchronousStandbyNames | null): readonly string[] {
  return value?.kind === 'first' ? value.names : [];
}

/** The text for postgresql.conf: `FIRST 2 ("a", "b")`, `*`, or '' for none. */
export function renderSssn(value: SynchronousStandbyNames | null): string {
  if (value === null) return '';
  if (value.kind === 'blockWrites') return '*';
  return `FIRST ${value.count} (${value.names.map((name) => `"${name}"`).join(', ')})`;
}

/**
 * Read back what PostgreSQL reports: '' → null, '*' → blockWrites, a
 * `FIRST k (names)` with k = the number of names → first (names sorted).
 * Anything else (an operator's hand-written value, ANY, a count below the
 * list) → undefined: not a value these rules produce, so the next step
 * replaces it.
 */
export function parseSssn(text: string): SynchronousStandbyNames | null | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  if (trimmed === '*') return { kind: 'blockWrites' };
  const match = /^FIRST\s+([0-9]+)\s*\((.*)\)$/i.exec(trimmed);
  if (match === null) return undefined;
  const names = match[2]!.split(',').map((n) => n.trim().replace(/^"(.*)"$/, '$1'));
  const count = Number(match[1]);
  if (names.some((n) => n === '') || count !== names.length) return undefined;
  return { kind: 'first', count, names: [...names].sort() };
}
