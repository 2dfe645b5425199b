/**
 * pgherdctl with a bearer token (--token, --token-file, PGHERDCTL_TOKEN,
 * PGHERDCTL_TOKEN_FILE) against the real admin service on real gRPC and
 * TLS, and `pgherd token create`, whose output configures the agent.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { TokenCreateResult } from '../../../src/cli/commands/token.js';
import { runPgherd } from '../../../src/cli/pgherd-main.js';
import { AdminTokens } from '../../../src/tls/admin-tokens.js';
import { runningCluster } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { MemoryBackend, serveAdminWith } from '../admin/helpers.js';
import { ctl, emptyDir } from './helpers.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

/** `pgherd token create --name NAME --json`, as an operator runs it. */
async function createToken(name: string): Promise<TokenCreateResult> {
  let stdout = '';
  const code = await runPgherd(['token', 'create', '--name', name, '--json'], { env: {}, stdout: (text) => void (stdout += text), stderr: () => {} });
  if (code !== 0) throw new Error(`token create exited ${code}`);
  return JSON.parse(stdout) as TokenCreateResult;
}

/** An agent's admin service whose admin.tokens holds the entry `token create` printed for ops. */
async function served(t: ExecutionContext) {
  const ops = await createToken('ops');
  const [name, sha256] = ops.configEntry.split(':') as [string, string];
  const backend = new MemoryBackend(runningCluster());
  const server = await serveAdminWith(t, { caFile: pki.ca.caCertPath, certFile: pki.n1.certPath, keyFile: pki.n1.keyPath }, backend, {}, { tokens: new AdminTokens([{ name, sha256 }]) });
  return { backend, server, token: ops.token };
}

test('token create: a fresh token and its admin.tokens entry (the SHA-256, never the token); bad names exit 2', async (t) => {
  const a = await createToken('ops');
  const b = await createToken('ops');
  t.not(a.token, b.token);
  t.regex(a.configEntry, /^ops:[0-9a-f]{64}$/);
  t.false(a.configEntry.includes(a.token));
  let stdout = '';
  let stderr = '';
  const human = await runPgherd(['token', 'create', '--name', 'ci'], { env: {}, stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) });
  t.is(human, 0);
  t.regex(stdout, /token for ci .*\n {2}\S{43}\n.*\n {2}admin:\n {4}tokens:\n {6}- ci:[0-9a-f]{64}\n/);
  const bad = await runPgherd(['token', 'create', '--name', 'Ops Team'], { env: {}, stdout: () => {}, stderr: (text) => void (stderr += text) });
  t.is(bad, 2);
  t.regex(stderr, /--name: expected lowercase letters/);
});

test('--token with --ca-file and no client certificate: served, and the action names the token holder', async (t) => {
  const { server, token, backend } = await served(t);
  const flags = ['--endpoint', server.address, '--ca-file', pki.ca.caCertPath];
  const listed = await ctl(t, ['list', '--json', ...flags, '--token', token]);
  t.is(listed.code, 0, listed.stderr);
  t.is(JSON.parse(listed.stdout).clusterName, 'pg-main');
  const paused = await ctl(t, ['pause', '--json', '--by', 'ticket-7', ...flags, '--token', token]);
  t.is(paused.code, 0, paused.stderr);
  t.like(JSON.parse(paused.stdout), { paused: true, by: 'ticket-7 (token ops)' });
  t.is(backend.local().pause.by, 'ticket-7 (token ops)');
});

test('--token-file, PGHERDCTL_TOKEN and PGHERDCTL_TOKEN_FILE stand in for --token', async (t) => {
  const { server, token } = await served(t);
  const dir = await emptyDir(t);
  const file = join(dir, 'token');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  const flags = ['--endpoint', server.address, '--ca-file', pki.ca.caCertPath];
  for (const [argv, env] of [
    [['list', ...flags, '--token-file', file], {}],
    [['list', ...flags], { PGHERDCTL_TOKEN: token }],
    [['list'], { PGHERDCTL_TOKEN_FILE: file, PGHERDCTL_ENDPOINTS: server.address, PGHERDCTL_CA_FILE: pki.ca.caCertPath }],
  ] as const) {
    const run = await ctl(t, [...argv], { env });
    t.is(run.code, 0, `${argv.join(' ')} ${JSON.stringify(env)}: ${run.stderr}`);
  }
});

