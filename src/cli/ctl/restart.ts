import type { Command } from 'commander';
import { SWITCHOVER_WAIT_MS_MAX } from '../../admin/requests.js';
import { confirm, requireConfirmable } from './confirm.js';
import { CtlUsageError } from './failure.js';
import type { CtlIo } from './io.js';
import { describeTargets, parseMembers, parseRole, reportActions } from './member-actions.js';
import { parseBy, parseScheduled, parseSeconds, type GlobalOptions } from './options.js';
import { connect, runCommand } from './session.js';

interface RestartFlags {
  readonly role?: string;
  readonly pending?: boolean;
  readonly scheduled?: string;
  readonly timeout?: string;
  readonly force?: boolean;
  readonly cancel?: boolean;
  readonly by?: string;
}

/**
 * `pgherdctl restart [MEMBER...] [--role primary|replica|any] [--pending]
 * [--scheduled TIME|now] [--force]`, as `patronictl restart`: each named
 * member (default every member of the role) restarts its PostgreSQL, a
 * fast stop and a start in the same role; the primary keeps the leader
 * key. --pending: only where a setting waits for a restart. Works while
 * paused. Asks for confirmation unless --force. `restart --cancel
 * [MEMBER...]` withdraws pending (e.g. scheduled) restarts, reloads and reinits.
 */
export function registerRestart(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('restart')
    .description('restart PostgreSQL on members (default: every member), now or at a given time (or --cancel pending ones)')
    .argument('[members...]', 'the members to restart (default: every member with the role)')
    .option('--role <role>', 'only the primary, only replicas, or any (default any)')
    .option('--pending', 'only where a restart is pending (a changed setting waits for one)')
    .option('--scheduled <time>', "'now' (default) or an RFC 3339 time with a zone, e.g. 2026-12-01T03:00:00Z")
    .option('--timeout <seconds>', 'how long to wait for the members to finish (default 60)')
    .option('--force', 'do not ask for confirmation')
    .option('--cancel', 'withdraw the pending actions of the members (default: every pending one) instead')
    .option('--by <text>', "who asks, recorded by the agent (default pgherdctl@<this client's address>)")
    .action(async (members: string[], flags: RestartFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(await runCommand(io, globals.json === true, () => (flags.cancel === true ? cancel(members, flags, globals, io) : restart(members, flags, globals, io))));
    });
}

async function restart(names: string[], flags: RestartFlags, globals: GlobalOptions, io: CtlIo): Promise<number> {
  const members = parseMembers(names);
  const role = parseRole(flags.role) ?? 'any';
  const scheduledAt = flags.scheduled === undefined ? undefined : parseScheduled(flags.scheduled, Date.now());
  const timeoutMs = flags.timeout === undefined ? undefined : parseSeconds('--timeout', flags.timeout, SWITCHOVER_WAIT_MS_MAX / 1000);
  const by = flags.by === undefined ? undefined : parseBy(flags.by);
  requireConfirmable('restart', flags.force === true, io, 'restarts PostgreSQL');
  const client = await connect(globals, io);
  try {
    if (flags.force !== true) {
      const pending = flags.pending === true ? ' where a restart is pending' : '';
      await confirm(`Restart PostgreSQL on ${await describeTargets(client, members, role)}${pending} ${scheduledAt === undefined ? 'now' : `at ${scheduledAt}`}?`, false, io);
    }
    const result = await client.restart({ members, role, pending: flags.pending === true, ...(scheduledAt === undefined ? {} : { scheduledAt }), ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(by === undefined ? {} : { by }) });
    return reportActions(result, globals.json === true, io);
  } finally {
    client.close();
  }
}

async function cancel(names: string[], flags: RestartFlags, globals: GlobalOptions, io: CtlIo): Promise<number> {
  const conflicting = (['role', 'pending', 'scheduled', 'timeout'] as const).filter((key) => flags[key] !== undefined).map((key) => `--${key}`);
  if (conflicting.length > 0) throw new CtlUsageError(`--cancel takes no ${conflicting.join(', ')}: it withdraws the pending actions of the members named (default: every pending one)`);
  const members = parseMembers(names);
  const by = flags.by === undefined ? undefined : parseBy(flags.by);
  const client = await connect(globals, io);
  try {
    return reportActions(await client.cancelMemberActions({ members, ...(by === undefined ? {} : { by }) }), globals.json === true, io, true);
  } finally {
    client.close();
  }
}
