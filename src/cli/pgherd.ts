import type { CommandIo } from './commands/validate-config.js';
import { runPgherd } from './pgherd-main.js';
import { silenceIpServerNameWarning } from '../tls/warnings.js';

/**
 * The `pgherd` agent command (run with `npm run pgherd -- <command>`, or
 * `node dist/src/cli/pgherd.js`): run, validate-config, certs. The program
 * is pgherd-main.ts; exit codes: exit-codes.ts.
 */
silenceIpServerNameWarning();
const io: CommandIo = {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};
process.exitCode = await runPgherd(process.argv.slice(2), io);
