/**
 * pgherdctl show-config, edit-config, history and dsn in-process (a fake
 * terminal and editor) against the real admin service on real gRPC with
 * mutual TLS, over the real cluster state machine.
 */
import { readFile, writeFile } from 'node:fs/promises';
import test, { type ExecutionContext } from 'ava';
import { parse as parseYaml } from 'yaml';
import { runningCluster, T0_MS } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { handOver, MemoryBackend, serveAdmin } from '../admin/helpers.js';
import { ctl } from './helpers.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

/** A served cluster (n1 primary; configuration version 1 with ttl_ms 5000) and the flags that reach it with n2's certificate. */
async function served(t: ExecutionContext) {
  const backend = new MemoryBackend(runningCluster());
  backend.apply({ type: 'patchConfig', atMs: T0_MS + 5, expectedVersion: 0, patch: { ttl_ms: 5000 } });
  const server = await serveAdmin(t, pki, backend);
  const flags = ['--endpoint', server.address, '--ca-file', pki.ca.caCertPath, '--cert-file', pki.n2.certPath, '--key-file', pki.n2.keyPath];
  return { backend, server, flags };
}

test('show-config: YAML with the version in a comment; --json: {version, values}', async (t) => {
  const { flags } = await served(t);
  const human = await ctl(t, ['show-config', ...flags]);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /^# cluster pg-main: dynamic configuration, version 1\nttl_ms: 5000\nloop_wait_ms: 1000\n/);
  t.like(parseYaml(human.stdout), { ttl_ms: 5000, synchronous_mode: 'off', use_rewind: true, postgresql_parameters: {} });
  const json = await ctl(t, ['show-config', '--json', ...flags]);
  t.is(json.code, 0, json.stderr);
  const config = JSON.parse(json.stdout);
  t.deepEqual(Object.keys(config), ['version', 'values']);
  t.like(config, { version: 1, values: { ttl_ms: 5000, loop_wait_ms: 1000 } });
});

test('edit-config -s/-p --force: values parsed as YAML scalars, committed, each change printed old → new', async (t) => {
  const { backend, flags } = await served(t);
  const run = await ctl(t, ['edit-config', '-s', 'ttl=6000', '-s', 'synchronous_mode=on', '-s', 'use_rewind=false', '-p', 'work_mem=64MB', '-p', 'max_connections=200', '-p', "search_path='$user', public", '--force', ...flags]);
  t.is(run.code, 0, run.stderr);
  t.is(
    run.stdout,
    [
      'Changed the configuration of cluster pg-main: version 1 → 2',
      '  ttl_ms: 5000 → 6000',
      '  synchronous_mode: "off" → "on"',
      '  use_rewind: true → false',
      '  postgresql_parameters.max_connections: (unset) → 200',
      '  postgresql_parameters.search_path: (unset) → "\'$user\', public"',
      '  postgresql_parameters.work_mem: (unset) → "64MB"',
      '(Patroni names taken for ours: ttl -> ttl_ms)',
      'PostgreSQL parameters reach each member when its PostgreSQL next starts',
      '',
    ].join('\n'),
  );
  t.like(backend.local().config, { version: 2, values: { ttl_ms: 6000, synchronous_mode: 'on', use_rewind: false, postgresql_parameters: { work_mem: '64MB', max_connections: 200 } } });
  t.is(backend.proposed.length, 1, 'no dry run with --force');
  t.like(backend.proposed[0], { type: 'patchConfig', expectedVersion: 1 }, 'on the version the agent checked it on');

  const json = await ctl(t, ['edit-config', '--json', '-s', 'ttl_ms=7000', '-p', 'work_mem=null', '--force', ...flags]);
  t.is(json.code, 0, json.stderr);
  const result = JSON.parse(json.stdout);
  t.deepEqual(Object.keys(result).sort(), ['aliases', 'changes', 'dryRun', 'previousVersion', 'values', 'version']);
  t.deepEqual(result.changes, [
    { key: 'ttl_ms', from: 6000, to: 7000 },
    { key: 'postgresql_parameters.work_mem', from: '64MB', to: null },
  ]);
});

test('edit-config without --force and without a terminal: exit 2 naming --force, nothing asked of the cluster', async (t) => {
  const { backend, flags } = await served(t);
  const withFlags = await ctl(t, ['edit-config', '-s', 'ttl_ms=6000', ...flags]);
  t.is(withFlags.code, 2);
  t.regex(withFlags.stderr, /^error: edit-config changes the configuration of every member and asks for confirmation, but there is no terminal to ask on: pass --force/);
  const editor = await ctl(t, ['edit-config', ...flags]);
  t.is(editor.code, 2);
  t.regex(editor.stderr, /without -s or -p opens an editor .* no terminal: give the changes as -s KEY=VALUE \/ -p NAME=VALUE with --force/);
  t.deepEqual(backend.proposed, []);
  t.is(backend.local().config.version, 1);
});

