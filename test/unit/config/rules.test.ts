import test from 'ava';
import { otherPeers } from '../../../src/config/rules.js';
import { load, loadError, withMinimal } from './helpers.js';

const THREE = ['n1@10.0.0.1:7400', 'n2@10.0.0.2:7400', 'n3@10.0.0.3:7400'];

test('raft.advertise is required while raft.bind is a wildcard, and must not be one itself', (t) => {
  t.is(
    loadError(t, withMinimal({ raft: { advertise: undefined } })),
    'raft.advertise: is required when raft.bind (0.0.0.0:7400) is a wildcard address: set the host:port (e.g. 10.0.0.1:7400, db1.example.com:7400 or [fd00::1]:7400) other members use to reach this node',
  );
  t.regex(loadError(t, withMinimal({ raft: { bind: '[::]:7400', advertise: undefined } })), /^raft\.advertise: is required when raft\.bind \(\[::\]:7400\)/);
  t.is(loadError(t, withMinimal({ raft: { advertise: '0.0.0.0:7400' } })), 'raft.advertise: must be an address other members can connect to, not the wildcard 0.0.0.0:7400');
});

test('postgresql.connect_address is required while postgresql.listen is a wildcard or a list', (t) => {
  t.regex(loadError(t, withMinimal({ postgresql: { connect_address: undefined } })), /^postgresql\.connect_address: is required when postgresql\.listen \(0\.0\.0\.0\) is a wildcard or a list: set the host:port \(e\.g\. 10\.0\.0\.1:5432\)/);
  t.regex(loadError(t, withMinimal({ postgresql: { listen: '10.0.0.1,127.0.0.1', connect_address: undefined } })), /^postgresql\.connect_address: is required/);
  t.regex(loadError(t, withMinimal({ postgresql: { listen: '*', connect_address: undefined } })), /^postgresql\.connect_address: is required/);
  t.is(loadError(t, withMinimal({ postgresql: { connect_address: '[::]:5432' } })), 'postgresql.connect_address: must be an address replicas can connect to, not the wildcard [::]:5432');
});

test('raft.heartbeat_ticks must be less than raft.election_ticks', (t) => {
  t.is(loadError(t, withMinimal({ raft: { heartbeat_ticks: 10 } })), 'raft.heartbeat_ticks: must be less than raft.election_ticks (10), got 10');
  t.is(load(t, withMinimal({ raft: { heartbeat_ticks: 9 } })).raft.heartbeat_ticks, 9);
});

test('raft.replace_unreachable_after_ms must outlast the longest election timeout', (t) => {
  t.regex(
    loadError(t, withMinimal({ raft: { tick_ms: 1000, election_ticks: 10, replace_unreachable_after_ms: 20_000 } })),
    /^raft\.replace_unreachable_after_ms: must be greater than the longest election timeout \(2 \* raft\.election_ticks \* raft\.tick_ms = 20000\), got 20000/,
  );
  t.is(load(t, withMinimal({ raft: { tick_ms: 1000, replace_unreachable_after_ms: 20_001 } })).raft.replace_unreachable_after_ms, 20_001);
});

test('raft.peers may list this node at its advertised address; the others are the other peers', (t) => {
  const config = load(t, withMinimal({ raft: { peers: THREE, bootstrap_expect: 3 } }));
  t.deepEqual(otherPeers(config).map((p) => p.name), ['n2', 'n3']);
});

test('this node listed in raft.peers at another address is rejected', (t) => {
  t.is(
    loadError(t, withMinimal({ raft: { peers: ['n1@10.0.0.9:7400', 'n2@10.0.0.2:7400'] } })),
    'raft.peers.0.address: this node (n1) is listed at 10.0.0.9:7400 but raft.advertise is 10.0.0.1:7400; the two must agree',
  );
  t.is(
    loadError(t, withMinimal({ raft: { peers: ['n2@10.0.0.1:7400'] } })),
    "raft.peers.0.name: n2 is listed at this node's raft.advertise address 10.0.0.1:7400, but this node is n1",
  );
});

test('raft.peers names and addresses are unique', (t) => {
  t.is(
    loadError(t, withMinimal({ raft: { peers: ['n2@10.0.0.2:7400', 'n2@10.0.0.3:7400'] } })),
    'raft.peers.1.name: n2 is listed twice (also raft.peers.0); member names must be unique',
  );
  t.is(
    loadError(t, withMinimal({ raft: { peers: ['n2@10.0.0.2:7400', { name: 'n3', address: '10.0.0.2:7400' }] } })),
    'raft.peers.1.address: 10.0.0.2:7400 is listed twice (also raft.peers.0); each member needs its own address',
  );
});

