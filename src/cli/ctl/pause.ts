import type { Command } from 'commander';
import { EXIT_OK } from './exit-codes.js';
import type { CtlIo } from './io.js';
import { parseBy, type GlobalOptions } from './options.js';
import { renderPause } from './render.js';
import { connect, runCommand } from './session.js';

/**
 * `pgherdctl pause [--by TEXT]`: maintenance mode: no automatic failover,
 * no automatic restarts (switchover, failover, restart, reload and reinit by
 * an operator still work). Refused
 * (exit 1) when the cluster is already paused.
 */
export function registerPause(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  registerPauseSwitch(program, io, setExitCode, {
    name: 'pause',
    paused: true,
    description: 'maintenance mode: stop automatic failover and restarts until resume',
    byHelp: "who pauses, recorded in the cluster state (default pgherdctl@<this client's address>)",
  });
}

/** pause and resume: one switch, two commands (resume.ts). */
export function registerPauseSwitch(
  program: Command,
  io: CtlIo,
  setExitCode: (code: number) => void,
  spec: { readonly name: string; readonly paused: boolean; readonly description: string; readonly byHelp: string },
): void {
  program
    .command(spec.name)
    .description(spec.description)
    .option('--by <text>', spec.byHelp)
    .action(async (flags: { by?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(
        await runCommand(io, globals.json === true, async () => {
          const by = flags.by === undefined ? {} : { by: parseBy(flags.by) };
          const client = await connect(globals, io);
          try {
            const pause = spec.paused ? await client.pause(by) : await client.resume(by);
            io.stdout(globals.json === true ? `${JSON.stringify(pause)}\n` : renderPause(client.clusterName, pause));
            return EXIT_OK;
          } finally {
            client.close();
          }
        }),
      );
    });
}
