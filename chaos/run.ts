/**
 * One chaos run: start a cluster of real agents on separate hosts, write
 * and read all along, inject the seed's faults one after another, heal,
 * and judge the recorded history (checkers.ts). Returns the RunRecord the
 * reports are made from; a failure of the harness itself is recorded as
 * the run's error, never thrown, and everything started is torn down.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { AgentCluster, healthyOf, type NodeStatus } from '../scripts/lib/agent-cluster.js';
import { checkArchive, storeConfig, storeDir, takeFirstBackup, type FirstBackup, type StoreKind } from './archive.js';
import { lostWrites, splitBrains, staleReads, divergentNodes, type AckedWrite } from './checkers.js';
import type { FaultRecord, ObservedRole, RoleSample, RunChecks, RunRecord } from './history.js';
import { createHosts, type BackendKind } from './hosts/index.js';
import type { ChaosHosts } from './hosts/types.js';
import { inject } from './nemesis.js';
import { planRun, type Profile } from './schedule.js';
import { Reader, Workload } from './workload.js';

export interface RunOptions {
  readonly seed: number;
  readonly profile: Profile;
  readonly backend: BackendKind;
  readonly nodes: number;
  readonly synchronous: boolean;
  /** 'local': every node archives WAL into one store, and the archive is checked after the final heal (archive.ts). */
  readonly store: StoreKind;
  /** The run's directory (agents' data, configs, logs); removed after a passing run unless keep. */
  readonly dir: string;
  readonly keep: boolean;
  /** One line per event, for the operator watching. */
  readonly log: (line: string) => void;
}

