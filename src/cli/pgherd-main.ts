import { Command } from 'commander';
import { runProgram } from './run-program.js';
import { registerCerts } from './commands/certs.js';
import { registerRun } from './commands/run.js';
import { registerToken } from './commands/token.js';
import { registerValidateConfig, type CommandIo } from './commands/validate-config.js';
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE_OR_CONFIG } from './exit-codes.js';

/**
 * The `pgherd` agent command's program, apart from its entry (pgherd.ts) so
 * tests run it in-process. One file per command under commands/. Exit codes:
 * see exit-codes.ts (0 ok, 1 internal error, 2 usage or configuration error,
 * 3 start failed / certificate generation failed).
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
  registerCerts(program, io, setExitCode);
  registerToken(program, io, setExitCode);
  return program;
}

/** Run pgherd with `argv` (without node and the script); resolves with the exit code. */
export function runPgherd(argv: readonly string[], io: CommandIo): Promise<number> {
  return runProgram((setExitCode) => buildProgram(io, setExitCode), argv, io.stderr, { ok: EXIT_OK, usage: EXIT_USAGE_OR_CONFIG, internal: EXIT_INTERNAL });
}
