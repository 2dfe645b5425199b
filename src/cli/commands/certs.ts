import type { Command } from 'commander';
import { registerCertsInit } from './certs-init.js';
import { registerCertsIssue } from './certs-issue.js';
import type { CommandIo } from './validate-config.js';

/**
 * `pgherd certs init|issue`: the cluster CA and the certificates agents
 * (tls.ca_file, cert_file, key_file) and pgherdctl (--ca-file, --cert-file,
 * --key-file) use, made by the same code as the agent's local CA
 * (src/tls/generate.ts). Exit codes: certs-shared.ts runCerts.
 */
export function registerCerts(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  const certs = program
    .command('certs')
    .description('make the cluster CA (init) and certificates for agents and pgherdctl (issue)');
  registerCertsInit(certs, io, setExitCode);
  registerCertsIssue(certs, io, setExitCode);
}