/** The lease every run uses (the default): recovery is judged against ttl + 10 s. */
export const TTL_MS = 4_000;
export const RECOVERY_SLACK_MS = 10_000;
const BOOT_MS = 120_000;
const SETTLE_MS = 60_000;
/** After the bound, how long to keep waiting for a primary so the data checks can still run. */
const LATE_RECOVERY_MS = 90_000;
const TABLE = 'chaos';
/** A row of `chaos` (id bigint) on disk: 24-byte tuple header, 8 bytes of data, a 4-byte line pointer. */
const ROW_BYTES = 36;
const MAXIMUM_LAG_ON_FAILOVER_BYTES = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runOne(o: RunOptions): Promise<RunRecord> {
  const startedAt = new Date();
  const t0 = performance.now();
  const rel = (ms: number): number => Math.round(ms - t0);
  const say = (line: string): void => o.log(`[seed ${o.seed} +${((performance.now() - t0) / 1000).toFixed(1)}s] ${line}`);
  const names = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
  const faults: FaultRecord[] = [];
  const roles: RoleSample[] = [];
  const problems: string[] = [];
  let hosts: ChaosHosts | undefined;
  let cluster: AgentCluster | undefined;
  let workload: Workload | undefined;
  let reader: Reader | undefined;
  let sampler: Sampler | undefined;
  let finalHealMs: number | null = null;
  let checks: RunChecks | null = null;
  let error: string | null = null;

  try {
    await mkdir(o.dir, { recursive: true });
    hosts = await createHosts(o.backend, names, o.dir);
    const clusterDir = join(o.dir, 'cluster');
    cluster = await AgentCluster.create({
      baseDir: clusterDir,
      size: o.nodes,
      dynamic: { ttl_ms: TTL_MS, synchronous_mode: o.synchronous ? 'on' : 'off', maximum_lag_on_failover_bytes: MAXIMUM_LAG_ON_FAILOVER_BYTES },
      placement: hosts.placement,
      ...(o.store === 'local' ? { perNode: () => storeConfig(clusterDir) } : {}),
    });
    if (o.store === 'local') await mkdir(storeDir(clusterDir), { recursive: true });
    await cluster.startAll();
    sampler = new Sampler(cluster, (s) => roles.push({ ...s, atMs: rel(s.atMs) }));
    sampler.start();
    const booted = await untilHealthy(cluster, BOOT_MS);
    if (booted === undefined) throw new Error(`the cluster did not become healthy within ${BOOT_MS / 1000} s of starting`);
    say(`healthy: primary ${booted.primary}, replicas ${booted.replicas.join(' ')}`);
    const password = await cluster.superuserPassword(booted.primary);
    await query(cluster, booted.primary, password, `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY)`);
    let firstBackup: FirstBackup | undefined;
    if (o.store === 'local') {
      firstBackup = await takeFirstBackup(cluster, booted.primary);
      say(`base backup ${firstBackup.id} taken, from ${firstBackup.startLsn}: the archive is checked from there`);
    }
    const targets = cluster.nodes.map((n) => ({ name: n.name, host: n.host, port: n.pgPort }));
    let replacements = 0;
    const replacementName = (): string => `r${++replacements}`;
    const replaced = (oldName: string, newName: string): void => {
      const node = cluster!.node(newName);
      targets.splice(targets.findIndex((t) => t.name === oldName), 1, { name: newName, host: node.host, port: node.pgPort });
      names.push(newName);
    };
    workload = new Workload({ targets, password, table: TABLE });
    reader = new Reader({ targets, password, table: TABLE });
    workload.start();
    reader.start();
    await sleep(2_000);

    for (const step of planRun(o.seed, { profile: o.profile, nodes: o.nodes, replaceNode: o.backend === 'netns' })) {
      const primary = sampler.primary();
      const fault = await inject(step, { cluster, hosts, primary, replacementName, replaced });
      const startMs = rel(performance.now());
      const record: { -readonly [K in keyof FaultRecord]: FaultRecord[K] } = { kind: fault.kind, targets: fault.targets, detail: fault.detail, startMs, healMs: null };
      faults.push(record);
      say(`fault ${fault.kind}: ${fault.detail}${step.holdMs > 0 ? `, held ${(step.holdMs / 1000).toFixed(1)} s` : ''}`);
      await sleep(step.holdMs);
      await fault.heal();
      record.healMs = rel(performance.now());
      finalHealMs = record.healMs;
      const healthy = await untilHealthy(cluster, SETTLE_MS);
      say(healthy ? `healed; healthy: primary ${healthy.primary}` : `healed; not healthy within ${SETTLE_MS / 1000} s, going on`);
      await sleep(step.settleMs);
    }

    // (c) recovery after the final heal: one primary, every replica streaming.
    const boundMs = TTL_MS + RECOVERY_SLACK_MS;
    const healAt = t0 + (finalHealMs ?? rel(performance.now()));
    const recovered = await untilHealthy(cluster, Math.max(0, healAt + boundMs + LATE_RECOVERY_MS - performance.now()));
    const recoveredAtMs = recovered?.atMs === undefined ? null : rel(recovered.atMs);
    const recoveredInTime = recoveredAtMs !== null && finalHealMs !== null ? recoveredAtMs - finalHealMs <= boundMs : recoveredAtMs !== null;
    say(recovered ? `recovered ${((recovered.atMs - healAt) / 1000).toFixed(1)} s after the final heal (bound ${boundMs / 1000} s)` : 'not recovered');
    if (recovered) await sleep(1_500); // the workload writes on the final primary too
    await workload.stop();
    await reader.stop();
    sampler.stop();

    // The data checks need a primary that answers now. It can drop for a moment after check (c) saw the
    // cluster healthy (seed 3007, 5 nodes: the primary's lease had lapsed under the packet loss just
    // healed, so it stopped PostgreSQL 0.3 s after and started it again 1.4 s later, as it must);
    // a query that met "the database system is starting up" broke the run off as a harness error.
    const finalPrimary = await writablePrimary(cluster, password, SETTLE_MS);
    if (finalPrimary === undefined) throw new Error(`no primary answered as writable within ${SETTLE_MS / 1000} s of the end of the run: the data checks cannot run`);
    if (recovered && finalPrimary !== recovered.primary) say(`the final primary is ${finalPrimary}, not ${recovered.primary} seen at recovery`);
    const finalIds = new Set((await query(cluster, finalPrimary, password, `SELECT id FROM ${TABLE}`)).rows.map((r) => Number(r['id'])));
    const acked = workload.acked;
    const lost = lostWrites(acked, finalIds);
    const survived = acked.filter((w) => finalIds.has(w.id));
    const checksums = await convergedChecksums(cluster, password, finalPrimary);
    checks = {
      lostWrites: lost.map((w) => relWrite(w, t0)),
      lostBytes: lost.length * ROW_BYTES,
      allowedLossBytes: o.synchronous ? null : MAXIMUM_LAG_ON_FAILOVER_BYTES,
      splitBrains: splitBrains(acked).map((s) => ({ ...s, fromMs: rel(s.fromMs), toMs: rel(s.toMs) })),
      recovery: { boundMs, recoveredAtMs, ok: recoveredInTime },
      divergent: divergentNodes(finalPrimary, checksums),
      staleReads: staleReads(survived, reader.reads).map((s) => ({ ...s, read: { ...s.read, startedAtMs: rel(s.read.startedAtMs), doneAtMs: rel(s.read.doneAtMs) } })),
      reads: reader.reads.length,
      archive: firstBackup === undefined ? null : await checkArchive(clusterDir, firstBackup, async (sql) => (await query(cluster!, finalPrimary, password, sql)).rows),
    };
    problems.push(...judge(checks));
    for (const line of problems) say(`FINDING ${line}`);
  } catch (caught) {
    error = (caught as Error).message;
    problems.push(`harness: ${error}`);
    say(`harness error: ${error}`);
  } finally {
    sampler?.stop();
    await workload?.stop().catch(() => undefined);
    await reader?.stop().catch(() => undefined);
    await hosts?.heal().catch(() => undefined);
    await cluster?.killAll().catch(() => undefined);
    await hosts?.destroy().catch(() => undefined);
  }
  const record: RunRecord = {
    seed: o.seed,
    backend: o.backend,
    profile: o.profile,
    nodes: names,
    synchronous: o.synchronous,
    store: o.store,
    startedAt: startedAt.toISOString(),
    durationMs: rel(performance.now()),
    faults,
    roles,
    acked: (workload?.acked ?? []).map((w) => relWrite(w, t0)),
    finalHealMs,
    checks,
    error,
    problems,
  };
  if (problems.length === 0 && !o.keep) await rm(join(o.dir, 'cluster'), { recursive: true, force: true });
  return record;
}

