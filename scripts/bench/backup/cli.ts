/**
 * The options of `npm run bench:backup` and their checks (scripts/bench/backup.ts
 * runs it; see run.ts for what is measured). One commander program, as the
 * chaos CLI does: a bad option is refused with a message naming it and
 * exit 2, before anything is started.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runProgram } from '../../../src/cli/run-program.js';

export const EXIT_OK = 0;
/** A step of the bench failed (the message says which); everything started was stopped. */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** Stopped by SIGINT or SIGTERM (everything started was stopped first). */
export const EXIT_INTERRUPTED = 130;

export interface BackupBenchOptions {
  /** WAL segments every archive contender copies. */
  readonly segments: number;
  /** pgbench scale of the database that is backed up, restored and cloned. */
  readonly scale: number;
  /** MiB of WAL written after the S3 base backup, replayed from the archive by the S3 replica. */
  readonly walAfterMb: number;
  readonly json: boolean;
  readonly keep: boolean;
}

export const BACKUP_BENCH_DEFAULTS = { segments: 32, scale: 50, walAfterMb: 256 } as const;

/** Bounds with a reason: 4096 segments is 64 GiB of copies per contender; scale 10,000 is ~150 GB of pgbench data. */
export const BACKUP_BENCH_LIMITS = {
  segments: { min: 1, max: 4096 },
  scale: { min: 1, max: 10_000 },
  walAfterMb: { min: 0, max: 1_048_576 },
} as const;

export interface BenchIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const integer = (flag: string, bounds: { readonly min: number; readonly max: number }) => (text: string): number => {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < bounds.min || value > bounds.max) {
    throw new InvalidArgumentError(`${flag} must be an integer from ${bounds.min} to ${bounds.max}, got "${text}"`);
  }
  return value;
};

export function buildBackupBenchProgram(io: BenchIo, run: (options: BackupBenchOptions) => Promise<number>, setExitCode: (code: number) => void): Command {
  const d = BACKUP_BENCH_DEFAULTS;
  const l = BACKUP_BENCH_LIMITS;
  return new Command('bench:backup')
    .description(
      'WAL archive throughput (local store, S3 on s3rver) against cp in the same run, base backup and restore MB/s against pg_basebackup, ' +
        'and the time to a streaming replica from the S3 archive and by pg_basebackup, all against a real PostgreSQL on this machine',
    )
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .option('--segments <n>', 'WAL segments (16 MiB each) every archive contender copies', integer('--segments', l.segments), d.segments)
    .option('--scale <n>', 'pgbench scale of the database backed up and cloned, ~15 MiB each', integer('--scale', l.scale), d.scale)
    .option('--wal-after-mb <n>', 'MiB of WAL written after the S3 base backup, replayed by the S3 replica', integer('--wal-after-mb', l.walAfterMb), d.walAfterMb)
    .option('--json', 'print exactly one line of JSON (and nothing else on stdout)', false)
    .option('--keep', 'keep the temporary directory (data directories, stores, logs) and print where it is', false)
    .addHelpText('after', '\n1 MB = 2^20 bytes. Exit codes: 0 done, 1 a step failed, 2 usage, 130 interrupted (SIGINT/SIGTERM).')
    .action(async (options: BackupBenchOptions) => setExitCode(await run(options)));
}

/** Parse `argv` (after the script name) and run the bench with the options; the exit code. */
export function runBackupBenchCli(argv: readonly string[], io: BenchIo, run: (options: BackupBenchOptions) => Promise<number>): Promise<number> {
  return runProgram((setExitCode) => buildBackupBenchProgram(io, run, setExitCode), argv, io.stderr, { ok: EXIT_OK, usage: EXIT_USAGE, internal: EXIT_FAILED });
}
