/**
 * npm run demo — a 3-node pgherd cluster with real PostgreSQL on this host:
 * three agents (`pgherd run`), each with its own data directory and ports on
 * 127.0.0.1, forming their Raft group, electing a primary and cloning two
 * streaming replicas. Shows a status table that refreshes every second, the
 * connection string, and keys to try a failover. Ctrl-C (or q) stops
 * everything cleanly and removes the data (--keep keeps it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPgBinaries } from '../../src/postgres/binaries.js';
import { PgBinariesMissingError } from '../../src/postgres/errors.js';
import { AgentCluster, type NodeStatus } from '../lib/agent-cluster.js';

const REFRESH_MS = 1_000;
const keep = process.argv.includes('--keep');

async function ensurePostgres(): Promise<void> {
  try {
    await findPgBinaries();
    return;
  } catch (error) {
    if (!(error instanceof PgBinariesMissingError)) throw error;
    const root = process.getuid?.() === 0;
    const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
    if (!root || !hasApt) {
      console.error(`${error.message}\nThe demo needs the PostgreSQL server binaries: sudo apt-get install -y postgresql`);
      process.exit(1);
    }
    console.log('PostgreSQL is not installed: installing the Debian package postgresql (apt-get install -y postgresql)...');
    execFileSync('apt-get', ['update'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    await findPgBinaries();
  }
}

await ensurePostgres();
const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-demo-'));
// WAL goes to a local directory store all three nodes share, as it would to one S3 bucket.
const storeDir = join(baseDir, 'store');
await mkdir(storeDir, { recursive: true });
const cluster = await AgentCluster.create({ baseDir, perNode: () => ({ backup: { store: { kind: 'local', path: storeDir } } }) });
const startedAt = performance.now();
await cluster.startAll();

const events: string[] = [];
const lastRole = new Map<string, string>();
const frozen = new Set<string>();
let stopping = false;
let firstReadyAt: number | null = null;

function note(event: string): void {
  events.push(`${new Date().toISOString().slice(11, 19)}  ${event}`);
  if (events.length > 8) events.shift();
}

const pad = (text: string, width: number): string => (text.length >= width ? text.slice(0, width) : text + ' '.repeat(width - text.length));

function render(statuses: NodeStatus[]): string {
  const elapsed = ((performance.now() - startedAt) / 1000).toFixed(0);
  const raftLeader = statuses.find((s) => s.raftLeader)?.raftLeader ?? '-';
  const lines = [
    `pgherd demo — 3 nodes on 127.0.0.1 — ${elapsed}s — Raft leader: ${raftLeader}${firstReadyAt !== null ? ` — primary + 2 streaming replicas after ${firstReadyAt.toFixed(1)}s` : ''}`,
    '',
    `${pad('node', 5)} ${pad('role', 9)} ${pad('state', 16)} ${pad('tl', 3)} ${pad('lsn', 12)} ${pad('lag', 8)} ${pad('lease', 7)} ${pad('agent', 7)} ${pad('pg port', 7)} last decision`,
  ];
  for (const s of statuses) {
    const node = cluster.node(s.name);
    const agent = frozen.has(s.name) ? 'frozen' : cluster.running(s.name) ? String(cluster.pid(s.name)) : 'down';
    const lease = s.leaseRemainingMs === null ? '' : `${(s.leaseRemainingMs / 1000).toFixed(1)}s`;
    const role = s.isPrimary ? 'PRIMARY' : s.role;
    lines.push(
      `${pad(s.name, 5)} ${pad(role, 9)} ${pad(s.state, 16)} ${pad(String(s.timeline ?? ''), 3)} ${pad(s.lsn ?? '', 12)} ${pad(s.lagBytes === null ? '' : String(s.lagBytes), 8)} ${pad(lease, 7)} ${pad(agent, 7)} ${pad(String(node.pgPort), 7)} ${s.refused ?? `${s.lastAction} ${s.lastReason}`}`,
    );
  }
  lines.push(
    '',
    'Connect (any node; libpq picks the writable one):',
    `  PGPASSFILE=${cluster.passfile()} psql '${cluster.connectionString()}'`,
    '',
    'Admin (from another terminal; pgherdctl finds this demo by itself):',
    '  npm run pgherdctl -- list   |   switchover [--candidate n2]   |   failover --candidate n2   |   pause   |   resume',
    '',
    'Keys: k = kill -9 the primary (agent + PostgreSQL)   f = freeze the primary (SIGSTOP)   r = restart/unfreeze the others   q = quit',
    `Logs: ${baseDir}/n*.log   WAL archive: ${storeDir}`,
    '',
    'Events:',
    ...events.map((e) => `  ${e}`),
  );
  return lines.join('\n');
}

async function refresh(): Promise<void> {
  const statuses = await cluster.statuses();
  for (const s of statuses) {
    const role = s.reachable ? (s.isPrimary ? 'primary' : s.role) : 'unreachable';
    if (lastRole.get(s.name) !== role) note(`${s.name}: ${lastRole.get(s.name) ?? 'starting'} → ${role}`);
    lastRole.set(s.name, role);
  }
  const primaries = statuses.filter((s) => s.isPrimary).length;
  const streaming = statuses.filter((s) => s.role === 'replica' && s.state === 'streaming').length;
  if (firstReadyAt === null && primaries === 1 && streaming === 2) firstReadyAt = (performance.now() - startedAt) / 1000;
  if (!stopping) process.stdout.write(`\x1b[2J\x1b[H${render(statuses)}\n`);
}

async function primaryName(): Promise<string | undefined> {
  return (await cluster.statuses()).find((s) => s.isPrimary)?.name;
}

async function onKey(key: string): Promise<void> {
  if (key === 'q' || key === '\u0003') return shutdown();
  if (key === 'k' || key === 'f') {
    const primary = await primaryName();
    if (!primary) return note('no primary to fail');
    if (key === 'k') {
      await cluster.signalHost(primary, 'SIGKILL');
      note(`killed ${primary} (agent, fence and PostgreSQL, kill -9)`);
    } else {
      await cluster.signalHost(primary, 'SIGSTOP');
      frozen.add(primary);
      note(`froze ${primary} (SIGSTOP of agent, fence and PostgreSQL)`);
    }
  }
  if (key === 'r') {
    for (const name of frozen) {
      await cluster.signalHost(name, 'SIGCONT');
      note(`unfroze ${name}`);
    }
    frozen.clear();
    for (const node of cluster.nodes) {
      if (!cluster.running(node.name)) {
        cluster.start(node.name);
        note(`restarted ${node.name}`);
      }
    }
  }
}

async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  process.stdout.write('\nstopping the agents (each stops its PostgreSQL)...\n');
  for (const name of frozen) await cluster.signalHost(name, 'SIGCONT');
  await cluster.stopAll();
  // Anything an agent could not stop (it was killed or is wedged): PostgreSQL and fences included.
  await cluster.killAll();
  if (keep) process.stdout.write(`data kept in ${baseDir}\n`);
  else await rm(baseDir, { recursive: true, force: true });
  process.exit(0);
}

const timer = setInterval(() => void refresh().catch(() => undefined), REFRESH_MS);
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
if (process.stdin.isTTY) {
  process.stdin.setRawMode(true);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (key: string) => void onKey(key));
}