/** Each finding of the checks, in one line. */
export function judge(checks: RunChecks): string[] {
  const problems: string[] = [];
  if (checks.lostWrites.length > 0) {
    const ids = checks.lostWrites.slice(0, 5).map((w) => `${w.id}@${w.server}/tl${w.timeline}`).join(', ');
    if (checks.allowedLossBytes === null) problems.push(`lost ${checks.lostWrites.length} acknowledged writes in synchronous mode (${ids}${checks.lostWrites.length > 5 ? ', ...' : ''})`);
    else if (checks.lostBytes > checks.allowedLossBytes) problems.push(`lost ${checks.lostBytes} bytes of acknowledged writes, more than maximum_lag_on_failover (${checks.allowedLossBytes})`);
  }
  for (const s of checks.splitBrains) problems.push(`split brain: ${s.other} (tl ${s.otherTimeline}) accepted a write at ${s.fromMs}-${s.toMs} ms while ${s.primary} (tl ${s.timeline}) was primary`);
  if (!checks.recovery.ok) {
    problems.push(checks.recovery.recoveredAtMs === null ? 'unrecovered: no healthy cluster after the final heal' : `unrecovered: healthy only at ${checks.recovery.recoveredAtMs} ms, past the bound of ${checks.recovery.boundMs} ms after the final heal`);
  }
  if (checks.divergent.length > 0) problems.push(`divergent data on ${checks.divergent.join(', ')}`);
  if (checks.archive !== null && checks.archive.missing.length > 0) {
    const a = checks.archive;
    problems.push(`archive hole: ${a.missing.length} of the ${a.needed} WAL files from backup ${a.backupId} (${a.fromLsn}) to ${a.toLsn} on timeline ${a.timeline} are not in the store (${a.missing.slice(0, 5).join(', ')}${a.missing.length > 5 ? ', ...' : ''})`);
  }
  if (checks.staleReads.length > 0) {
    const first = checks.staleReads[0]!;
    problems.push(`${checks.staleReads.length} stale reads (first: ${first.read.server} saw id ${first.read.maxId} at ${first.read.startedAtMs} ms, ${first.expectedAtLeast} was acknowledged before)`);
  }
  return problems;
}

