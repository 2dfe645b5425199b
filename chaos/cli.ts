import { silenceIpServerNameWarning } from '../src/tls/warnings.js';
import { runChaos } from './main.js';

/** `npm run chaos -- ...`: see main.ts for the options and exit codes. */
silenceIpServerNameWarning();
process.exitCode = await runChaos(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
