import { Option, type Command } from 'commander';
import { DSN_ROLES } from '../../admin/dsn.js';
import type { DsnResult } from '../../admin/types.js';
import type { CtlIo } from './io.js';
import type { GlobalOptions } from './options.js';
import { renderDsn } from './render-config.js';
import { runQuery } from './session.js';

interface DsnFlags {
  readonly role?: DsnResult['role'];
  readonly dbname?: string;
  readonly user?: string;
}

/**
 * `pgherdctl dsn [--role primary|replica|any]`: a libpq connection string
 * over every member (target_session_attrs picks the primary, a standby or
 * any), e.g. for `psql "$(pgherdctl dsn)"`. No password: bring your own
 * (PGPASSFILE). With --json the DsnResult object.
 */
export function registerDsn(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  program
    .command('dsn')
    .description('print a libpq connection string that follows the primary (or reaches a replica, or any member)')
    .addOption(new Option('--role <role>', 'whom the string connects to (default primary)').choices(DSN_ROLES))
    .option('--dbname <name>', 'the database (default postgres)')
    .option('--user <name>', "the role to connect as (default: left out, libpq's own default)")
    .action(async (flags: DsnFlags, command: Command) => {
      setExitCode(await runQuery(io, command.optsWithGlobals<GlobalOptions>(), (client) => client.dsn({ ...(flags.role === undefined ? {} : { role: flags.role }), ...(flags.dbname === undefined ? {} : { dbname: flags.dbname }), ...(flags.user === undefined ? {} : { user: flags.user }) }), (result) => renderDsn(result)));
    });
}
