import type { Command } from 'commander';
import { EXIT_OK } from './exit-codes.js';
import type { CtlIo } from './io.js';
import type { GlobalOptions } from './options.js';
import { renderHistory } from './render-config.js';
import { connect, runCommand } from './session.js';

/**
 * `pgherdctl history`: every timeline switch (failover, switchover, an
 * operator's failover) recorded in the cluster state, oldest first, as a
 * table; with --json the HistoryResult object ({entries}).
 */
export function registerHistory(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('history')
    .description('show the failovers and switchovers: timeline, where the old one ended, kind, from, to, when, why')
    .action(async (_flags: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = globals.json === true;
      setExitCode(
        await runCommand(io, json, async () => {
          const client = await connect(globals, io);
          try {
            const history = await client.history();
            io.stdout(json ? `${JSON.stringify(history)}\n` : renderHistory(client.clusterName, history));
            return EXIT_OK;
          } finally {
            client.close();
          }
        }),
      );
    });
}
