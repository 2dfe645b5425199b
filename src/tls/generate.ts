import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { MEMBER_NAME_PATTERN } from '../config/member-name.js';
import { assert } from '../lib/assert.js';
import { CertificateGenerationError } from './errors.js';
import { runOpenssl } from './openssl.js';

/**
 * A local CA and node certificates for demos and tests, made with the
 * `openssl` command (EC P-256, SHA-256). Production configures its own files
 * (tls.ca_file, tls.cert_file, tls.key_file).
 *
 * Layout: <dir>/ca/{ca.crt,ca.key} for the CA, <dir>/<name>.{crt,key} per
 * node. Keys are 0600, directories 0700. Everything is made in a temporary
 * directory next to its destination and renamed into place, so a crash never
 * leaves half a CA, and nodes sharing one CA directory that start at once
 * agree on a single CA (the directory rename is atomic; the loser uses the
 * winner's CA).
 */

export const CA_VALIDITY_DAYS = 3650;
export const NODE_CERT_VALIDITY_DAYS = 825;

export interface LocalCa {
  readonly caCertPath: string;
  readonly caKeyPath: string;
}

export interface NodeCertificate {
  readonly certPath: string;
  readonly keyPath: string;
}

/** What a node certificate says: CN = name; SANs = the IPs and DNS names it may be dialled by (at least one). */
export interface NodeIdentity {
  readonly name: string;
  readonly ips: readonly string[];
  readonly dns: readonly string[];
}

export interface GenerateOptions {
  /** The openssl executable; default 'openssl' from PATH. */
  readonly openssl?: string;
}

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*$/;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const DIR_MODE = 0o700;

