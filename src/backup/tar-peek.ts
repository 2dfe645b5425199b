import { Transform, type TransformCallback } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';

/** backup_label is a few hundred bytes. */
const LABEL_BYTES_MAX = 64 * 1024;
/**
 * Of backup_manifest (one line per file: it can be many MB) only the end is
 * kept: the WAL ranges and the manifest checksum are its last lines.
 */
export const MANIFEST_TAIL_BYTES = 256 * 1024;

export interface TarPeekResult {
  /** backup_label's text; undefined when the tar had none. */
  readonly backupLabel: string | undefined;
  /** The last MANIFEST_TAIL_BYTES of backup_manifest; undefined when the tar had none. */
  readonly manifestTail: string | undefined;
  readonly manifestBytes: number;
  readonly entries: number;
  /** Every byte that passed (the whole tar). */
  readonly bytes: number;
  /** The parser's complaints (a truncated or malformed tar). */
  readonly warnings: readonly string[];
}

/**
 * A pass-through over pg_basebackup's tar stream that reads, without staging
 * anything on disk, the two members the backup's facts are in: backup_label
 * (the first) and backup_manifest (the last). The bytes pass unchanged, and
 * are counted.
 */
export class TarPeek extends Transform {
  private readonly parser: Parser;
  private label: Buffer[] = [];
  private labelBytes = 0;
  private sawLabel = false;
  private manifest: Buffer[] = [];
  private manifestKept = 0;
  private manifestTotal = 0;
  private sawManifest = false;
  private entryCount = 0;
  private byteCount = 0;
  private readonly warningList: string[] = [];

  constructor() {
    super();
    this.parser = new Parser({
      strict: false,
      onwarn: (code: string, message: string) => this.warningList.push(`${code}: ${message}`),
      onReadEntry: (entry: ReadEntry) => this.onEntry(entry),
    });
  }

  private onEntry(entry: ReadEntry): void {
    this.entryCount++;
    const path = entry.path.replace(/^\.\//, '');
    if (path === 'backup_label') {
      this.sawLabel = true;
      entry.on('data', (chunk: Buffer) => {
        this.labelBytes += chunk.length;
        if (this.labelBytes <= LABEL_BYTES_MAX) this.label.push(chunk);
      });
    } else if (path === 'backup_manifest') {
      this.sawManifest = true;
      entry.on('data', (chunk: Buffer) => this.keepManifest(chunk));
    } else {
      // Unread entries hold up the parser: let their bytes flow away.
      entry.resume();
    }
  }

  private keepManifest(chunk: Buffer): void {
    this.manifestTotal += chunk.length;
    this.manifest.push(chunk);
    this.manifestKept += chunk.length;
    while (this.manifest.length > 1 && this.manifestKept - this.manifest[0]!.length >= MANIFEST_TAIL_BYTES) this.manifestKept -= this.manifest.shift()!.length;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.byteCount += chunk.length;
    this.parser.write(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.parser.end();
    callback();
  }

  result(): TarPeekResult {
    return {
      backupLabel: this.sawLabel && this.labelBytes <= LABEL_BYTES_MAX ? Buffer.concat(this.label).toString('utf8') : undefined,
      manifestTail: this.sawManifest ? Buffer.concat(this.manifest).subarray(-MANIFEST_TAIL_BYTES).toString('utf8') : undefined,
      manifestBytes: this.manifestTotal,
      entries: this.entryCount,
      bytes: this.byteCount,
      warnings: [...this.warningList],
    };
  }
}
