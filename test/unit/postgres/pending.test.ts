import test from 'ava';
import { buildServerArgs } from '../../../src/postgres/conf.js';
import { changedSettings, parsePostmasterOpts } from '../../../src/postgres/pending.js';

const settings = {
  listenAddresses: '127.0.0.1',
  port: 5432,
  socketDir: '/run/pgherd',
  clusterName: 'n2',
  memoryBytes: 4 * 1024 ** 3,
  parameters: { max_connections: 50 },
  standby: { host: 'n1', port: 5432, user: 'replicator', passfile: '/var/lib/pgherd/pgpass-replication', slotName: 'pgherd_n2', applicationName: 'n2' },
};

/** What the postmaster writes: the program, then each argument in double quotes. */
const optsOf = (args: readonly string[]): string => `/usr/lib/postgresql/15/bin/postgres ${args.map((a) => `"${a}"`).join(' ')}\n`;

test('postmaster.opts: the arguments after the program, as given (conninfo quotes and spaces kept)', (t) => {
  const args = ['-D', '/data/pgdata', ...buildServerArgs(settings)];
  t.deepEqual(parsePostmasterOpts(optsOf(args)), args);
  t.deepEqual(parsePostmasterOpts('/usr/lib/postgresql/15/bin/postgres\n'), []);
});

test('changed settings: a cluster-wide parameter changed, added or removed since the start; the upstream is not the restart\'s business', (t) => {
  const running = ['-D', '/data/pgdata', ...buildServerArgs(settings)];
  t.deepEqual(changedSettings(running, buildServerArgs(settings)), []);
  const changed = buildServerArgs({ ...settings, parameters: { max_connections: 60, wal_buffers: '8MB' } });
  t.deepEqual(changedSettings(running, changed), [
    { name: 'max_connections', running: '50', wanted: '60' },
    { name: 'wal_buffers', running: null, wanted: '8MB' },
  ]);
  const repointed = buildServerArgs({ ...settings, standby: { ...settings.standby, host: 'n3' } });
  t.deepEqual(changedSettings(running, repointed), []);
});
