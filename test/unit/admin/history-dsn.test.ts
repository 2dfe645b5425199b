/**
 * History and Dsn over real gRPC with mutual TLS, against the real cluster
 * state machine.
 */
import test, { type ExecutionContext } from 'ava';
import { quote } from '../../../src/admin/dsn.js';
import { AdminCallError } from '../../../src/admin/errors.js';
import { initialClusterState } from '../../../src/cluster/state.js';
import { runningCluster, T0_MS } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { connectClient, handOver, MemoryBackend, serveAdmin } from './helpers.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

async function setup(t: ExecutionContext, backend = new MemoryBackend(runningCluster())) {
  const server = await serveAdmin(t, pki, backend);
  const client = await connectClient(t, pki, server.address);
  return { backend, server, client };
}

test('History: empty before any failover; then each timeline switch, oldest first, with kind, from, to, where and why', async (t) => {
  const { backend, client } = await setup(t);
  t.deepEqual((await client.history()).entries, [], 'the first primary is no timeline switch');
  handOver(backend, 'n2');
  backend.apply({ type: 'promote', atMs: T0_MS + 70_000, candidate: 'n3', expectedEpoch: 2, timeline: 3, reason: 'LEASE_EXPIRED', kind: 'failover', switchLsn: '0/40000A0', expectedRenewalSeq: null });
  const history = await client.history();
  t.deepEqual(history.entries, [
    { timeline: 2, switchLsn: '0/3000100', at: new Date(T0_MS + 61_000).toISOString(), kind: 'switchover', from: 'n1', to: 'n2', reason: 'switchover' },
    { timeline: 3, switchLsn: '0/40000A0', at: new Date(T0_MS + 70_000).toISOString(), kind: 'failover', from: 'n2', to: 'n3', reason: 'LEASE_EXPIRED' },
  ]);
});

test('Dsn: every member in one libpq string; primary first for read-write, replicas (not noloadbalance) for standby, all for any', async (t) => {
  const { backend, client } = await setup(t);
  const primary = await client.dsn();
  t.is(primary.dsn, 'host=n1,n2,n3 port=5432,5432,5432 dbname=postgres target_session_attrs=read-write connect_timeout=5');
  t.deepEqual(primary, { role: 'primary', dsn: primary.dsn, hosts: ['n1:5432', 'n2:5432', 'n3:5432'], targetSessionAttrs: 'read-write' });

  handOver(backend, 'n3');
  backend.apply({ type: 'registerMember', atMs: T0_MS + 63_000, member: 'n2', raftAddress: 'n2:7400', postgresHost: '10.0.0.2', postgresPort: 5433, httpAddress: 'n2:8008', tags: { noloadbalance: true } });
  backend.apply({ type: 'registerMember', atMs: T0_MS + 63_001, member: 'n4', raftAddress: 'n4:7400', postgresHost: 'fd00::4', postgresPort: 5432, httpAddress: 'n4:8008' });
  t.deepEqual((await client.dsn({ role: 'primary' })).hosts, ['n3:5432', 'n1:5432', '10.0.0.2:5433', '[fd00::4]:5432'], 'the new primary first');
  const replica = await client.dsn({ role: 'replica', dbname: 'app', user: 'reader' });
  t.is(replica.dsn, 'host=n1,fd00::4,n3 port=5432,5432,5432 dbname=app user=reader target_session_attrs=standby connect_timeout=5');
  t.deepEqual(replica.hosts, ['n1:5432', '[fd00::4]:5432', 'n3:5432'], 'no noloadbalance member; the primary last');
  const any = await client.dsn({ role: 'any', user: "o'brien app" });
  t.is(any.dsn, "host=n1,10.0.0.2,n3,fd00::4 port=5432,5433,5432,5432 dbname=postgres user='o\\'brien app' target_session_attrs=any connect_timeout=5");
});

test('Dsn refusals: a bad name is INVALID_ARGUMENT naming the field; no member to connect to is FAILED_PRECONDITION', async (t) => {
  const { client } = await setup(t);
  const bad = await t.throwsAsync(client.dsn({ dbname: 'a\nb' }), { instanceOf: AdminCallError });
  t.like(bad, { status: 'INVALID_ARGUMENT', reason: 'INVALID_FIELD' });
  t.regex(bad.details, /^dbname: expected a PostgreSQL name/);
  const long = await t.throwsAsync(client.dsn({ user: 'u'.repeat(64) }), { instanceOf: AdminCallError });
  t.regex(long.details, /^user: expected a PostgreSQL name of at most 63 bytes/);

  const empty = await setup(t, new MemoryBackend(initialClusterState()));
  const none = await t.throwsAsync(empty.client.dsn({ role: 'replica' }), { instanceOf: AdminCallError });
  t.like(none, { status: 'FAILED_PRECONDITION', reason: 'NO_HOSTS' });
  t.regex(none.details, /no connection string for role replica/);
});

test('libpq values are quoted only when they must be', (t) => {
  t.is(quote('postgres'), 'postgres');
  t.is(quote(''), "''");
  t.is(quote('a b'), "'a b'");
  t.is(quote("it's"), "'it\\'s'");
  t.is(quote('back\\slash'), "'back\\\\slash'");
});
