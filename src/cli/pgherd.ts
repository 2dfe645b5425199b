import { Command } from 'commander';
import { runProgram } from './run-program.js';
import { registerRun } from './commands/run.js';
import { registerValidateConfig, type CommandIo } from './commands/validate-config.js';
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE_OR_CONFIG } from './exit-codes.js';
import { silenceIpServerNameWarning } from '../tls/warnings.js';

/**
 * The `pgherd` agent command (run with `npm run pgherd -- <command>`).
 * One file per command under commands/. Exit codes: see exit-codes.ts
 * (0 ok, 1 internal error, 2 usage or configuration error, 3 start failed).
 */
/** Resolves on the first SIGTERM or SIGINT; a second one exits at once. */
function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals): void => {
      process.removeListener('SIGTERM', handler);
      process.removeListener('SIGINT', handler);
      process.once('SIGTERM', () => process.exit(143));
      process.once('SIGINT', () => process.exit(130));
      resolve(signal);
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}

function buildProgram(io: CommandIo, setExitCode: (code: number) => void): Command {
  const program = new Command('pgherd')
    .description('PostgreSQL high availability with embedded Raft: the agent')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  registerValidateConfig(program, io, setExitCode);
  registerRun(program, io, setExitCode, waitForSignal);
  return program;
}

function main(argv: readonly string[], io: CommandIo): Promise<number> {
  return runProgram((setExitCode) => buildProgram(io, setExitCode), argv, io.stderr, { ok: EXIT_OK, usage: EXIT_USAGE_OR_CONFIG, internal: EXIT_INTERNAL });
}

silenceIpServerNameWarning();
const io: CommandIo = {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};
process.exitCode = await main(process.argv.slice(2), io);
