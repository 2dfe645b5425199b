import type { Command } from 'commander';
import type { WatchEventView } from '../../admin/types.js';
import { isWatchEventType, WATCH_EVENT_TYPES } from '../../admin/watch-events.js';
import { EXIT_OK } from './exit-codes.js';
import { CtlUsageError } from './failure.js';
import type { CtlIo } from './io.js';
import type { GlobalOptions } from './options.js';
import { connect, runCommand } from './session.js';

interface WatchFlags {
  readonly types?: string;
  readonly snapshot?: boolean;
}

/**
 * `pgherdctl watch [--types A,B] [--snapshot]`: the cluster's changes as the
 * agent applies them (promotions, members joining, leaving or changing role
 * or state, configuration, pause, switchover and sync-set changes), one
 * line each, until Ctrl-C (exit 0); with --json one WatchEventView object
 * per line (JSON Lines). The agent stopping or going away ends it with
 * exit 3; a client too slow for the agent's buffer (WATCH_OVERFLOW) with 1.
 */
export function registerWatch(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('watch')
    .description('follow the cluster: promotions, members joining, leaving and changing role, configuration, pause, switchover and sync changes; one line each until Ctrl-C')
    .option('--types <types>', `only these event types, comma-separated: ${WATCH_EVENT_TYPES.join(', ')}`)
    .option('--snapshot', 'start with the cluster as it is now (a snapshot event)')
    .action(async (flags: WatchFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = globals.json === true;
      setExitCode(
        await runCommand(io, json, async () => {
          const types = flags.types === undefined ? [] : parseTypes(flags.types);
          const client = await connect(globals, io);
          try {
            const print = (event: WatchEventView): void => io.stdout(json ? `${JSON.stringify(event)}\n` : renderWatchEvent(event));
            await client.watch({ types, snapshot: flags.snapshot === true }, print, io.catchInterrupt());
            return EXIT_OK;
          } finally {
            client.close();
          }
        }),
      );
    });
}

/** --types: event type names, comma-separated. */
export function parseTypes(text: string): string[] {
  const types = text.split(',').map((part) => part.trim()).filter((part) => part !== '');
  const unknown = types.find((type) => !isWatchEventType(type));
  if (types.length === 0 || unknown !== undefined) {
    throw new CtlUsageError(`--types: expected event types, comma-separated, of ${WATCH_EVENT_TYPES.join(', ')}; got ${JSON.stringify(unknown ?? text)}`);
  }
  return [...new Set(types)];
}

/** One line: time, type, the agent's text. */
export function renderWatchEvent(event: WatchEventView): string {
  return `${event.at}  ${event.type.padEnd(TYPE_WIDTH)}  ${event.text}\n`;
}

const TYPE_WIDTH = Math.max(...WATCH_EVENT_TYPES.map((type) => type.length));
