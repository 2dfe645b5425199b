import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { chmod, link, mkdir, mkdtemp, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { MEMBER_NAME_PATTERN } from '../config/member-name.js';
import { assert } from '../lib/assert.js';
import { CertificateExistsError, CertificateGenerationError } from './errors.js';
import { runOpenssl } from './openssl.js';

/**
 * A CA and certificates made with the `openssl` command (EC P-256, SHA-256),
 * for the agent's local CA (resolve.ts: demos and tests) and for
 * `pgherd certs` (operators making the files tls.ca_file, cert_file and
 * key_file name).
 *
 * Layout: <dir>/ca/{ca.crt,ca.key} for the CA, <dir>/<name>.{crt,key} per
 * certificate. Keys are 0600, certificates 0644, new directories 0700.
 * Everything is made in a temporary directory next to its destination and
 * renamed into place, so a crash never leaves half a CA, and nodes sharing
 * one CA directory that start at once agree on a single CA (the directory
 * rename is atomic; the loser uses the winner's CA).
 */

export const CA_VALIDITY_DAYS = 3650;
export const NODE_CERT_VALIDITY_DAYS = 825;
/** The longest validity asked for (`pgherd certs --days`): 100 years. */
export const VALIDITY_DAYS_MAX = 36_500;

export interface LocalCa {
  readonly caCertPath: string;
  readonly caKeyPath: string;
}

export interface NodeCertificate {
  readonly certPath: string;
  readonly keyPath: string;
}

/** What a certificate says: CN = name; SANs = the IPs and DNS names it may be dialled by (a node needs at least one; a client certificate may have none). */
export interface NodeIdentity {
  readonly name: string;
  readonly ips: readonly string[];
  readonly dns: readonly string[];
}

/** node: serverAuth and clientAuth (a member serves and dials); client: clientAuth only (an operator's pgherdctl: it can never serve). */
export type CertificateUsage = 'node' | 'client';

export interface GenerateOptions {
  /** The openssl executable; default 'openssl' from PATH. */
  readonly openssl?: string;
}

export interface CreateCaOptions extends GenerateOptions {
  /** Put into the CA's common name (`pgherd CA <label> <random>`), e.g. the cluster name: letters, digits, "_" and "-". */
  readonly label?: string;
  /** Validity; default CA_VALIDITY_DAYS. */
  readonly days?: number;
  /** Replace a CA already at <dir>/ca; without it that is a CertificateExistsError and nothing changes. */
  readonly replace?: boolean;
}

export interface IssueOptions extends GenerateOptions {
  /** Default 'node'. */
  readonly usage?: CertificateUsage;
  /** Validity; default NODE_CERT_VALIDITY_DAYS. */
  readonly days?: number;
  /** false: an existing <name>.crt or <name>.key is a CertificateExistsError and nothing changes. Default true (the agent reissues its own). */
  readonly replace?: boolean;
}

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*$/;
const CA_LABEL = /^[A-Za-z0-9_-]{1,63}$/;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const DIR_MODE = 0o700;

/** A DNS name a certificate may carry as a SAN (no wildcards). */
export function isDnsName(name: string): boolean {
  return DNS_NAME.test(name);
}

/** Where the CA of a CA directory (tls.local_ca_dir, `pgherd certs --dir`) lives. */
export function localCaPaths(dir: string): LocalCa {
  return { caCertPath: join(dir, 'ca', 'ca.crt'), caKeyPath: join(dir, 'ca', 'ca.key') };
}

/** The CA in <dir>/ca: reused when present (and checked), else generated. */
export async function ensureLocalCa(dir: string, options: GenerateOptions = {}): Promise<LocalCa> {
  const ca = localCaPaths(dir);
  const caDir = dirname(ca.caCertPath);
  if (await exists(caDir)) return checkLocalCa(ca);
  return makeCa(dir, `pgherd local CA ${randomBytes(4).toString('hex')}`, CA_VALIDITY_DAYS, options, async (tmp) => {
    try {
      await rename(tmp, caDir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw new CertificateGenerationError(caDir, `cannot move the new CA into place (${code})`, { cause: error });
      // Another process sharing this directory made its CA first: use that one.
    }
  });
}

/** A new CA in <dir>/ca (`pgherd certs init`): an existing one is replaced only with `replace`. */
export async function createCa(dir: string, options: CreateCaOptions = {}): Promise<LocalCa> {
  assert(options.label === undefined || CA_LABEL.test(options.label), () => `CA label: invalid ${JSON.stringify(options.label)}`);
  const days = options.days ?? CA_VALIDITY_DAYS;
  checkDays(days);
  const caDir = dirname(localCaPaths(dir).caCertPath);
  if (options.replace !== true && (await exists(caDir))) throw new CertificateExistsError(caDir);
  const commonName = ['pgherd CA', ...(options.label === undefined ? [] : [options.label]), randomBytes(4).toString('hex')].join(' ');
  return makeCa(dir, commonName, days, options, async (tmp) => {
    if (options.replace === true) return swapIn(tmp, caDir);
    try {
      await rename(tmp, caDir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new CertificateExistsError(caDir, { cause: error });
      throw new CertificateGenerationError(caDir, `cannot move the new CA into place (${code})`, { cause: error });
    }
  });
}

/** Make a CA in a temporary directory under `dir`, hand it to `install` (which moves it to <dir>/ca), then check what <dir>/ca holds. */
async function makeCa(dir: string, commonName: string, days: number, options: GenerateOptions, install: (tmp: string) => Promise<void>): Promise<LocalCa> {
  const ca = localCaPaths(dir);
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  const tmp = await mkdtemp(join(dir, '.ca-'));
  try {
    const configPath = join(tmp, 'ca.cnf');
    await writeFile(configPath, caConfig(commonName));
    const openssl = options.openssl ?? 'openssl';
    await runOpenssl(openssl, generateKeyArgs(join(tmp, 'ca.key')), join(tmp, 'ca.key'));
    await runOpenssl(
      openssl,
      ['req', '-x509', '-new', '-config', configPath, '-key', join(tmp, 'ca.key'), '-sha256', '-days', String(days), '-out', join(tmp, 'ca.crt')],
      ca.caCertPath,
    );
    await chmod(join(tmp, 'ca.key'), KEY_MODE);
    await chmod(join(tmp, 'ca.crt'), CERT_MODE);
    await rm(configPath);
    await install(tmp);
    return await checkLocalCa(ca);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Replace `target` (if any) by `tmp`: the old one is moved aside first and put back if the new one cannot be moved in. */
async function swapIn(tmp: string, target: string): Promise<void> {
  const aside = `${tmp}-replaced`;
  let moved = false;
  try {
    await rename(target, aside);
    moved = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new CertificateGenerationError(target, `cannot move the old CA aside (${describe(error)})`, { cause: error });
  }
  try {
    await rename(tmp, target);
  } catch (error) {
    if (moved) await rename(aside, target).catch(() => undefined);
    throw new CertificateGenerationError(target, `cannot move the new CA into place (${describe(error)})`, { cause: error });
  }
  if (moved) await rm(aside, { recursive: true, force: true });
}

/** Issue (or replace) <dir>/<name>.{crt,key}, signed by `ca`, valid NODE_CERT_VALIDITY_DAYS, for client and server use: the agent's own certificate. */
export function issueNodeCertificate(ca: LocalCa, dir: string, identity: NodeIdentity, options: GenerateOptions = {}): Promise<NodeCertificate> {
  return issueCertificate(ca, dir, identity, { ...options, usage: 'node', replace: true });
}

/** Issue <dir>/<name>.{crt,key} signed by `ca`, for `usage`; an existing pair is replaced unless `replace: false`. */
export async function issueCertificate(ca: LocalCa, dir: string, identity: NodeIdentity, options: IssueOptions = {}): Promise<NodeCertificate> {
  const usage = options.usage ?? 'node';
  const days = options.days ?? NODE_CERT_VALIDITY_DAYS;
  checkIdentity(identity, usage);
  checkDays(days);
  const result = { certPath: join(dir, `${identity.name}.crt`), keyPath: join(dir, `${identity.name}.key`) };
  const replace = options.replace ?? true;
  if (!replace) for (const path of [result.certPath, result.keyPath]) if (await exists(path)) throw new CertificateExistsError(path);
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  const tmp = await mkdtemp(join(dir, '.cert-'));
  try {
    const [configPath, keyPath, csrPath, certPath] = ['cert.cnf', 'cert.key', 'cert.csr', 'cert.crt'].map((file) => join(tmp, file)) as [string, string, string, string];
    await writeFile(configPath, certificateConfig(identity, usage));
    const openssl = options.openssl ?? 'openssl';
    await runOpenssl(openssl, generateKeyArgs(keyPath), result.keyPath);
    await runOpenssl(openssl, ['req', '-new', '-config', configPath, '-key', keyPath, '-out', csrPath], result.certPath);
    const serial = randomBytes(16);
    serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and non-zero, as RFC 5280 wants
    await runOpenssl(
      openssl,
      ['x509', '-req', '-in', csrPath, '-CA', ca.caCertPath, '-CAkey', ca.caKeyPath, '-set_serial', `0x${serial.toString('hex')}`, '-sha256',
        '-days', String(days), '-extfile', configPath, '-extensions', 'cert_ext', '-out', certPath],
      result.certPath,
    );
    await chmod(keyPath, KEY_MODE);
    await chmod(certPath, CERT_MODE);
    if (replace) {
      // Key first: a crash in between leaves a key that does not match the old certificate, which resolveTls detects and reissues.
      await rename(keyPath, result.keyPath);
      await rename(certPath, result.certPath);
    } else {
      await linkNew(keyPath, result.keyPath);
      try {
        await linkNew(certPath, result.certPath);
      } catch (error) {
        await unlink(result.keyPath).catch(() => undefined);
        throw error;
      }
    }
    return result;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Unlike rename, link never replaces a file: one that appeared since the check is still not overwritten. */
async function linkNew(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CertificateExistsError(to, { cause: error });
    throw new CertificateGenerationError(to, `cannot move into place (${describe(error)})`, { cause: error });
  }
}

function generateKeyArgs(out: string): string[] {
  return ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', out];
}

/** Every value written into an openssl config file is checked first: nothing else can end up in it. */
function checkIdentity(identity: NodeIdentity, usage: CertificateUsage): void {
  assert(MEMBER_NAME_PATTERN.test(identity.name), () => `certificate: invalid name ${JSON.stringify(identity.name)}`);
  assert(usage === 'client' || identity.ips.length + identity.dns.length > 0, 'node certificate: at least one IP address or DNS name is required');
  for (const ip of identity.ips) assert(isIP(ip) !== 0, () => `certificate: invalid IP address ${JSON.stringify(ip)}`);
  for (const name of identity.dns) assert(isDnsName(name), () => `certificate: invalid DNS name ${JSON.stringify(name)}`);
}

function checkDays(days: number): void {
  assert(Number.isInteger(days) && days >= 1 && days <= VALIDITY_DAYS_MAX, () => `certificate validity: ${days} days is not a whole number from 1 to ${VALIDITY_DAYS_MAX}`);
}

function caConfig(commonName: string): string {
  return [
    '[req]', 'distinguished_name = dn', 'prompt = no', 'x509_extensions = ca_ext', '',
    '[dn]', `CN = ${commonName}`, '',
    '[ca_ext]', 'basicConstraints = critical, CA:TRUE, pathlen:0', 'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid:always', '',
  ].join('\n');
}

function certificateConfig(identity: NodeIdentity, usage: CertificateUsage): string {
  const sans = [...identity.ips.map((ip, i) => `IP.${i + 1} = ${ip}`), ...identity.dns.map((name, i) => `DNS.${i + 1} = ${name}`)];
  return [
    '[req]', 'distinguished_name = dn', 'prompt = no', '',
    '[dn]', `CN = ${identity.name}`, '',
    '[cert_ext]', 'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature',
    `extendedKeyUsage = ${usage === 'node' ? 'serverAuth, clientAuth' : 'clientAuth'}`, 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid',
    ...(sans.length > 0 ? ['subjectAltName = @alt', '', '[alt]', ...sans] : []), '',
  ].join('\n');
}

/** An existing CA must be whole and usable; it is never silently replaced (nodes may already trust it). */
export async function checkLocalCa(ca: LocalCa): Promise<LocalCa> {
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
