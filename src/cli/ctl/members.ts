import type { Command } from 'commander';
import { SWITCHOVER_WAIT_MS_MAX } from '../../admin/requests.js';
import type { MemberChangeResult } from '../../admin/types.js';
import { HOST_PORT_FORM, parseHostPort } from '../../config/address.js';
import { MEMBER_NAME_FORM, MEMBER_NAME_PATTERN } from '../../config/member-name.js';
import { confirm, requireConfirmable } from './confirm.js';
import { EXIT_OK } from './exit-codes.js';
import { CtlUsageError } from './failure.js';
import type { CtlIo } from './io.js';
import { parseBy, parseSeconds, type GlobalOptions } from './options.js';
import { connect, runCommand } from './session.js';

interface MemberFlags {
  readonly timeout?: string;
  readonly force?: boolean;
  readonly by?: string;
}

/**
 * `pgherdctl members add NAME RAFT_ADDRESS` and `pgherdctl members remove
 * NAME`: change the Raft membership. A new node started with the cluster's
 * peer list joins by itself; `add` is for adding one explicitly or bringing
 * back a removed name. `remove` asks for confirmation unless --force: the
 * removed node stops its PostgreSQL and its slot is dropped.
 */
export function registerMembers(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  const members = program.command('members').description('change the Raft membership: add or remove a member');
  members
    .command('add')
    .description('add a node to the Raft membership (as a learner, promoted to voter once caught up)')
    .argument('<name>', 'the member name the node is configured with')
    .argument('<raft-address>', `where its peer service listens (${HOST_PORT_FORM})`)
    .option('--timeout <seconds>', 'how long to wait until it is in the Raft configuration (default 30)')
    .option('--by <text>', "who asks, recorded in the cluster state (default pgherdctl@<this client's address>)")
    .action(async (name: string, address: string, flags: MemberFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(
        await runCommand(io, globals.json === true, async () => {
          const request = { name: memberName(name), raftAddress: raftAddress(address), ...common(flags) };
          const client = await connect(globals, io);
          try {
            return print(io, globals.json === true, await client.addMember(request));
          } finally {
            client.close();
          }
        }),
      );
    });
  members
    .command('remove')
    .description('remove a member from the Raft membership; it stops its PostgreSQL and the primary drops its slot')
    .argument('<name>', 'the member to remove (not the primary: switch over first)')
    .option('--timeout <seconds>', 'how long to wait until it is out of the Raft configuration (default 30)')
    .option('--force', 'do not ask for confirmation')
    .option('--by <text>', "who asks, recorded in the cluster state (default pgherdctl@<this client's address>)")
    .action(async (name: string, flags: MemberFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(
        await runCommand(io, globals.json === true, async () => {
          const request = { name: memberName(name), ...common(flags) };
          requireConfirmable('members remove', flags.force === true, io, 'removes a member from the cluster');
          const client = await connect(globals, io);
          try {
            await confirm(`Remove ${request.name} from cluster ${client.clusterName}? It stops its PostgreSQL and cannot rejoin under this name by itself.`, flags.force === true, io);
            return print(io, globals.json === true, await client.removeMember(request));
          } finally {
            client.close();
          }
        }),
      );
    });
}

function memberName(text: string): string {
  if (!MEMBER_NAME_PATTERN.test(text)) throw new CtlUsageError(`<name>: expected a member name (${MEMBER_NAME_FORM}), got ${JSON.stringify(text)}`);
  return text;
}

function raftAddress(text: string): string {
  if (parseHostPort(text) === undefined) throw new CtlUsageError(`<raft-address>: expected ${HOST_PORT_FORM}, got ${JSON.stringify(text)}`);
  return text;
}

function common(flags: MemberFlags): { timeoutMs?: number; by?: string } {
  return {
    ...(flags.timeout === undefined ? {} : { timeoutMs: parseSeconds('--timeout', flags.timeout, SWITCHOVER_WAIT_MS_MAX / 1000) }),
    ...(flags.by === undefined ? {} : { by: parseBy(flags.by) }),
  };
}

function print(io: CtlIo, json: boolean, result: MemberChangeResult): number {
  io.stdout(json ? `${JSON.stringify(result)}\n` : `${result.message}${result.changed ? '' : ' (nothing to change)'}\n`);
  return EXIT_OK;
}
