import type { Command } from 'commander';
import { EXIT_OK } from './exit-codes.js';
import type { CtlIo } from './io.js';
import { parseBy, type GlobalOptions } from './options.js';
import { renderPause } from './render.js';
import { connect, runCommand } from './session.js';

/** `pgherdctl resume [--by TEXT]`: leave maintenance mode. Refused (exit 1) when the cluster is not paused. */
export function registerResume(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('resume')
    .description('leave maintenance mode: automatic failover again')
    .option('--by <text>', "who resumes, recorded in the cluster state (default pgherdctl@<this client's address>)")
    .action(async (flags: { by?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(
        await runCommand(io, globals.json === true, async () => {
          const by = flags.by === undefined ? undefined : parseBy(flags.by);
          const client = await connect(globals, io);
          try {
            const pause = await client.resume(by === undefined ? {} : { by });
            io.stdout(globals.json === true ? `${JSON.stringify(pause)}\n` : renderPause(client.clusterName, pause));
            return EXIT_OK;
          } finally {
            client.close();
          }
        }),
      );
    });
}
