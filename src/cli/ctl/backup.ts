import type { Command } from 'commander';
import { BACKUP_WAIT_MS_MAX, type BackupListResult, type BackupRunResult, type BackupRunView } from '../../admin/backup-wire.js';
import { MEMBER_NAME_FORM, MEMBER_NAME_PATTERN } from '../../config/member-name.js';
import { formatBytes } from '../../lib/bytes.js';
import { EXIT_OK, EXIT_REFUSED } from './exit-codes.js';
import { CtlUsageError } from './failure.js';
import type { CtlIo } from './io.js';
import { parseBy, parseSeconds, type GlobalOptions } from './options.js';
import { table } from './render.js';
import { connect, runCommand, runQuery } from './session.js';

interface CreateFlags {
  readonly label?: string;
  readonly member?: string;
  readonly timeout?: string;
  readonly wait?: boolean;
  readonly by?: string;
}

/** A backup copies the whole database: wait long by default. */
const BACKUP_WAIT_S_DEFAULT = 6 * 3600;

/**
 * `pgherdctl backup create` takes a base backup into the backup store now
 * (the primary takes it, or the member dynamic config backup_take_on or
 * --member names) and waits for it; `pgherdctl backup list` shows what the
 * store holds, the run in progress, the last one and the schedule. Exit
 * codes: 0 done, 1 failed or still running when the wait ended (or
 * refused), 2 usage, 3 unreachable.
 */
export function registerBackup(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  const backup = program.command('backup').description('base backups in the backup store: create, list');
  backup
    .command('create')
    .description('take a base backup into the backup store now, and wait for it')
    .option('--label <text>', 'recorded in the backup (printable ASCII, at most 200 characters)')
    .option('--member <name>', 'take it on this member (default: the one backup_take_on names, the primary unless configured)')
    .option('--timeout <seconds>', `how long to wait for it (default ${BACKUP_WAIT_S_DEFAULT})`)
    .option('--no-wait', 'answer once it is recorded')
    .option('--by <text>', "who asks, recorded by the agent (default pgherdctl@<this client's address>)")
    .action(async (flags: CreateFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      setExitCode(
        await runCommand(io, globals.json === true, async () => {
          const label = flags.label ?? '';
          if (label.length > 200 || !/^[\x20-\x7e]*$/.test(label)) throw new CtlUsageError(`--label: expected printable ASCII of at most 200 characters, got ${JSON.stringify(label.slice(0, 40))}`);
          if (flags.member !== undefined && !MEMBER_NAME_PATTERN.test(flags.member)) throw new CtlUsageError(`--member: expected a member name (${MEMBER_NAME_FORM}), got ${JSON.stringify(flags.member)}`);
          const timeoutMs = parseSeconds('--timeout', flags.timeout ?? String(BACKUP_WAIT_S_DEFAULT), BACKUP_WAIT_MS_MAX / 1000);
          const by = flags.by === undefined ? undefined : parseBy(flags.by);
          const client = await connect(globals, io);
          try {
            const result = await client.createBackup({ label, timeoutMs, noWait: flags.wait === false, ...(flags.member === undefined ? {} : { member: flags.member }), ...(by === undefined ? {} : { by }) });
            return reportRun(result, flags.wait === false, globals.json === true, io);
          } finally {
            client.close();
          }
        }),
      );
    });
  backup
    .command('list')
    .description('the backups in the store (oldest first), the backup in progress, the last one and the schedule')
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(await runQuery(io, command.optsWithGlobals<GlobalOptions>(), (client) => client.listBackups(), (list, cluster) => renderBackupList(list, cluster)));
    });
}

/** Print the answer and return the exit code: 0 when done (or recorded, with --no-wait). */
function reportRun(result: BackupRunResult, noWait: boolean, json: boolean, io: CtlIo): number {
  io.stdout(json ? `${JSON.stringify(result)}\n` : `${result.message}\n`);
  const status = result.run?.status ?? 'unknown';
  if (status === 'done' || (noWait && (status === 'pending' || status === 'running'))) return EXIT_OK;
  if (!json) io.stderr(`refused: the backup ${status === 'pending' || status === 'running' ? `was still ${status} when the wait ended` : status}\n`);
  return EXIT_REFUSED;
}

export function renderBackupList(list: BackupListResult, cluster: string): string {
  const lines: string[] = [`Cluster ${cluster}, store: ${list.store}`];
  const schedule = list.schedule === 'off' ? 'off' : `'${list.schedule}' (UTC), next ${list.nextScheduledAt ?? '?'}`;
  lines.push(`Schedule: ${schedule}; taken on ${list.taker ?? 'the primary (none now)'}; keep the newest ${list.keepCount}${list.keepDays > 0 ? ` and ${list.keepDays} days` : ''}`);
  if (list.backups.length === 0) {
    lines.push('No complete backup.');
  } else {
    const rows = list.backups.map((b) => [b.id, b.finishedAt, formatBytes(b.dataBytes), formatBytes(b.storedBytes), `${Math.round(b.durationMs / 1000)} s`, String(b.timeline), `${b.startLsn}-${b.stopLsn}`, b.takenOn, b.label]);
    lines.push(table(['ID', 'FINISHED', 'SIZE', 'STORED', 'TOOK', 'TL', 'LSN', 'ON', 'LABEL'], rows, new Set([2, 3, 4, 5])));
  }
  for (const u of list.unusable) lines.push(`Unusable: ${u.id} — ${u.reason}`);
  if (list.current !== null) lines.push(`In progress: ${describe(list.current)}`);
  if (list.last !== null) lines.push(`Last: ${describe(list.last)}`);
  return `${lines.join('\n')}\n`;
}

function describe(run: BackupRunView): string {
  const who = run.takenBy === null ? (run.member === null ? '' : ` (asked of ${run.member})`) : ` on ${run.takenBy}`;
  const when = run.finishedAt ?? run.heartbeatAt ?? run.startedAt ?? run.requestedAt;
  return `${run.trigger} run ${run.id} ${run.status}${who} at ${when}, requested by ${run.by}${run.detail === null ? '' : ` — ${run.detail}`}`;
}
