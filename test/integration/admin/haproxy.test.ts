import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import pg from 'pg';
import { freePort } from '../../../scripts/lib/free-port.js';
import { untilValue } from '../../helpers/wait.js';
import { startAgentCluster, superuserPassword, untilHealthy } from '../agent/helpers.js';

/*
 * A real HAProxy (Debian's package) with the shipped example configuration
 * (examples/haproxy.cfg: health check GET /primary on the agents' HTTP
 * port, as Patroni users configure it) in front of three real agents:
 * writes through it reach the primary, and after a switchover the new one.
 */

const run = promisify(execFile);
const EXAMPLE = join(fileURLToPath(new URL('../../../', import.meta.url)), 'examples/haproxy.cfg');
const haproxy = await run('haproxy', ['-v']).then(() => true, () => false);
const haproxyTest = haproxy ? test.serial : test.serial.skip;
if (!haproxy) console.log('haproxy test skipped: haproxy is not installed (Debian: apt-get install -y haproxy)');

const BOOT_MS = 120_000;

haproxyTest('HAProxy with the example configuration routes writes to the primary, and to the new one after a switchover', async (t) => {
  const cluster = await startAgentCluster(t);
  const first = await untilHealthy(cluster, BOOT_MS);
  const password = await superuserPassword(cluster, first.primary);

  // The example, with this cluster's servers, free ports and quicker checks.
  const [primaryPort, replicaPort] = [await freePort(), await freePort()];
  const servers = cluster.nodes.map((n) => `    server ${n.name} ${n.host}:${n.pgPort} maxconn 100 check port ${n.httpPort}`).join('\n');
  const example = await readFile(EXAMPLE, 'utf8');
  const config = example
    .replace(/(?:    server n\d .*\n)+/g, `${servers}\n`)
    .replace('bind *:5000', `bind 127.0.0.1:${primaryPort}`)
    .replace('bind *:5001', `bind 127.0.0.1:${replicaPort}`)
    .replaceAll('inter 3s fall 3 rise 2', 'inter 300ms fall 2 rise 1');
  t.is((config.match(/check port/g) ?? []).length, 6, 'every server line of the example was replaced');
  const file = join(cluster.baseDir, 'haproxy.cfg');
  await writeFile(file, config);
  const proxy = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let proxyLog = '';
  proxy.stderr.on('data', (chunk: Buffer) => (proxyLog += chunk.toString()));
  t.teardown(() => {
    proxy.kill('SIGKILL');
  });

  const through = async (port: number): Promise<{ port: number; readOnly: boolean } | undefined> => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 2_000, query_timeout: 5_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const r = await client.query<{ port: number; ro: boolean }>('SELECT inet_server_port() AS port, pg_is_in_recovery() AS ro');
      return { port: r.rows[0]!.port, readOnly: r.rows[0]!.ro };
    } catch {
      return undefined;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  const routedTo = async (name: string): Promise<boolean> => {
    const answer = await untilValue(`HAProxy's primary port reaches ${name}`, 30_000, async () => {
      const seen = await through(primaryPort);
      return seen?.port === cluster.node(name).pgPort ? seen : undefined;
    }, 200);
    return !answer.readOnly;
  };

  t.true(await routedTo(first.primary), 'the primary port reaches the writable primary');
  const replica = await untilValue('the replica port reaches a replica', 30_000, async () => {
    const seen = await through(replicaPort);
    return seen?.readOnly === true ? seen : undefined;
  }, 200);
  t.true(first.replicas.map((n) => cluster.node(n).pgPort).includes(replica.port));

  const admin = await cluster.admin(first.replicas[0]);
  t.teardown(() => admin.close());
  const switched = await admin.switchover({ timeoutMs: 30_000 });
  t.is(switched.outcome, 'completed');
  t.true(await routedTo(switched.to!), 'after the switchover the primary port reaches the new primary, writable');
  t.log(proxyLog.split('\n').filter((l) => /is (UP|DOWN)/.test(l)).slice(-4).join('\n'));
});
