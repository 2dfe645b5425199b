import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { untilValue } from '../../helpers/wait.js';
import { startAgentCluster, untilHealthy } from '../agent/helpers.js';

/*
 * The admin issue's scripted session, as a new user runs it, with the real
 * pgherdctl binary against three real agents: list, switchover --force,
 * list again, the health endpoints, edit-config, history.
 */

const run = promisify(execFile);
const PGHERDCTL = join(fileURLToPath(new URL('../../../', import.meta.url)), 'dist/src/cli/pgherdctl.js');
const BOOT_MS = 120_000;

test.serial('a session: list, switchover --force, list, /primary on exactly one node, edit-config on every member, history', async (t) => {
  const cluster = await startAgentCluster(t);
  const first = await untilHealthy(cluster, BOOT_MS);
  const ctl = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await run(process.execPath, [PGHERDCTL, '-c', cluster.node(first.replicas[0]!).configFile, ...args], { timeout: 90_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };

  const listed = await ctl('list');
  t.is(listed.code, 0, listed.stderr);
  for (const node of cluster.nodes) t.true(listed.stdout.includes(node.name), `list shows ${node.name}`);
  t.regex(listed.stdout, new RegExp(`${first.primary}.*(primary|Leader)`, 'i'));

  const switched = await ctl('switchover', '--force', '--json');
  t.is(switched.code, 0, switched.stderr);
  const outcome = JSON.parse(switched.stdout) as { outcome: string; to: string };
  t.is(outcome.outcome, 'completed');
  t.not(outcome.to, first.primary);

  const after = await ctl('list', '--json');
  t.is(after.code, 0, after.stderr);
  t.true(after.stdout.includes(outcome.to));
  const healed = await untilHealthy(cluster, BOOT_MS);
  t.is(healed.primary, outcome.to, 'list and the agents agree on the new primary');

  const statuses = await Promise.all(cluster.nodes.map(async (n) => [n.name, (await fetch(`http://${n.host}:${n.httpPort}/primary`)).status] as const));
  t.deepEqual(statuses.filter(([, status]) => status === 200).map(([name]) => name), [outcome.to], '/primary is 200 on exactly one node');
  t.deepEqual(statuses.filter(([, status]) => status === 503).length, 2, 'and 503 on the others');

  const edited = await ctl('edit-config', '-s', 'ttl=6000', '--force');
  t.is(edited.code, 0, edited.stderr);
  const everywhere = await untilValue('every member applied ttl_ms 6000', 20_000, async () => {
    const values = await Promise.all(cluster.nodes.map(async (n) => ((await (await fetch(`http://${n.host}:${n.httpPort}/config`)).json()) as { values: { ttl_ms: number } }).values.ttl_ms));
    return values.every((v) => v === 6000) ? values : undefined;
  }, 250);
  t.is(everywhere.length, 3);

  const history = await ctl('history', '--json');
  t.is(history.code, 0, history.stderr);
  const entries = (JSON.parse(history.stdout) as { entries: { kind: string; from: string | null; to: string }[] }).entries;
  t.like(entries.at(-1), { kind: 'switchover', from: first.primary, to: outcome.to });
});
