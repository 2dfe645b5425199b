import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

export const MIB = 1024 * 1024;
export const SEGMENT_BYTES = 16 * MIB;

/** A temporary directory removed when the test ends. */
export async function tempDir(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `pgherd-${prefix}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic pseudo-random bytes (AES-256-CTR keystream of `seed`). */
export function seededBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

/**
 * A 16 MiB file shaped like a switched WAL segment: `randomBytes` of
 * incompressible data, then repetitive row-like text, then zeros to the end
 * (PostgreSQL zero-fills a segment it switches away from early).
 */
export function walLikeSegment(seed: string, randomBytes = MIB, textBytes = MIB): Buffer {
  const segment = Buffer.alloc(SEGMENT_BYTES);
  seededBytes(seed, randomBytes).copy(segment, 0);
  let text = '';
  for (let row = 0; text.length < textBytes; row += 1) text += `INSERT row ${row} of ${seed} name=user${row % 977} balance=${(row * 7919) % 100000}.00 status=active;`;
  segment.write(text.slice(0, textBytes), randomBytes, 'latin1');
  return segment;
}

/** A data directory with pg_wal/ and pg_wal/archive_status/, as the archiver sees it. */
export class FakePgdata {
  readonly walDir: string;
  readonly statusDir: string;

  private constructor(readonly root: string) {
    this.walDir = join(root, 'pg_wal');
    this.statusDir = join(root, 'pg_wal', 'archive_status');
  }

  static async create(t: ExecutionContext): Promise<FakePgdata> {
    const pgdata = new FakePgdata(join(await tempDir(t, 'pgdata'), 'data'));
    await mkdir(pgdata.statusDir, { recursive: true });
    return pgdata;
  }

  /** Write pg_wal/<name> (a new inode: written elsewhere, renamed in) and, unless told otherwise, its .ready marker. */
  async add(name: string, bytes: Buffer, ready = true): Promise<void> {
    const temporary = join(this.root, `${name}.new`);
    await writeFile(temporary, bytes, { mode: 0o600 });
    await rename(temporary, join(this.walDir, name));
    if (ready) await writeFile(join(this.statusDir, `${name}.ready`), '');
  }

  /** What PostgreSQL does once archive_command succeeded. */
  async markDone(name: string): Promise<void> {
    await rename(join(this.statusDir, `${name}.ready`), join(this.statusDir, `${name}.done`));
  }
}
