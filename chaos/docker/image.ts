/**
 * The chaos containers' image, made without any registry: `docker import`
 * of a root filesystem of a few kilobytes plus a static busybox. Node,
 * PostgreSQL, iptables and every library come from this machine's /usr,
 * which each container mounts read-only (DockerHosts does), so the image
 * holds only what /usr does not:
 *
 *   /bin /sbin /lib /lib64   -> usr/...   (merged /usr, as Debian 12)
 *   /usr/bin/busybox, sh     a shell of the image's own (hidden under the mounted /usr)
 *   /etc/passwd, /etc/group  root, and this machine's `postgres` user with its uid/gid,
 *                            so files the agent makes for PostgreSQL have the same owner inside and out
 *   /etc/nsswitch.conf       files only
 *   /tmp (1777), /root, /run/postgresql and the postgres home directory
 *
 * The tag is a hash of that recipe (the busybox binary's contents included):
 * an image is built once and reused until the recipe changes.
 *
 *   tsx chaos/docker/image.ts     builds (or finds) the image and prints its tag
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const IMAGE_REPOSITORY = 'pgherd-chaos-rootfs';
/** Label on everything the chaos backend makes in Docker. */
export const LABEL_PREFIX = 'org.pgherd.chaos';
/** Where Debian's busybox-static puts its binary (merged /usr: /bin is usr/bin). */
const BUSYBOX_CANDIDATES = ['/usr/bin/busybox', '/bin/busybox'];
const INSTALL_BUSYBOX = 'install a static busybox (Debian: apt-get install -y busybox-static)';

export interface OsAccount {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

type Entry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode: number; readonly owner?: readonly [number, number] }
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly content: Buffer }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string };

export interface ImageRecipe {
  readonly entries: readonly Entry[];
  /** `<repository>:<hash of the entries>`. */
  readonly tag: string;
}

/** This machine's PostgreSQL OS user (`getent passwd postgres`): the agent, as root, runs PostgreSQL as it. */
export async function hostPostgresAccount(name = 'postgres'): Promise<OsAccount> {
  let line: string;
  try {
    line = (await run('getent', ['passwd', name])).stdout.trim().split('\n')[0] ?? '';
  } catch {
    throw new Error(`no OS user ${name} on this machine: install PostgreSQL (Debian: apt-get install -y postgresql), which creates it`);
  }
  const fields = line.split(':');
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`unexpected passwd entry ${JSON.stringify(line)}`);
  return { name, uid, gid, home: fields[5] || '/var/lib/postgresql' };
}

/** A static busybox of this machine, checked to need no dynamic loader (the image has no libraries of its own). */
async function staticBusybox(): Promise<Buffer> {
  for (const path of BUSYBOX_CANDIDATES) {
    const binary = await readFile(path).catch(() => undefined);
    if (binary === undefined) continue;
    if (hasInterpreter(binary)) throw new Error(`${path} is dynamically linked: ${INSTALL_BUSYBOX}`);
    return binary;
  }
  throw new Error(`busybox not found: ${INSTALL_BUSYBOX}`);
}

/** Whether an ELF binary names a program interpreter (PT_INTERP): a dynamically linked one. */
function hasInterpreter(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new Error('busybox is not an ELF binary');
  const is64 = elf[4] === 2;
  const little = elf[5] === 1;
  const u16 = (at: number): number => (little ? elf.readUInt16LE(at) : elf.readUInt16BE(at));
  const u32 = (at: number): number => (little ? elf.readUInt32LE(at) : elf.readUInt32BE(at));
  const phoff = is64 ? Number(little ? elf.readBigUInt64LE(0x20) : elf.readBigUInt64BE(0x20)) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  for (let i = 0; i < phnum; i++) if (u32(phoff + i * phentsize) === 3) return true;
  return false;
}

