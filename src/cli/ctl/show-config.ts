import type { Command } from 'commander';
import { EXIT_OK } from './exit-codes.js';
import type { CtlIo } from './io.js';
import type { GlobalOptions } from './options.js';
import { renderConfig } from './render-config.js';
import { connect, runCommand } from './session.js';

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
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = globals.json === true;
      setExitCode(
        await runCommand(io, json, async () => {
          const client = await connect(globals, io);
          try {
            const config = await client.getConfig();
            io.stdout(json ? `${JSON.stringify(config)}\n` : renderConfig(client.clusterName, config));
            return EXIT_OK;
          } finally {
            client.close();
          }
        }),
      );
    });
}
