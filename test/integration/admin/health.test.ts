import test from 'ava';
import { AdminClient } from '../../../src/admin/client.js';
import { configTarget } from '../../../src/cli/ctl/target.js';
import { generateToken, tokenSha256 } from '../../../src/tls/admin-tokens.js';
import { untilValue } from '../../helpers/wait.js';
import { startAgentCluster, superuserPassword, tryQuery, untilHealthy, untilSyncStandby } from '../agent/helpers.js';
import { getJson, nodeBody, probe, statusMismatches, type HealthRole } from './health-probe.js';

/*
 * Every HTTP health endpoint of three real agents with PostgreSQL
 * (synchronous_mode on, so one replica is the synchronous standby and one
 * is asynchronous), with the exact status Patroni's semantics give it, by
 * GET, HEAD and OPTIONS: on a healthy cluster; paused (the codes stay, the
 * body and /metrics say paused); and with one replica lagging — its WAL
 * receiver stopped while the primary writes — where /replica?lag= turns 503
 * on it only for a limit below its lag, and back to 200 once it caught up.
 * The pause is asked with a bearer token of the agents' admin.tokens (no
 * client certificate), and recorded with the token's name.
 */

const BOOT_MS = 120_000;
/** /replica?lag= limits: below the lag made here, and far above any. */
const SMALL_LAG_BYTES = 1024 * 1024;
const LARGE_LAG_BYTES = 10 * 1024 * 1024 * 1024;

