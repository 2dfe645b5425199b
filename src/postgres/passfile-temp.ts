import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chownToPg, type PgOsUser } from './os-user.js';
import { writePassfile } from './passfile.js';

/** Run `work` with a password file that exists only for its duration (private directory, 0600, owned by the postgres user). */
export async function withTempPassfile<T>(osUser: PgOsUser, user: string, password: string, work: (passfile: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-pass-'));
  try {
    await chownToPg(osUser, dir);
    const passfile = join(dir, 'pgpass');
    await writePassfile(passfile, osUser, user, password);
    return await work(passfile);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
