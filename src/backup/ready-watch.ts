import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Logger } from '../lib/logger.js';

/*
 * Wakes the WAL archiver when PostgreSQL marks a file ready, so that it
 * uploads ahead without waiting for archive_command: fs.watch (inotify) on
 * pg_wal/archive_status for promptness, and a wake-up every `intervalMs`
 * as the fallback — the directory may not exist yet (no initdb), be
 * replaced (re-clone) or lose its watch, and a missed event costs at most
 * one interval. Each tick also re-establishes the watch when the directory
 * appeared or was replaced. `onWake` must be cheap and coalesce calls (the
 * archiver runs one scan at a time). Nothing here keeps the process alive;
 * close() stops both.
 */

export class ReadyWatch {
  private watcher: FSWatcher | undefined;
  private watchedIno: number | undefined;
  private checking = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    private readonly onWake: () => void,
    intervalMs: number,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
    this.tick();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.stopWatching();
  }

  private tick(): void {
    if (this.closed) return;
    this.onWake();
    if (this.checking) return;
    this.checking = true;
    void this.checkWatch().finally(() => {
      this.checking = false;
    });
  }

  /** Watch the directory that is there now; drop a watch on one that is gone or was replaced. */
  private async checkWatch(): Promise<void> {
    const ino = await stat(this.dir).then(
      (info) => (info.isDirectory() ? info.ino : undefined),
      () => undefined,
    );
    if (this.closed || (ino === this.watchedIno && this.watcher !== undefined)) return;
    this.stopWatching();
    if (ino === undefined) return;
    try {
      const watcher = watch(this.dir, { persistent: false }, () => this.onWake());
      watcher.on('error', (error) => {
        this.log.debug({ dir: this.dir, err: error.message }, 'wal.ready_watch_failed');
        if (this.watcher === watcher) this.stopWatching();
      });
      this.watcher = watcher;
      this.watchedIno = ino;
    } catch (error) {
      // Gone between stat and watch, or out of inotify watches: the interval still wakes the archiver.
      this.log.debug({ dir: this.dir, err: (error as Error).message }, 'wal.ready_watch_failed');
    }
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.watchedIno = undefined;
  }
}
