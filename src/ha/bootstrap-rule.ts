import { compareLsn, lsnDiffBytes, type Lsn } from '../cluster/lsn.js';
import { lookup } from '../cluster/records.js';
import type { BootstrapMethod, ClusterState, HistoryEntry, MemberStatus } from '../cluster/state.js';
import { formatBytes } from '../lib/bytes.js';

/**
 * How a new member gets its data (DESIGN.md §6 step 2), decided by the
 * primary: restore the newest usable base backup from the store (then
 * replay the archive and stream) when the WAL written since that backup
 * started is small enough, in bytes and as a fraction of the backup;
 * otherwise pg_basebackup from the primary or a clonefrom-tagged replica.
 * Pure: the catalog, the primary's position and the thresholds come in,
 * a plan with the numbers behind it and a reason in operator words comes
 * out.
 *
 * A backup of another database system, or of a timeline that is not on
 * the cluster's history (or that ends past where its timeline forked
 * off), is never used: it would not replay into this cluster.
 */

/** What the primary knows of one complete, validated base backup (its manifest's fields the choice needs). */
export interface BackupSummary {
  readonly id: string;
  readonly systemIdentifier: string;
  /** The timeline the backup started on, and the one its WAL range ends on. */
  readonly timeline: number;
  readonly stopTimeline: number;
  readonly startLsn: Lsn;
  readonly stopLsn: Lsn;
  /** Uncompressed bytes: what the ratio limit is a fraction of. */
  readonly dataBytes: number;
}

/** The store's backups as the primary sees them now. */
export type BackupCatalogView =
  /** No backup store is configured on the primary. */
  | { readonly kind: 'noStore' }
  /** Being read (asynchronously, never blocking the lease): decide at a later loop. */
  | { readonly kind: 'pending' }
  | { readonly kind: 'unreadable'; readonly error: string }
  /** Complete, validated backups in replay order (the last is the latest). */
  | { readonly kind: 'read'; readonly backups: readonly BackupSummary[] };

export interface BootstrapRuleInput {
  /** The member that needs data. */
  readonly member: string;
  readonly catalog: BackupCatalogView;
  /** The primary's current WAL position and timeline. */
  readonly primaryLsn: Lsn;
  readonly primaryTimeline: number;
  /** The cluster's database system (state.initialize.systemIdentifier). */
  readonly systemIdentifier: string;
  readonly history: readonly HistoryEntry[];
  /**
   * The cluster's first timeline: 1 after initdb; for a cluster restored from a base backup the
   * timeline it was promoted on (state.initialize.restoredFrom). Backups of earlier timelines are
   * the source cluster's: they may hold WAL past where this cluster forked off. Default 1.
   */
  readonly firstTimeline?: number;
  /** The new member's own store, from its status report: it restores the backup and its WAL with it. */
  readonly memberStore: { readonly configured: boolean; readonly failure: string | null };
  readonly maxWalBytes: number;
  readonly maxWalRatio: number;
  /** Who pg_basebackup copies from (chooseCloneSource). */
  readonly cloneSource: string;
}

export interface BootstrapChoice {
  readonly method: BootstrapMethod;
  /** The backup id (s3) or the member to copy from (basebackup). */
  readonly source: string;
  readonly reason: string;
  /** Set whenever a backup was weighed (either way). */
  readonly walBytesSinceBackup: number | null;
  readonly backupBytes: number | null;
}

