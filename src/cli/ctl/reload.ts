import type { Command } from 'commander';
import { SWITCHOVER_WAIT_MS_MAX } from '../../admin/requests.js';
import type { CtlIo } from './io.js';
import { parseMembers, parseRole, reportActions } from './member-actions.js';
import { parseBy, parseSeconds, type GlobalOptions } from './options.js';
import { connect, runCommand } from './session.js';

interface ReloadFlags {
  readonly role?: string;
  readonly timeout?: string;
  readonly by?: string;
}

/**
 * `pgherdctl reload [MEMBER...] [--role primary|replica|any]`, as
 * `patronictl reload`: each member reloads its PostgreSQL configuration
 * files (SIGHUP) and says whether a restart is pending (cluster-wide
 * parameters are on PostgreSQL's command line: a changed one needs
 * `restart --pending`). Changes no data and no role: asks nothing.
 */
export function registerReload(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('reload')
    .description("reload PostgreSQL's configuration files on members (default: every member) and show what awaits a restart")
    .argument('[members...]', 'the members to reload (default: every member with the role)')
    .option('--role <role>', 'only the primary, only replicas, or any (default any)')
    .option('--timeout <seconds>', 'how long to wait for the members to finish (default 60)')
    .option('--by <text>', "who asks, recorded by the agent (default pgherdctl@<this client's address>)")
    .action(async (names: string[], flags: ReloadFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(
        await runCommand(io, globals.json === true, async () => {
          const members = parseMembers(names);
          const role = parseRole(flags.role) ?? 'any';
          const timeoutMs = flags.timeout === undefined ? undefined : parseSeconds('--timeout', flags.timeout, SWITCHOVER_WAIT_MS_MAX / 1000);
          const by = flags.by === undefined ? undefined : parseBy(flags.by);
          const client = await connect(globals, io);
          try {
            return reportActions(await client.reload({ members, role, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(by === undefined ? {} : { by }) }), globals.json === true, io);
          } finally {
            client.close();
          }
        }),
      );
    });
}
