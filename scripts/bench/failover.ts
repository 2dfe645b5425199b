/**
 * npm run bench:failover [-- --runs N --json --faults host_loss,pg_crash]
 *
 * A 3-node cluster of real agents and PostgreSQL on 127.0.0.1 (default
 * dynamic settings: ttl 4 s, loop_wait 1 s). A client inserts one row
 * every few ms into whichever node is the writable primary (it re-finds it
 * after an error, like libpq's target_session_attrs=read-write). For each
 * run it injects a fault and prints the write-unavailability window: from
 * the last acknowledged insert before the fault to the first acknowledged
 * insert after it. Faults:
 *   host_loss — the primary's agent, fence and PostgreSQL are frozen
 *               (SIGSTOP), i.e. the host went silent; they are thawed
 *               after the new primary is up and the old one rejoins;
 *   pg_crash  — the primary's postmaster and all its processes are killed
 *               (SIGKILL) under a live agent, which brings PostgreSQL
 *               back within primary_start_timeout (crash recovery);
 *   switchover — a planned switchover to the best replica through the
 *               admin API (what `pgherdctl switchover --force` does).
 * Figures are wall-clock on this machine; compare within one run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Workload } from '../../chaos/workload.js';
import { silenceIpServerNameWarning } from '../../src/tls/warnings.js';
import { AgentCluster } from '../lib/agent-cluster.js';
import { quantile } from '../lib/stats.js';

type Fault = 'host_loss' | 'pg_crash' | 'switchover';
const FAULTS: readonly Fault[] = ['host_loss', 'pg_crash', 'switchover'];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}
const runs = Number(option('runs') ?? '10');
const json = process.argv.includes('--json');
const faults = (option('faults')?.split(',') ?? FAULTS) as Fault[];
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: expected a positive integer');
for (const f of faults) if (!FAULTS.includes(f)) throw new Error(`--faults: unknown fault ${f} (expected ${FAULTS.join(', ')})`);
const WRITE_EVERY_MS = 5;
silenceIpServerNameWarning();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const say = (text: string): void => {
  if (!json) console.log(text);
};

const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-bench-failover-'));
const cluster = await AgentCluster.create({ baseDir, logLevel: 'info' });
let password = '';
// The agents run in process groups of their own: a Ctrl-C here must take them (and PostgreSQL) down too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cluster.killAll().finally(() => rm(baseDir, { recursive: true, force: true }).finally(() => process.exit(130)));
  });
}

async function healthy(timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const s = await cluster.statuses();
    const primary = s.filter((x) => x.isPrimary);
    if (primary.length === 1 && s.filter((x) => x.role === 'replica' && x.state === 'streaming').length === s.length - 1) return primary[0]!.name;
    if (performance.now() > deadline) throw new Error(`cluster not healthy after ${timeoutMs} ms: ${JSON.stringify(s.map((x) => [x.name, x.role, x.state]))}`);
    await sleep(250);
  }
}

/**
 * The unavailability window: the longest gap between consecutive
 * acknowledgements that ends after the fault (an insert in flight when the
 * fault hit may still be acknowledged just after it; the gap that follows
 * is the outage).
 */
function window(acks: readonly number[], faultAt: number): number | undefined {
  let longest: number | undefined;
  for (let i = 1; i < acks.length; i++) {
    if (acks[i]! <= faultAt) continue;
    const gap = acks[i]! - acks[i - 1]!;
    if (longest === undefined || gap > longest) longest = gap;
  }
  return longest;
}

/** Wait until `recovered()` holds and a write was acknowledged after that. */
async function untilRecovered(writer: Workload, recovered: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (performance.now() > deadline) throw new Error(`no recovery within ${timeoutMs} ms of the fault`);
    if (await recovered()) break;
    await sleep(50);
  }
  const at = performance.now();
  while (!writer.acked.some((w) => w.ackedAtMs > at)) {
    if (performance.now() > deadline) throw new Error(`no acknowledged write within ${timeoutMs} ms of the fault`);
    await sleep(20);
  }
}

