import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { FENCE_EXIT_CODES } from '../../../src/ha/fence-process.js';

/*
 * The built fence runs as a program also when started through a symlinked
 * install path (/opt/pgherd → /opt/pgherd-1.2): Node gives the main module
 * its real path while argv[1] names the link. Run with no arguments, the
 * program answers its usage exit code; a module that did not recognise
 * itself as the program would exit 0 having done nothing.
 */
test('the built fence-process.js runs as a program through a symlinked path', async (t) => {
  const built = resolve('dist/src/ha/fence-process.js');
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-fence-link-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const link = join(dir, 'install');
  await symlink(resolve('dist'), link);
  for (const path of [built, join(link, 'src/ha/fence-process.js')]) {
    const run = spawnSync(process.execPath, [path], { encoding: 'utf8', timeout: 20_000 });
    t.is(run.status, FENCE_EXIT_CODES.usage, `${path}: ${run.stderr}${run.stdout}`);
    t.regex(run.stdout + run.stderr, /fence\.bad_arguments/);
  }
});
