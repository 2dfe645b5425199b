import { Command } from 'commander';
import { runProgram } from '../run-program.js';
import { registerDsn } from './dsn.js';
import { registerEditConfig } from './edit-config.js';
import { EXIT_OK, EXIT_REFUSED, EXIT_USAGE } from './exit-codes.js';
import { registerFailover } from './failover.js';
import { registerHistory } from './history.js';
import type { CtlIo } from './io.js';
import { registerList } from './list.js';
import { registerMembers } from './members.js';
import { addGlobalOptions } from './options.js';
import { registerPause } from './pause.js';
import { registerReinit } from './reinit.js';
import { registerBackup } from './backup.js';
import { registerReload } from './reload.js';
import { registerRestart } from './restart.js';
import { registerResume } from './resume.js';
import { registerShowConfig } from './show-config.js';
import { registerSwitchover } from './switchover.js';
import { registerTopology } from './topology.js';
import { registerWatch } from './watch.js';

/**
 * pgherdctl: the admin client (proto/admin.proto over the agents' peer gRPC
 * port, mutual TLS). One file per command in this directory. Exit codes:
 * exit-codes.ts (0 done, 1 refused, 2 usage or configuration, 3 unreachable).
 */
export function buildProgram(io: CtlIo, setExitCode: (code: number) => void): Command {
  const program = addGlobalOptions(
    new Command('pgherdctl')
      .description('administer a pgherd cluster: list, topology, watch, switchover, failover, restart, reload, reinit, pause, resume, show-config, edit-config, history, dsn, members, backup')
      .exitOverride()
      .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
      .configureHelp({ showGlobalOptions: true }),
  );
  program.addHelpText(
    'after',
    `
Connection (first that applies): --endpoint with --ca-file/--cert-file/--key-file (or --insecure);
--endpoint with --ca-file and --token (or --token-file): a bearer token of the agents' admin.tokens;
-c FILE, an agent's configuration (its address, peers and certificates; with --token, its CA only);
the same from PGHERDCTL_ENDPOINTS, PGHERDCTL_CONFIG, PGHERDCTL_CA_FILE, PGHERDCTL_CERT_FILE, PGHERDCTL_KEY_FILE,
PGHERDCTL_INSECURE, PGHERDCTL_TOKEN, PGHERDCTL_TOKEN_FILE;
with none of them, the newest running \`npm run demo\` cluster.
Exit codes: 0 done, 1 refused (the reason is printed), 2 usage or configuration error, 3 unreachable.`,
  );
  registerList(program, io, setExitCode);
  registerTopology(program, io, setExitCode);
  registerWatch(program, io, setExitCode);
  registerSwitchover(program, io, setExitCode);
  registerFailover(program, io, setExitCode);
  registerPause(program, io, setExitCode);
  registerResume(program, io, setExitCode);
  registerShowConfig(program, io, setExitCode);
  registerEditConfig(program, io, setExitCode);
  registerHistory(program, io, setExitCode);
  registerDsn(program, io, setExitCode);
  registerMembers(program, io, setExitCode);
  registerRestart(program, io, setExitCode);
  registerReload(program, io, setExitCode);
  registerReinit(program, io, setExitCode);
  registerBackup(program, io, setExitCode);
  return program;
}

/** Run pgherdctl with `argv` (without node and the script); resolves with the exit code. */
export function runPgherdctl(argv: readonly string[], io: CtlIo): Promise<number> {
  return runProgram((setExitCode) => buildProgram(io, setExitCode), argv, io.stderr, { ok: EXIT_OK, usage: EXIT_USAGE, internal: EXIT_REFUSED });
}
