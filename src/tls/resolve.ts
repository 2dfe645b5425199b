import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { isWildcardHost, parseHostPort } from '../config/address.js';
import type { Config } from '../config/schema.js';
import { assert } from '../lib/assert.js';
import type { Logger } from '../lib/logger.js';
import { AdminTokens } from './admin-tokens.js';
import { insecureCredentials, mutualTlsCredentials, type GateOptions, type TlsCredentials } from './credentials.js';
import { ensureLocalCa, issueNodeCertificate, type GenerateOptions, type LocalCa, type NodeCertificate, type NodeIdentity } from './generate.js';

/** A generated node certificate this close to expiry is reissued at start-up. */
export const RENEW_BEFORE_EXPIRY_MS = 30 * 24 * 3_600_000;

/** Loopback names every generated node certificate carries (here and `pgherd certs issue`), so a local pgherdctl can dial 127.0.0.1 / [::1] / localhost. */
export const LOOPBACK_IPS: readonly string[] = ['127.0.0.1', '::1'];
export const LOOPBACK_DNS: readonly string[] = ['localhost'];

/** The part of the configuration TLS depends on (admin: the bearer tokens the server admits; absent: none). */
export type TlsConfigView = Pick<Config, 'name' | 'data_dir' | 'tls'> & { readonly raft: Pick<Config['raft'], 'bind' | 'advertise'>; readonly admin?: Pick<Config['admin'], 'tokens'> };

export interface ResolveTlsOptions extends GenerateOptions {
  /**
   * Where the local CA lives when no files are configured; default
   * <data_dir>/tls. Every node makes its own CA there otherwise, and nodes
   * with different CAs refuse each other: nodes that must form one cluster
   * (the demo: all under one root) pass one shared directory.
   */
  readonly caDir?: string;
  /** For tests: the current time, deciding whether an existing node certificate is about to expire. */
  readonly nowMs?: number;
}

export type TlsSource = 'insecure' | 'files' | 'generated';

export interface ResolvedTls extends TlsCredentials {
  readonly source: TlsSource;
}

/**
 * The gRPC credentials of this node, by the tls section:
 * - insecure: plain text (a warning is logged here; callers need not repeat it);
 * - ca_file/cert_file/key_file: mutual TLS with them;
 * - none: mutual TLS with a local CA in `caDir` (default <data_dir>/tls, reused
 *   when present) and a node certificate in <data_dir>/tls/<name>.{crt,key}
 *   for the advertise and bind hosts plus loopback (reused while it still
 *   fits, reissued otherwise). For demos; production configures its own files.
 */
export async function resolveTls(config: TlsConfigView, logger: Logger, options: ResolveTlsOptions = {}): Promise<ResolvedTls> {
  const log = logger.child({ component: 'tls' });
  const { tls } = config;
  if (tls.insecure) {
    log.warn({ reason: 'tls.insecure is true: peer and admin gRPC are plain text and unauthenticated; for tests only' }, 'tls.insecure');
    return { ...insecureCredentials(), source: 'insecure' };
  }
  const tokens = config.admin?.tokens ?? [];
  const gate: GateOptions = { tokens: new AdminTokens(tokens), logger };
  // Names only: which holders can call the admin service without a certificate.
  if (tokens.length > 0) log.info({ tokens: tokens.map((token) => token.name) }, 'tls.admin_tokens');
  if (tls.ca_file !== undefined || tls.cert_file !== undefined || tls.key_file !== undefined) {
    assert(tls.ca_file !== undefined && tls.cert_file !== undefined && tls.key_file !== undefined, 'tls: config rules admit all three files or none');
    const credentials = mutualTlsCredentials({ caFile: tls.ca_file, certFile: tls.cert_file, keyFile: tls.key_file }, gate);
    log.info({ caFile: tls.ca_file, certFile: tls.cert_file }, 'tls.configured');
    return { ...credentials, source: 'files' };
  }
  const nodeDir = join(config.data_dir, 'tls');
  const caDir = options.caDir ?? nodeDir;
  const ca = await ensureLocalCa(caDir, options);
  const identity = nodeIdentity(config);
  const node = { certPath: join(nodeDir, `${identity.name}.crt`), keyPath: join(nodeDir, `${identity.name}.key`) };
  const stale = await whyNotReusable(ca, node, identity, options.nowMs ?? Date.now());
  if (stale !== undefined) await issueNodeCertificate(ca, nodeDir, identity, options);
  log.info(
    { caDir, certFile: node.certPath, reused: stale === undefined, issuedBecause: stale, ips: identity.ips, dns: identity.dns, reason: 'no tls files configured: local CA (for demos; production configures its own)' },
    'tls.local_ca',
  );
  const credentials = mutualTlsCredentials({ caFile: ca.caCertPath, certFile: node.certPath, keyFile: node.keyPath }, gate);
  return { ...credentials, source: 'generated' };
}

/** CN = member name; SANs = the advertise and bind hosts (unless wildcards) and loopback. */
export function nodeIdentity(config: TlsConfigView): NodeIdentity {
  const hosts = [config.raft.advertise, config.raft.bind].map((address) => parseHostPort(address)!.host).filter((host) => !isWildcardHost(host));
  const ips = [...new Set([...hosts.filter((host) => isIP(host) !== 0), ...LOOPBACK_IPS])];
  const dns = [...new Set([...hosts.filter((host) => isIP(host) === 0).map((host) => host.toLowerCase()), ...LOOPBACK_DNS])];
  return { name: config.name, ips, dns };
}

/** undefined when the existing node certificate can be reused; otherwise why it must be (re)issued. */
async function whyNotReusable(ca: LocalCa, node: NodeCertificate, identity: NodeIdentity, nowMs: number): Promise<string | undefined> {
  let certificate: X509Certificate;
  let caCertificate: X509Certificate;
  try {
    certificate = new X509Certificate(await readFile(node.certPath));
    caCertificate = new X509Certificate(await readFile(ca.caCertPath));
    if (!certificate.checkPrivateKey(createPrivateKey(await readFile(node.keyPath)))) return 'key_mismatch';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
  if (!certificate.checkIssued(caCertificate) || !certificate.verify(caCertificate.publicKey)) return 'other_ca';
  if (Date.parse(certificate.validTo) - nowMs < RENEW_BEFORE_EXPIRY_MS) return 'expiring';
  const covered = identity.ips.every((ip) => certificate.checkIP(ip) !== undefined) && identity.dns.every((name) => certificate.checkHost(name, { subject: 'never' }) !== undefined);
  return covered ? undefined : 'addresses_changed';
}