/** The plan for `input.member`; null while the catalog is still being read and the choice depends on it. */
export function decideBootstrap(input: BootstrapRuleInput): BootstrapChoice | null {
  const { catalog, member } = input;
  const basebackup = (reason: string, numbers?: { wal: number; data: number }): BootstrapChoice => ({
    method: 'basebackup',
    source: input.cloneSource,
    reason,
    walBytesSinceBackup: numbers?.wal ?? null,
    backupBytes: numbers?.data ?? null,
  });
  if (catalog.kind === 'noStore') return basebackup('no base backup store is configured');
  if (!input.memberStore.configured) return basebackup(`${member} has no backup store configured to restore a base backup from`);
  if (input.memberStore.failure !== null) return basebackup(`${member}'s backup store does not work: ${clip(input.memberStore.failure)}`);
  if (catalog.kind === 'pending') return null;
  if (catalog.kind === 'unreadable') return basebackup(`the backup store could not be read: ${clip(catalog.error)}`);
  if (catalog.backups.length === 0) return basebackup('no complete base backup in the store');

  const latest = catalog.backups[catalog.backups.length - 1]!;
  let chosen: BackupSummary | undefined;
  let latestProblem: string | null = null;
  for (let i = catalog.backups.length - 1; i >= 0 && chosen === undefined; i--) {
    const backup = catalog.backups[i]!;
    const problem = backupProblem(backup, input);
    if (problem === null) chosen = backup;
    else if (backup === latest) latestProblem = problem;
  }
  if (chosen === undefined) {
    const older = catalog.backups.length - 1;
    return basebackup(`no usable base backup: the latest, ${latest.id}, ${latestProblem}${older > 0 ? ` (nor ${older === 1 ? 'is the older one' : `are the ${older} older ones`})` : ''}`);
  }
  const wal = clampBytes(lsnDiffBytes(input.primaryLsn, chosen.startLsn));
  const data = chosen.dataBytes;
  const bytesOk = wal <= input.maxWalBytes;
  const ratioLimitBytes = Math.floor(input.maxWalRatio * data + RATIO_EPSILON_BYTES);
  const ratioOk = wal <= ratioLimitBytes;
  const which = chosen === latest ? `latest backup ${chosen.id}` : `backup ${chosen.id} (the latest, ${latest.id}, ${latestProblem})`;
  const actual = formatRatio(data === 0 ? (wal === 0 ? 0 : Infinity) : wal / data, input.maxWalRatio);
  const bytesText = bytesOk ? `within ${formatBytes(input.maxWalBytes)}` : `more than bootstrap_s3_max_wal_bytes ${formatBytes(input.maxWalBytes)}`;
  const ratioText = ratioOk ? `within ${input.maxWalRatio}` : `more than bootstrap_s3_max_wal_ratio ${input.maxWalRatio}`;
  const reason = `${which}: ${formatBytes(wal)} of WAL since its start (${actual} of its ${formatBytes(data)}) is ${bytesText} and ${ratioText}`;
  if (bytesOk && ratioOk) return { method: 's3', source: chosen.id, reason, walBytesSinceBackup: wal, backupBytes: data };
  return basebackup(reason, { wal, data });
}

/**
 * Why `backup` cannot be restored into this cluster, or null when it can:
 * same database system, taken by this cluster (not by the one it was
 * restored from), both its timelines on the cluster's history, its
 * WAL range ending before its timeline forked off, and not past the
 * primary's position.
 */
export function backupProblem(
  backup: BackupSummary,
  cluster: Pick<BootstrapRuleInput, 'systemIdentifier' | 'history' | 'primaryTimeline' | 'primaryLsn' | 'firstTimeline'>,
): string | null {
  if (backup.systemIdentifier !== cluster.systemIdentifier) return `is of database system ${backup.systemIdentifier}, this cluster is ${cluster.systemIdentifier}`;
  const first = cluster.firstTimeline ?? 1;
  if (backup.timeline < first) return `was taken on timeline ${backup.timeline} by the cluster this one was restored from (this cluster began on timeline ${first})`;
  for (const timeline of new Set([backup.timeline, backup.stopTimeline])) {
    if (!timelineKnown(timeline, cluster.history, cluster.primaryTimeline, first)) return `is on timeline ${timeline}, which is not in this cluster's history (the primary is on ${cluster.primaryTimeline})`;
  }
  const end = timelineEnd(backup.stopTimeline, cluster.history, cluster.primaryTimeline);
  if (end !== null && compareLsn(backup.stopLsn, end) > 0) {
    return `ends at ${backup.stopLsn} on timeline ${backup.stopTimeline}, past where that timeline forked off (${end})`;
  }
  if (compareLsn(backup.startLsn, cluster.primaryLsn) > 0) return `starts at ${backup.startLsn}, past the primary's position ${cluster.primaryLsn}`;
  return null;
}

