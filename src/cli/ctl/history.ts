import type { Command } from 'commander';
import type { CtlIo } from './io.js';
import type { GlobalOptions } from './options.js';
import { renderHistory } from './render-config.js';
import { runQuery } from './session.js';

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
      setExitCode(await runQuery(io, command.optsWithGlobals<GlobalOptions>(), (client) => client.history(), (history, cluster) => renderHistory(cluster, history)));
    });
}
