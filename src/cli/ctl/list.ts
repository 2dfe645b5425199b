import type { Command } from 'commander';
import type { AdminClient } from '../../admin/client.js';
import { describeFailure } from './failure.js';
import { EXIT_OK } from './exit-codes.js';
import type { CtlIo } from './io.js';
import { parseSeconds, type GlobalOptions } from './options.js';
import { renderList } from './render.js';
import { connect, runCommand } from './session.js';

/** list --watch refreshes this often when given no number. */
const WATCH_INTERVAL_S_DEFAULT = 2;
const WATCH_INTERVAL_S_MAX = 3_600;

/**
 * `pgherdctl list [--watch [seconds]]`: the cluster's members as a table
 * (like `patronictl list`), after a linearizable read; with --json the
 * ClusterStatus object (src/admin/types.ts). --watch repeats until Ctrl-C,
 * redrawing the screen on a terminal (one JSON object per line with --json).
 */
export function registerList(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('list')
    .alias('ls')
    .description('show the cluster: primary, epoch, pause, pending switchover and every member')
    .option('-w, --watch [seconds]', `refresh every SECONDS (default ${WATCH_INTERVAL_S_DEFAULT}) until Ctrl-C`)
    .action(async (options: { watch?: string | true }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = globals.json === true;
      setExitCode(
        await runCommand(io, json, async () => {
          const watchMs = options.watch === undefined ? null : options.watch === true ? WATCH_INTERVAL_S_DEFAULT * 1000 : parseSeconds('--watch', options.watch, WATCH_INTERVAL_S_MAX);
          const client = await connect(globals, io);
          try {
            return watchMs === null ? await listOnce(client, json, io) : await watch(client, json, watchMs, io);
          } finally {
            client.close();
          }
        }),
      );
    });
}

async function listOnce(client: AdminClient, json: boolean, io: CtlIo): Promise<number> {
  const status = await client.clusterStatus();
  io.stdout(json ? `${JSON.stringify(status)}\n` : renderList(status));
  return EXIT_OK;
}

/** Refresh until interrupted; a failed refresh is shown and retried (the channel reconnects by itself). */
async function watch(client: AdminClient, json: boolean, intervalMs: number, io: CtlIo): Promise<number> {
  const interrupted = io.catchInterrupt();
  while (!interrupted.aborted) {
    const stamp = new Date().toISOString();
    let text: string;
    try {
      const status = await client.clusterStatus();
      text = json ? `${JSON.stringify(status)}\n` : `${stamp}\n${renderList(status)}`;
    } catch (error) {
      const failure = describeFailure(error);
      if (failure === undefined) throw error;
      text = json ? `${JSON.stringify({ error: { kind: failure.kind, status: failure.status, reason: failure.reason, message: failure.message } })}\n` : `${stamp}\nerror: ${failure.message}\n`;
    }
    io.stdout(io.interactive && !json ? `\x1b[2J\x1b[H${text}` : `${text}${json ? '' : '\n'}`);
    await pause(intervalMs, interrupted);
  }
  return EXIT_OK;
}

/** Wait `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
