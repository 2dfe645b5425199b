/**
 * pgherdctl restart, reload and reinit in-process (a fake terminal)
 * against the real admin service on real gRPC with mutual TLS; the
 * members' HA loops are played by commands applied as another node would.
 */
import test, { type ExecutionContext } from 'ava';
import type { CommandOf } from '../../../src/cluster/commands.js';
import { runningCluster } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { MemoryBackend, serveAdmin } from '../admin/helpers.js';
import { ctl } from './helpers.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

/** n1 primary, n2 and n3 replicas whose HA loops end each action with `status`. */
async function served(t: ExecutionContext, status: 'done' | 'failed' | null = 'done') {
  const backend = new MemoryBackend(runningCluster());
  if (status !== null) {
    backend.reactTo('requestMemberAction', (event) => {
      const c = event.command as CommandOf<'requestMemberAction'>;
      backend.apply({ type: 'updateMemberAction', atMs: backend.wallMs, member: c.member, id: c.id, status: 'running' });
      backend.apply({ type: 'updateMemberAction', atMs: backend.wallMs, member: c.member, id: c.id, status, detail: status === 'done' ? `${c.kind}ed` : 'PostgreSQL would not start' });
    });
  }
  const server = await serveAdmin(t, pki, backend);
  const flags = ['--endpoint', server.address, '--ca-file', pki.ca.caCertPath, '--cert-file', pki.n2.certPath, '--key-file', pki.n2.keyPath];
  return { backend, flags };
}

test('argument errors exit 2 naming the argument, before anything is asked', async (t) => {
  const reach = ['-e', '127.0.0.1:1', '--insecure'];
  const cases: Array<[string[], RegExp]> = [
    [['restart', '--force', 'N 2', ...reach], /member: expected a member name/],
    [['restart', '--force', '--role', 'master', ...reach], /--role: expected one of primary, replica, any, got "master"/],
    [['reload', '--role', 'leader', ...reach], /--role: expected one of primary, replica, any/],
    [['restart', '--force', '--scheduled', 'tomorrow', ...reach], /--scheduled: expected 'now' or an RFC 3339 time/],
    [['restart', '--force', '--scheduled', '2001-01-01T00:00:00Z', ...reach], /--scheduled: 2001-01-01T00:00:00Z is in the past/],
    [['restart', '--force', '--timeout', '-1', ...reach], /--timeout: expected a number of seconds/],
    [['restart', '--cancel', '--pending', ...reach], /--cancel takes no --pending/],
    [['reinit', '--force', ...reach], /missing required argument 'members'/],
    [['restart', 'n2', ...reach], /restart restarts PostgreSQL and asks for confirmation, but there is no terminal to ask on: pass --force/],
    [['reinit', 'n2', ...reach], /reinit empties data directories and asks for confirmation/],
  ];
  for (const [argv, message] of cases) {
    const run = await ctl(t, argv);
    t.is(run.code, 2, `${argv.join(' ')}: ${run.stderr}`);
    t.regex(run.stderr, message, argv.join(' '));
  }
});

test('restart on a terminal asks naming the members: no declines (exit 1, nothing recorded); yes restarts and prints each member', async (t) => {
  const { backend, flags } = await served(t);
  const declined = await ctl(t, ['restart', '--role', 'replica', ...flags], { interactive: true, answers: ['n'] });
  t.is(declined.code, 1);
  t.regex(declined.questions[0] ?? '', /^Restart PostgreSQL on n2, n3 of cluster pg-main now\? \[y\/N\] $/);
  t.is(backend.proposed.length, 0);
  const run = await ctl(t, ['restart', 'n1', '--pending', ...flags], { interactive: true, answers: ['yes'] });
  t.is(run.code, 0, run.stderr);
  t.regex(run.questions[0] ?? '', /on n1 \(the primary\) of cluster pg-main where a restart is pending now\?/);
  t.regex(run.stdout, /^n1: restart --pending done — restarted \[[0-9a-f]{12}\]\nrestart: n1 done/);
});

test('--json: the per-member result; a member that failed makes the exit code 1 and says so', async (t) => {
  const ok = await served(t);
  const run = await ctl(t, ['--json', 'reload', ...ok.flags]);
  t.is(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { actions: Array<{ member: string; status: string; kind: string }>; message: string };
  t.deepEqual(result.actions.map((a) => [a.member, a.kind, a.status]), [['n1', 'reload', 'done'], ['n2', 'reload', 'done'], ['n3', 'reload', 'done']]);
  const bad = await served(t, 'failed');
  const failed = await ctl(t, ['restart', '--force', 'n3', ...bad.flags]);
  t.is(failed.code, 1);
  t.regex(failed.stdout, /n3: restart failed — PostgreSQL would not start/);
  t.regex(failed.stderr, /refused: n3 failed/);
});

test('reinit of the primary: refused with the reason, exit 1, nothing recorded', async (t) => {
  const { backend, flags } = await served(t);
  const run = await ctl(t, ['--json', 'reinit', '--force', 'n1', ...flags]);
  t.is(run.code, 1);
  t.regex(run.stderr, /refused \(FAILED_PRECONDITION MEMBER_IS_LEADER\): .*n1 is the primary: reinit re-clones a replica/);
  t.like(JSON.parse(run.stdout), { error: { kind: 'refused', reason: 'MEMBER_IS_LEADER' } });
  t.is(backend.proposed.length, 0);
});

test('restart --scheduled: exit 0, pending for its time; restart --cancel withdraws it', async (t) => {
  const { backend, flags } = await served(t, null);
  const at = new Date(Date.now() + 3_600_000).toISOString();
  const run = await ctl(t, ['restart', '--force', 'n2', '--scheduled', at, ...flags]);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, new RegExp(`n2: restart pending for ${at.replace(/[.]/g, '\\.')}`));
  t.is(backend.machine.state.actions['n2']?.scheduledAtMs, Date.parse(at));
  const list = await ctl(t, ['list', ...flags]);
  t.regex(list.stdout, /Restart of n2 scheduled for .* pgherdctl restart --cancel n2 withdraws a pending one/);
  const cancelled = await ctl(t, ['restart', '--cancel', 'n2', ...flags]);
  t.is(cancelled.code, 0, cancelled.stderr);
  t.regex(cancelled.stdout, /n2: restart cancelled/);
  t.is(backend.machine.state.actions['n2']?.status, 'cancelled');
});
