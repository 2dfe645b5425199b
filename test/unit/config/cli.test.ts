import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import YAML from 'yaml';
import { writeYaml, withMinimal } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The environment of the spawned command without any PGHERD_ variable of ours. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PGHERD_')));
  return { ...env, ...extra };
}

function pgherd(args: string[], env: NodeJS.ProcessEnv = cleanEnv()) {
  const result = spawnSync(process.execPath, ['--import=tsx', 'src/cli/pgherd.ts', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('validate-config prints the effective configuration as YAML and exits 0', (t) => {
  const file = writeYaml(t, withMinimal({ raft: { tick_ms: 50 } }));
  const result = pgherd(['validate-config', '--config', file], cleanEnv({ PGHERD_POSTGRESQL_PORT: '5433' }));
  t.is(result.status, 0, result.stderr);
  t.is(result.stderr, '');
  const printed = YAML.parse(result.stdout);
  t.is(printed.raft.tick_ms, 50);
  t.is(printed.postgresql.port, 5433);
  t.is(printed.postgresql.socket_dir, '/var/lib/pgherd/run');
  t.is(printed.bootstrap.dynamic.ttl_ms, 4000);
});

test('an invalid configuration prints one line "error: <key>: <message>" and exits 2', (t) => {
  const file = writeYaml(t, withMinimal({ raft: { tick_msx: 50 } }));
  const result = pgherd(['validate-config', '--config', file]);
  t.is(result.status, 2);
  t.is(result.stdout, '');
  t.is(result.stderr, 'error: raft.tick_msx: unknown key; did you mean raft.tick_ms?\n');
});

test('a YAML syntax error and a bad environment variable exit 2 too', (t) => {
  const broken = writeYaml(t, 'name: n1\nraft: [\n');
  const syntax = pgherd(['validate-config', '--config', broken]);
  t.is(syntax.status, 2);
  t.regex(syntax.stderr, /^error: .*pgherd\.yaml:\d+: invalid YAML at line \d+/);
  t.is(syntax.stderr.trimEnd().split('\n').length, 1);
  const file = writeYaml(t, withMinimal());
  const env = pgherd(['validate-config', '--config', file], cleanEnv({ PGHERD_RAFT_TICK_MS: 'fast' }));
  t.is(env.status, 2);
  t.is(env.stderr, 'error: raft.tick_ms: expected a number, got "fast" (from PGHERD_RAFT_TICK_MS)\n');
});

test('usage errors exit 2; --help exits 0', (t) => {
  t.is(pgherd(['validate-config', '--bogus']).status, 2);
  t.is(pgherd(['no-such-command']).status, 2);
  const help = pgherd(['--help']);
  t.is(help.status, 0);
  t.regex(help.stdout, /validate-config/);
});
