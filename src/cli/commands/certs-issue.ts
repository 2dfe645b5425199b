import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import YAML from 'yaml';
import { MEMBER_NAME_FORM, MEMBER_NAME_PATTERN } from '../../config/member-name.js';
import { CertificateGenerationError } from '../../tls/errors.js';
import { NODE_CERT_VALIDITY_DAYS, checkLocalCa, isDnsName, issueCertificate, localCaPaths, type LocalCa, type NodeIdentity } from '../../tls/generate.js';
import { LOOPBACK_DNS, LOOPBACK_IPS } from '../../tls/resolve.js';
import { CertsUsageError, DAY_MS, collect, daysOf, directoryOf, isoDate, runCerts, shellWord } from './certs-shared.js';
import type { CommandIo } from './validate-config.js';

interface IssueFlags {
  readonly dir: string;
  readonly name: string;
  readonly ip?: string[];
  readonly dns?: string[];
  readonly client?: boolean;
  readonly out?: string;
  readonly days?: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

/** What `certs issue --json` prints (stable field names): the files, and how to use them. */
export interface CertsIssueResult {
  readonly kind: 'node' | 'client';
  readonly name: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Subject alternative names (none for a client certificate). */
  readonly ips: readonly string[];
  readonly dns: readonly string[];
  readonly notAfter: string;
  /** node: the agent's configuration. */
  readonly config?: { readonly tls: { readonly ca_file: string; readonly cert_file: string; readonly key_file: string } };
  /** client: pgherdctl's flags, or its environment. */
  readonly pgherdctl?: { readonly flags: readonly string[]; readonly env: Readonly<Record<string, string>> };
}

/**
 * `pgherd certs issue --dir DIR --name NAME [--ip A]... [--dns H]... [--client] [--out DIR] [--days N] [--force] [--json]`:
 * a certificate signed by the CA in DIR/ca (`certs init`), written to
 * OUT/NAME.crt (0644) and OUT/NAME.key (0600), OUT defaulting to DIR.
 * - node (default): server and client use, CN = NAME, SANs = the --ip and
 *   --dns given plus NAME, localhost, 127.0.0.1 and ::1 (what a local
 *   pgherdctl dials); prints the agent's tls section.
 * - --client: an operator's certificate for pgherdctl, client use only (it
 *   cannot serve as a member), no SANs; prints pgherdctl's flags and environment.
 * Existing files are never overwritten without --force (exit 2 naming the file).
 */
export function registerCertsIssue(certs: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  certs
    .command('issue')
    .description('issue a node certificate (an agent\'s tls.cert_file) or, with --client, an operator\'s certificate for pgherdctl, signed by the CA in DIR')
    .requiredOption('--dir <dir>', 'the CA directory of `pgherd certs init`')
    .requiredOption('--name <name>', `the member name (a node) or the operator's name (--client): ${MEMBER_NAME_FORM}`)
    .option('--ip <address>', 'an IP address the node is dialled on (repeatable or comma-separated); 127.0.0.1 and ::1 are always included', collect)
    .option('--dns <name>', 'a DNS name the node is dialled by (repeatable or comma-separated); NAME and localhost are always included', collect)
    .option('--client', 'a client certificate for pgherdctl (client authentication only; no --ip or --dns)')
    .option('--out <dir>', 'where NAME.crt and NAME.key go (default: DIR)')
    .option('--days <n>', `validity in days (default ${NODE_CERT_VALIDITY_DAYS}); not beyond the CA's`)
    .option('--force', 'replace existing NAME.crt and NAME.key')
    .option('--json', 'print the result as JSON')
    .action(async (flags: IssueFlags) => {
      setExitCode(await runCerts(io, () => issue(flags, io)));
    });
}

async function issue(flags: IssueFlags, io: CommandIo): Promise<void> {
  const dir = directoryOf(flags.dir, '--dir');
  const out = flags.out === undefined ? dir : directoryOf(flags.out, '--out');
  const kind = flags.client === true ? 'client' : 'node';
  const identity = identityOf(flags, kind);
  const days = daysOf(flags.days, NODE_CERT_VALIDITY_DAYS);
  const ca = await usableCa(dir, days, flags.days === undefined);
  const issued = await issueCertificate(ca, out, identity, { usage: kind, days, replace: flags.force === true });
  const certificate = new X509Certificate(await readFile(issued.certPath));
  const files = { caFile: ca.caCertPath, certFile: issued.certPath, keyFile: issued.keyPath };
  const result: CertsIssueResult = {
    kind,
    name: identity.name,
    ...files,
    ips: identity.ips,
    dns: identity.dns,
    notAfter: isoDate(certificate.validTo),
    ...(kind === 'node'
      ? { config: { tls: { ca_file: files.caFile, cert_file: files.certFile, key_file: files.keyFile } } }
      : {
          pgherdctl: {
            flags: ['--ca-file', files.caFile, '--cert-file', files.certFile, '--key-file', files.keyFile],
            env: { PGHERDCTL_CA_FILE: files.caFile, PGHERDCTL_CERT_FILE: files.certFile, PGHERDCTL_KEY_FILE: files.keyFile },
          },
        }),
  };
  io.stdout(flags.json === true ? `${JSON.stringify(result)}\n` : render(result));
}

/** The certificate's name and SANs from the flags, each checked (the message names the flag). */
function identityOf(flags: IssueFlags, kind: 'node' | 'client'): NodeIdentity {
  if (!MEMBER_NAME_PATTERN.test(flags.name)) throw new CertsUsageError(`--name: expected ${MEMBER_NAME_FORM}, got ${JSON.stringify(flags.name)}`);
  const ips = flags.ip ?? [];
  const dns = (flags.dns ?? []).map((name) => name.toLowerCase());
  if (kind === 'client') {
    if (ips.length > 0 || dns.length > 0) throw new CertsUsageError(`${ips.length > 0 ? '--ip' : '--dns'}: a client certificate (--client) names no addresses: pgherdctl presents it, it never serves`);
    return { name: flags.name, ips: [], dns: [] };
  }
  for (const ip of ips) if (isIP(ip) === 0) throw new CertsUsageError(`--ip: expected an IPv4 or IPv6 address (no brackets, no port), got ${JSON.stringify(ip)}`);
  for (const name of dns) if (!isDnsName(name)) throw new CertsUsageError(`--dns: expected a DNS name (letters, digits, "-" and "_" in dot-separated labels; no wildcard, no port), got ${JSON.stringify(name)}`);
  return { name: flags.name, ips: [...new Set([...ips, ...LOOPBACK_IPS])], dns: [...new Set([...dns, flags.name, ...LOOPBACK_DNS])] };
}

/** The CA in DIR, whole (certificate, matching key) and valid for `days` more days. */
async function usableCa(dir: string, days: number, defaultDays: boolean): Promise<LocalCa> {
  let ca: LocalCa;
  try {
    ca = await checkLocalCa(localCaPaths(dir));
  } catch (error) {
    if (!(error instanceof CertificateGenerationError)) throw error;
    throw new CertsUsageError(`--dir: no usable CA in ${dir}: ${error.message} (make one with pgherd certs init --dir ${shellWord(dir)})`);
  }
  const notAfterMs = Date.parse(new X509Certificate(await readFile(ca.caCertPath)).validTo);
  const daysLeft = Math.floor((notAfterMs - Date.now()) / DAY_MS);
  if (daysLeft < 1) throw new CertsUsageError(`--dir: the CA in ${dir} expires ${new Date(notAfterMs).toISOString()}: make a new one (pgherd certs init --force)`);
  if (days > daysLeft) {
    throw new CertsUsageError(`--days: ${days} days${defaultDays ? ' (the default)' : ''} would outlive the CA (valid until ${new Date(notAfterMs).toISOString()}): at most ${daysLeft}`);
  }
  return ca;
}

function render(result: CertsIssueResult): string {
  const names = [...result.ips.map((ip) => `IP ${ip}`), ...result.dns.map((name) => `DNS ${name}`)];
  const head = [
    result.kind === 'node'
      ? `issued the node certificate ${result.name} (server and client), signed by ${result.caFile}, valid until ${result.notAfter}`
      : `issued the client certificate ${result.name} for pgherdctl (client authentication only), signed by ${result.caFile}, valid until ${result.notAfter}`,
    `  certificate  ${result.certFile}`,
    `  key          ${result.keyFile}  (secret)`,
    ...(names.length > 0 ? [`  names        ${names.join(', ')}`] : []),
  ];
  if (result.config !== undefined) return [...head, 'the agent\'s configuration:', YAML.stringify(result.config, { lineWidth: 0 })].join('\n');
  const { flags, env } = result.pgherdctl!;
  return [
    ...head,
    'pgherdctl flags (with --endpoint HOST:PORT):',
    `  ${flags.map(shellWord).join(' ')}`,
    'or its environment:',
    ...Object.entries(env).map(([name, value]) => `  ${name}=${shellWord(value)}`),
    '',
  ].join('\n');
}
