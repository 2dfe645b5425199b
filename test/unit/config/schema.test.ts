import test from 'ava';
import { DYNAMIC_DEFAULTS } from '../../../src/config/dynamic.js';
import { loadConfig } from '../../../src/config/load.js';
import { raftLogDir } from '../../../src/config/schema.js';
import { load, loadError, withMinimal } from './helpers.js';

test('defaults: only the name, the advertised addresses and the cluster size are needed', (t) => {
  const config = load(t, withMinimal());
  t.deepEqual(config, {
    name: 'n1',
    cluster_name: 'pgherd',
    data_dir: '/var/lib/pgherd',
    raft: {
      bind: '0.0.0.0:7400',
      advertise: '10.0.0.1:7400',
      peers: [],
      bootstrap_expect: 1,
      tick_ms: 100,
      election_ticks: 10,
      heartbeat_ticks: 1,
      snapshot_every_entries: 10_000,
      compaction_keep_entries: 1_000,
      replace_unreachable_after_ms: 300_000,
    },
    postgresql: {
      data_dir: '/var/lib/pgherd/pgdata',
      listen: '0.0.0.0',
      connect_address: '10.0.0.1:5432',
      port: 5432,
      socket_dir: '/var/lib/pgherd/run',
      superuser: 'postgres',
      client_cidrs: [],
      replication_user: 'pgherd_replicator',
      shared_buffers_fraction: 0.25,
      parameters: {},
      callbacks: {},
      pre_promote_timeout_ms: 5_000,
    },
    http: { listen: '0.0.0.0:8008' },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false, failover_priority: 1 },
    bootstrap: { method: 'initdb', restore: { backup: 'latest' }, dynamic: DYNAMIC_DEFAULTS },
    tls: { insecure: false },
    admin: { tokens: [] },
    backup: {
      store: { kind: 'none', prefix: '', force_path_style: false, sse: 'AES256' },
      archive: { compression: 'gzip', gzip_level: 1, parallel: 4, restore_prefetch: 4, timeout_s: 60 },
    },
    log: { level: 'info', format: 'json' },
  });
  t.is(raftLogDir(config), '/var/lib/pgherd/raft');
});

test('bootstrap_expect defaults to 3: a zero-peer config must say it is a single-node cluster', (t) => {
  t.regex(loadError(t, withMinimal({ raft: { bootstrap_expect: undefined } })), /^raft\.bootstrap_expect: is 3 but only 1 member\(s\) are known .*set bootstrap_expect: 1 for a single-node cluster$/);
});

