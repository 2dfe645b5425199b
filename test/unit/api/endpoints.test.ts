/**
 * The HTTP server on a free loopback port with fake sources: /history and
 * /config as pgherdctl prints them with --json, and /metrics in Prometheus
 * text whose values follow the sources at every scrape.
 */
import type { Server } from 'node:http';
import test, { type ExecutionContext } from 'ava';
import { freePort } from '../../../scripts/lib/free-port.js';
import { isWritablePrimary, startHttp, type HttpSources } from '../../../src/api/http.js';
import { AgentMetrics, type RaftView } from '../../../src/api/metrics.js';
import { applyCommand } from '../../../src/cluster/apply.js';
import type { ClusterState } from '../../../src/cluster/state.js';
import type { HaStatus } from '../../../src/ha/loop.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { cmd, runningCluster, T0_MS } from '../cluster/helpers.js';

/** Sources a test changes between scrapes. */
interface Fake {
  state: ClusterState;
  status: HaStatus;
  raft: RaftView;
}

const PRIMARY: HaStatus = { role: 'primary', state: 'running', timeline: 1, lsn: '0/3000000', lastAction: 'renew', lastReason: 'HOLDS_LEASE', leaseRemainingMs: 2_500, refused: null };

async function serve(t: ExecutionContext, self = 'n1') {
  const fake: Fake = { state: runningCluster(), status: PRIMARY, raft: { leaderId: 'n2', role: 'follower', term: 4, commit: 120, applied: 118 } };
  const base = { self, status: () => fake.status, state: () => fake.state, sinceLastLoopMs: () => 100, raft: () => fake.raft };
  const metrics = new AgentMetrics({ ...base, isWritablePrimary: () => isWritablePrimary(base) });
  const sources: HttpSources = { ...base, metrics };
  const { server, address } = await startHttp(`127.0.0.1:${await freePort()}`, sources, silentLogger);
  t.teardown(() => close(server));
  const get = async (path: string, method = 'GET') => {
    const response = await fetch(`http://${address}${path}`, { method });
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  };
  return { fake, metrics, get };
}


function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function apply(state: ClusterState, input: Parameters<typeof cmd>[0]): ClusterState {
  const outcome = applyCommand(state, cmd(input));
  if (!outcome.result.ok) throw new Error(`${input.type} refused: ${outcome.result.code}`);
  return outcome.state;
}

/** The samples of the Prometheus text: `name{labels}` → value (NaN would fail the equality checks). */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    map.set(match[1]!, Number(match[2]));
  }
  return map;
}

test('/history and /config: JSON as pgherdctl history --json and show-config --json print them', async (t) => {
  const { fake, get } = await serve(t);
  t.deepEqual(JSON.parse((await get('/history')).text), { entries: [] });
  fake.state = apply(apply(fake.state, { type: 'patchConfig', atMs: T0_MS + 5, expectedVersion: 0, patch: { ttl_ms: 6000 } }), {
    type: 'promote',
    atMs: T0_MS + 61_000,
    candidate: 'n2',
    expectedEpoch: 1,
    timeline: 2,
    reason: 'switchover',
    kind: 'switchover',
    switchLsn: '0/3000100',
  });
  const history = await get('/history');
  t.is(history.status, 200);
  t.is(history.type, 'application/json');
  t.deepEqual(JSON.parse(history.text), { entries: [{ timeline: 2, switchLsn: '0/3000100', at: new Date(T0_MS + 61_000).toISOString(), kind: 'switchover', from: 'n1', to: 'n2', reason: 'switchover' }] });
  const config = JSON.parse((await get('/config')).text);
  t.deepEqual(Object.keys(config), ['version', 'values']);
  t.like(config, { version: 1, values: { ttl_ms: 6000, loop_wait_ms: 1000, postgresql_parameters: {} } });
  t.is((await get('/config', 'HEAD')).text, '');
  t.is((await get('/config', 'OPTIONS')).status, 200);
  t.is((await get('/config', 'POST')).status, 405);
});