test('-c FILE with --token: the configuration\'s CA verifies the agent, the token authenticates', async (t) => {
  const { server, token } = await served(t);
  const dir = await emptyDir(t);
  const config = join(dir, 'n1.yaml');
  // Certificate files of the agent that this operator cannot read: the token is enough.
  await writeFile(
    config,
    ['name: n1', 'cluster_name: pg-main', `data_dir: ${join(dir, 'n1')}`, `raft: {bind: '${server.address}', bootstrap_expect: 1}`, 'postgresql: {listen: 127.0.0.1}', 'http: {listen: 127.0.0.1:8008}',
      `tls: {ca_file: ${pki.ca.caCertPath}, cert_file: /nonexistent/node.crt, key_file: /nonexistent/node.key}`, ''].join('\n'),
  );
  const run = await ctl(t, ['list', '--json', '-c', config, '--token', token]);
  t.is(run.code, 0, run.stderr);
});

test('a wrong token: exit 1, refused (UNAUTHENTICATED) saying why; --json says so too', async (t) => {
  const { server, backend } = await served(t);
  const run = await ctl(t, ['--json', 'pause', '--endpoint', server.address, '--ca-file', pki.ca.caCertPath, '--token', 'not-the-token']);
  t.is(run.code, 1);
  t.regex(run.stderr, /^refused \(UNAUTHENTICATED\): 127\.0\.0\.1:\d+: the bearer token matches no admin\.tokens entry/);
  t.like(JSON.parse(run.stdout), { error: { kind: 'refused', status: 'UNAUTHENTICATED' } });
  t.false(backend.local().pause.paused);
});

test('token flag errors exit 2 naming the flag, before anything is asked', async (t) => {
  const dir = await emptyDir(t);
  const empty = join(dir, 'empty');
  await writeFile(empty, '\n');
  const ca = ['--ca-file', pki.ca.caCertPath];
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['list', '-e', '127.0.0.1:1', '--token', 'abc'], {}, /--token needs --ca-file: the cluster CA/],
    [['list', '-e', '127.0.0.1:1', '--insecure', '--token', 'abc'], {}, /--token needs TLS: it is never sent in plain text/],
    [['list', '-e', '127.0.0.1:1', ...ca, '--token', 'abc', '--token-file', empty], {}, /--token and --token-file: give the token one way, not both/],
    [['list', '-e', '127.0.0.1:1', ...ca, '--token-file', join(dir, 'missing')], {}, /--token-file: cannot read .*missing \(ENOENT\)/],
    [['list', '-e', '127.0.0.1:1', ...ca, '--token-file', empty], {}, /--token-file: expected the token/],
    [['list', '-e', '127.0.0.1:1', ...ca, '--token', 'a b'], {}, /--token: expected the token \(printable text without spaces/],
    [['list', '-e', '127.0.0.1:1', ...ca, '--cert-file', pki.n2.certPath, '--token', 'abc'], {}, /--cert-file and --key-file go together: missing --key-file/],
    [['list', ...ca, '--token', 'abc'], {}, /--endpoint is required with --token/],
    [['list', '-e', '127.0.0.1:1', ...ca], { PGHERDCTL_TOKEN: 'abc', PGHERDCTL_TOKEN_FILE: empty }, /PGHERDCTL_TOKEN and PGHERDCTL_TOKEN_FILE: give the token one way/],
    [['list', '-e', '127.0.0.1:1', '--ca-file', '/nonexistent/ca.crt', '--token', 'abc'], {}, /--ca-file: cannot read \/nonexistent\/ca\.crt/],
  ];
  for (const [argv, env, message] of cases) {
    const run = await ctl(t, argv, { env });
    t.is(run.code, 2, `${argv.join(' ')}: ${run.stderr}`);
    t.regex(run.stderr, message, argv.join(' '));
  }
});
