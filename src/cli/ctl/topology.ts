import type { Command } from 'commander';
import type { CtlIo } from './io.js';
import type { GlobalOptions } from './options.js';
import { runQuery } from './session.js';
import { renderTopology, topologyOf } from './topology-tree.js';

/**
 * `pgherdctl topology` (like `patronictl topology`): the members as a tree,
 * the primary with the replicas streaming from it, sync standbys, state,
 * timeline and lag, after a linearizable read; with --json the Topology
 * object (topology-tree.ts), members nested under `replicas`.
 */
export function registerTopology(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('topology')
    .description('show the members as a tree: the primary and the replicas streaming from it, with role, state, timeline and lag')
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(await runQuery(io, command.optsWithGlobals<GlobalOptions>(), async (client) => topologyOf(await client.clusterStatus()), (topology) => renderTopology(topology)));
    });
}
