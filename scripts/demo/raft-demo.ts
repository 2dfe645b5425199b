/**
 * npm run demo — a local 3-node pgherd Raft group (separate processes,
 * real gRPC on 127.0.0.1, LevelDB logs in a temporary directory). A client
 * commits a command every 200 ms; every 15 s the leader is killed with
 * SIGKILL and restarted 5 s later, so you can watch a re-election.
 * Ctrl-C stops everything and removes the data.
 *
 * (The PostgreSQL cluster demo replaces this once the agent lands.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevCluster, type DevStatus } from '../lib/raft-cluster.js';

const KILL_EVERY_MS = 15_000;
const RESTART_AFTER_MS = 5_000;
const PROPOSE_EVERY_MS = 200;
const REFRESH_MS = 1_000;

const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-demo-'));
const cluster = await DevCluster.start({ size: 3, baseDir });
const events: string[] = [];
let committed = 0;
let failed = 0;
let stopping = false;

function note(event: string): void {
  events.push(`${new Date().toISOString().slice(11, 19)}  ${event}`);
  if (events.length > 6) events.shift();
}

async function leaderOrUndefined(): Promise<string | undefined> {
  const statuses = await cluster.statuses();
  return statuses.find((s) => s.role === 'leader')?.id;
}

const proposer = setInterval(async () => {
  const leader = await leaderOrUndefined();
  if (!leader) return;
  try {
    await cluster.request(leader, { op: 'propose', data: `cmd-${committed}` });
    committed += 1;
  } catch {
    failed += 1;
  }
}, PROPOSE_EVERY_MS);

const chaos = setInterval(async () => {
  const leader = await leaderOrUndefined();
  if (!leader) return;
  note(`killing leader ${leader} (SIGKILL)`);
  await cluster.kill(leader);
  setTimeout(() => {
    if (stopping) return;
    note(`restarting ${leader}`);
    void cluster.spawn(leader).catch((error: Error) => note(`restart of ${leader} failed: ${error.message}`));
  }, RESTART_AFTER_MS);
}, KILL_EVERY_MS);

function render(statuses: DevStatus[]): string {
  const rows = [...cluster.nodes.keys()].map((id) => {
    const s = statuses.find((x) => x.id === id);
    if (!s) return `  ${id.padEnd(6)} ${'down'.padEnd(10)}`;
    return `  ${id.padEnd(6)} ${s.role.padEnd(10)} ${String(s.term).padStart(5)} ${String(s.commit).padStart(8)} ${String(s.applied).padStart(8)} ${String(s.count).padStart(8)}`;
  });
  return [
    'pgherd Raft demo — 3 nodes on 127.0.0.1, Ctrl-C to stop',
    '',
    `  ${'node'.padEnd(6)} ${'role'.padEnd(10)} ${'term'.padStart(5)} ${'commit'.padStart(8)} ${'applied'.padStart(8)} ${'count'.padStart(8)}`,
    ...rows,
    '',
    `  client: ${committed} commands committed, ${failed} refused or timed out (retried on the next leader)`,
    `  data: ${baseDir}`,
    '',
    ...events.map((e) => `  ${e}`),
  ].join('\n');
}

const refresher = setInterval(async () => {
  const statuses = await cluster.statuses();
  process.stdout.write(process.stdout.isTTY ? `\x1b[2J\x1b[H${render(statuses)}\n` : `${render(statuses)}\n\n`);
}, REFRESH_MS);

async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(proposer);
  clearInterval(chaos);
  clearInterval(refresher);
  await cluster.stopAll();
  await rm(baseDir, { recursive: true, force: true });
  console.log('\nstopped all nodes and removed their data');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
