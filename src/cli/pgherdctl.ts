import * as grpc from '@grpc/grpc-js';
import { processIo } from './ctl/io.js';
import { runPgherdctl } from './ctl/main.js';
import { silenceIpServerNameWarning } from '../tls/warnings.js';

/**
 * The `pgherdctl` command (run with `npm run pgherdctl -- <command>`, or
 * `node dist/src/cli/pgherdctl.js`). Commands live in ctl/, one per file.
 * gRPC's own log stays quiet: failures reach the operator as pgherdctl's
 * messages and exit codes.
 */
grpc.setLogVerbosity(grpc.logVerbosity.NONE);

silenceIpServerNameWarning();
process.exitCode = await runPgherdctl(process.argv.slice(2), processIo());
