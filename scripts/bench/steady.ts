/**
 * npm run bench:steady [-- --minutes M --clients C --archive --json]
 *
 * No false failovers under load: a 3-node cluster of real agents with
 * default timings, pgbench (TPC-B-like) at full speed against the primary
 * for M minutes (default 10) with C clients (default 8) on this machine,
 * sharing its cores with the three agents and the three PostgreSQL
 * servers. Prints the transactions per second and the number of epochs and
 * timeline switches that happened during the run — the claim is zero.
 *
 * --archive: the members archive WAL into a local store (backup.store.kind
 * local, the agent's defaults: gzip level 1, 4 parallel uploads). The
 * primary's archive lag — pgherd_wal_archive_ready_files, WAL files
 * PostgreSQL marked ready and the store does not hold yet — is sampled from
 * its /metrics every second after the first 30 s (steady state): the
 * claim is that it stays under 4 segments at full speed.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPgBinaries } from '../../src/postgres/binaries.js';
import { AgentCluster } from '../lib/agent-cluster.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1] ?? fallback;
}
const minutes = Number(option('minutes', '10'));
const clients = Number(option('clients', '8'));
const json = process.argv.includes('--json');
const archive = process.argv.includes('--archive');
/** Lag samples start after this: pgbench's start (and the first checkpoint) is not steady state. */
const WARMUP_MS = 30_000;
if (!(minutes > 0)) throw new Error('--minutes: expected a positive number');
if (!(Number.isInteger(clients) && clients > 0)) throw new Error('--clients: expected a positive integer');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-bench-steady-'));
const storeDir = join(baseDir, 'store');
if (archive) await mkdir(storeDir);
const cluster = await AgentCluster.create({ baseDir, ...(archive ? { perNode: () => ({ backup: { store: { kind: 'local', path: storeDir } } }) } : {}) });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cluster.killAll().finally(() => rm(baseDir, { recursive: true, force: true }).finally(() => process.exit(130))));
}

async function clusterState(): Promise<{ epoch: number; history: unknown[]; leader: { member: string } | null }> {
  for (const node of cluster.nodes) {
    try {
      const response = await fetch(`http://127.0.0.1:${node.httpPort}/cluster`, { signal: AbortSignal.timeout(2000) });
      return ((await response.json()) as { state: { epoch: number; history: unknown[]; leader: { member: string } | null } }).state;
    } catch {
      // next node
    }
  }
  throw new Error('no agent answered /cluster');
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}: ${out.slice(-2000)}`))));
  });
}

/** The primary's archive lag in files and its archived bytes so far, from its /metrics. */
async function archiveMetrics(name: string): Promise<{ ready: number; archivedBytes: number } | undefined> {
  const node = cluster.node(name);
  try {
    const text = await (await fetch(`http://${node.host}:${node.httpPort}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const value = (metric: string): number | undefined => {
      const match = new RegExp(`^${metric} ([0-9.e+]+)$`, 'm').exec(text);
      return match === null ? undefined : Number(match[1]);
    };
    const ready = value('pgherd_wal_archive_ready_files');
    return ready === undefined ? undefined : { ready, archivedBytes: value('pgherd_wal_archived_bytes_total') ?? 0 };
  } catch {
    return undefined;
  }
}

/** Sample the primary's archive lag every second after the warm-up, until stopped. */
function sampleLag(primary: string): { stop: () => Promise<{ samples: number[]; archivedBytes: number; seconds: number }> } {
  const samples: number[] = [];
  let stopped = false;
  let first: { archivedBytes: number; atMs: number } | undefined;
  let last: { archivedBytes: number; atMs: number } | undefined;
  const done = (async () => {
    await sleep(WARMUP_MS);
    while (!stopped) {
      const m = await archiveMetrics(primary);
      if (m !== undefined) {
        samples.push(m.ready);
        last = { archivedBytes: m.archivedBytes, atMs: performance.now() };
        first ??= last;
      }
      await sleep(1000);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
      const seconds = first !== undefined && last !== undefined ? (last.atMs - first.atMs) / 1000 : 0;
      return { samples, archivedBytes: first !== undefined && last !== undefined ? last.archivedBytes - first.archivedBytes : 0, seconds };
    },
  };
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

try {
  await cluster.startAll();
  let primary: string | undefined;
  for (let i = 0; i < 240 && primary === undefined; i++) {
    await sleep(500);
    const s = await cluster.statuses();
    if (s.filter((x) => x.role === 'replica' && x.state === 'streaming').length === 2) primary = s.find((x) => x.isPrimary)?.name;
  }
  if (primary === undefined) throw new Error('the cluster did not become healthy');
  const binaries = await findPgBinaries();
  const pgbench = join(binaries.binDir, 'pgbench');
  const passfile = join(baseDir, 'bench-pgpass');
  await writeFile(passfile, `*:*:*:postgres:${await cluster.superuserPassword(primary)}\n`, { mode: 0o600 });
  const env = { ...process.env, PGPASSFILE: passfile, PGHOST: '127.0.0.1', PGPORT: String(cluster.node(primary).pgPort), PGUSER: 'postgres', PGDATABASE: 'postgres' };
  await run(pgbench, ['-i', '-s', '10', '-q'], env);
  const before = await clusterState();
  if (!json) console.log(`primary ${primary}, epoch ${before.epoch}; pgbench -c ${clients} -j 2 for ${minutes} min...`);
  const lag = archive ? sampleLag(primary) : undefined;
  const output = await run(pgbench, ['-c', String(clients), '-j', '2', '-T', String(Math.round(minutes * 60)), '-P', '60'], env);
  const lagged = await lag?.stop();
  const after = await clusterState();
  const tps = Number(/tps = ([0-9.]+)/.exec(output)?.[1] ?? 'NaN');
  const summary = {
    minutes,
    clients,
    tps: Math.round(tps),
    epochs_during_run: after.epoch - before.epoch,
    timeline_switches_during_run: after.history.length - before.history.length,
    primary_before: primary,
    primary_after: after.leader?.member ?? null,
    ...(lagged === undefined
      ? {}
      : {
          archive_samples: lagged.samples.length,
          archive_ready_files_max: Math.max(...lagged.samples),
          archive_ready_files_p95: percentile(lagged.samples, 95),
          archive_ready_files_mean: Math.round((lagged.samples.reduce((a, b) => a + b, 0) / lagged.samples.length) * 100) / 100,
          archived_mb_s: lagged.seconds > 0 ? Math.round((lagged.archivedBytes / 1e6 / lagged.seconds) * 10) / 10 : 0,
        }),
  };
  if (json) console.log(JSON.stringify(summary));
  else {
    console.log(`${summary.tps} tps; failovers during the run: ${summary.epochs_during_run} (timeline switches ${summary.timeline_switches_during_run}); primary ${summary.primary_before} → ${summary.primary_after}`);
    if ('archive_samples' in summary) {
      console.log(`archive lag after ${WARMUP_MS / 1000} s (${summary.archive_samples} samples, one a second): max ${summary.archive_ready_files_max} WAL files waiting, p95 ${summary.archive_ready_files_p95}, mean ${summary.archive_ready_files_mean}; archived ${summary.archived_mb_s} MB/s of WAL`);
    }
  }
} finally {
  await cluster.stopAll().catch(() => undefined);
  await cluster.killAll();
  await rm(baseDir, { recursive: true, force: true });
}
process.exit(0);
