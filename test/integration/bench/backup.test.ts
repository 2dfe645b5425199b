/**
 * `npm run bench:backup` end to end with the tiniest sizes: a real
 * PostgreSQL, s3rver, every contender, both replicas. Checks the one JSON
 * line and that nothing is left behind.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { REQUIRED_KEYS } from '../../../scripts/bench/backup/report.js';
import { acquireHeavySlot } from '../../helpers/heavy-slot.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BENCH = fileURLToPath(new URL('../../../scripts/bench/backup.ts', import.meta.url));
const benchDirs = async (): Promise<string[]> => (await readdir(tmpdir())).filter((name) => name.startsWith('pgherd-bench-backup-'));

test('bench:backup --segments 2 --scale 1 --wal-after-mb 1 --json: one JSON line, every figure a positive number, nothing left behind', async (t) => {
  await acquireHeavySlot(t, 5 * 60_000);
  const before = await benchDirs();
  const child = spawn(process.execPath, ['--import=tsx', BENCH, '--segments', '2', '--scale', '1', '--wal-after-mb', '1', '--json'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  // A test that times out must not leave the bench running: SIGTERM makes it stop what it started.
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await exited;
  t.is(code, 0, stderr);
  const lines = stdout.trimEnd().split('\n');
  t.is(lines.length, 1, stdout);
  const figures = JSON.parse(lines[0]!) as Record<string, unknown>;
  t.log(lines[0]);
  for (const key of REQUIRED_KEYS) t.true(typeof figures[key] === 'number' && Number.isFinite(figures[key]) && (figures[key] as number) > 0, `${key}: ${String(figures[key])}`);
  for (const [key, value] of Object.entries(figures)) if (typeof value === 'number') t.true(Number.isFinite(value) && value > 0, `${key}: ${value}`);
  t.is(figures.segments, 2);
  t.is(figures.scale, 1);
  t.is(figures.archive_bytes, 2 * 16 * 1024 * 1024);
  t.deepEqual(await benchDirs(), before, 'the temporary directory is removed');
});
