/**
 * npm run bench:raft [-- --json] [--runs N]
 *
 * Three Raft nodes as separate processes over loopback gRPC, LevelDB with
 * sync on, default timings. Prints sequential commit latency, throughput
 * with 64 concurrent proposers, and election time after SIGKILL of the leader.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { DevCluster, sleep, type DevStatus } from '../lib/raft-cluster.js';
import { quantile, round } from '../lib/stats.js';

const program = new Command('bench:raft')
  .option('--json', 'print one JSON line')
  .option('--runs <n>', 'leader kills for the election measurement', positiveInt, 7)
  .option('--sequential <n>', 'sequential proposals', positiveInt, 2000)
  .option('--proposers <n>', 'concurrent proposers', positiveInt, 64)
  .option('--duration-ms <n>', 'duration of the concurrent phase', positiveInt, 5000)
  .parse();
const opts = program.opts<{ json?: boolean; runs: number; sequential: number; proposers: number; durationMs: number }>();

function positiveInt(value: string, _previous: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const say = (line: string) => {
  if (!opts.json) console.log(line);
};

const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-bench-raft-'));
const cluster = await DevCluster.start({ size: 3, baseDir });
try {
  let leader = await cluster.waitForLeader(20_000);
  say(`cluster up, leader ${leader}`);
  await cluster.request(leader, { op: 'sequential', count: 200 }); // warm-up

  const latencies = await cluster.request<number[]>(leader, { op: 'sequential', count: opts.sequential });
  const p50 = quantile(latencies, 0.5);
  const p99 = quantile(latencies, 0.99);
  say(`sequential commit latency (${opts.sequential} proposals, 1 proposer): p50 ${round(p50)} ms, p99 ${round(p99)} ms`);

  const load = await cluster.request<{ commits: number; elapsedMs: number; errors: number }>(leader, {
    op: 'concurrent',
    proposers: opts.proposers,
    durationMs: opts.durationMs,
  });
  const throughput = (load.commits / load.elapsedMs) * 1000;
  for (const st of await cluster.statuses()) {
    const c = st.counters;
    say(`  ${st.id}${st.id === leader ? ' (leader)' : ''}: ${c.readies} Readies, ${round(c.entriesPersisted / Math.max(1, c.readies), 1)} entries per Ready, ${c.syncedWrites} synced writes, ${round(c.persistMs / Math.max(1, c.readies), 2)} ms persisting per Ready (cumulative since start)`);
  }
  say(`throughput (${opts.proposers} concurrent proposers, ${opts.durationMs} ms): ${Math.round(throughput)} commits/s (${load.errors} errors)`);

  const elections: number[] = [];
  for (let run = 0; run < opts.runs; run++) {
    await sleep(500); // steady state: heartbeats flowing
    const killedAt = performance.now();
    await cluster.kill(leader);
    const next = await cluster.waitForLeader(20_000, leader);
    const electionMs = performance.now() - killedAt;
    elections.push(electionMs);
    say(`election ${run + 1}/${opts.runs}: ${leader} killed, ${next} leads after ${Math.round(electionMs)} ms`);
    await cluster.spawn(leader);
    await waitCaughtUp(cluster, leader);
    leader = next;
  }
  const electionP50 = quantile(elections, 0.5);
  say(`election after SIGKILL of the leader: p50 ${Math.round(electionP50)} ms, max ${Math.round(Math.max(...elections))} ms (${opts.runs} runs)`);

  if (opts.json) {
    console.log(
      JSON.stringify({
        commit_p50_ms: round(p50, 3),
        commit_p99_ms: round(p99, 3),
        throughput_per_s: Math.round(throughput),
        election_p50_ms: Math.round(electionP50),
        election_max_ms: Math.round(Math.max(...elections)),
        sequential: opts.sequential,
        proposers: opts.proposers,
        runs: opts.runs,
      }),
    );
  }
} finally {
  await cluster.stopAll();
  await rm(baseDir, { recursive: true, force: true });
}

async function waitCaughtUp(devCluster: DevCluster, id: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const statuses = await devCluster.statuses();
    const me = statuses.find((s: DevStatus) => s.id === id);
    const max = Math.max(...statuses.map((s) => s.commit));
    if (me && me.applied >= max && me.leader !== '') return;
    await sleep(20);
  }
  throw new Error(`${id} did not catch up after restart`);
}