test('raft.bootstrap_expect cannot exceed this node plus the other static peers', (t) => {
  t.is(
    loadError(t, withMinimal({ raft: { peers: THREE.slice(0, 2), bootstrap_expect: 3 } })),
    'raft.bootstrap_expect: is 3 but only 2 member(s) are known (this node + 1 other raft.peers): a fresh cluster could never form; list at least 2 other members in raft.peers as "name@host:port", or set bootstrap_expect: 1 for a single-node cluster',
  );
  t.is(load(t, withMinimal({ raft: { peers: THREE.slice(1), bootstrap_expect: 3 } })).raft.bootstrap_expect, 3);
});

test('ports: raft, http and PostgreSQL cannot share a port on overlapping hosts', (t) => {
  t.is(loadError(t, withMinimal({ http: { listen: '127.0.0.1:7400' } })), 'http.listen: 127.0.0.1:7400 uses the same port as raft.bind (0.0.0.0:7400)');
  t.is(loadError(t, withMinimal({ postgresql: { port: 8008 } })), 'postgresql.port: 8008 is also the port of http.listen (0.0.0.0:8008)');
  t.is(loadError(t, withMinimal({ postgresql: { port: 7400 } })), 'postgresql.port: 7400 is also the port of raft.bind (0.0.0.0:7400)');
  const separate = load(t, withMinimal({ raft: { bind: '10.0.0.1:7400', advertise: undefined }, http: { listen: '10.0.0.2:7400' } }));
  t.is(separate.http.listen, '10.0.0.2:7400');
});

test('postgresql.socket_dir must be outside PGDATA', (t) => {
  t.is(
    loadError(t, withMinimal({ postgresql: { socket_dir: '/var/lib/pgherd/pgdata/run' } })),
    'postgresql.socket_dir: /var/lib/pgherd/pgdata/run must be outside postgresql.data_dir (/var/lib/pgherd/pgdata): pg_basebackup would copy the socket lock file and the replica would refuse to start',
  );
  t.regex(loadError(t, withMinimal({ postgresql: { data_dir: '/srv/pg', socket_dir: '/srv/pg' } })), /^postgresql\.socket_dir: \/srv\/pg must be outside/);
  t.is(load(t, withMinimal({ postgresql: { data_dir: '/srv/pg', socket_dir: '/srv/pg-run' } })).postgresql.socket_dir, '/srv/pg-run');
});

test('PGDATA must be separate from the Raft log', (t) => {
  t.regex(loadError(t, withMinimal({ postgresql: { data_dir: '/var/lib/pgherd' } })), /^postgresql\.data_dir: \/var\/lib\/pgherd must be separate from the Raft log \(\/var\/lib\/pgherd\/raft\)/);
  t.regex(loadError(t, withMinimal({ postgresql: { data_dir: '/var/lib/pgherd/raft/pg' } })), /^postgresql\.data_dir: /);
  t.regex(loadError(t, withMinimal({ data_dir: '/srv/pg/agent', postgresql: { data_dir: '/srv/pg' } })), /^postgresql\.data_dir: /);
});

test('postgresql.replication_user must differ from the superuser', (t) => {
  t.regex(loadError(t, withMinimal({ postgresql: { replication_user: 'postgres' } })), /^postgresql\.replication_user: must differ from postgresql\.superuser \(postgres\)/);
});

test('postgresql.parameters refuses the ones the agent owns', (t) => {
  t.is(loadError(t, withMinimal({ postgresql: { parameters: { listen_addresses: '*' } } })), 'postgresql.parameters.listen_addresses: is set by the agent on each node and cannot be configured');
  t.deepEqual(load(t, withMinimal({ postgresql: { parameters: { work_mem: '16MB', max_connections: 200, fsync: true } } })).postgresql.parameters, {
    work_mem: '16MB',
    max_connections: 200,
    fsync: true,
  });
});

test('tls: certificate files all three or none, and never with insecure', (t) => {
  const files = { ca_file: '/etc/pgherd/ca.crt', cert_file: '/etc/pgherd/node.crt', key_file: '/etc/pgherd/node.key' };
  t.deepEqual(load(t, withMinimal({ tls: files })).tls, { insecure: false, ...files });
  t.deepEqual(load(t, withMinimal({ tls: {} })).tls, { insecure: false });
  t.is(
    loadError(t, withMinimal({ tls: { ca_file: files.ca_file, cert_file: files.cert_file } })),
    'tls.key_file: is required when tls.ca_file is set: give ca_file, cert_file and key_file together',
  );
  t.regex(loadError(t, withMinimal({ tls: { insecure: true, ...files } })), /^tls\.insecure: is true but tls\.ca_file is set/);
  t.true(load(t, withMinimal({ tls: { insecure: true } })).tls.insecure);
});
