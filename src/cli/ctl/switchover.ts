import type { Command } from 'commander';
import type { AdminClient } from '../../admin/client.js';
import { SWITCHOVER_WAIT_MS_MAX } from '../../admin/requests.js';
import { confirm, requireConfirmable } from './confirm.js';
import { EXIT_OK } from './exit-codes.js';
import { CtlUsageError } from './failure.js';
import type { CtlIo } from './io.js';
import { parseBy, parseCandidate, parseScheduled, parseSeconds, type GlobalOptions } from './options.js';
import { renderCancel, renderSwitchover } from './render.js';
import { connect, runCommand } from './session.js';

interface SwitchoverFlags {
  readonly candidate?: string;
  readonly scheduled?: string;
  readonly timeout?: string;
  readonly force?: boolean;
  readonly cancel?: boolean;
  readonly by?: string;
}

/**
 * `pgherdctl switchover [--candidate NAME] [--scheduled TIME|now] [--force]`:
 * a planned switchover, checked by the agent first (a primary, the
 * candidate's WAL position by the failover rules), then run by the primary;
 * waits for the new primary unless scheduled. Asks for confirmation on a
 * terminal unless --force. `switchover --cancel` withdraws a pending one.
 */
export function registerSwitchover(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('switchover')
    .description('hand the primary role to a replica, now or at a given time (or --cancel a pending switchover)')
    .option('--candidate <name>', 'the member to promote (default: the best candidate by the failover rules)')
    .option('--scheduled <time>', "'now' (default) or an RFC 3339 time with a zone, e.g. 2026-12-01T03:00:00Z")
    .option('--timeout <seconds>', 'how long to wait for the new primary (default 30)')
    .option('--force', 'do not ask for confirmation')
    .option('--cancel', 'withdraw the pending switchover (or failover) request instead')
    .option('--by <text>', "who asks, recorded by the agent (default pgherdctl@<this client's address>)")
    .action(async (flags: SwitchoverFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = globals.json === true;
      setExitCode(await runCommand(io, json, () => (flags.cancel === true ? cancel(flags, globals, io) : switchover(flags, globals, io))));
    });
}

async function switchover(flags: SwitchoverFlags, globals: GlobalOptions, io: CtlIo): Promise<number> {
  const candidate = flags.candidate === undefined ? undefined : parseCandidate(flags.candidate);
  const scheduledAt = flags.scheduled === undefined ? undefined : parseScheduled(flags.scheduled, Date.now());
  const timeoutMs = flags.timeout === undefined ? undefined : parseSeconds('--timeout', flags.timeout, SWITCHOVER_WAIT_MS_MAX / 1000);
  const by = flags.by === undefined ? undefined : parseBy(flags.by);
  requireConfirmable('switchover', flags.force === true, io);
  const client = await connect(globals, io);
  try {
    if (flags.force !== true) await confirm(await question(client, candidate, scheduledAt), false, io);
    const result = await client.switchover({ ...(candidate === undefined ? {} : { candidate }), ...(scheduledAt === undefined ? {} : { scheduledAt }), ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(by === undefined ? {} : { by }) });
    io.stdout(globals.json === true ? `${JSON.stringify(result)}\n` : renderSwitchover('switchover', result));
    return EXIT_OK;
  } finally {
    client.close();
  }
}

async function question(client: AdminClient, candidate: string | undefined, scheduledAt: string | undefined): Promise<string> {
  const status = await client.clusterStatus();
  const from = status.leader === null ? 'no primary (the agent will refuse)' : status.leader.member;
  return `Switch over cluster ${status.clusterName} from ${from} to ${candidate ?? 'the best candidate'} ${scheduledAt === undefined ? 'now' : `at ${scheduledAt}`}?`;
}

async function cancel(flags: SwitchoverFlags, globals: GlobalOptions, io: CtlIo): Promise<number> {
  const conflicting = (['candidate', 'scheduled', 'timeout'] as const).filter((key) => flags[key] !== undefined).map((key) => `--${key}`);
  if (conflicting.length > 0) throw new CtlUsageError(`--cancel takes no ${conflicting.join(', ')}: it withdraws whatever switchover is pending`);
  const by = flags.by === undefined ? undefined : parseBy(flags.by);
  const client = await connect(globals, io);
  try {
    const result = await client.cancelSwitchover(by === undefined ? {} : { by });
    io.stdout(globals.json === true ? `${JSON.stringify(result)}\n` : renderCancel(result));
    return EXIT_OK;
  } finally {
    client.close();
  }
}
