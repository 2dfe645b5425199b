import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { untilValue } from '../../helpers/wait.js';
import { startAgentCluster, untilHealthy } from '../agent/helpers.js';

/*
 * The pgherdctl commands session.test.ts and restart.test.ts do not run,
 * each as the real binary against three real agents: topology, show-config,
 * dsn, watch, pause and resume (and a refused repeat), reload, restart,
 * members add and remove (and a usage error), failover; and a switchover
 * to a member tagged nofailover refused with the reason. Exit codes and the
 * --json objects are what scripts rely on.
 */

const execute = promisify(execFile);
const PGHERDCTL = join(fileURLToPath(new URL('../../../', import.meta.url)), 'dist/src/cli/pgherdctl.js');
const BOOT_MS = 120_000;

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

test.serial('every other pgherdctl command against a running cluster', async (t) => {
  // n3 may never be promoted; if it initialized the database, it hands the primary over first.
  const cluster = await startAgentCluster(t, { perNode: (name) => (name === 'n3' ? { tags: { nofailover: true } } : {}) });
  let first = await untilHealthy(cluster, BOOT_MS);
  const config = cluster.node(first.replicas[0] ?? 'n1').configFile;
  const ctl = async (...args: string[]): Promise<Ran> => {
    try {
      const { stdout, stderr } = await execute(process.execPath, [PGHERDCTL, '-c', config, ...args], { timeout: 120_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  const json = <T>(ran: Ran, what: string): T => {
    t.is(ran.code, 0, `${what}: ${ran.stderr}${ran.stdout}`);
    return JSON.parse(ran.stdout) as T;
  };

  if (first.primary === 'n3') {
    t.is((await ctl('--json', 'switchover', '--force')).code, 0);
    first = await untilValue('a primary other than n3', 60_000, async () => {
      const healthy = await untilHealthy(cluster, 60_000);
      return healthy.primary !== 'n3' ? healthy : undefined;
    });
  }
  const nofailover = await ctl('--json', 'switchover', '--candidate', 'n3', '--force');
  t.is(nofailover.code, 1, 'a switchover to a nofailover member is refused');
  t.regex(nofailover.stdout, /NO_CANDIDATE/);
  t.regex(nofailover.stdout, /n3: NOFAILOVER/);

  const topology = await ctl('topology');
  t.is(topology.code, 0, topology.stderr);
  for (const node of cluster.nodes) t.true(topology.stdout.includes(node.name), `topology shows ${node.name}`);
  t.true(topology.stdout.indexOf(first.primary) < topology.stdout.indexOf(first.replicas[0]!), 'the primary is the root');

  const config_ = json<{ version: number; values: { ttl_ms: number } }>(await ctl('--json', 'show-config'), 'show-config');
  t.is(typeof config_.values.ttl_ms, 'number');

  const dsn = json<{ dsn: string; hosts: string[] }>(await ctl('--json', 'dsn'), 'dsn');
  t.regex(dsn.dsn, /target_session_attrs=read-write/);
  t.is(dsn.hosts.length, 3);

  // watch follows the changes; Ctrl-C ends it with exit 0.
  const watcher = spawn(process.execPath, [PGHERDCTL, '-c', config, '--json', 'watch', '--types', 'paused'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let watched = '';
  watcher.stdout.on('data', (chunk: Buffer) => (watched += chunk.toString()));
  const watchExit = new Promise<number | null>((resolve) => watcher.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (watcher.exitCode === null) watcher.kill('SIGKILL');
  });
  await new Promise((resolve) => setTimeout(resolve, 2_000));

  t.is((await ctl('--json', 'pause')).code, 0);
  const again = await ctl('--json', 'pause');
  t.is(again.code, 1, 'pausing a paused cluster is refused');
  t.regex(again.stdout, /ALREADY_PAUSED/);
  await untilValue('watch reports the pause', 20_000, async () => (watched.includes('"type":"paused"') ? true : undefined), 200);
  watcher.kill('SIGINT');
  t.is(await watchExit, 0, 'watch ends with exit 0 on Ctrl-C');
  t.is((await ctl('--json', 'resume')).code, 0);

  const reloaded = json<{ actions: { member: string; status: string }[] }>(await ctl('--json', 'reload'), 'reload');
  t.deepEqual(reloaded.actions.map((a) => a.status), ['done', 'done', 'done']);

  const replica = first.replicas.find((name) => name !== 'n3')!;
  const restarted = json<{ actions: { member: string; status: string }[] }>(await ctl('--json', 'restart', '--force', replica), 'restart');
  t.like(restarted.actions[0], { member: replica, status: 'done' });

  // members: a usage error changes nothing (exit 2); add a learner nobody runs, then remove it.
  t.is((await ctl('members', 'add', 'no such', '127.0.0.1:1')).code, 2);
  const added = json<{ raftRole: string }>(await ctl('--json', 'members', 'add', 'n9', '127.0.0.1:1'), 'members add');
  t.is(added.raftRole, 'learner');
  const removed = json<{ raftRole: string }>(await ctl('--json', 'members', 'remove', '--force', 'n9'), 'members remove');
  t.is(removed.raftRole, 'none');
  const refused = await ctl('--json', 'members', 'remove', '--force', first.primary);
  t.is(refused.code, 1, 'the primary cannot be removed');
  t.regex(refused.stdout, /MEMBER_IS_LEADER/);

  // failover to a named replica while the primary lives: handed over gracefully.
  await untilHealthy(cluster, 60_000);
  const failover = json<{ to: string }>(await ctl('--json', 'failover', '--candidate', replica, '--force'), 'failover');
  t.is(failover.to, replica);
  const after = await untilHealthy(cluster, 60_000);
  t.is(after.primary, replica);
});
