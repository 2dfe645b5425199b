import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { AssertionFailedError } from '../../../src/lib/errors.js';
import { CertificateExistsError, CertificateGenerationError, OpensslMissingError } from '../../../src/tls/errors.js';
import { NODE_CERT_VALIDITY_DAYS, ensureLocalCa, issueNodeCertificate } from '../../../src/tls/generate.js';
import { removeDir, tempDir } from './helpers.js';

const DAY_MS = 86_400_000;

async function scratch(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await tempDir('gen');
  t.teardown(() => removeDir(dir));
  return dir;
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

test('error codes are stable', (t) => {
  const codes = [new OpensslMissingError('openssl'), new CertificateGenerationError('/x', 'bad'), new CertificateExistsError('/x')].map((e) => [e.name, e.code]);
  t.deepEqual(codes, [
    ['OpensslMissingError', 'PGHERD_TLS_OPENSSL_MISSING'],
    ['CertificateGenerationError', 'PGHERD_TLS_GENERATION_FAILED'],
    ['CertificateExistsError', 'PGHERD_TLS_CERT_EXISTS'],
  ]);
});

test('a local CA: EC P-256, a CA certificate, key 0600, directory 0700, and reused when present', async (t) => {
  const dir = await scratch(t);
  const ca = await ensureLocalCa(join(dir, 'tls'));
  const certificate = new X509Certificate(await readFile(ca.caCertPath));
  t.true(certificate.ca);
  t.is(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.true(certificate.checkPrivateKey(createPrivateKey(await readFile(ca.caKeyPath))));
  t.is(await mode(ca.caKeyPath), 0o600);
  t.is(await mode(join(dir, 'tls')), 0o700);
  t.is(await mode(join(dir, 'tls', 'ca')), 0o700);
  const again = await ensureLocalCa(join(dir, 'tls'));
  t.deepEqual(again, ca);
  t.is(new X509Certificate(await readFile(again.caCertPath)).fingerprint256, certificate.fingerprint256);
  t.deepEqual((await readdir(join(dir, 'tls'))).sort(), ['ca'], 'no temporary directories left behind');
});

test('nodes sharing a CA directory that start at once agree on one CA', async (t) => {
  const dir = await scratch(t);
  const cas = await Promise.all([1, 2, 3, 4].map(() => ensureLocalCa(dir)));
  const fingerprints = await Promise.all(cas.map(async (ca) => new X509Certificate(await readFile(ca.caCertPath)).fingerprint256));
  t.is(new Set(fingerprints).size, 1);
  t.deepEqual(await readdir(dir), ['ca']);
});

test('a node certificate: CN = name, the SANs asked for, 825 days, client and server use, signed by the CA, key 0600', async (t) => {
  const dir = await scratch(t);
  const ca = await ensureLocalCa(dir);
  const node = await issueNodeCertificate(ca, join(dir, 'nodes'), { name: 'n1', ips: ['10.0.0.1', 'fd00::1'], dns: ['db1.example.com'] });
  t.deepEqual(node, { certPath: join(dir, 'nodes', 'n1.crt'), keyPath: join(dir, 'nodes', 'n1.key') });
  const certificate = new X509Certificate(await readFile(node.certPath));
  const caCertificate = new X509Certificate(await readFile(ca.caCertPath));
  t.is(certificate.subject, 'CN=n1');
  t.is(certificate.subjectAltName, 'IP Address:10.0.0.1, IP Address:FD00:0:0:0:0:0:0:1, DNS:db1.example.com');
  t.false(certificate.ca);
  t.true(certificate.checkIssued(caCertificate) && certificate.verify(caCertificate.publicKey));
  t.deepEqual(certificate.keyUsage?.slice().sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  t.is(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const validityDays = (Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / DAY_MS;
  t.is(Math.round(validityDays), NODE_CERT_VALIDITY_DAYS);
  t.true(certificate.checkPrivateKey(createPrivateKey(await readFile(node.keyPath))));
  t.is(await mode(node.keyPath), 0o600);
  t.deepEqual((await readdir(join(dir, 'nodes'))).sort(), ['n1.crt', 'n1.key']);
});

test('identity values are checked before they reach an openssl config file', async (t) => {
  const dir = await scratch(t);
  const ca = await ensureLocalCa(dir);
  const bad = [
    { name: 'n1\nCN = evil', ips: ['127.0.0.1'], dns: [] },
    { name: 'n1', ips: ['127.0.0.1\nDNS.9 = evil'], dns: [] },
    { name: 'n1', ips: [], dns: ['evil.example\nIP.9 = 1.2.3.4'] },
    { name: 'n1', ips: [], dns: [] },
  ];
  for (const identity of bad) await t.throwsAsync(issueNodeCertificate(ca, dir, identity), { instanceOf: AssertionFailedError });
});

test('a missing openssl names the package to install', async (t) => {
  const dir = await scratch(t);
  const error = await t.throwsAsync(ensureLocalCa(dir, { openssl: join(dir, 'no-such-openssl') }), { instanceOf: OpensslMissingError });
  t.is(error?.code, 'PGHERD_TLS_OPENSSL_MISSING');
  t.regex(error?.message ?? '', /install the 'openssl' package/);
  t.deepEqual(await readdir(dir), [], 'nothing half-made left behind');
});

test('a broken existing CA is an error naming the file, never silently replaced', async (t) => {
  const dir = await scratch(t);
  const ca = await ensureLocalCa(dir);
  await writeFile(ca.caKeyPath, 'not a key');
  const error = await t.throwsAsync(ensureLocalCa(dir), { instanceOf: CertificateGenerationError });
  t.is(error?.path, ca.caKeyPath);
  t.is(await readFile(ca.caKeyPath, 'utf8'), 'not a key');
});
