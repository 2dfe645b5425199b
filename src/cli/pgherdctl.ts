import * as grpc from '@grpc/grpc-js';
import { processIo } from './ctl/io.js';
import { runPgherdctl } from './ctl/main.js';

/**
 * The `pgherdctl` command (run with `npm run pgherdctl -- <command>`, or
 * `node dist/src/cli/pgherdctl.js`). Commands live in ctl/, one per file.
 * gRPC's own log stays quiet: failures reach the operator as pgherdctl's
 * messages and exit codes.
 */
grpc.setLogVerbosity(grpc.logVerbosity.NONE);

// grpc-js passes the dialled host as the TLS server name, and Node warns (DEP0123) when that is an
// IP address, which is how members are dialled. The server's identity is checked against its IP
// SANs (src/tls/identity.ts), so the warning tells an operator nothing: drop it, print the rest.
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning: Error & { code?: string }) => {
  if (warning.code !== 'DEP0123') for (const print of printWarning) print(warning);
});
process.exitCode = await runPgherdctl(process.argv.slice(2), processIo());
