import { listBackups } from '../backup/backup-catalog.js';
import type { ObjectStore } from '../backup/store.js';
import { canonicalLsn } from '../cluster/lsn.js';
import type { Logger } from '../lib/logger.js';
import type { BackupCatalogView, BackupSummary } from './bootstrap-rule.js';

/*
 * The primary's view of the store's base backups for bootstrap plans
 * (bootstrap-rule.ts). Read only while some member waits for a plan, in
 * the background: the HA loop never waits on the store (its next renewal
 * must not), it gets 'pending' and decides at a later run — the loop is
 * woken when the read settles. A read that fails or takes longer than
 * READ_TIMEOUT_MS counts as unreadable (the plan then says so and uses
 * pg_basebackup). A result is reused for MAX_AGE_MS — unless the cluster
 * state recorded a newer backup since it was read (the caller passes the
 * last one it knows as `knownBackup`): a member asking right after a backup
 * must be planned from it.
 */

/** Long enough for a slow S3 listing of a few hundred objects; a new member waits at most this for its plan. */
export const CATALOG_READ_TIMEOUT_MS = 10_000;
/** A plan is decided once per member; this only spares the store while several wait or a proposal is retried. */
export const CATALOG_MAX_AGE_MS = 10_000;

const PENDING: BackupCatalogView = Object.freeze({ kind: 'pending' });

export interface BootstrapCatalogOptions {
  readonly read: () => Promise<readonly BackupSummary[]>;
  /** Monotonic clock, ms. */
  readonly now: () => number;
  readonly log: Logger;
  readonly timeoutMs?: number;
  readonly maxAgeMs?: number;
}

export class BootstrapCatalog {
  private cached: { readonly view: BackupCatalogView; readonly atMs: number; readonly knownBackup: string | null } | null = null;
  private reading = false;

  constructor(private readonly o: BootstrapCatalogOptions) {}

  /**
   * The catalog if a fresh one is known; else 'pending', with a read started that calls `onSettled`
   * when done. `knownBackup`: the id of the last backup the cluster state recorded (null: none).
   */
  view(onSettled: () => void, knownBackup: string | null = null): BackupCatalogView {
    const cached = this.cached;
    if (cached !== null && cached.knownBackup === knownBackup && this.o.now() - cached.atMs <= (this.o.maxAgeMs ?? CATALOG_MAX_AGE_MS)) return cached.view;
    if (!this.reading) {
      this.reading = true;
      void this.refresh(knownBackup).finally(() => {
        this.reading = false;
        onSettled();
      });
    }
    return PENDING;
  }

  private async refresh(knownBackup: string | null): Promise<void> {
    const timeoutMs = this.o.timeoutMs ?? CATALOG_READ_TIMEOUT_MS;
    const started = this.o.now();
    let timer: NodeJS.Timeout | undefined;
    let view: BackupCatalogView;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`listing the base backups took longer than ${timeoutMs} ms`)), timeoutMs);
      });
      const backups = await Promise.race([this.o.read(), timeout]);
      view = { kind: 'read', backups };
      this.o.log.info({ backups: backups.length, latest: backups.at(-1)?.id ?? null, durationMs: Math.round(this.o.now() - started) }, 'ha.backup_catalog_read');
    } catch (error) {
      view = { kind: 'unreadable', error: (error as Error).message };
      this.o.log.warn({ err: (error as Error).message, code: (error as { code?: string }).code }, 'ha.backup_catalog_unreadable');
    } finally {
      clearTimeout(timer);
    }
    this.cached = { view, atMs: this.o.now(), knownBackup };
  }
}

/** The complete, validated backups of `cluster` in `store`, in replay order, as the bootstrap rule needs them. */
export async function readBackupSummaries(store: ObjectStore, cluster: string): Promise<BackupSummary[]> {
  const catalog = await listBackups(store, cluster);
  return catalog.backups.map((m) => ({
    id: m.id,
    systemIdentifier: m.systemIdentifier,
    timeline: m.timeline,
    stopTimeline: m.stopTimeline,
    startLsn: canonicalLsn(m.startLsn),
    stopLsn: canonicalLsn(m.stopLsn),
    dataBytes: m.dataBytes,
  }));
}