test.serial('health endpoints answer with Patroni\'s status codes on the primary, the sync and the async replica; paused; lagging', async (t) => {
  const token = generateToken();
  const cluster = await startAgentCluster(t, { dynamic: { synchronous_mode: 'on' }, perNode: () => ({ admin: { tokens: [`ops:${tokenSha256(token)}`] } }) });
  const healthy = await untilHealthy(cluster, BOOT_MS);
  const sync = await untilSyncStandby(cluster);
  const async = healthy.replicas.find((name) => name !== sync)!;
  const primary = healthy.primary;
  const roles: Record<string, HealthRole> = { [primary]: 'primary', [sync]: 'sync', [async]: 'async' };
  t.log(`primary ${primary}, sync ${sync}, async ${async}`);

  // 1. Healthy.
  t.deepEqual(await statusMismatches(cluster, roles), [], 'healthy cluster');
  for (const name of Object.keys(roles)) {
    t.is((await probe(cluster, name, 'GET', '/nowhere')).status, 404, `unknown path on ${name}`);
    t.is((await probe(cluster, name, 'POST', '/primary')).status, 405, `POST on ${name}`);
    t.is((await probe(cluster, name, 'GET', '/replica?lag=soon')).status, 400, `a lag that is not a number on ${name}`);
  }
  t.like(await nodeBody(cluster, primary), { name: primary, role: 'primary', isPrimary: true, paused: false, lagBytes: 0 });
  t.like(await nodeBody(cluster, sync), { name: sync, role: 'replica', state: 'streaming', isPrimary: false, sync: true });
  t.like(await nodeBody(cluster, async), { name: async, role: 'replica', state: 'streaming', isPrimary: false, sync: false });
  const clusterView = await getJson(cluster, async, '/cluster');
  t.like(clusterView.body, { self: async });
  t.is(((clusterView.body['state'] as { leader: { member: string } }).leader).member, primary);
  t.is(JSON.stringify(clusterView.body).includes('"credentials":"(redacted)"'), true, 'passwords are redacted');
  t.like((await getJson(cluster, sync, '/config')).body, { values: { synchronous_mode: 'on' } });
  t.true(Array.isArray((await getJson(cluster, sync, '/history')).body['entries']));
  const metrics = await probe(cluster, primary, 'GET', '/metrics');
  t.regex(metrics.contentType, /^text\/plain/);
  t.regex(metrics.text, /^pgherd_paused 0$/m);

  // 2. Paused: no status changes (load balancers keep routing); every body and /metrics say so.
  // With the token and the cluster CA only: what an operator without a certificate uses.
  const { endpoints, caFile } = configTarget(cluster.node(sync).configFile, {}).connect;
  const admin = await AdminClient.connect({ endpoints: endpoints!, caFile: caFile!, token });
  t.teardown(() => admin.close());
  t.is((await admin.pause({ by: 'health-test' })).by, 'health-test (token ops)');
  for (const name of Object.keys(roles)) {
    await untilValue(`${name} sees the pause`, 10_000, async () => ((await nodeBody(cluster, name))['paused'] === true ? true : undefined), 200);
  }
  t.deepEqual(await statusMismatches(cluster, roles), [], 'paused cluster');
  t.regex((await probe(cluster, async, 'GET', '/metrics')).text, /^pgherd_paused 1$/m);
  t.like(((await getJson(cluster, sync, '/cluster')).body['state'] as Record<string, unknown>)['pause'], { paused: true, by: 'health-test (token ops)' });
  t.like(await nodeBody(cluster, primary), { paused: true, isPrimary: true });
  await admin.resume();
  for (const name of Object.keys(roles)) {
    await untilValue(`${name} sees the resume`, 10_000, async () => ((await nodeBody(cluster, name))['paused'] === false ? true : undefined), 200);
  }

  // 3. The async replica lags: its WAL receiver stopped (the lag a replica reports is of WAL received, as in Patroni) while the primary writes.
  t.is((await probe(cluster, async, 'GET', `/replica?lag=${SMALL_LAG_BYTES}`)).status, 200, 'not lagging yet');
  const password = await superuserPassword(cluster, primary);
  const receiver = await tryQuery(cluster, async, password, 'SELECT pid FROM pg_stat_wal_receiver');
  if (receiver instanceof Error) throw receiver;
  const receiverPid = receiver.rows[0]?.['pid'] as number;
  t.true(Number.isInteger(receiverPid), 'the async replica has a WAL receiver');
  process.kill(receiverPid, 'SIGSTOP');
  let stopped = true;
  const resumeReceiver = (): void => {
    if (!stopped) return;
    stopped = false;
    try {
      process.kill(receiverPid, 'SIGCONT');
    } catch {
      // gone with its cluster
    }
  };
  t.teardown(resumeReceiver);
  const wrote = await tryQuery(cluster, primary, password, "CREATE TABLE filler AS SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 6000) g");
  t.false(wrote instanceof Error, String(wrote));
  const lag = await untilValue(`${async} reports a lag above ${2 * SMALL_LAG_BYTES} bytes`, 30_000, async () => {
    const lagBytes = (await nodeBody(cluster, async))['lagBytes'];
    return typeof lagBytes === 'number' && lagBytes > 2 * SMALL_LAG_BYTES ? lagBytes : undefined;
  }, 250);
  t.log(`${async} lags ${lag} bytes`);
  // The synchronous standby has the write (its commit waited for it); its report may trail the primary's by a loop.
  await untilValue(`${sync} reports catching up with the write`, 15_000, async () => {
    const lagBytes = (await nodeBody(cluster, sync))['lagBytes'];
    return typeof lagBytes === 'number' && lagBytes <= SMALL_LAG_BYTES ? true : undefined;
  }, 250);
  for (const method of ['GET', 'HEAD', 'OPTIONS']) {
    t.is((await probe(cluster, async, method, `/replica?lag=${SMALL_LAG_BYTES}`)).status, 503, `${method} /replica?lag=small on the lagging replica`);
    t.is((await probe(cluster, sync, method, `/replica?lag=${SMALL_LAG_BYTES}`)).status, 200, `${method} /replica?lag=small on the other replica`);
    t.is((await probe(cluster, async, method, `/replica?lag=${LARGE_LAG_BYTES}`)).status, 200, `${method} /replica?lag=large on the lagging replica`);
    t.is((await probe(cluster, primary, method, `/replica?lag=${LARGE_LAG_BYTES}`)).status, 503, `${method} /replica?lag=large on the primary`);
  }
  t.is((await probe(cluster, async, 'GET', '/replica')).status, 200, 'without ?lag= a lagging replica is still a replica');
  t.is((await probe(cluster, async, 'GET', '/read-only')).status, 200);

  // 4. Caught up again.
  resumeReceiver();
  await untilValue(`${async} catches up`, 30_000, async () => ((await probe(cluster, async, 'GET', `/replica?lag=${SMALL_LAG_BYTES}`)).status === 200 ? true : undefined), 250);
  t.deepEqual(await statusMismatches(cluster, roles), [], 'after catching up');
});