let nextId = 1;
const results: Record<Fault, number[]> = { host_loss: [], pg_crash: [], switchover: [] };
try {
  await cluster.startAll();
  const primary = await healthy(120_000);
  password = await cluster.superuserPassword(primary);
  const setup = new pg.Client({ host: '127.0.0.1', port: cluster.node(primary).pgPort, user: 'postgres', password, database: 'postgres' });
  await setup.connect();
  await setup.query('CREATE TABLE IF NOT EXISTS bench_writes (id bigint primary key, at timestamptz DEFAULT now())');
  await setup.end();
  say(`cluster up in ${baseDir}; ${runs} run(s) of ${faults.join(', ')}`);

  for (let run = 1; run <= runs; run++) {
    for (const fault of faults) {
      const primaryNow = await healthy(120_000);
      const writer = new Workload({ targets: cluster.nodes.map((n) => ({ name: n.name, host: n.host, port: n.pgPort })), password, table: 'bench_writes', everyMs: WRITE_EVERY_MS, firstId: nextId });
      writer.start();
      await sleep(1_500);
      const faultAt = performance.now();
      if (fault === 'host_loss') {
        await cluster.signalHost(primaryNow, 'SIGSTOP');
        await untilRecovered(writer, async () => (await cluster.statuses()).some((s) => s.isPrimary && s.name !== primaryNow), 60_000);
        await cluster.signalHost(primaryNow, 'SIGCONT');
      } else if (fault === 'switchover') {
        const admin = await cluster.admin();
        try {
          await admin.switchover({ timeoutMs: 30_000, by: 'bench:failover' });
        } finally {
          admin.close();
        }
        await untilRecovered(writer, async () => (await cluster.statuses()).some((s) => s.isPrimary && s.name !== primaryNow), 60_000);
      } else {
        const pid = await cluster.postmasterPid(primaryNow);
        if (pid === undefined) throw new Error(`no postmaster pid for ${primaryNow}`);
        await cluster.killPostgres(primaryNow);
        await untilRecovered(writer, async () => {
          const now = await cluster.postmasterPid((await cluster.statuses()).find((s) => s.isPrimary)?.name ?? primaryNow);
          return now !== undefined && now !== pid;
        }, 60_000);
      }
      await sleep(1_000);
      await writer.stop();
      nextId = writer.nextId;
      const ms = window(writer.acked.map((w) => w.ackedAtMs), faultAt);
      if (ms === undefined) throw new Error(`${fault}: no write before or after the fault`);
      results[fault].push(ms);
      say(`run ${run} ${fault.padEnd(9)} primary ${primaryNow}: writes unavailable for ${Math.round(ms)} ms`);
    }
  }
} finally {
  await cluster.stopAll().catch(() => undefined);
  await cluster.killAll();
  await rm(baseDir, { recursive: true, force: true });
}

const round = (v: number | undefined): number | null => (v === undefined || Number.isNaN(v) ? null : Math.round(v));
const percentile = (values: readonly number[], p: number): number => quantile(values, p / 100);
const summary = {
  runs,
  host_loss_p50_ms: round(percentile(results.host_loss, 50)),
  host_loss_p99_ms: round(percentile(results.host_loss, 99)),
  host_loss_max_ms: round(results.host_loss.length ? Math.max(...results.host_loss) : undefined),
  pg_crash_p50_ms: round(percentile(results.pg_crash, 50)),
  pg_crash_p99_ms: round(percentile(results.pg_crash, 99)),
  switchover_p50_ms: round(percentile(results.switchover, 50)),
  switchover_p99_ms: round(percentile(results.switchover, 99)),
  ttl_ms: 4000,
  loop_wait_ms: 1000,
};
if (json) console.log(JSON.stringify(summary));
else {
  console.log(
    `\nhost loss p50 ${summary.host_loss_p50_ms} ms, p99 ${summary.host_loss_p99_ms} ms; PostgreSQL crash p50 ${summary.pg_crash_p50_ms} ms, p99 ${summary.pg_crash_p99_ms} ms; switchover p50 ${summary.switchover_p50_ms} ms, p99 ${summary.switchover_p99_ms} ms (${runs} runs)`,
  );
}
process.exit(0);
