/**
 * npm run bench:backup [-- --segments N --scale N --wal-after-mb N --json --keep]
 *
 * Measured on this machine, in one run, against a real PostgreSQL and
 * s3rver (a child process):
 *   1. WAL archive throughput (MB/s, segments/s) of the agent's archiver with
 *      the configuration's defaults (gzip level 1, parallel 4) into the local
 *      store and into S3, and with compression none, fed through
 *      archive_command (wal-client.pl over the agent's socket) as PostgreSQL
 *      feeds it; baselines in the same run: cp of the same segments, and cp
 *      followed by sync --file-system;
 *   2. base backup MB/s into the local store and restore MB/s, against
 *      pg_basebackup -Ft to local disk;
 *   3. the time to a streaming replica of the same database from the S3
 *      archive (restore + replay of --wal-after-mb of WAL) and by
 *      pg_basebackup from the primary.
 * Details: scripts/bench/backup/. Exit codes: 0 done, 1 a step failed,
 * 2 usage, 130 interrupted.
 */
import { runBackupBenchCli } from './backup/cli.js';
import { runBackupBench } from './backup/run.js';

const io = { stdout: (text: string) => void process.stdout.write(text), stderr: (text: string) => void process.stderr.write(text) };
const code = await runBackupBenchCli(process.argv.slice(2), io, (options) => runBackupBench(options, io));
// The S3 client's sockets would keep the process alive; everything started has been stopped.
process.exitCode = code;
process.stdout.write('', () => process.exit(code));