test('name is required and never derived from the hostname', (t) => {
  const error = t.throws(() => loadConfig({ env: {} }), { code: 'PGHERD_CONFIG_INVALID' });
  t.regex(error!.message, /^name: is required: this member's unique name in the cluster \(or set PGHERD_NAME\)/);
  t.regex(loadError(t, withMinimal({ name: 'Node 1' })), /^name: expected lowercase letters, digits/);
  t.regex(loadError(t, withMinimal({ name: 'n'.repeat(57) })), /^name: /);
  t.is(load(t, withMinimal({ name: 'n'.repeat(56) })).name, 'n'.repeat(56));
});

test('derived defaults follow data_dir, advertise follows a specific bind, connect_address a single listen host', (t) => {
  const config = load(t, withMinimal({ data_dir: '/srv/pgherd/', raft: { bind: '10.0.0.5:7400', advertise: undefined }, postgresql: { listen: '10.0.0.5', connect_address: undefined, port: 5433 } }));
  t.is(config.data_dir, '/srv/pgherd');
  t.is(config.postgresql.data_dir, '/srv/pgherd/pgdata');
  t.is(config.postgresql.socket_dir, '/srv/pgherd/run');
  t.is(config.raft.advertise, '10.0.0.5:7400');
  t.is(config.postgresql.connect_address, '10.0.0.5:5433');
  t.is(load(t, withMinimal({ raft: { bind: '[fd00::5]:7400', advertise: undefined }, postgresql: { listen: 'fd00::5', connect_address: undefined } })).postgresql.connect_address, '[fd00::5]:5432');
});

test('unknown keys are errors naming the key, with a hint for near misses', (t) => {
  t.is(loadError(t, withMinimal({ raft: { tick_msx: 5 } })), 'raft.tick_msx: unknown key; did you mean raft.tick_ms?');
  t.is(loadError(t, withMinimal({ postgresq: {} })), 'postgresq: unknown key; did you mean postgresql?');
  t.is(loadError(t, withMinimal({ tags: { nofailover: true, no_failover: true } })), 'tags.no_failover: unknown key; did you mean tags.nofailover?');
  t.is(loadError(t, withMinimal({ bootstrap: { dynamic: { ttl_sm: 5000 } } })), 'bootstrap.dynamic.ttl_sm: unknown key; did you mean bootstrap.dynamic.ttl_ms?');
  t.is(loadError(t, withMinimal({ http: { port: 8008 } })), 'http.port: unknown key; known keys in http: listen');
  t.is(loadError(t, withMinimal({ raft: { peers: [{ name: 'n2', adress: '10.0.0.2:7400' }] } })), 'raft.peers.0.adress: unknown key; did you mean raft.peers.0.address?');
});

test('renamed and Patroni keys say what to write instead', (t) => {
  t.is(loadError(t, withMinimal({ scope: 'main' })), 'scope: unknown key; use cluster_name');
  t.is(loadError(t, withMinimal({ ttl: 30 })), 'ttl: unknown key; use bootstrap.dynamic.ttl_ms');
  t.is(loadError(t, withMinimal({ raft: { partner_addrs: [] } })), 'raft.partner_addrs: unknown key; use raft.peers');
  t.is(loadError(t, withMinimal({ bootstrap: { dcs: {} } })), 'bootstrap.dcs: unknown key; use bootstrap.dynamic');
  t.is(loadError(t, withMinimal({ postgresql: { listen_addresses: '*' } })), 'postgresql.listen_addresses: unknown key; use postgresql.listen');
});

test('bad values name the key and the expected form', (t) => {
  t.regex(loadError(t, withMinimal({ raft: { bind: '7400' } })), /^raft\.bind: expected host:port \(e\.g\. 10\.0\.0\.1:7400/);
  t.regex(loadError(t, withMinimal({ raft: { advertise: '10.0.0.1:70000' } })), /^raft\.advertise: expected host:port/);
  t.regex(loadError(t, withMinimal({ raft: { advertise: '[::zz]:7400' } })), /^raft\.advertise: expected host:port/);
  t.regex(loadError(t, withMinimal({ postgresql: { port: 0 } })), /^postgresql\.port: /);
  t.regex(loadError(t, withMinimal({ postgresql: { port: 65536 } })), /^postgresql\.port: /);
  t.regex(loadError(t, withMinimal({ raft: { tick_ms: 'fast' } })), /^raft\.tick_ms: /);
  t.regex(loadError(t, withMinimal({ raft: { bootstrap_expect: 0 } })), /^raft\.bootstrap_expect: /);
  t.regex(loadError(t, withMinimal({ data_dir: 'relative/dir' })), /^data_dir: expected an absolute path/);
  t.regex(loadError(t, withMinimal({ postgresql: { callbacks: { on_start: 'script.sh' } } })), /^postgresql\.callbacks\.on_start: expected an absolute path/);
  t.regex(loadError(t, withMinimal({ postgresql: { listen: 'not a host' } })), /^postgresql\.listen: expected "\*" or a comma-separated list/);
  t.regex(loadError(t, withMinimal({ postgresql: { superuser: 'Admin' } })), /^postgresql\.superuser: expected a PostgreSQL role name/);
  t.regex(loadError(t, withMinimal({ log: { level: 'verbose' } })), /^log\.level: /);
  t.regex(loadError(t, withMinimal({ tags: { failover_priority: -1 } })), /^tags\.failover_priority: /);
  t.regex(loadError(t, withMinimal({ raft: { peers: ['n2-10.0.0.2:7400'] } })), /^raft\.peers\.0: expected "name@host:port" \(e\.g\. n2@10\.0\.0\.2:7400\) or \{name, address\}/);
  t.regex(loadError(t, withMinimal({ raft: { peers: ['n2@10.0.0.2'] } })), /^raft\.peers\.0\.address: expected host:port/);
});

test('peers: "name@host:port" and {name, address} normalise to the same objects', (t) => {
  const config = load(t, withMinimal({ raft: { peers: ['n2@10.0.0.2:7400', { name: 'n3', address: 'db3.example.com:7400' }] } }));
  t.deepEqual(config.raft.peers, [
    { name: 'n2', address: '10.0.0.2:7400' },
    { name: 'n3', address: 'db3.example.com:7400' },
  ]);
});

test('bootstrap.dynamic is validated by the dynamic schema, its rules included', (t) => {
  t.is(load(t, withMinimal({ bootstrap: { dynamic: { ttl_ms: 10_000, synchronous_mode: 'strict' } } })).bootstrap.dynamic.ttl_ms, 10_000);
  t.regex(loadError(t, withMinimal({ bootstrap: { dynamic: { ttl_ms: 2000 } } })), /^bootstrap\.dynamic\.ttl_ms: must be greater than loop_wait_ms \+ safety_margin_ms/);
  t.regex(loadError(t, withMinimal({ bootstrap: { dynamic: { postgresql_parameters: { port: 5 } } } })), /^bootstrap\.dynamic\.postgresql_parameters\.port: is set by the agent/);
});

test('backup.store: local needs an absolute path, s3 a bucket; keys of the other kind are errors; kind none keeps them unused', (t) => {
  const store = (value: Record<string, unknown>) => withMinimal({ backup: { store: value } });
  t.is(load(t, store({ kind: 'local', path: '/srv/store/' })).backup.store.path, '/srv/store');
  const s3 = load(t, store({ kind: 's3', bucket: 'pg-backups', prefix: 'prod/eu', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', sse: 'aws:kms', sse_kms_key_id: 'alias/pg' })).backup.store;
  t.like(s3, { kind: 's3', bucket: 'pg-backups', prefix: 'prod/eu', endpoint: 'http://127.0.0.1:9000', sse_kms_key_id: 'alias/pg' });
  t.is(load(t, store({ kind: 'none', path: '/srv/store', bucket: 'pg-backups' })).backup.store.kind, 'none');
  t.regex(loadError(t, store({ kind: 'local' })), /^backup\.store\.path: is required when backup\.store\.kind is local/);
  t.regex(loadError(t, store({ kind: 'local', path: 'relative/dir' })), /^backup\.store\.path: expected an absolute path/);
  t.regex(loadError(t, store({ kind: 's3' })), /^backup\.store\.bucket: is required when backup\.store\.kind is s3/);
  t.regex(loadError(t, store({ kind: 's3', bucket: 'pg-backups', path: '/srv/store' })), /^backup\.store\.path: is for backup\.store\.kind local, but kind is s3/);
  t.regex(loadError(t, store({ kind: 'local', path: '/srv/store', bucket: 'pg-backups' })), /^backup\.store\.bucket: is for backup\.store\.kind s3, but kind is local/);
  t.regex(loadError(t, store({ kind: 's3', bucket: 'Bad_Bucket' })), /^backup\.store\.bucket: expected an S3 bucket name/);
  t.regex(loadError(t, store({ kind: 's3', bucket: 'pg-backups', prefix: '/lead' })), /^backup\.store\.prefix: expected "\/"-separated segments/);
  t.regex(loadError(t, store({ kind: 's3', bucket: 'pg-backups', endpoint: 'ftp://x' })), /^backup\.store\.endpoint: expected an http\(s\) URL/);
  t.regex(loadError(t, store({ kind: 's3', bucket: 'pg-backups', sse_kms_key_id: 'alias/pg' })), /^backup\.store\.sse_kms_key_id: is only used with backup\.store\.sse aws:kms/);
  t.regex(loadError(t, store({ kind: 'gcs' })), /^backup\.store\.kind: /);
});

test('bootstrap.method restore: needs a store; backup is "latest" or an id; recovery_target_time is RFC 3339 with a zone', (t) => {
  const local = { store: { kind: 'local', path: '/srv/store' } };
  const restore = (settings: Record<string, unknown> = {}, backup: Record<string, unknown> = local) =>
    withMinimal({ bootstrap: { method: 'restore', restore: settings }, backup });
  t.like(load(t, restore()).bootstrap, { method: 'restore', restore: { backup: 'latest' } });
  t.like(
    load(t, restore({ backup: '20261126T181500Z-3fa9c2', recovery_target_time: '2026-11-26T20:30:00.25+01:00' })).bootstrap.restore,
    { backup: '20261126T181500Z-3fa9c2', recovery_target_time: '2026-11-26T20:30:00.25+01:00' },
  );
  t.is(load(t, restore({ recovery_target_time: '2026-11-26T19:30:00Z' })).bootstrap.restore.recovery_target_time, '2026-11-26T19:30:00Z');
  t.is(
    loadError(t, restore({}, { store: { kind: 'none' } })),
    'bootstrap.method: is restore, but backup.store.kind is none: set backup.store to the store that holds the backups of this cluster_name',
  );
  t.regex(loadError(t, restore({ backup: 'newest' })), /^bootstrap\.restore\.backup: expected "latest" or a backup id such as 20261126T181500Z-3fa9c2/);
  t.regex(loadError(t, restore({ recovery_target_time: '2026-11-26T19:30:00' })), /^bootstrap\.restore\.recovery_target_time: expected an RFC 3339 time with a zone/, 'no zone: whose 19:30?');
  t.regex(loadError(t, restore({ recovery_target_time: '2026-11-26 19:30:00+00' })), /^bootstrap\.restore\.recovery_target_time: expected an RFC 3339 time with a zone/);
  t.regex(loadError(t, restore({ recovery_target_time: 'yesterday' })), /^bootstrap\.restore\.recovery_target_time: expected an RFC 3339/);
  t.regex(loadError(t, withMinimal({ bootstrap: { method: 'pgbackrest' } })), /^bootstrap\.method: /);
  t.regex(loadError(t, restore({ target_time: '2026-11-26T19:30:00Z' })), /^bootstrap\.restore\.target_time: .*bootstrap\.restore\.recovery_target_time/);
  t.regex(loadError(t, restore({ recovery_conf: {} })), /^bootstrap\.restore\.recovery_conf: .*recovery_target_time/);
  // With initdb the restore keys may stay, unused, and need no store.
  t.like(load(t, withMinimal({ bootstrap: { restore: { recovery_target_time: '2026-11-26T19:30:00Z' } } })).bootstrap, { method: 'initdb' });
  // From the environment.
  const env = { PGHERD_BOOTSTRAP_METHOD: 'restore', PGHERD_BOOTSTRAP_RESTORE_RECOVERY_TARGET_TIME: '2026-11-26T19:30:00Z', PGHERD_BOOTSTRAP_RESTORE_BACKUP: 'latest' };
  t.like(load(t, withMinimal({ backup: local }), env).bootstrap, { method: 'restore', restore: { backup: 'latest', recovery_target_time: '2026-11-26T19:30:00Z' } });
  t.regex(loadError(t, withMinimal(), env), /^bootstrap\.method: is restore, but backup\.store\.kind is none.*\(from PGHERD_BOOTSTRAP_METHOD\)$/);
});
