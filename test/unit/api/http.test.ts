import test from 'ava';
import { route, redactedState, type HttpSources } from '../../../src/api/http.js';
import { parseDynamicConfig } from '../../../src/config/dynamic.js';
import { DEFAULT_TAGS, initialClusterState, type ClusterState } from '../../../src/cluster/state.js';
import type { HaStatus } from '../../../src/ha/loop.js';
import { TEST_CREDENTIALS } from '../cluster/helpers.js';

const registration = (name: string, tags = DEFAULT_TAGS) => ({ raftAddress: `${name}:7400`, postgresHost: name, postgresPort: 5432, httpAddress: `${name}:8008`, tags, registeredAtMs: 1 });

function state(): ClusterState {
  return {
    ...initialClusterState(),
    config: { version: 1, values: parseDynamicConfig({}) },
    members: {
      n1: { registration: registration('n1'), status: null },
      n2: { registration: registration('n2'), status: { role: 'replica', state: 'streaming', timeline: 1, receiveLsn: '0/1', replayLsn: '0/1', flushLsn: '0/1', lagBytes: 2048, archive: null, reportedAtMs: 1 } },
      n3: { registration: registration('n3', { ...DEFAULT_TAGS, noloadbalance: true }), status: null },
    },
    initialize: { member: 'n1', claimedAtMs: 1, systemIdentifier: '7300000000000000001', doneAtMs: 2, credentials: TEST_CREDENTIALS, restoredFrom: null },
    epoch: 1,
    leader: { member: 'n1', epoch: 1, timeline: 1, sinceMs: 1, lastRenewal: { atMs: 1, seq: 1 } },
    sync: { members: ['n2'], epoch: 1 },
  };
}

function sources(self: string, status: Partial<HaStatus>): HttpSources {
  const full: HaStatus = { role: 'replica', state: 'streaming', timeline: 1, lsn: '0/1', lastAction: 'none', lastReason: 'REPLICA', leaseRemainingMs: null, refused: null, ...status };
  const raft = { leaderId: 'n2', role: 'follower' as const, term: 4, commit: 10, applied: 10 };
  return { self, status: () => full, state, sinceLastLoopMs: () => 100, raft: () => raft, metrics: { contentType: 'text/plain', render: async () => '' } };
}

const codes = (s: HttpSources, paths: string[]) => Object.fromEntries(paths.map((p) => [p, route(s, p.split('?')[0]!, new URLSearchParams(p.split('?')[1] ?? '')).status]));
const PATHS = ['/', '/primary', '/read-write', '/replica', '/read-only', '/sync', '/async', '/health', '/readiness', '/liveness'];

test('the primary with a valid lease: 200 on the primary paths, 503 on the replica ones', (t) => {
  const primary = sources('n1', { role: 'primary', state: 'running', leaseRemainingMs: 2500 });
  t.deepEqual(codes(primary, PATHS), { '/': 200, '/primary': 200, '/read-write': 200, '/replica': 503, '/read-only': 200, '/sync': 503, '/async': 503, '/health': 200, '/readiness': 200, '/liveness': 200 });
  t.is(route(sources('n1', { role: 'primary', leaseRemainingMs: 0 }), '/primary', new URLSearchParams()).status, 503, 'no valid lease: not a writable primary');
});

test('replicas: sync vs async, the lag limit, noloadbalance', (t) => {
  const n2 = sources('n2', {});
  t.deepEqual(codes(n2, [...PATHS, '/replica?lag=4096', '/replica?lag=1024']), {
    '/': 503, '/primary': 503, '/read-write': 503, '/replica': 200, '/read-only': 200, '/sync': 200, '/async': 503, '/health': 200, '/readiness': 200, '/liveness': 200,
    '/replica?lag=4096': 200, '/replica?lag=1024': 503,
  });
  t.is(route(n2, '/replica', new URLSearchParams('lag=abc')).status, 400);
  const n3 = sources('n3', {});
  t.is(route(n3, '/replica', new URLSearchParams()).status, 503, 'noloadbalance');
  t.is(route(n3, '/async', new URLSearchParams()).status, 200);
  t.is(route(sources('n2', { role: 'stopped', state: 'stopped' }), '/health', new URLSearchParams()).status, 503);
  t.is(route({ ...n2, sinceLastLoopMs: () => 60_000 }, '/liveness', new URLSearchParams()).status, 503, 'a stuck HA loop fails liveness');
});

test('/cluster shows the state without the passwords; unknown paths are 404', (t) => {
  const answer = route(sources('n2', {}), '/cluster', new URLSearchParams());
  t.is(answer.status, 200);
  const text = JSON.stringify(answer.body);
  t.false(text.includes(TEST_CREDENTIALS.superuserPassword));
  t.false(text.includes(TEST_CREDENTIALS.replicationPassword));
  t.regex(text, /"credentials":"\(redacted\)"/);
  t.regex(text, /"raftLeader":"n2"/);
  t.deepEqual((redactedState(state()) as ClusterState).members, state().members);
  t.is(route(sources('n2', {}), '/nope', new URLSearchParams()).status, 404);
});
