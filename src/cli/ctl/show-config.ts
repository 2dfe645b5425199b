import type { Command } from 'commander';
import type { CtlIo } from './io.js';
import type { GlobalOptions } from './options.js';
import { renderConfig } from './render-config.js';
import { runQuery } from './session.js';

/**
 * `pgherdctl show-config`: the cluster's dynamic configuration (after a
 * linearizable read) as YAML with its version in a comment; with --json
 * the ConfigView object ({version, values}).
 */
export function registerShowConfig(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('show-config')
    .description('show the dynamic configuration (shared by every member) and its version')
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(await runQuery(io, command.optsWithGlobals<GlobalOptions>(), (client) => client.getConfig(), (config, cluster) => renderConfig(cluster, config)));
    });
}