function relWrite(w: AckedWrite, t0: number): AckedWrite {
  return { ...w, startedAtMs: Math.round(w.startedAtMs - t0), ackedAtMs: Math.round(w.ackedAtMs - t0) };
}

/** What a status says about the node's role. */
export function observedRole(s: NodeStatus): ObservedRole {
  if (!s.reachable) return 'unreachable';
  if (s.isPrimary) return 'primary';
  if (s.role === 'replica' && s.state === 'streaming') return 'replica';
  if (s.state === 'stopped' || s.state === 'crashed') return 'stopped';
  return 'starting';
}

/** Polls every node's HTTP status a few times a second, recording role changes (and a sample at least every second). */
class Sampler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private last = new Map<string, NodeStatus>();
  private lastEmitted = new Map<string, { role: ObservedRole; timeline: number | null; atMs: number }>();

  constructor(
    private readonly cluster: AgentCluster,
    private readonly emit: (sample: RoleSample) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), 250);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The node the latest statuses call the primary (null: none, or more than one). */
  primary(): string | null {
    const primaries = [...this.last.values()].filter((s) => s.isPrimary);
    return primaries.length === 1 ? primaries[0]!.name : null;
  }

  private async sample(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const atMs = performance.now();
      for (const status of await this.cluster.statuses()) {
        this.last.set(status.name, status);
        const role = observedRole(status);
        const previous = this.lastEmitted.get(status.name);
        if (previous && previous.role === role && previous.timeline === status.timeline && atMs - previous.atMs < 1_000) continue;
        this.lastEmitted.set(status.name, { role, timeline: status.timeline, atMs });
        this.emit({ atMs, node: status.name, role, timeline: status.timeline });
      }
    } finally {
      this.running = false;
    }
  }
}

/** A healthy cluster whose primary answers a query as writable (polled up to timeoutMs); its name, or undefined. */
async function writablePrimary(cluster: AgentCluster, password: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const healthy = await untilHealthy(cluster, Math.max(0, deadline - performance.now()));
    if (healthy === undefined) return undefined;
    const writable = await query(cluster, healthy.primary, password, 'SELECT NOT pg_is_in_recovery() AS writable').then((r) => r.rows[0]?.['writable'] === true, () => false);
    if (writable) return healthy.primary;
    await sleep(250);
  }
  return undefined;
}

/** Wait (up to timeoutMs) for one primary and every other node streaming; undefined if it never happens. */
async function untilHealthy(cluster: AgentCluster, timeoutMs: number): Promise<{ primary: string; replicas: string[]; atMs: number } | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const healthy = healthyOf(await cluster.statuses());
    const atMs = performance.now();
    if (healthy) return { ...healthy, atMs };
    if (atMs >= deadline) return undefined;
    await sleep(250);
  }
}

async function query(cluster: AgentCluster, name: string, password: string, sql: string): Promise<pg.QueryResult<Record<string, unknown>>> {
  const node = cluster.node(name);
  const client = new pg.Client({ host: node.host, port: node.pgPort, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 3_000, query_timeout: 30_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * (d) Each node's checksum of the test table, once the replicas have
 * replayed what the primary has (polled up to 30 s: a replica still
 * catching up is not divergent). null for a node that would not answer.
 */
async function convergedChecksums(cluster: AgentCluster, password: string, primary: string): Promise<Map<string, string | null>> {
  const sql = `SELECT md5(coalesce(string_agg(id::text, ',' ORDER BY id), '')) AS sum FROM ${TABLE}`;
  const deadline = performance.now() + 30_000;
  for (;;) {
    const sums = new Map<string, string | null>();
    for (const node of cluster.nodes) {
      const sum = await query(cluster, node.name, password, sql).then((r) => String(r.rows[0]?.['sum']), () => null);
      sums.set(node.name, sum);
    }
    if (divergentNodes(primary, sums).length === 0 || performance.now() > deadline) return sums;
    await sleep(500);
  }
}
