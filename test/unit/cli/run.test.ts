import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const CLI = fileURLToPath(new URL('../../../src/cli/pgherd.ts', import.meta.url));

async function dir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), 'pgherd-cli-run-'));
  t.teardown(() => rm(path, { recursive: true, force: true }));
  return path;
}

function run(config: string): { status: number | null; stderr: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGHERD_')));
  const result = spawnSync(process.execPath, ['--import=tsx', CLI, 'run', '--config', config], { env, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stderr: result.stderr };
}

test('pgherd run with an invalid configuration: exit 2, the key named, nothing started or created', async (t) => {
  const base = await dir(t);
  const dataDir = join(base, 'agent');
  const config = join(base, 'bad.yaml');
  await writeFile(config, `name: n1\ndata_dir: ${dataDir}\nraft: {bind: 127.0.0.1:7400, bootstrap_expect: 1, tick_ms: 0}\npostgresql: {listen: 127.0.0.1}\nhttp: {listen: 127.0.0.1:8008}\n`);
  const { status, stderr } = run(config);
  t.is(status, 2);
  t.regex(stderr, /raft\.tick_ms/);
  await t.throwsAsync(stat(dataDir), { code: 'ENOENT' }, 'nothing was created');
});

test('pgherd run without PostgreSQL binaries: exit 3 naming the package, no data directory', async (t) => {
  const base = await dir(t);
  const dataDir = join(base, 'agent');
  const config = join(base, 'nobin.yaml');
  await writeFile(config, `name: n1\ndata_dir: ${dataDir}\nraft: {bind: 127.0.0.1:17400, bootstrap_expect: 1}\npostgresql: {listen: 127.0.0.1, bin_dir: ${join(base, 'no-such-bin')}}\nhttp: {listen: 127.0.0.1:18008}\ntls: {insecure: true}\n`);
  const { status, stderr } = run(config);
  t.is(status, 3);
  t.regex(stderr, /PGHERD_PG_BINARIES_MISSING.*postgresql/s);
  await t.throwsAsync(stat(dataDir), { code: 'ENOENT' });
});
