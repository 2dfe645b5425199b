import type { Command } from 'commander';
import { SWITCHOVER_WAIT_MS_MAX } from '../../admin/requests.js';
import { confirm, requireConfirmable } from './confirm.js';
import { EXIT_OK } from './exit-codes.js';
import type { CtlIo } from './io.js';
import { parseBy, parseCandidate, parseSeconds, type GlobalOptions } from './options.js';
import { renderSwitchover } from './render.js';
import { connect, runCommand } from './session.js';

interface FailoverFlags {
  readonly candidate: string;
  readonly timeout?: string;
  readonly force?: boolean;
  readonly by?: string;
}

/**
 * `pgherdctl failover --candidate NAME [--force]`: the operator's failover.
 * The agent checks the candidate by the failover rules and records the
 * request; the primary hands over if it is alive, the Raft leader promotes
 * the candidate once the primary's lease has lapsed (even while paused).
 * Without any primary the agent refuses: automatic failover handles that
 * unless the cluster is paused (then: pgherdctl resume).
 */
export function registerFailover(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('failover')
    .description('promote the named replica, gracefully if the primary is alive, once its lease lapses if not')
    .requiredOption('--candidate <name>', 'the member to promote')
    .option('--timeout <seconds>', 'how long to wait for the new primary (default 30)')
    .option('--force', 'do not ask for confirmation')
    .option('--by <text>', "who asks, recorded by the agent (default pgherdctl@<this client's address>)")
    .action(async (flags: FailoverFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(await runCommand(io, globals.json === true, () => failover(flags, globals, io)));
    });
}

async function failover(flags: FailoverFlags, globals: GlobalOptions, io: CtlIo): Promise<number> {
  const candidate = parseCandidate(flags.candidate);
  const timeoutMs = flags.timeout === undefined ? undefined : parseSeconds('--timeout', flags.timeout, SWITCHOVER_WAIT_MS_MAX / 1000);
  const by = flags.by === undefined ? undefined : parseBy(flags.by);
  requireConfirmable('failover', flags.force === true, io);
  const client = await connect(globals, io);
  try {
    if (flags.force !== true) {
      const status = await client.clusterStatus();
      const from = status.leader === null ? 'no primary (the agent will refuse)' : status.leader.member;
      await confirm(`Fail over cluster ${status.clusterName} from ${from} to ${candidate} now?`, false, io);
    }
    const result = await client.failover({ candidate, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(by === undefined ? {} : { by }) });
    io.stdout(globals.json === true ? `${JSON.stringify(result)}\n` : renderSwitchover('failover', result));
    return EXIT_OK;
  } finally {
    client.close();
  }
}