test('/metrics: Prometheus text whose values follow the sources at every scrape', async (t) => {
  const { fake, get } = await serve(t);
  const first = await get('/metrics');
  t.is(first.status, 200);
  t.regex(first.type ?? '', /^text\/plain; version=0\.0\.4/);
  t.regex(first.text, /# TYPE pgherd_failovers_total counter\n/);
  t.regex(first.text, /# TYPE pgherd_ha_loop_duration_seconds histogram\n/);
  const before = samples(first.text);
  t.is(before.get('pgherd_role{role="primary"}'), 1);
  t.is(before.get('pgherd_role{role="replica"}'), 0);
  t.is(before.get('pgherd_writable_primary'), 1);
  t.is(before.get('pgherd_timeline'), 1);
  t.is(before.get('pgherd_lease_remaining_seconds'), 2.5);
  t.false(before.has('pgherd_replication_lag_bytes'), 'n1 never reported a lag: no sample');
  t.is(before.get('pgherd_raft_term'), 4);
  t.is(before.get('pgherd_raft_commit_index'), 120);
  t.is(before.get('pgherd_raft_applied_index'), 118);
  t.is(before.get('pgherd_raft_is_leader'), 0);
  t.is(before.get('pgherd_raft_leader{member="n2"}'), 1);
  t.is(before.get('pgherd_failovers_total{kind="failover"}'), 0);
  t.is(before.get('pgherd_paused'), 0);
  t.is(before.get('pgherd_config_version'), 0);

  // n1 is demoted and replicates with a lag; a failover and a pause are recorded; Raft elects n1 in term 5.
  fake.status = { ...PRIMARY, role: 'replica', state: 'streaming', timeline: 2, leaseRemainingMs: null };
  fake.state = apply(fake.state, { type: 'promote', atMs: T0_MS + 70_000, candidate: 'n3', expectedEpoch: 1, timeline: 2, reason: 'LEASE_EXPIRED', kind: 'failover', switchLsn: '0/3000200' });
  fake.state = apply(fake.state, { type: 'updateMemberStatus', atMs: T0_MS + 71_000, member: 'n1', role: 'replica', state: 'streaming', timeline: 2, receiveLsn: '0/3000300', replayLsn: '0/3000300', flushLsn: null, lagBytes: 4096 });
  fake.state = apply(fake.state, { type: 'setPause', atMs: T0_MS + 72_000, paused: true, by: 'bob' });
  fake.raft = { leaderId: 'n1', role: 'leader', term: 5, commit: 130, applied: 130 };
  const after = samples((await get('/metrics')).text);
  t.is(after.get('pgherd_role{role="primary"}'), 0);
  t.is(after.get('pgherd_role{role="replica"}'), 1);
  t.is(after.get('pgherd_writable_primary'), 0);
  t.is(after.get('pgherd_timeline'), 2);
  t.false(after.has('pgherd_lease_remaining_seconds'), 'a replica holds no lease: no sample');
  t.is(after.get('pgherd_replication_lag_bytes'), 4096);
  t.is(after.get('pgherd_raft_term'), 5);
  t.is(after.get('pgherd_raft_is_leader'), 1);
  t.is(after.get('pgherd_raft_leader{member="n1"}'), 1);
  t.false(after.has('pgherd_raft_leader{member="n2"}'), 'the old leader is gone');
  t.is(after.get('pgherd_failovers_total{kind="failover"}'), 1);
  t.is(after.get('pgherd_failovers_total{kind="switchover"}'), 0);
  t.is(after.get('pgherd_paused'), 1);

  fake.raft = { leaderId: '', role: 'candidate', term: 6, commit: 130, applied: 130 };
  const election = samples((await get('/metrics')).text);
  t.false([...election.keys()].some((key) => key.startsWith('pgherd_raft_leader{')), 'no leader known: no sample');
  t.is((await get('/metrics', 'HEAD')).text, '');
});

test('/metrics: the HA loop durations as a histogram in seconds; each agent its own registry', async (t) => {
  const one = await serve(t, 'n1');
  const two = await serve(t, 'n2');
  for (const ms of [3, 40, 1_500]) one.metrics.observeHaLoop(ms);
  const a = samples((await one.get('/metrics')).text);
  t.is(a.get('pgherd_ha_loop_duration_seconds_count'), 3);
  t.is(a.get('pgherd_ha_loop_duration_seconds_sum'), 1.543);
  t.is(a.get('pgherd_ha_loop_duration_seconds_bucket{le="0.005"}'), 1);
  t.is(a.get('pgherd_ha_loop_duration_seconds_bucket{le="0.05"}'), 2);
  t.is(a.get('pgherd_ha_loop_duration_seconds_bucket{le="2.5"}'), 3);
  t.is(a.get('pgherd_ha_loop_duration_seconds_bucket{le="+Inf"}'), 3);
  const b = samples((await two.get('/metrics')).text);
  t.is(b.get('pgherd_ha_loop_duration_seconds_count'), 0, "the other agent's registry saw none");
  t.is(b.get('pgherd_writable_primary'), 0, 'n2 does not hold the leader key');
});
