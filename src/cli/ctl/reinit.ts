import type { Command } from 'commander';
import { SWITCHOVER_WAIT_MS_MAX } from '../../admin/requests.js';
import { confirm, requireConfirmable } from './confirm.js';
import type { CtlIo } from './io.js';
import { describeTargets, parseMembers, reportActions } from './member-actions.js';
import { parseBy, parseSeconds, type GlobalOptions } from './options.js';
import { connect, runCommand } from './session.js';

interface ReinitFlags {
  readonly timeout?: string;
  readonly force?: boolean;
  readonly by?: string;
}

/** A re-clone copies the whole database: wait longer by default than for a restart. */
const REINIT_WAIT_S_DEFAULT = 300;

/**
 * `pgherdctl reinit MEMBER... [--force]`, as `patronictl reinit`: each
 * named replica stops, empties its data directory and clones it again
 * from the primary (pg_basebackup with its slot), then streams again.
 * The primary is refused (switch over first). Asks for confirmation
 * unless --force.
 */
export function registerReinit(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('reinit')
    .description("re-clone replicas from the primary (their data directory is emptied first)")
    .argument('<members...>', 'the replicas to re-clone')
    .option('--timeout <seconds>', `how long to wait for the clones (default ${REINIT_WAIT_S_DEFAULT})`)
    .option('--force', 'do not ask for confirmation')
    .option('--by <text>', "who asks, recorded by the agent (default pgherdctl@<this client's address>)")
    .action(async (names: string[], flags: ReinitFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(
        await runCommand(io, globals.json === true, async () => {
          const members = parseMembers(names);
          const timeoutMs = parseSeconds('--timeout', flags.timeout ?? String(REINIT_WAIT_S_DEFAULT), SWITCHOVER_WAIT_MS_MAX / 1000);
          const by = flags.by === undefined ? undefined : parseBy(flags.by);
          requireConfirmable('reinit', flags.force === true, io, 'empties data directories');
          const client = await connect(globals, io);
          try {
            if (flags.force !== true) await confirm(`Re-initialize ${await describeTargets(client, members, 'any')} from the primary (their data directories are emptied)?`, false, io);
            return reportActions(await client.reinit({ members, timeoutMs, ...(by === undefined ? {} : { by }) }), globals.json === true, io);
          } finally {
            client.close();
          }
        }),
      );
    });
}
