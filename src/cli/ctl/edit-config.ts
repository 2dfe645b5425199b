import type { Command } from 'commander';
import type { AdminClient } from '../../admin/client.js';
import type { PatchConfigResult } from '../../admin/types.js';
import { editInEditor } from './config-editor.js';
import { patchOfFlags, repeated } from './config-flags.js';
import { confirm, requireConfirmable } from './confirm.js';
import { EXIT_OK } from './exit-codes.js';
import { CtlUsageError } from './failure.js';
import type { CtlIo } from './io.js';
import { parseBy, type GlobalOptions } from './options.js';
import { renderPatchResult, renderPreview } from './render-config.js';
import { connect, runCommand } from './session.js';

interface EditConfigFlags {
  readonly set?: readonly string[];
  readonly pg?: readonly string[];
  readonly force?: boolean;
  readonly by?: string;
}

/** What edit-config changes, for the "no terminal to ask on" message. */
const WHAT = 'changes the configuration of every member';

/**
 * `pgherdctl edit-config [-s KEY=VALUE]... [-p NAME=VALUE]... [--force]`:
 * change the dynamic configuration. With -s/-p the change is those values;
 * without, the configuration opens in $EDITOR as YAML. Either way the
 * agent checks it first and its answer (what would change) is shown and
 * confirmed on a terminal, then committed on the version shown, so that a
 * change by someone else in between is refused (exit 1, VERSION_CONFLICT)
 * rather than overwritten. --force commits without asking (with -s/-p, on
 * whatever version is current). Without a terminal and without --force:
 * exit 2, nothing asked.
 */
export function registerEditConfig(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('edit-config')
    .description('change the dynamic configuration: -s KEY=VALUE / -p PARAMETER=VALUE, or in $EDITOR')
    .option('-s, --set <key=value>', 'set a key (repeatable); the value is YAML (6000, true, on, "quoted"); null resets it to its default; postgresql_parameters.NAME=VALUE sets a parameter', repeated)
    .option('-p, --pg <name=value>', 'set a PostgreSQL parameter on every member (repeatable); null removes it', repeated)
    .option('--force', 'do not ask for confirmation')
    .option('--by <text>', "who asks, for the agent's log (default pgherdctl@<this client's address>)")
    .action(async (flags: EditConfigFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(await runCommand(io, globals.json === true, () => editConfig(flags, globals, io)));
    });
}

async function editConfig(flags: EditConfigFlags, globals: GlobalOptions, io: CtlIo): Promise<number> {
  const sets = flags.set ?? [];
  const parameters = flags.pg ?? [];
  const fromFlags = sets.length > 0 || parameters.length > 0 ? patchOfFlags(sets, parameters) : null;
  const by = flags.by === undefined ? {} : { by: parseBy(flags.by) };
  const force = flags.force === true;
  if (fromFlags === null && !force && !io.interactive) {
    throw new CtlUsageError('edit-config without -s or -p opens an editor and asks for confirmation, but there is no terminal: give the changes as -s KEY=VALUE / -p NAME=VALUE with --force');
  }
  requireConfirmable('edit-config', force, io, WHAT);
  const client = await connect(globals, io);
  try {
    let patch = fromFlags;
    let expectedVersion: number | undefined;
    if (patch === null) {
      const current = await client.getConfig();
      patch = await editInEditor(client.clusterName, current, io);
      expectedVersion = current.version;
      if (Object.keys(patch).length === 0) return done(client, { version: current.version, previousVersion: current.version, values: current.values, changes: [], dryRun: false, aliases: [] }, globals, io);
    }
    if (!force) {
      const preview = await client.patchConfig({ patch, dryRun: true, ...(expectedVersion === undefined ? {} : { expectedVersion }), ...by });
      if (preview.changes.length === 0) return done(client, { ...preview, dryRun: false }, globals, io);
      io.stderr(renderPreview(client.clusterName, preview));
      await confirm(`Apply ${preview.changes.length === 1 ? 'this change' : `these ${preview.changes.length} changes`} to every member of cluster ${client.clusterName}?`, false, io);
      // What was confirmed is what gets committed: on the version shown, or not at all.
      expectedVersion = preview.previousVersion;
    }
    return done(client, await client.patchConfig({ patch, ...(expectedVersion === undefined ? {} : { expectedVersion }), ...by }), globals, io);
  } finally {
    client.close();
  }
}

function done(client: AdminClient, result: PatchConfigResult, globals: GlobalOptions, io: CtlIo): number {
  io.stdout(globals.json === true ? `${JSON.stringify(result)}\n` : renderPatchResult(client.clusterName, result));
  return EXIT_OK;
}
