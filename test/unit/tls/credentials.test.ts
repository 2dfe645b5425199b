import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChannelCredentials, status } from '@grpc/grpc-js';
import anyTest, { type TestFn } from 'ava';
import { ConfigError } from '../../../src/lib/errors.js';
import { insecureCredentials, mutualTlsCredentials } from '../../../src/tls/credentials.js';
import { checkPeerIdentity } from '../../../src/tls/identity.js';
import { echo, makePki, removeDir, startEchoServer, type Pki } from './helpers.js';

const test = anyTest as TestFn<Pki>;

test.before(async (t) => {
  t.context = await makePki();
});

test.after.always(async (t) => {
  if (t.context?.dir !== undefined) await removeDir(t.context.dir);
});

const filesOf = (pki: Pki, node: 'n1' | 'n2' | 'wrongSan') => ({ caFile: pki.ca.caCertPath, certFile: pki[node].certPath, keyFile: pki[node].keyPath });

test('mutual TLS: a client with the cluster CA and its own certificate is served, and the server sees who it is', async (t) => {
  const server = await startEchoServer(mutualTlsCredentials(filesOf(t.context, 'n1')).server);
  t.teardown(() => server.close());
  const result = await echo(server.address, mutualTlsCredentials(filesOf(t.context, 'n2')).channel);
  t.is(result.error, undefined);
  t.is(result.reply, 'ping');
  t.deepEqual(server.calls, ['n2']);
});

// The server requests a certificate without requiring one (a bearer token may stand in for it on the admin
// service): the call gate refuses every other service's calls without a verified one, before the handler.
test('mutual TLS: a client without a certificate is refused before the handler runs', async (t) => {
  const server = await startEchoServer(mutualTlsCredentials(filesOf(t.context, 'n1')).server);
  t.teardown(() => server.close());
  const noClientCert = ChannelCredentials.createSsl(readFileSync(t.context.ca.caCertPath));
  const result = await echo(server.address, noClientCert);
  t.is(result.error?.code, status.UNAUTHENTICATED);
  t.regex(result.error?.details ?? '', /pgherd\.test\.Echo requires a client certificate of the cluster CA/);
  t.deepEqual(server.calls, []);
});

test('mutual TLS: a client certificate from another CA is refused before the handler runs', async (t) => {
  const server = await startEchoServer(mutualTlsCredentials(filesOf(t.context, 'n1')).server);
  t.teardown(() => server.close());
  const { ca, stranger } = t.context;
  // The stranger trusts the cluster CA (so it would accept the server) but presents a certificate of its own CA.
  const channel = ChannelCredentials.createSsl(readFileSync(ca.caCertPath), readFileSync(stranger.keyPath), readFileSync(stranger.certPath));
  const result = await echo(server.address, channel);
  t.is(result.error?.code, status.UNAUTHENTICATED);
  t.regex(result.error?.details ?? '', /not issued by the cluster CA/);
  t.deepEqual(server.calls, []);
});

test('the client refuses a server of the cluster CA whose certificate does not name the dialled address', async (t) => {
  const server = await startEchoServer(mutualTlsCredentials(filesOf(t.context, 'wrongSan')).server);
  t.teardown(() => server.close());
  const result = await echo(server.address, mutualTlsCredentials(filesOf(t.context, 'n2')).channel);
  t.is(result.error?.code, status.UNAVAILABLE);
  t.regex(result.error?.details ?? '', /not valid for 127\.0\.0\.1/);
  t.deepEqual(server.calls, []);
});

test('the client refuses a server whose certificate comes from another CA', async (t) => {
  const { otherCa, stranger } = t.context;
  const server = await startEchoServer(mutualTlsCredentials({ caFile: otherCa.caCertPath, certFile: stranger.certPath, keyFile: stranger.keyPath }).server);
  t.teardown(() => server.close());
  const result = await echo(server.address, mutualTlsCredentials(filesOf(t.context, 'n2')).channel);
  t.is(result.error?.code, status.UNAVAILABLE);
  t.regex(result.error?.details ?? '', /certificate/);
  t.deepEqual(server.calls, []);
});

test('insecure: plain text on both sides, flagged', async (t) => {
  const credentials = insecureCredentials();
  t.true(credentials.insecure);
  t.false(mutualTlsCredentials(filesOf(t.context, 'n1')).insecure);
  const server = await startEchoServer(credentials.server);
  t.teardown(() => server.close());
  const result = await echo(server.address, credentials.channel);
  t.is(result.reply, 'ping');
  t.deepEqual(server.calls, [undefined]);
});

test('an unreadable file is a ConfigError naming the key and the path', (t) => {
  const missing = join(t.context.dir, 'nope.crt');
  for (const [key, files] of [
    ['tls.ca_file', { ...filesOf(t.context, 'n1'), caFile: missing }],
    ['tls.cert_file', { ...filesOf(t.context, 'n1'), certFile: missing }],
    ['tls.key_file', { ...filesOf(t.context, 'n1'), keyFile: missing }],
  ] as const) {
    const error = t.throws(() => mutualTlsCredentials(files), { instanceOf: ConfigError });
    t.is(error?.key, key);
    t.is(error?.code, 'PGHERD_CONFIG_INVALID');
    t.true(error?.message.includes(missing), error?.message);
  }
});

test('a file that is not PEM, or a key of another certificate, is a ConfigError naming the key', (t) => {
  const files = filesOf(t.context, 'n1');
  t.is(t.throws(() => mutualTlsCredentials({ ...files, caFile: files.keyFile }), { instanceOf: ConfigError })?.key, 'tls.ca_file');
  t.is(t.throws(() => mutualTlsCredentials({ ...files, certFile: files.keyFile }), { instanceOf: ConfigError })?.key, 'tls.cert_file');
  t.is(t.throws(() => mutualTlsCredentials({ ...files, keyFile: files.certFile }), { instanceOf: ConfigError })?.key, 'tls.key_file');
  const otherKey = t.throws(() => mutualTlsCredentials({ ...files, keyFile: t.context.n2.keyPath }), { instanceOf: ConfigError });
  t.is(otherKey?.key, 'tls.key_file');
  t.regex(otherKey?.message ?? '', /is not the private key of tls\.cert_file/);
});

test('identity: IP SANs for IP addresses, DNS SANs for names, never the CN', (t) => {
  const raw = (path: string) => ({ raw: Buffer.from(readFileSync(path, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64') });
  const n1 = raw(t.context.n1.certPath); // CN n1; IP 127.0.0.1, ::1; DNS localhost
  const wrongSan = raw(t.context.wrongSan.certPath); // CN n9; IP 10.9.9.9; DNS elsewhere.example
  t.is(checkPeerIdentity('127.0.0.1', n1), undefined);
  t.is(checkPeerIdentity('::1', n1), undefined);
  t.is(checkPeerIdentity('[::1]', n1), undefined);
  t.is(checkPeerIdentity('LocalHost', n1), undefined);
  t.is(checkPeerIdentity('elsewhere.example', wrongSan), undefined);
  t.regex(checkPeerIdentity('n1', n1)?.message ?? '', /not valid for n1/, 'the CN is not a name');
  t.truthy(checkPeerIdentity('127.0.0.2', n1));
  t.truthy(checkPeerIdentity('127.0.0.1', wrongSan));
  t.truthy(checkPeerIdentity('other.example', wrongSan));
  t.is((checkPeerIdentity('127.0.0.1', wrongSan) as Error & { code?: string }).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  t.truthy(checkPeerIdentity('127.0.0.1', { raw: Buffer.alloc(0) }));
});
