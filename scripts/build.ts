/**
 * npm run build — transpile src/ to dist/src/ (one .js per .ts, imports
 * untouched) with esbuild, copy the scripts in src/ (*.pl: the WAL client)
 * to the same place under dist/src/, and copy proto/ beside it, so that
 * `node dist/src/cli/pgherd.js` starts in a fraction of a second instead
 * of compiling TypeScript at every start (tsx): an agent restarted beside
 * a running primary must be back well within the lease. Type checking is
 * `npm run typecheck`; this only strips types. Writes dist/BUILD_STAMP last.
 */
import { build } from 'esbuild';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const out = join(root, 'dist');

async function sources(dir: string, suffix: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? sources(join(dir, e.name), suffix) : Promise.resolve(e.name.endsWith(suffix) ? [join(dir, e.name)] : []))));
  return nested.flat();
}

const started = performance.now();
await rm(out, { recursive: true, force: true });
const entryPoints = await sources(join(root, 'src'), '.ts');
await build({ entryPoints, outdir: out, outbase: root, platform: 'node', format: 'esm', target: 'node20', sourcemap: 'inline', logLevel: 'warning' });
for (const script of await sources(join(root, 'src'), '.pl')) await cp(script, join(out, relative(root, script)));
await mkdir(join(out, 'proto'), { recursive: true });
await cp(join(root, 'proto'), join(out, 'proto'), { recursive: true });
await writeFile(join(out, 'BUILD_STAMP'), `${new Date().toISOString()}\n`);
console.log(`built ${entryPoints.length} files into ${relative(root, out)}/ in ${Math.round(performance.now() - started)} ms`);