/** The cluster's first timeline (initdb's 1, or the one a restore promoted on) and every timeline a recorded promotion created, up to the primary's. */
function timelineKnown(timeline: number, history: readonly HistoryEntry[], primaryTimeline: number, firstTimeline: number): boolean {
  if (timeline > primaryTimeline) return false;
  return timeline === firstTimeline || timeline === primaryTimeline || history.some((entry) => entry.timeline === timeline);
}

/** Where `timeline` ended (the switch to the next recorded one); null for the primary's own. */
function timelineEnd(timeline: number, history: readonly HistoryEntry[], primaryTimeline: number): Lsn | null {
  if (timeline === primaryTimeline) return null;
  const next = history.filter((entry) => entry.timeline > timeline).sort((a, b) => a.timeline - b.timeline)[0];
  return next?.switchLsn ?? null;
}

/**
 * Who a new member copies from with pg_basebackup: a clonefrom-tagged
 * replica (Patroni's tag) that reports itself on the primary's timeline and
 * already replayed past where the primary started keeping WAL for the new
 * member (its slot's creation point), so the copy ends where the primary's
 * slot still holds the WAL that follows; the least lagging, then by name.
 * Otherwise the primary. null without a primary.
 */
export function chooseCloneSource(state: ClusterState, member: string): string | null {
  const leader = state.leader;
  if (leader === null) return null;
  const slot = lookup(state.slots, member);
  if (slot === undefined) return leader.member;
  const candidates = Object.keys(state.members)
    .sort()
    .filter((name) => name !== member && name !== leader.member && isCloneSource(state, name, slot.createdAtLsn));
  const lag = (name: string): number => state.members[name]!.status!.lagBytes ?? Number.MAX_SAFE_INTEGER;
  return candidates.sort((a, b) => lag(a) - lag(b) || (a < b ? -1 : 1))[0] ?? leader.member;
}

/** A replica tagged clonefrom whose last report puts it on the primary's timeline, replayed at least to `fromLsn`. */
export function isCloneSource(state: ClusterState, name: string, fromLsn: Lsn): boolean {
  const member = lookup(state.members, name);
  const status: MemberStatus | null | undefined = member?.status;
  if (!member?.registration.tags.clonefrom || !status || status.role !== 'replica' || state.leader === null) return false;
  return status.timeline === state.leader.timeline && status.replayLsn !== null && compareLsn(status.replayLsn, fromLsn) >= 0;
}

/** The ratio limit in whole bytes is ⌊ratio × size⌋; floating-point error this small (0.3 × 10 = 2.9999…) is not a byte. */
const RATIO_EPSILON_BYTES = 1e-6;
/** Store errors can be long (a whole S3 response); the reason is one line for operators (the log has the rest). */
const ERROR_CHARS_MAX = 300;

function clip(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= ERROR_CHARS_MAX ? line : `${line.slice(0, ERROR_CHARS_MAX - 1)}…`;
}

function clampBytes(bytes: bigint): number {
  if (bytes < 0n) return 0;
  return bytes > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(bytes);
}

/** The actual fraction with as many decimals (2-6) as it takes not to print it equal to a limit it is not equal to. */
function formatRatio(actual: number, limit: number): string {
  if (!Number.isFinite(actual)) return 'unbounded';
  for (let decimals = 2; decimals <= 6; decimals++) {
    const text = actual.toFixed(decimals);
    if (actual === limit || Number(text) !== limit) return text;
  }
  return `just ${actual > limit ? 'over' : 'under'} ${limit}`;
}