test('edit-config argument errors: exit 2 naming the flag, before anything is asked', async (t) => {
  const { backend, flags } = await served(t);
  const cases: Array<[string[], RegExp]> = [
    [['-s', 'ttl_ms'], /-s: expected KEY=VALUE \(e\.g\. ttl_ms=6000\), got "ttl_ms"/],
    [['-s', '=5'], /-s: expected KEY=VALUE/],
    [['-s', 'ttl_ms='], /-s ttl_ms=: expected a value \(null resets ttl_ms to its default\)/],
    [['-s', 'ttl_ms=[1, 2]'], /-s ttl_ms=\[1, 2\]: expected a single value .* got a YAML list/],
    [['-s', 'ttl_ms=.inf'], /expected a finite number/],
    [['-s', 'postgresql_parameters.=1'], /-s: expected KEY=VALUE or postgresql_parameters\.NAME=VALUE/],
    [['-s', 'ttl_ms=1', '-s', 'ttl_ms=2'], /-s ttl_ms: ttl_ms is already set by -s ttl_ms: give each key once/],
    [['-s', 'postgresql_parameters.work_mem=1MB', '-p', 'work_mem=2MB'], /-p work_mem: postgresql_parameters\.work_mem is already set by -s postgresql_parameters\.work_mem/],
    [['-p', 'work_mem=1MB', '-s', 'postgresql_parameters=null'], /-p work_mem: postgresql_parameters\.work_mem is already set by -s postgresql_parameters:/],
    [['-p', 'work_mem'], /-p: expected NAME=VALUE \(e\.g\. work_mem=64MB\)/],
  ];
  for (const [argv, message] of cases) {
    const run = await ctl(t, ['edit-config', '--force', ...argv, ...flags]);
    t.is(run.code, 2, `${argv.join(' ')}: ${run.stderr}`);
    t.regex(run.stderr, message, argv.join(' '));
  }
  t.deepEqual(backend.proposed, []);
});

test('edit-config refused by the agent: exit 1 with its reason (and {"error"} with --json); nothing changed', async (t) => {
  const { backend, flags } = await served(t);
  const run = await ctl(t, ['edit-config', '--force', '-s', 'ttl_ms=10', ...flags]);
  t.is(run.code, 1);
  t.regex(run.stderr, /^refused \(INVALID_ARGUMENT INVALID_CONFIG\): .*config\.ttl_ms: Too small: expected number to be >=1000/);
  const json = await ctl(t, ['edit-config', '--force', '--json', '-s', 'ttl_msec=6000', ...flags]);
  t.is(json.code, 1);
  t.like(JSON.parse(json.stdout), { error: { kind: 'refused', status: 'INVALID_ARGUMENT', reason: 'INVALID_CONFIG' } });
  t.regex(JSON.parse(json.stdout).error.message, /config\.ttl_msec: unknown key; did you mean config\.ttl_ms\?/);
  t.is(backend.local().config.version, 1);
  t.deepEqual(backend.proposed, []);
});

test('edit-config on a terminal: the agent\'s diff is shown and confirmed; no changes nothing, yes commits on the version shown', async (t) => {
  const { backend, flags } = await served(t);
  const declined = await ctl(t, ['edit-config', '-s', 'ttl_ms=6000', ...flags], { interactive: true, answers: ['n'] });
  t.is(declined.code, 1);
  t.is(declined.stderr.split('\n')[0], 'Changes to the configuration of cluster pg-main (version 1):');
  t.regex(declined.stderr, /\n {2}ttl_ms: 5000 → 6000\n/);
  t.deepEqual(declined.questions, ['Apply this change to every member of cluster pg-main? [y/N] ']);
  t.regex(declined.stderr, /aborted: not confirmed: nothing changed/);
  t.deepEqual(backend.proposed, [], 'the preview was a dry run');

  const accepted = await ctl(t, ['edit-config', '-s', 'ttl_ms=6000', '-s', 'loop_wait_ms=800', ...flags], { interactive: true, answers: ['y'] });
  t.is(accepted.code, 0, accepted.stderr);
  t.deepEqual(accepted.questions, ['Apply these 2 changes to every member of cluster pg-main? [y/N] ']);
  t.regex(accepted.stdout, /^Changed the configuration of cluster pg-main: version 1 → 2\n/);
  t.like(backend.proposed[0], { type: 'patchConfig', expectedVersion: 1 });

  const same = await ctl(t, ['edit-config', '-s', 'ttl_ms=6000', ...flags], { interactive: true });
  t.is(same.code, 0, same.stderr);
  t.is(same.stdout, 'Nothing to change: the configuration of cluster pg-main stays at version 2\n');
  t.deepEqual(same.questions, [], 'nothing to confirm');
});

