import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { CLUSTER_NAME_FORM, CLUSTER_NAME_PATTERN } from '../../config/schema.js';
import { CA_VALIDITY_DAYS, createCa, localCaPaths } from '../../tls/generate.js';
import { CertsUsageError, daysOf, directoryOf, isoDate, runCerts, shellWord } from './certs-shared.js';
import type { CommandIo } from './validate-config.js';

interface InitFlags {
  readonly dir: string;
  readonly cluster?: string;
  readonly days?: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

/** What `certs init --json` prints (stable field names). */
export interface CertsInitResult {
  readonly caFile: string;
  readonly caKeyFile: string;
  readonly subject: string;
  readonly notAfter: string;
  /** An earlier CA was replaced (--force): what it signed is no longer trusted by agents given the new ca.crt. */
  readonly replaced: boolean;
}

/**
 * `pgherd certs init --dir DIR [--cluster NAME] [--days N] [--force] [--json]`:
 * the cluster CA in DIR/ca (ca.crt 0644, ca.key 0600; the layout of
 * tls.local_ca_dir). An existing DIR/ca is never overwritten without
 * --force: exit 2 naming it, nothing changed.
 */
export function registerCertsInit(certs: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  certs
    .command('init')
    .description('create the cluster CA: DIR/ca/ca.crt (give it to every agent and pgherdctl) and DIR/ca/ca.key (keep it secret)')
    .requiredOption('--dir <dir>', 'the CA directory; created when missing')
    .option('--cluster <name>', 'the cluster name, written into the CA\'s name')
    .option('--days <n>', `validity in days (default ${CA_VALIDITY_DAYS})`)
    .option('--force', 'replace an existing CA (the certificates it signed are then no longer trusted)')
    .option('--json', 'print the result as JSON')
    .action(async (flags: InitFlags) => {
      setExitCode(await runCerts(io, () => init(flags, io)));
    });
}

async function init(flags: InitFlags, io: CommandIo): Promise<void> {
  const dir = directoryOf(flags.dir, '--dir');
  if (flags.cluster !== undefined && !CLUSTER_NAME_PATTERN.test(flags.cluster)) {
    throw new CertsUsageError(`--cluster: expected ${CLUSTER_NAME_FORM}, got ${JSON.stringify(flags.cluster)}`);
  }
  const days = daysOf(flags.days, CA_VALIDITY_DAYS);
  const force = flags.force === true;
  const replaced = force && existsSync(dirname(localCaPaths(dir).caCertPath));
  const ca = await createCa(dir, { ...(flags.cluster === undefined ? {} : { label: flags.cluster }), days, replace: force });
  const certificate = new X509Certificate(await readFile(ca.caCertPath));
  const result: CertsInitResult = { caFile: ca.caCertPath, caKeyFile: ca.caKeyPath, subject: certificate.subject.replace(/^CN=/, ''), notAfter: isoDate(certificate.validTo), replaced };
  io.stdout(flags.json === true ? `${JSON.stringify(result)}\n` : render(result, dir));
}

function render(result: CertsInitResult, dir: string): string {
  return [
    `${result.replaced ? 'replaced' : 'created'} the CA "${result.subject}", valid until ${result.notAfter}`,
    `  certificate  ${result.caFile}  (every agent's tls.ca_file, pgherdctl's --ca-file)`,
    `  key          ${result.caKeyFile}  (secret: it signs certificates)`,
    ...(result.replaced ? ['certificates signed by the replaced CA are not trusted by agents given the new ca.crt: issue them again'] : []),
    `next: pgherd certs issue --dir ${shellWord(dir)} --name NAME [--ip ADDRESS]... (a node), or --client (pgherdctl)`,
    '',
  ].join('\n');
}