/** The CA in <dir>/ca: reused when present (and checked), else generated. */
export async function ensureLocalCa(dir: string, options: GenerateOptions = {}): Promise<LocalCa> {
  const caDir = join(dir, 'ca');
  const ca = { caCertPath: join(caDir, 'ca.crt'), caKeyPath: join(caDir, 'ca.key') };
  if (await exists(caDir)) return checkLocalCa(ca);
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  const tmp = await mkdtemp(join(dir, '.ca-'));
  try {
    const configPath = join(tmp, 'ca.cnf');
    await writeFile(configPath, caConfig(`pgherd local CA ${randomBytes(4).toString('hex')}`));
    const openssl = options.openssl ?? 'openssl';
    await runOpenssl(openssl, generateKeyArgs(join(tmp, 'ca.key')), join(tmp, 'ca.key'));
    await runOpenssl(
      openssl,
      ['req', '-x509', '-new', '-config', configPath, '-key', join(tmp, 'ca.key'), '-sha256', '-days', String(CA_VALIDITY_DAYS), '-out', join(tmp, 'ca.crt')],
      ca.caCertPath,
    );
    await chmod(join(tmp, 'ca.key'), KEY_MODE);
    await chmod(join(tmp, 'ca.crt'), CERT_MODE);
    await rm(configPath);
    try {
      await rename(tmp, caDir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw new CertificateGenerationError(caDir, `cannot move the new CA into place (${code})`, { cause: error });
      // Another process sharing this directory made its CA first: use that one.
    }
    return await checkLocalCa(ca);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Issue (or replace) <dir>/<name>.{crt,key}, signed by `ca`, valid NODE_CERT_VALIDITY_DAYS, for client and server use. */
export async function issueNodeCertificate(ca: LocalCa, dir: string, identity: NodeIdentity, options: GenerateOptions = {}): Promise<NodeCertificate> {
  checkIdentity(identity);
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  const result = { certPath: join(dir, `${identity.name}.crt`), keyPath: join(dir, `${identity.name}.key`) };
  const tmp = await mkdtemp(join(dir, '.node-'));
  try {
    const [configPath, keyPath, csrPath, certPath] = ['node.cnf', 'node.key', 'node.csr', 'node.crt'].map((file) => join(tmp, file)) as [string, string, string, string];
    await writeFile(configPath, nodeConfig(identity));
    const openssl = options.openssl ?? 'openssl';
    await runOpenssl(openssl, generateKeyArgs(keyPath), result.keyPath);
    await runOpenssl(openssl, ['req', '-new', '-config', configPath, '-key', keyPath, '-out', csrPath], result.certPath);
    const serial = randomBytes(16);
    serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and non-zero, as RFC 5280 wants
    await runOpenssl(
      openssl,
      ['x509', '-req', '-in', csrPath, '-CA', ca.caCertPath, '-CAkey', ca.caKeyPath, '-set_serial', `0x${serial.toString('hex')}`, '-sha256',
        '-days', String(NODE_CERT_VALIDITY_DAYS), '-extfile', configPath, '-extensions', 'node_ext', '-out', certPath],
      result.certPath,
    );
    await chmod(keyPath, KEY_MODE);
    await chmod(certPath, CERT_MODE);
    // Key first: a crash in between leaves a key that does not match the old certificate, which resolveTls detects and reissues.
    await rename(keyPath, result.keyPath);
    await rename(certPath, result.certPath);
    return result;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function generateKeyArgs(out: string): string[] {
  return ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', out];
}

/** Every value written into an openssl config file is checked first: nothing else can end up in it. */
function checkIdentity(identity: NodeIdentity): void {
  assert(MEMBER_NAME_PATTERN.test(identity.name), () => `node certificate: invalid member name ${JSON.stringify(identity.name)}`);
  assert(identity.ips.length + identity.dns.length > 0, 'node certificate: at least one IP address or DNS name is required');
  for (const ip of identity.ips) assert(isIP(ip) !== 0, () => `node certificate: invalid IP address ${JSON.stringify(ip)}`);
  for (const name of identity.dns) assert(DNS_NAME.test(name), () => `node certificate: invalid DNS name ${JSON.stringify(name)}`);
}

function caConfig(commonName: string): string {
  return [
    '[req]', 'distinguished_name = dn', 'prompt = no', 'x509_extensions = ca_ext', '',
    '[dn]', `CN = ${commonName}`, '',
    '[ca_ext]', 'basicConstraints = critical, CA:TRUE, pathlen:0', 'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid:always', '',
  ].join('\n');
}

function nodeConfig(identity: NodeIdentity): string {
  return [
    '[req]', 'distinguished_name = dn', 'prompt = no', '',
    '[dn]', `CN = ${identity.name}`, '',
    '[node_ext]', 'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth, clientAuth', 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid', 'subjectAltName = @alt', '',
    '[alt]', ...identity.ips.map((ip, i) => `IP.${i + 1} = ${ip}`), ...identity.dns.map((name, i) => `DNS.${i + 1} = ${name}`), '',
  ].join('\n');
}

/** An existing CA must be whole and usable; it is never silently replaced (nodes may already trust it). */
async function checkLocalCa(ca: LocalCa): Promise<LocalCa> {
  const certificate = await readCertificate(ca.caCertPath);
  if (!certificate.ca) throw new CertificateGenerationError(ca.caCertPath, 'is not a CA certificate; remove the directory to generate a new local CA');
  let key;
  try {
    key = createPrivateKey(await readFile(ca.caKeyPath));
  } catch (error) {
    throw new CertificateGenerationError(ca.caKeyPath, `cannot load the local CA key (${describe(error)}); remove the directory to generate a new local CA`, { cause: error });
  }
  if (!certificate.checkPrivateKey(key)) throw new CertificateGenerationError(ca.caKeyPath, `is not the key of ${ca.caCertPath}; remove the directory to generate a new local CA`);
  return ca;
}

async function readCertificate(path: string): Promise<X509Certificate> {
  try {
    return new X509Certificate(await readFile(path));
  } catch (error) {
    throw new CertificateGenerationError(path, `cannot load the certificate (${describe(error)})`, { cause: error });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CertificateGenerationError(path, `cannot inspect (${describe(error)})`, { cause: error });
  }
}

function describe(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
