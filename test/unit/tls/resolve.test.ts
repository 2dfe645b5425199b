import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { recordingLogger, type LogLine } from '../../helpers/recording-logger.js';
import { nodeIdentity, resolveTls, RENEW_BEFORE_EXPIRY_MS, type TlsConfigView } from '../../../src/tls/resolve.js';
import { echo, removeDir, startEchoServer, tempDir } from './helpers.js';

type Tls = TlsConfigView['tls'];

function view(dataDir: string, name: string, overrides: { tls?: Partial<Tls>; advertise?: string; bind?: string } = {}): TlsConfigView {
  return {
    name,
    data_dir: dataDir,
    tls: { insecure: false, ...overrides.tls },
    raft: { bind: overrides.bind ?? '0.0.0.0:7400', advertise: overrides.advertise ?? '127.0.0.1:7400' },
  };
}

async function scratch(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await tempDir('resolve');
  t.teardown(() => removeDir(dir));
  return dir;
}

test('insecure: plain-text credentials and one warning line', async (t) => {
  const lines: LogLine[] = [];
  const resolved = await resolveTls(view('/nonexistent', 'n1', { tls: { insecure: true } }), recordingLogger(lines));
  t.is(resolved.source, 'insecure');
  t.true(resolved.insecure);
  t.deepEqual(lines.map((line) => [line.level, line.event, line.fields.component]), [['warn', 'tls.insecure', 'tls']]);
});

test('insecure: the warning is logged at every start, not once per process (the agent resolves TLS at each start)', async (t) => {
  const starts: LogLine[][] = [[], [], []];
  for (const lines of starts) await resolveTls(view('/nonexistent', 'n1', { tls: { insecure: true } }), recordingLogger(lines, { node: 'n1' }));
  for (const lines of starts) {
    t.deepEqual(lines.map((line) => [line.level, line.event, line.fields.node]), [['warn', 'tls.insecure', 'n1']]);
    t.regex(String(lines[0]!.fields.reason), /plain text and unauthenticated/);
  }
});

test('no files: a local CA and a node certificate under <data_dir>/tls, reused on the next start', async (t) => {
  const dataDir = await scratch(t);
  const lines: LogLine[] = [];
  const first = await resolveTls(view(dataDir, 'n1'), recordingLogger(lines));
  t.is(first.source, 'generated');
  t.false(first.insecure);
  const certPath = join(dataDir, 'tls', 'n1.crt');
  const issued = await readFile(certPath);
  await resolveTls(view(dataDir, 'n1'), recordingLogger(lines));
  t.deepEqual(await readFile(certPath), issued);
  t.deepEqual(lines.map((line) => [line.event, line.fields.reused, line.fields.issuedBecause]), [
    ['tls.local_ca', false, 'missing'],
    ['tls.local_ca', true, undefined],
  ]);
});

test('no files: the node certificate is reissued when the address changes or expiry nears', async (t) => {
  const dataDir = await scratch(t);
  const lines: LogLine[] = [];
  await resolveTls(view(dataDir, 'n1'), recordingLogger(lines));
  await resolveTls(view(dataDir, 'n1', { advertise: 'db1.example.com:7400' }), recordingLogger(lines));
  await resolveTls(view(dataDir, 'n1', { advertise: 'db1.example.com:7400' }), recordingLogger(lines), { nowMs: Date.now() + 825 * 86_400_000 - RENEW_BEFORE_EXPIRY_MS + 60_000 });
  t.deepEqual(lines.map((line) => line.fields.issuedBecause), ['missing', 'addresses_changed', 'expiring']);
});

test('the SANs of a generated certificate: advertise and bind hosts unless wildcards, plus loopback', (t) => {
  t.deepEqual(nodeIdentity(view('/d', 'n1', { advertise: '10.0.0.1:7400' })), { name: 'n1', ips: ['10.0.0.1', '127.0.0.1', '::1'], dns: ['localhost'] });
  t.deepEqual(nodeIdentity(view('/d', 'n2', { bind: '[fd00::2]:7400', advertise: 'DB2.example.com:7400' })), {
    name: 'n2',
    ips: ['fd00::2', '127.0.0.1', '::1'],
    dns: ['db2.example.com', 'localhost'],
  });
});

test('nodes sharing one CA directory trust each other; nodes with their own CAs refuse each other', async (t) => {
  const root = await scratch(t);
  const shared = join(root, 'shared-ca');
  const [n1, n2] = await Promise.all(['n1', 'n2'].map((name) => resolveTls(view(join(root, name), name), recordingLogger([]), { caDir: shared })));
  const server = await startEchoServer(n1!.server);
  t.teardown(() => server.close());
  t.is((await echo(server.address, n2!.channel)).reply, 'ping');

  const loner = await resolveTls(view(join(root, 'n3'), 'n3'), recordingLogger([]));
  t.truthy((await echo(server.address, loner.channel)).error);
  t.deepEqual(server.calls, ['n2']);
});

test('configured files: mutual TLS with them, nothing generated', async (t) => {
  const root = await scratch(t);
  await resolveTls(view(root, 'n1'), recordingLogger([]));
  const tls = { ca_file: join(root, 'tls', 'ca', 'ca.crt'), cert_file: join(root, 'tls', 'n1.crt'), key_file: join(root, 'tls', 'n1.key') };
  const lines: LogLine[] = [];
  const resolved = await resolveTls(view(join(root, 'elsewhere'), 'n1', { tls }), recordingLogger(lines));
  t.is(resolved.source, 'files');
  t.deepEqual(lines.map((line) => [line.event, line.fields.caFile]), [['tls.configured', tls.ca_file]]);
  await t.throwsAsync(readFile(join(root, 'elsewhere', 'tls', 'n1.crt')), { code: 'ENOENT' });
});
