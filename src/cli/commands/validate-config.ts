import type { Command } from 'commander';
import YAML from 'yaml';
import { loadConfig } from '../../config/load.js';
import { ConfigError } from '../../lib/errors.js';
import { EXIT_OK, EXIT_USAGE_OR_CONFIG } from '../exit-codes.js';

export interface CommandIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/**
 * `pgherd validate-config [--config FILE]`: load the configuration exactly as
 * the agent would (file, then PGHERD_* environment, then defaults), print the
 * effective configuration as YAML and exit 0; or print
 * `error: <key>: <message>` on one line to stderr and exit 2.
 * The configuration holds no secrets yet (passwords are generated, not configured).
 */
export function registerValidateConfig(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  program
    .command('validate-config')
    .description('validate the configuration (file + PGHERD_* environment) and print the effective result as YAML')
    .option('-c, --config <file>', 'the YAML configuration file (without it: the environment and defaults only)')
    .action((options: { config?: string }) => {
      setExitCode(validateConfig(options.config, io));
    });
}

export function validateConfig(file: string | undefined, io: CommandIo): number {
  try {
    const config = loadConfig(file === undefined ? { env: io.env } : { file, env: io.env });
    io.stdout(YAML.stringify(config, { lineWidth: 0 }));
    return EXIT_OK;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`error: ${error.message.replace(/\s*\n\s*/g, ' ')}\n`);
    return EXIT_USAGE_OR_CONFIG;
  }
}
