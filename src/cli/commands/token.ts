import type { Command } from 'commander';
import { MEMBER_NAME_FORM, MEMBER_NAME_PATTERN } from '../../config/member-name.js';
import { generateToken, tokenSha256 } from '../../tls/admin-tokens.js';
import { EXIT_OK, EXIT_USAGE_OR_CONFIG } from '../exit-codes.js';
import type { CommandIo } from './validate-config.js';

/** What `token create --json` prints (stable field names). */
export interface TokenCreateResult {
  readonly name: string;
  /** The secret: give it to the holder (pgherdctl --token-file / PGHERDCTL_TOKEN); it is not stored anywhere. */
  readonly token: string;
  readonly sha256: string;
  /** The admin.tokens entry for every agent's configuration. */
  readonly configEntry: string;
}

/**
 * `pgherd token create --name NAME [--json]`: a new random admin bearer
 * token and the admin.tokens entry (name and SHA-256, never the token) to
 * add to every agent's configuration. Nothing is written to disk.
 */
export function registerToken(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  const token = program.command('token').description('admin bearer tokens for pgherdctl (config admin.tokens)');
  token
    .command('create')
    .description('print a new random token and the admin.tokens entry (its SHA-256) for the agents\' configuration')
    .requiredOption('--name <name>', 'who holds the token: recorded as who acted')
    .option('--json', 'print the result as JSON')
    .action((flags: { name: string; json?: boolean }) => {
      setExitCode(create(flags, io));
    });
}

function create(flags: { name: string; json?: boolean }, io: CommandIo): number {
  if (!MEMBER_NAME_PATTERN.test(flags.name)) {
    io.stderr(`error: --name: expected ${MEMBER_NAME_FORM}, got ${JSON.stringify(flags.name)}\n`);
    return EXIT_USAGE_OR_CONFIG;
  }
  const token = generateToken();
  const sha256 = tokenSha256(token);
  const result: TokenCreateResult = { name: flags.name, token, sha256, configEntry: `${flags.name}:${sha256}` };
  io.stdout(flags.json === true ? `${JSON.stringify(result)}\n` : render(result));
  return EXIT_OK;
}

function render(result: TokenCreateResult): string {
  return [
    `token for ${result.name} (shown once; store it like a password):`,
    `  ${result.token}`,
    'add to every agent\'s configuration (the SHA-256 only), then restart the agents:',
    '  admin:',
    '    tokens:',
    `      - ${result.configEntry}`,
    'use: PGHERDCTL_TOKEN=<token> pgherdctl --ca-file ca.crt --endpoint HOST:PORT list   (or --token-file FILE)',
    '',
  ].join('\n');
}