test('edit-config in the editor: the edited YAML becomes the change (a removed key goes back to its default), confirmed first', async (t) => {
  const { backend, flags } = await served(t);
  backend.apply({ type: 'patchConfig', atMs: T0_MS + 6, expectedVersion: 1, patch: { use_rewind: false, postgresql_parameters: { work_mem: '4MB' } } });
  let shown = '';
  const edit = async (file: string): Promise<number> => {
    shown = await readFile(file, 'utf8');
    const edited = shown.replace('ttl_ms: 5000', 'ttl_ms: 7000').replace('use_rewind: false\n', '').replace('work_mem: 4MB', 'work_mem: 8MB');
    await writeFile(file, edited);
    return 0;
  };
  const run = await ctl(t, ['edit-config', ...flags], { interactive: true, answers: ['yes'], edit });
  t.is(run.code, 0, run.stderr);
  t.regex(shown, /^# The dynamic configuration of cluster pg-main, version 2\.\n/);
  t.regex(run.stderr, /ttl_ms: 5000 → 7000\n {2}use_rewind: false → true\n {2}postgresql_parameters\.work_mem: "4MB" → "8MB"\n/);
  t.like(backend.local().config, { version: 3, values: { ttl_ms: 7000, use_rewind: true, postgresql_parameters: { work_mem: '8MB' } } });
  t.like(backend.proposed.at(-1), { expectedVersion: 2, patch: { ttl_ms: 7000, use_rewind: null, postgresql_parameters: { work_mem: '8MB' } } });

  const untouched = await ctl(t, ['edit-config', ...flags], { interactive: true, edit: async () => 0 });
  t.is(untouched.code, 0, untouched.stderr);
  t.regex(untouched.stdout, /^Nothing to change/);
  const quit = await ctl(t, ['edit-config', ...flags], { interactive: true, edit: async () => 1 });
  t.is(quit.code, 1);
  t.regex(quit.stderr, /the editor exited with status 1: nothing changed/);
  const broken = await ctl(t, ['edit-config', ...flags], { interactive: true, edit: (file) => writeFile(file, 'ttl_ms: [\n').then(() => 0) });
  t.is(broken.code, 2);
  t.regex(broken.stderr, /the edited configuration is not valid YAML/);
  t.is(backend.local().config.version, 3);
});

test('edit-config in the editor while someone else changes the configuration: exit 1, VERSION_CONFLICT, their change kept', async (t) => {
  const { backend, flags } = await served(t);
  const edit = async (file: string): Promise<number> => {
    await writeFile(file, (await readFile(file, 'utf8')).replace('ttl_ms: 5000', 'ttl_ms: 9000'));
    backend.apply({ type: 'patchConfig', atMs: T0_MS + 7, expectedVersion: 1, patch: { loop_wait_ms: 700 } });
    return 0;
  };
  const run = await ctl(t, ['edit-config', '--force', ...flags], { edit });
  t.is(run.code, 1);
  t.regex(run.stderr, /^refused \(ABORTED VERSION_CONFLICT\): .*the configuration is at version 2, not 1/);
  t.like(backend.local().config, { version: 2, values: { ttl_ms: 5000, loop_wait_ms: 700 } });
});

test('history: a table of the timeline switches; --json: {entries}', async (t) => {
  const { backend, flags } = await served(t);
  const none = await ctl(t, ['history', ...flags]);
  t.is(none.code, 0, none.stderr);
  t.regex(none.stdout, /^Cluster pg-main: no timeline switch yet/);
  handOver(backend, 'n2');
  const human = await ctl(t, ['history', ...flags]);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /^Cluster pg-main: 1 timeline switch\n/);
  t.regex(human.stdout, /\| TL \| LSN +\| Kind +\| From \| To \| At +\| Reason +\|/);
  t.regex(human.stdout, new RegExp(`\\|  2 \\| 0/3000100 \\| switchover \\| n1 +\\| n2 \\| ${new Date(T0_MS + 61_000).toISOString().replace(/\./g, '\\.')} \\| switchover \\|`));
  const json = await ctl(t, ['history', '--json', ...flags]);
  t.is(json.code, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), { entries: [{ timeline: 2, switchLsn: '0/3000100', at: new Date(T0_MS + 61_000).toISOString(), kind: 'switchover', from: 'n1', to: 'n2', reason: 'switchover' }] });
});

test('dsn: the connection string for the role; --json the result; a bad --role exits 2', async (t) => {
  const { flags } = await served(t);
  const primary = await ctl(t, ['dsn', ...flags]);
  t.is(primary.code, 0, primary.stderr);
  t.is(primary.stdout, 'host=n1,n2,n3 port=5432,5432,5432 dbname=postgres target_session_attrs=read-write connect_timeout=5\n');
  const replica = await ctl(t, ['dsn', '--role', 'replica', '--dbname', 'app', '--json', ...flags]);
  t.is(replica.code, 0, replica.stderr);
  t.deepEqual(JSON.parse(replica.stdout), {
    role: 'replica',
    dsn: 'host=n2,n3,n1 port=5432,5432,5432 dbname=app target_session_attrs=standby connect_timeout=5',
    hosts: ['n2:5432', 'n3:5432', 'n1:5432'],
    targetSessionAttrs: 'standby',
  });
  const bad = await ctl(t, ['dsn', '--role', 'leader', ...flags]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--role <role>' argument 'leader' is invalid\. Allowed choices are primary, replica, any/);
});
