import type { Command } from 'commander';
import { EXIT_OK } from './exit-codes.js';
import type { CtlIo } from './io.js';
import { parseBy, type GlobalOptions } from './options.js';
import { renderPause } from './render.js';
import { connect, runCommand } from './session.js';

/**
 * `pgherdctl pause [--by TEXT]`: maintenance mode: no automatic failover,
 * no restarts (switchover and failover by an operator still work). Refused
 * (exit 1) when the cluster is already paused.
 */
export function registerPause(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('pause')
    .description('maintenance mode: stop automatic failover and restarts until resume')
    .option('--by <text>', "who pauses, recorded in the cluster state (default pgherdctl@<this client's address>)")
    .action(async (flags: { by?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(
        await runCommand(io, globals.json === true, async () => {
          const by = flags.by === undefined ? undefined : parseBy(flags.by);
          const client = await connect(globals, io);
          try {
            const pause = await client.pause(by === undefined ? {} : { by });
            io.stdout(globals.json === true ? `${JSON.stringify(pause)}\n` : renderPause(client.clusterName, pause));
            return EXIT_OK;
          } finally {
            client.close();
          }
        }),
      );
    });
}
