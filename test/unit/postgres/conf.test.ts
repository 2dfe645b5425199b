import { createHash, createHmac } from 'node:crypto';
import test from 'ava';
import { assertSlotName, buildConninfo, buildServerArgs, sizeMemory, type ServerSettings } from '../../../src/postgres/conf.js';
import { PgInvalidNameError, PgParameterRefusedError } from '../../../src/postgres/errors.js';
import { renderHba, scramVerifier } from '../../../src/postgres/initdb.js';
import { slotNameFor } from '../../../src/cluster/state.js';
import { renderSynchronousStandbyNames } from '../../../src/postgres/sync.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const base: ServerSettings = { listenAddresses: '10.0.0.7', port: 5432, socketDir: '/run/pgherd', clusterName: 'n1', memoryBytes: 16 * GIB };

/** `-c a=b -c c=d` → {a: 'b', c: 'd'}, asserting the shape. */
function asMap(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] !== '-c') throw new Error(`expected -c at ${i}, got ${args[i]}`);
    const pair = args[i + 1]!;
    const eq = pair.indexOf('=');
    if (pair.slice(0, eq) in out) throw new Error(`duplicate ${pair}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

test('buildServerArgs: node settings, replication settings and memory sizing as -c pairs', (t) => {
  t.deepEqual(asMap(buildServerArgs(base)), {
    wal_level: 'replica',
    wal_log_hints: 'on',
    max_wal_senders: '10',
    max_replication_slots: '10',
    wal_keep_size: '128MB',
    shared_buffers: '4096MB',
    effective_cache_size: '12288MB',
    maintenance_work_mem: '1024MB',
    listen_addresses: '10.0.0.7',
    port: '5432',
    unix_socket_directories: '/run/pgherd',
    cluster_name: 'n1',
    hot_standby: 'on',
  });
});

test('buildServerArgs: a standby gets primary_conninfo with a passfile (no password) and its slot', (t) => {
  const m = asMap(buildServerArgs({ ...base, standby: { host: '10.0.0.8', port: 5433, user: 'pgherd_replicator', passfile: "/var/lib/pgherd/it's pgpass", slotName: 'pgherd_n1', applicationName: 'n1' } }));
  t.is(m.primary_conninfo, "host='10.0.0.8' port='5433' user='pgherd_replicator' passfile='/var/lib/pgherd/it\\'s pgpass' application_name='n1' connect_timeout='5'");
  t.is(m.primary_slot_name, 'pgherd_n1');
  t.false(/password=/.test(m.primary_conninfo!));
});

test('buildServerArgs: with a backup store, archive_mode on and the agent-served commands; without one, no archiving', (t) => {
  const walArchive = { archiveCommand: "'/usr/bin/node' '/opt/wal-client.js' archive '/run/wal.sock' %f", restoreCommand: "'/usr/bin/node' '/opt/wal-client.js' restore '/run/wal.sock' %f %p" };
  const m = asMap(buildServerArgs({ ...base, walArchive }));
  t.is(m.archive_mode, 'on');
  t.is(m.archive_command, walArchive.archiveCommand);
  t.is(m.restore_command, walArchive.restoreCommand);
  t.false('archive_timeout' in m, 'PostgreSQL\'s default unless given');
  t.is(asMap(buildServerArgs({ ...base, walArchive: { ...walArchive, archiveTimeoutS: 60 } })).archive_timeout, '60');
  const plain = asMap(buildServerArgs(base));
  t.false('archive_mode' in plain || 'archive_command' in plain || 'restore_command' in plain || 'archive_timeout' in plain);
  for (const name of ['archive_mode', 'archive_command', 'restore_command', 'archive_timeout']) {
    t.throws(() => buildServerArgs({ ...base, walArchive, parameters: { [name]: 'off' } }), { instanceOf: PgParameterRefusedError });
  }
});

test('buildServerArgs: cluster parameters override defaults, never node settings; bad names refused', (t) => {
  const m = asMap(buildServerArgs({ ...base, parameters: { shared_buffers: '1GB', max_connections: 300, log_checkpoints: true, 'auto_explain.log_min_duration': '1s' } }));
  t.is(m.shared_buffers, '1GB');
  t.is(m.max_connections, '300');
  t.is(m.log_checkpoints, 'on');
  t.is(m['auto_explain.log_min_duration'], '1s');
  for (const name of ['port', 'primary_conninfo', 'synchronous_standby_names', 'unix_socket_directories']) {
    const error = t.throws(() => buildServerArgs({ ...base, parameters: { [name]: 'x' } }), { instanceOf: PgParameterRefusedError });
    t.is(error?.code, 'PGHERD_PG_PARAMETER_REFUSED');
    t.is(error?.parameter, name);
  }
  t.throws(() => buildServerArgs({ ...base, parameters: { 'Bad Name': 1 } }), { instanceOf: PgParameterRefusedError });
  t.throws(() => buildServerArgs({ ...base, clusterName: 'n 1' }), { instanceOf: PgInvalidNameError });
  t.throws(() => buildServerArgs({ ...base, port: 0 }), { code: 'PGHERD_ASSERTION_FAILED' });
});

test('sizeMemory: 25% of RAM capped, fraction configurable, floors for tiny machines', (t) => {
  t.is(sizeMemory(64 * GIB).sharedBuffersBytes, 8 * GIB, 'capped at 8 GiB');
  t.is(sizeMemory(64 * GIB, 0.25, 32 * GIB).sharedBuffersBytes, 16 * GIB);
  t.is(sizeMemory(8 * GIB, 0.4).sharedBuffersBytes, Math.floor((8 * GIB * 0.4) / MIB) * MIB);
  t.deepEqual(sizeMemory(32 * MIB), { sharedBuffersBytes: 16 * MIB, effectiveCacheSizeBytes: 32 * MIB, maintenanceWorkMemBytes: 64 * MIB });
  t.is(sizeMemory(256 * GIB).maintenanceWorkMemBytes, 2 * GIB);
  t.throws(() => sizeMemory(8 * GIB, 0.9), { code: 'PGHERD_ASSERTION_FAILED' });
});

test('buildConninfo quotes every value', (t) => {
  t.is(buildConninfo({ host: 'h', port: 1, application_name: "a b'c\\" }), "host='h' port='1' application_name='a b\\'c\\\\'");
});

test('renderHba: scram only, superuser on the local socket only, replication and rewind only from members', (t) => {
  const hba = renderHba({ superuser: 'postgres', memberCidrs: ['10.0.0.7/32', 'fd00::1/128'], clientCidrs: ['10.1.0.0/16'] });
  const rules = hba.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(/\s+/));
  t.deepEqual(rules, [
    ['local', 'all', 'postgres', 'scram-sha-256'],
    ['local', 'replication', 'postgres', 'scram-sha-256'],
    ['host', 'replication', 'pgherd_replicator', '10.0.0.7/32', 'scram-sha-256'],
    ['host', 'replication', 'pgherd_replicator', 'fd00::1/128', 'scram-sha-256'],
    ['host', 'postgres', 'pgherd_rewind', '10.0.0.7/32', 'scram-sha-256'],
    ['host', 'postgres', 'pgherd_rewind', 'fd00::1/128', 'scram-sha-256'],
    ['host', 'all', 'all', '10.1.0.0/16', 'scram-sha-256'],
  ]);
  for (const cidr of ['10.0.0.7', '10.0.0.7/33', 'all', '0.0.0.0/0 trust', 'fd00::1/129']) {
    t.throws(() => renderHba({ superuser: 'postgres', memberCidrs: [cidr], clientCidrs: [] }), { code: 'PGHERD_PG_INVALID_NAME' }, cidr);
  }
  t.throws(() => renderHba({ superuser: 'Robert"; DROP', memberCidrs: [], clientCidrs: [] }), { code: 'PGHERD_PG_INVALID_NAME' });
});

test('scramVerifier: matches the RFC 7677 exchange (proof and server signature), salted per call', (t) => {
  const v = scramVerifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'));
  const match = /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$([A-Za-z0-9+/]{43}=):([A-Za-z0-9+/]{43}=)$/.exec(v);
  t.truthy(match, v);
  const storedKey = Buffer.from(match![1]!, 'base64');
  const serverKey = Buffer.from(match![2]!, 'base64');
  const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
  const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
  const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
  const clientKey = Buffer.from(proof.map((byte, i) => byte ^ clientSignature[i]!));
  t.deepEqual(createHash('sha256').update(clientKey).digest(), storedKey);
  t.is(createHmac('sha256', serverKey).update(authMessage).digest('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  t.not(scramVerifier('pencil'), scramVerifier('pencil'));
});

test('renderSynchronousStandbyNames quotes validated member names', (t) => {
  t.is(renderSynchronousStandbyNames(1, ['n1', 'db-2.eu']), 'FIRST 1 ("n1", "db-2.eu")');
  t.is(renderSynchronousStandbyNames(1, []), '');
  t.throws(() => renderSynchronousStandbyNames(1, ['a"b']), { code: 'PGHERD_PG_INVALID_NAME' });
  t.throws(() => renderSynchronousStandbyNames(1, ["a'b"]), { code: 'PGHERD_PG_INVALID_NAME' });
  t.throws(() => renderSynchronousStandbyNames(3, ['a', 'b']), { code: 'PGHERD_ASSERTION_FAILED' });
});

test('slot names: pgherd_<member>, lower-cased, safe characters; too long a name is refused before it reaches PostgreSQL', (t) => {
  t.is(slotNameFor('n1'), 'pgherd_n1');
  t.is(slotNameFor('DB-2.eu'), 'pgherd_db_2_eu');
  t.notThrows(() => assertSlotName(slotNameFor('n1')));
  t.throws(() => assertSlotName(slotNameFor('x'.repeat(60))), { code: 'PGHERD_PG_INVALID_NAME' });
});
