/**
 * `pgherd certs init|issue`, in-process (runPgherd), checked with the
 * openssl command itself (verify, x509 -text) and with a real mutual-TLS
 * gRPC call: the CA verifies, certificates carry the SANs and key usages
 * asked for, an operator's client certificate opens the admin service of an
 * agent with a node certificate of the same CA and one of another CA does
 * not, nothing is overwritten without --force, and bad arguments are named
 * with exit 2 and nothing written.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import YAML from 'yaml';
import { AdminClient } from '../../../src/admin/client.js';
import { AdminCallError } from '../../../src/admin/errors.js';
import type { CertsInitResult } from '../../../src/cli/commands/certs-init.js';
import type { CertsIssueResult } from '../../../src/cli/commands/certs-issue.js';
import { CertsUsageError } from '../../../src/cli/commands/certs-shared.js';
import { runPgherd } from '../../../src/cli/pgherd-main.js';
import { runningCluster } from '../cluster/helpers.js';
import { CLUSTER, MemoryBackend, serveAdminWith } from '../admin/helpers.js';

const DAY_MS = 86_400_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function pgherd(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runPgherd(['certs', ...argv], { env: {}, stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) });
  return { code, stdout, stderr };
}

/** Asserts exit 0 and returns the parsed --json output. */
async function json<T>(t: ExecutionContext, ...argv: string[]): Promise<T> {
  const run = await pgherd(...argv, '--json');
  t.is(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as T;
}

function openssl(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('openssl', args, { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The lines of `openssl x509 -text` that follow `heading` (an extension's value). */
function extension(text: string, heading: string): string | undefined {
  const lines = text.split('\n');
  const at = lines.findIndex((line) => line.trim().startsWith(heading));
  return at < 0 ? undefined : lines[at + 1]!.trim();
}

async function scratch(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

/** Every path under `dir` with its size and mode: equal before and after means nothing was written. */
async function listing(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(entries.map(async (entry) => {
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    return `${path} ${info.size} ${info.mode.toString(8)} ${info.mtimeMs}`;
  })).then((lines) => lines.sort());
}

const fingerprint = async (path: string) => new X509Certificate(await readFile(path)).fingerprint256;

test('error codes are stable', (t) => {
  t.is(new CertsUsageError('x').code, 'PGHERD_CERTS_USAGE');
});

test('certs init: a CA that openssl verifies, key 0600 and certificate 0644, the cluster in its name, --days honoured', async (t) => {
  const dir = join(await scratch(t), 'pki');
  const result = await json<CertsInitResult>(t, 'init', '--dir', dir, '--cluster', 'pg-main', '--days', '30');
  t.deepEqual({ ...result, subject: undefined, notAfter: undefined }, { caFile: join(dir, 'ca', 'ca.crt'), caKeyFile: join(dir, 'ca', 'ca.key'), subject: undefined, notAfter: undefined, replaced: false });
  t.regex(result.subject, /^pgherd CA pg-main [0-9a-f]{8}$/);

  const verified = openssl('verify', '-CAfile', result.caFile, result.caFile);
  t.is(verified.status, 0, verified.output);
  t.regex(verified.output, /: OK/);
  const text = openssl('x509', '-in', result.caFile, '-noout', '-text').output;
  t.regex(extension(text, 'X509v3 Basic Constraints') ?? '', /CA:TRUE/);
  t.regex(extension(text, 'X509v3 Key Usage') ?? '', /Certificate Sign/);
  t.regex(text, /Subject: CN ?= ?pgherd CA pg-main/);

  const certificate = new X509Certificate(await readFile(result.caFile));
  t.is(Math.round((Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / DAY_MS), 30);
  t.is(Date.parse(result.notAfter), Date.parse(certificate.validTo));
  t.is(await mode(result.caKeyFile), 0o600);
  t.is(await mode(result.caFile), 0o644);
  t.deepEqual(await readdir(dir), ['ca'], 'nothing else left in DIR');
  t.deepEqual((await readdir(join(dir, 'ca'))).sort(), ['ca.crt', 'ca.key']);
});

test('certs issue: a node certificate with the SANs asked for plus its name and loopback, for server and client use, verified by openssl; the agent\'s tls section printed', async (t) => {
  const root = await scratch(t);
  const dir = join(root, 'pki');
  t.is((await pgherd('init', '--dir', dir)).code, 0);
  const run = await pgherd('issue', '--dir', dir, '--name', 'n1', '--ip', '10.0.0.5', '--ip', 'fd00::5', '--dns', 'DB1.example.com');
  t.is(run.code, 0, run.stderr);
  const caFile = join(dir, 'ca', 'ca.crt');
  const certFile = join(dir, 'n1.crt');
  const keyFile = join(dir, 'n1.key');
  t.deepEqual(YAML.parse(run.stdout.slice(run.stdout.indexOf('tls:'))), { tls: { ca_file: caFile, cert_file: certFile, key_file: keyFile } });

  for (const purpose of ['sslserver', 'sslclient']) {
    const verified = openssl('verify', '-CAfile', caFile, '-purpose', purpose, certFile);
    t.is(verified.status, 0, `${purpose}: ${verified.output}`);
  }
  const text = openssl('x509', '-in', certFile, '-noout', '-text').output;
  const sans = (extension(text, 'X509v3 Subject Alternative Name') ?? '').split(', ').sort();
  t.deepEqual(sans, ['DNS:db1.example.com', 'DNS:localhost', 'DNS:n1', 'IP Address:0:0:0:0:0:0:0:1', 'IP Address:10.0.0.5', 'IP Address:127.0.0.1', 'IP Address:FD00:0:0:0:0:0:0:5']);
  t.is(extension(text, 'X509v3 Extended Key Usage'), 'TLS Web Server Authentication, TLS Web Client Authentication');
  t.is(extension(text, 'X509v3 Key Usage'), 'Digital Signature');
  t.is(extension(text, 'X509v3 Basic Constraints'), 'CA:FALSE');
  t.regex(text, /Subject: CN ?= ?n1\n/);
  t.is(await mode(keyFile), 0o600);
  t.is(await mode(certFile), 0o644);
  t.deepEqual((await readdir(dir)).sort(), ['ca', 'n1.crt', 'n1.key'], 'no temporary files left behind');

  // The same certificate from another CA does not verify against this one.
  const other = join(root, 'other');
  t.is((await pgherd('init', '--dir', other)).code, 0);
  t.is((await pgherd('issue', '--dir', other, '--name', 'n1')).code, 0);
  const stranger = openssl('verify', '-CAfile', caFile, join(other, 'n1.crt'));
  t.not(stranger.status, 0);
  t.regex(stranger.output, /unable to get local issuer certificate/);
});

test('certs issue: with no --ip or --dns a node certificate has the default SANs; --days honoured', async (t) => {
  const dir = await scratch(t);
  t.is((await pgherd('init', '--dir', dir)).code, 0);
  const result = await json<CertsIssueResult>(t, 'issue', '--dir', dir, '--name', 'n2', '--days', '90');
  t.deepEqual([result.kind, result.ips, result.dns], ['node', ['127.0.0.1', '::1'], ['n2', 'localhost']]);
  t.deepEqual(result.config, { tls: { ca_file: join(dir, 'ca', 'ca.crt'), cert_file: join(dir, 'n2.crt'), key_file: join(dir, 'n2.key') } });
  const certificate = new X509Certificate(await readFile(result.certFile));
  t.is(certificate.subjectAltName, 'IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:n2, DNS:localhost');
  t.is(Math.round((Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / DAY_MS), 90);
});

test('certs issue --client: client authentication only, no SANs, in --out; pgherdctl\'s flags and environment printed', async (t) => {
  const root = await scratch(t);
  const dir = join(root, 'pki');
  const out = join(root, 'operators');
  t.is((await pgherd('init', '--dir', dir)).code, 0);
  const result = await json<CertsIssueResult>(t, 'issue', '--dir', dir, '--name', 'alice', '--client', '--out', out);
  const caFile = join(dir, 'ca', 'ca.crt');
  const files = { caFile, certFile: join(out, 'alice.crt'), keyFile: join(out, 'alice.key') };
  t.like(result, { kind: 'client', name: 'alice', ...files, ips: [], dns: [], config: undefined });
  t.deepEqual(result.pgherdctl, {
    flags: ['--ca-file', files.caFile, '--cert-file', files.certFile, '--key-file', files.keyFile],
    env: { PGHERDCTL_CA_FILE: files.caFile, PGHERDCTL_CERT_FILE: files.certFile, PGHERDCTL_KEY_FILE: files.keyFile },
  });

  const asClient = openssl('verify', '-CAfile', caFile, '-purpose', 'sslclient', files.certFile);
  t.is(asClient.status, 0, asClient.output);
  const asServer = openssl('verify', '-CAfile', caFile, '-purpose', 'sslserver', files.certFile);
  t.not(asServer.status, 0, 'a client certificate cannot serve');
  const text = openssl('x509', '-in', files.certFile, '-noout', '-text').output;
  t.is(extension(text, 'X509v3 Extended Key Usage'), 'TLS Web Client Authentication');
  t.is(extension(text, 'X509v3 Subject Alternative Name'), undefined);
  t.is(await mode(files.keyFile), 0o600);

  const human = await pgherd('issue', '--dir', dir, '--name', 'bob', '--client');
  t.is(human.code, 0, human.stderr);
  t.true(human.stdout.includes(`--ca-file ${caFile} --cert-file ${join(dir, 'bob.crt')} --key-file ${join(dir, 'bob.key')}`), human.stdout);
  t.true(human.stdout.includes(`PGHERDCTL_KEY_FILE=${join(dir, 'bob.key')}`), human.stdout);
});

test('a client certificate opens the admin service of an agent with a node certificate of the same CA (real mutual TLS); one of another CA is refused', async (t) => {
  const root = await scratch(t);
  const [cluster, other] = [join(root, 'cluster'), join(root, 'other')];
  for (const dir of [cluster, other]) {
    t.is((await pgherd('init', '--dir', dir)).code, 0);
    t.is((await pgherd('issue', '--dir', dir, '--name', 'ops', '--client')).code, 0);
  }
  t.is((await pgherd('issue', '--dir', cluster, '--name', 'n1')).code, 0);
  const caFile = join(cluster, 'ca', 'ca.crt');
  const server = await serveAdminWith(t, { caFile, certFile: join(cluster, 'n1.crt'), keyFile: join(cluster, 'n1.key') }, new MemoryBackend(runningCluster()));

  const client = await AdminClient.connect({ endpoint: server.address, caFile, certFile: join(cluster, 'ops.crt'), keyFile: join(cluster, 'ops.key'), connectTimeoutMs: 5_000 });
  t.teardown(() => client.close());
  t.is((await client.clusterStatus({ local: true })).clusterName, CLUSTER);

  // The stranger trusts the cluster CA (so it accepts the server) but presents a certificate of its own CA.
  const refused = AdminClient.connect({ endpoint: server.address, caFile, certFile: join(other, 'ops.crt'), keyFile: join(other, 'ops.key'), connectTimeoutMs: 3_000 });
  const error = await t.throwsAsync(refused, { instanceOf: AdminCallError });
  t.is(error.status, 'UNAUTHENTICATED');
});

test('certs init refuses to replace an existing CA without --force (exit 2, naming it, nothing changed); --force replaces it', async (t) => {
  const dir = await scratch(t);
  const first = await json<CertsInitResult>(t, 'init', '--dir', dir);
  const before = await listing(dir);
  const again = await pgherd('init', '--dir', dir, '--cluster', 'other');
  t.is(again.code, 2);
  t.is(again.stderr, `error: ${join(dir, 'ca')} already exists: not overwritten (--force replaces it)\n`);
  t.is(again.stdout, '');
  t.deepEqual(await listing(dir), before);

  const oldFingerprint = await fingerprint(first.caFile);
  const replaced = await pgherd('init', '--dir', dir, '--force');
  t.is(replaced.code, 0, replaced.stderr);
  t.regex(replaced.stdout, /^replaced the CA/);
  t.not(await fingerprint(first.caFile), oldFingerprint);
  t.deepEqual(await readdir(dir), ['ca'], 'the old CA is not left beside the new one');
});

test('certs issue refuses to replace an existing certificate or key without --force; --force replaces both', async (t) => {
  const dir = await scratch(t);
  t.is((await pgherd('init', '--dir', dir)).code, 0);
  t.is((await pgherd('issue', '--dir', dir, '--name', 'n1')).code, 0);
  const before = await listing(dir);
  const again = await pgherd('issue', '--dir', dir, '--name', 'n1', '--client');
  t.is(again.code, 2);
  t.is(again.stderr, `error: ${join(dir, 'n1.crt')} already exists: not overwritten (--force replaces it)\n`);
  t.deepEqual(await listing(dir), before);

  // A key alone (its certificate deleted) is not overwritten either.
  await rm(join(dir, 'n1.crt'));
  const keyOnly = await pgherd('issue', '--dir', dir, '--name', 'n1');
  t.is(keyOnly.code, 2);
  t.regex(keyOnly.stderr, new RegExp(`${join(dir, 'n1.key').replace(/[.]/g, '\\.')} already exists`));
  t.deepEqual((await readdir(dir)).sort(), ['ca', 'n1.key']);

  const oldKey = await readFile(join(dir, 'n1.key'));
  const forced = await pgherd('issue', '--dir', dir, '--name', 'n1', '--force');
  t.is(forced.code, 0, forced.stderr);
  t.notDeepEqual(await readFile(join(dir, 'n1.key')), oldKey);
  t.true(new X509Certificate(await readFile(join(dir, 'n1.crt'))).checkPrivateKey(createPrivateKey(await readFile(join(dir, 'n1.key')))));
});

test('bad arguments: exit 2, the argument and what was expected named, nothing written', async (t) => {
  const root = await scratch(t);
  const ca = join(root, 'pki');
  t.is((await pgherd('init', '--dir', ca)).code, 0);
  await writeFile(join(root, 'a-file'), 'x');
  await mkdir(join(root, 'empty'));
  const fresh = join(root, 'new');
  const cases: Array<[string[], RegExp]> = [
    [['init'], /required option '--dir <dir>'/],
    [['init', '--dir', fresh, '--days', '0'], /^error: --days: expected a whole number of days from 1 to 36500, got "0"/],
    [['init', '--dir', fresh, '--days', '12x'], /^error: --days: expected a whole number of days from 1 to 36500, got "12x"/],
    [['init', '--dir', fresh, '--days', '36501'], /^error: --days: expected a whole number/],
    [['init', '--dir', fresh, '--cluster', 'Main Cluster'], /^error: --cluster: expected lowercase letters, digits, "_" and "-", at most 63 characters, got "Main Cluster"/],
    [['init', '--dir', join(root, 'a-file')], /^error: --dir: .*a-file is not a directory/],
    [['init', '--dir', ''], /^error: --dir: expected a directory, got ""/],
    [['issue', '--dir', ca], /required option '--name <name>'/],
    [['issue', '--dir', ca, '--name', 'N 1'], /^error: --name: expected lowercase letters, digits, "_" and "-".*got "N 1"/],
    [['issue', '--dir', ca, '--name', '../n1'], /^error: --name: expected/],
    [['issue', '--dir', ca, '--name', 'n1', '--ip', '10.0.0.256'], /^error: --ip: expected an IPv4 or IPv6 address \(no brackets, no port\), got "10\.0\.0\.256"/],
    [['issue', '--dir', ca, '--name', 'n1', '--ip', '[::1]'], /^error: --ip: expected an IPv4 or IPv6 address/],
    [['issue', '--dir', ca, '--name', 'n1', '--dns', 'db1..example.com'], /^error: --dns: expected a DNS name .*got "db1\.\.example\.com"/],
    [['issue', '--dir', ca, '--name', 'n1', '--dns', '*.example.com'], /^error: --dns: expected a DNS name/],
    [['issue', '--dir', ca, '--name', 'n1', '--dns', 'db1.example.com:7400'], /^error: --dns: expected a DNS name/],
    [['issue', '--dir', ca, '--name', 'ops', '--client', '--ip', '10.0.0.1'], /^error: --ip: a client certificate \(--client\) names no addresses/],
    [['issue', '--dir', ca, '--name', 'ops', '--client', '--dns', 'ops.example.com'], /^error: --dns: a client certificate/],
    [['issue', '--dir', ca, '--name', 'n1', '--days', '-5'], /^error: --days: expected a whole number/],
    [['issue', '--dir', ca, '--name', 'n1', '--days', '5000'], /^error: --days: 5000 days would outlive the CA \(valid until \d{4}-.*\): at most 36\d\d\n/],
    [['issue', '--dir', join(root, 'empty'), '--name', 'n1'], /^error: --dir: no usable CA in .*empty: .*ca\.crt: cannot load the certificate \(ENOENT\) \(make one with pgherd certs init --dir .*empty\)/],
    [['issue', '--dir', ca, '--name', 'n1', '--out', join(root, 'a-file')], /^error: --out: .*a-file is not a directory/],
    [['issue', '--dir', ca, '--name', 'n1', '--bogus'], /unknown option '--bogus'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];
  const before = await listing(root);
  for (const [argv, expected] of cases) {
    const run = await pgherd(...argv);
    t.is(run.code, 2, `${argv.join(' ')}: ${run.stderr}`);
    t.regex(run.stderr, expected, argv.join(' '));
    t.is(run.stdout, '', argv.join(' '));
  }
  t.deepEqual(await listing(root), before, 'nothing was written');
});

test('a CA shorter-lived than the default certificate: issue without --days says the default is too long', async (t) => {
  const dir = await scratch(t);
  t.is((await pgherd('init', '--dir', dir, '--days', '100')).code, 0);
  const run = await pgherd('issue', '--dir', dir, '--name', 'n1');
  t.is(run.code, 2);
  t.regex(run.stderr, /^error: --days: 825 days \(the default\) would outlive the CA .*: at most 99\n/);
  t.is((await pgherd('issue', '--dir', dir, '--name', 'n1', '--days', '99')).code, 0);
});

test.serial('openssl missing: exit 3 naming the package to install, nothing left behind', async (t) => {
  const root = await scratch(t);
  const path = process.env.PATH;
  process.env.PATH = join(root, 'no-bin');
  t.teardown(() => {
    process.env.PATH = path;
  });
  const run = await pgherd('init', '--dir', join(root, 'pki'));
  process.env.PATH = path;
  t.is(run.code, 3);
  t.regex(run.stderr, /^error: PGHERD_TLS_OPENSSL_MISSING: .*install the 'openssl' package/);
  t.deepEqual(await readdir(join(root, 'pki')), [], 'no half-made CA');
});
