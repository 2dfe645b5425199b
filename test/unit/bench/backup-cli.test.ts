import test from 'ava';
import { expandArchiveCommand } from '../../../src/backup/wal-commands.js';
import { BACKUP_BENCH_DEFAULTS, EXIT_OK, EXIT_USAGE, runBackupBenchCli, type BackupBenchOptions } from '../../../scripts/bench/backup/cli.js';
import { commandLine, renderTable, REQUIRED_KEYS, summarize, type BackupBenchMeasurements } from '../../../scripts/bench/backup/report.js';

/** Parse `argv` as `npm run bench:backup -- argv` would, with a run that only records the options. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string; ran: BackupBenchOptions[] }> {
  let out = '';
  let err = '';
  const ran: BackupBenchOptions[] = [];
  const code = await runBackupBenchCli(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) }, async (options) => {
    ran.push(options);
    return EXIT_OK;
  });
  return { code, out, err, ran };
}

test('defaults: --segments 32 --scale 50 --wal-after-mb 256, no --json, no --keep', async (t) => {
  const r = await cli();
  t.is(r.code, EXIT_OK);
  t.deepEqual(r.ran, [{ ...BACKUP_BENCH_DEFAULTS, json: false, keep: false }]);
  t.deepEqual(BACKUP_BENCH_DEFAULTS, { segments: 32, scale: 50, walAfterMb: 256 });
});

test('every option is taken, including the bounds', async (t) => {
  const r = await cli('--segments', '2', '--scale', '1', '--wal-after-mb', '0', '--json', '--keep');
  t.is(r.code, EXIT_OK, r.err);
  t.deepEqual(r.ran, [{ segments: 2, scale: 1, walAfterMb: 0, json: true, keep: true }]);
  const top = await cli('--segments', '4096', '--scale', '10000', '--wal-after-mb', '1048576');
  t.deepEqual(top.ran, [{ segments: 4096, scale: 10_000, walAfterMb: 1_048_576, json: false, keep: false }]);
});

test('bad options: exit 2 with a message naming the option and what it expects, and nothing run', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--segments', '0'], /--segments must be an integer from 1 to 4096, got "0"/],
    [['--segments', '4097'], /--segments must be an integer from 1 to 4096, got "4097"/],
    [['--segments', '2.5'], /--segments must be an integer from 1 to 4096, got "2.5"/],
    [['--scale', 'x'], /--scale must be an integer from 1 to 10000, got "x"/],
    [['--scale', '-3'], /--scale must be an integer from 1 to 10000, got "-3"/],
    [['--scale', ''], /--scale must be an integer from 1 to 10000, got ""/],
    [['--wal-after-mb', '1e3'], /--wal-after-mb must be an integer from 0 to 1048576, got "1e3"/],
    [['--segments'], /option '--segments <n>' argument missing/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
    [['10'], /too many arguments/],
  ];
  for (const [argv, message] of cases) {
    const r = await cli(...argv);
    t.is(r.code, EXIT_USAGE, argv.join(' '));
    t.regex(r.err, message, argv.join(' '));
    t.deepEqual(r.ran, [], `${argv.join(' ')}: nothing run`);
    t.is(r.out, '', argv.join(' '));
  }
});

test('--help lists every option and the exit codes, and runs nothing', async (t) => {
  const r = await cli('--help');
  t.is(r.code, EXIT_OK);
  t.deepEqual(r.ran, []);
  for (const option of ['--segments', '--scale', '--wal-after-mb', '--json', '--keep']) t.true(r.out.includes(option), option);
  t.regex(r.out, /Exit codes: 0 done, 1 a step failed, 2 usage, 130 interrupted/);
});

test('archive_command is expanded as PostgreSQL does it: %f, %p, %% and nothing else', (t) => {
  const name = '000000010000000000000003';
  t.is(expandArchiveCommand("'/n' 'c.js' archive '/s/100%%' %f", name), `'/n' 'c.js' archive '/s/100%' ${name}`);
  t.is(expandArchiveCommand('cp %p /a/%f', name), `cp pg_wal/${name} /a/${name}`);
  t.is(expandArchiveCommand('x %%f %r', name), 'x %f %r');
});

const MIB = 1024 * 1024;
const measured: BackupBenchMeasurements = {
  options: { segments: 2, scale: 1, walAfterMb: 1, json: true, keep: false },
  archiveGzipLevel: 1,
  archiveParallel: 4,
  archiveBytes: 32 * MIB,
  databaseBytes: 22 * MIB,
  cpSeconds: 0.1,
  cpSyncSeconds: 0.2,
  cpCommandSeconds: 0.16,
  archiveLocal: { seconds: 0.4, storedBytes: 6 * MIB },
  archiveLocalNone: { seconds: 0.5, storedBytes: 32 * MIB },
  archiveS3: { seconds: 0.8, storedBytes: 6 * MIB },
  archiveLocalDirect: { seconds: 0.2, storedBytes: 6 * MIB },
  basebackup: { seconds: 2, dataBytes: 60 * MIB, storedBytes: 8 * MIB },
  restoreSeconds: 1.5,
  baseline: { seconds: 1, bytes: 60 * MIB },
  basebackupS3: { seconds: 3, dataBytes: 60 * MIB },
  walAfterBytes: 3 * MIB,
  replicaS3: { seconds: 2.5, restoreSeconds: 1 },
  replicaBasebackup: { seconds: 1.7, copySeconds: 1 },
};

test('the figures: MB/s of 2^20 bytes, ratios to the three cp baselines, every required key', (t) => {
  const s = summarize(measured);
  for (const key of REQUIRED_KEYS) t.true(typeof s[key] === 'number' && (s[key] as number) > 0, key);
  t.is(s.cp_mb_s, 320);
  t.is(s.cp_sync_mb_s, 160);
  t.is(s.archive_local_mb_s, 80);
  t.is(s.archive_local_segments_s, 5);
  t.is(s.archive_local_to_cp, 0.25);
  t.is(s.archive_local_to_cp_sync, 0.5);
  t.is(s.cp_archive_command_mb_s, 200);
  t.is(s.archive_local_to_cp_archive_command, 0.4);
  t.is(s.archive_local_stored_ratio, 0.188);
  t.is(s.archive_local_none_mb_s, 64);
  t.is(s.archive_s3_mb_s, 40);
  t.is(s.archive_local_direct_mb_s, 160);
  t.is(s.basebackup_mb_s, 30);
  t.is(s.basebackup_baseline_mb_s, 60);
  t.is(s.basebackup_to_baseline, 0.5);
  t.is(s.restore_mb_s, 40);
  t.is(s.replica_s3_s, 2.5);
  t.is(s.replica_basebackup_s, 1.7);
  t.is(JSON.stringify(s).includes('\n'), false, 'one line');
});

test('the table starts with the command line that reproduces the run', (t) => {
  const text = renderTable(measured);
  t.is(text.split('\n')[0], 'npm run bench:backup -- --segments 2 --scale 1 --wal-after-mb 1');
  t.is(commandLine(measured.options), text.split('\n')[0]);
  t.regex(text, /\| WAL archive → local store \(gzip 1\) \| 80 MB\/s, 5 segments\/s \(0\.25× cp, 0\.5× cp \+ sync, 0\.4× cp as archive_command/);
  t.regex(text, /\| cp as archive_command: `cp %p DIR\/%f`, one sh per segment \(not durable\) \| 200 MB\/s \|/);
  t.regex(text, /\| replica via S3: .* \| 2\.5 s \(restore 1 s\) \|/);
});