export async function imageRecipe(postgres?: OsAccount): Promise<ImageRecipe> {
  const pg = postgres ?? (await hostPostgresAccount());
  const text = (s: string): Buffer => Buffer.from(s);
  const entries: Entry[] = [
    ...['bin', 'sbin', 'lib', 'lib64'].map((d): Entry => ({ kind: 'symlink', path: d, target: `usr/${d}` })),
    { kind: 'dir', path: 'usr', mode: 0o755 },
    { kind: 'dir', path: 'usr/bin', mode: 0o755 },
    { kind: 'file', path: 'usr/bin/busybox', mode: 0o755, content: await staticBusybox() },
    { kind: 'symlink', path: 'usr/bin/sh', target: 'busybox' },
    { kind: 'dir', path: 'etc', mode: 0o755 },
    { kind: 'file', path: 'etc/passwd', mode: 0o644, content: text(`root:x:0:0:root:/root:/bin/sh\n${pg.name}:x:${pg.uid}:${pg.gid}:PostgreSQL administrator:${pg.home}:/bin/sh\n`) },
    { kind: 'file', path: 'etc/group', mode: 0o644, content: text(`root:x:0:\n${pg.name}:x:${pg.gid}:\n`) },
    { kind: 'file', path: 'etc/nsswitch.conf', mode: 0o644, content: text('passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n') },
    { kind: 'dir', path: 'root', mode: 0o700 },
    { kind: 'dir', path: 'tmp', mode: 0o1777 },
    { kind: 'dir', path: 'run', mode: 0o755 },
    { kind: 'dir', path: 'run/postgresql', mode: 0o2775, owner: [pg.uid, pg.gid] },
  ];
  // The postgres user's home (Debian: /var/lib/postgresql) and its parents.
  const home = pg.home.replace(/^\/+|\/+$/g, '');
  if (home !== '' && !entries.some((e) => e.path === home)) {
    const parts = home.split('/');
    for (let i = 1; i < parts.length; i++) {
      const path = parts.slice(0, i).join('/');
      if (!entries.some((e) => e.path === path)) entries.push({ kind: 'dir', path, mode: 0o755 });
    }
    entries.push({ kind: 'dir', path: home, mode: 0o755, owner: [pg.uid, pg.gid] });
  }
  const hash = createHash('sha256');
  for (const entry of entries) {
    hash.update(JSON.stringify({ ...entry, content: entry.kind === 'file' ? createHash('sha256').update(entry.content).digest('hex') : undefined }));
  }
  return { entries, tag: `${IMAGE_REPOSITORY}:${hash.digest('hex').slice(0, 16)}` };
}

async function imageExists(tag: string): Promise<boolean> {
  try {
    await run('docker', ['image', 'inspect', '--format', '{{.Id}}', tag]);
    return true;
  } catch {
    return false;
  }
}

/** The image for this recipe: found, or built now with `docker import`. */
export async function ensureImage(postgres?: OsAccount): Promise<{ tag: string; built: boolean; ms: number }> {
  const started = performance.now();
  const recipe = await imageRecipe(postgres);
  if (await imageExists(recipe.tag)) return { tag: recipe.tag, built: false, ms: performance.now() - started };
  const staging = await mkdtemp(join(tmpdir(), 'pgherd-rootfs-'));
  try {
    const root = join(staging, 'rootfs');
    await mkdir(root, { mode: 0o755 });
    for (const entry of recipe.entries) {
      const path = join(root, entry.path);
      await mkdir(dirname(path), { recursive: true });
      if (entry.kind === 'symlink') await symlink(entry.target, path);
      else if (entry.kind === 'file') await writeFile(path, entry.content, { mode: entry.mode });
      else await mkdir(path, { recursive: true });
      if (entry.kind !== 'symlink') {
        // mkdir and writeFile apply the umask: set the recipe's mode (and owner) exactly.
        await chmod(path, entry.mode);
        if (entry.kind === 'dir' && entry.owner) await chown(path, entry.owner[0], entry.owner[1]);
      }
    }
    const tarball = join(staging, 'rootfs.tar');
    // Numeric owners: the image's files belong to the uids above, whatever names this machine gives them.
    await run('tar', ['--numeric-owner', '-C', root, '-cf', tarball, '.']);
    await run('docker', ['import', '--change', `LABEL ${LABEL_PREFIX}.image=1`, '--change', 'CMD ["/bin/sh"]', '--message', 'pgherd chaos rootfs (mount the host /usr read-only)', tarball, recipe.tag]);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { tag: recipe.tag, built: true, ms: performance.now() - started };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { tag, built, ms } = await ensureImage();
  console.log(`${tag} (${built ? 'built' : 'already there'} in ${Math.round(ms)} ms)`);
}
