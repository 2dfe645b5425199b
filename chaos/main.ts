/**
 * npm run chaos -- --backend netns|docker --profile smoke|full --runs N
 *                  --seed S --nodes 3|5 --sync on|off [--store none|local]
 *                  [--out DIR] [--keep]
 *
 * Runs N chaos runs with seeds S, S+1, ... one after another, writes a
 * report per run (JSON, summary, SVG timeline) into the output directory,
 * and ends with the line
 *   chaos: R runs, L lost acknowledged writes, S split-brain intervals, U unrecovered
 * Exit codes: 0 every run passed; 1 a finding (lost write, split brain,
 * stale read, divergence, no recovery) or a run the harness could not
 * finish; 2 usage; 3 the backend cannot run here.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { runProgram } from '../src/cli/run-program.js';
import { STORE_KINDS, type StoreKind } from './archive.js';
import type { RunRecord } from './history.js';
import { BACKENDS, backendAvailable, sweepStaleHosts, type BackendKind } from './hosts/index.js';
import { finalLine, renderSummary, writeRunReport } from './report.js';
import { runOne } from './run.js';
import { PROFILES, type Profile } from './schedule.js';

export const EXIT_PASSED = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNAVAILABLE = 3;

export interface ChaosIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const oneOf = <T extends string>(name: string, allowed: readonly T[]) => (value: string): T => {
  if (!(allowed as readonly string[]).includes(value)) throw new InvalidArgumentError(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
};

const integer = (name: string, min: number, max: number) => (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
};

interface ChaosOptions {
  readonly backend: BackendKind;
  readonly profile: Profile;
  readonly runs: number;
  readonly seed?: number;
  readonly nodes: number;
  readonly sync: 'on' | 'off';
  readonly store: StoreKind;
  readonly out?: string;
  readonly keep: boolean;
}

export function buildChaosProgram(io: ChaosIo, setExitCode: (code: number) => void): Command {
  return new Command('chaos')
    .description('run real pgherd agents on separate hosts, inject seeded faults, and check no acknowledged write is lost and there are never two primaries')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .option('--backend <kind>', `where the nodes run: ${BACKENDS.join(' or ')}`, oneOf('--backend', BACKENDS), 'netns')
    .option('--profile <name>', 'smoke (CI: three failovers forced per run) or full (six faults of every kind per run)', oneOf('--profile', PROFILES), 'smoke')
    .option('--runs <n>', 'how many runs, with seeds S, S+1, ...', integer('--runs', 1, 100_000), 1)
    .option('--seed <s>', 'the first run\'s seed (default: drawn from the clock, and printed)', integer('--seed', 0, 2 ** 31 - 1))
    .option('--nodes <n>', '3 or 5', (v) => Number(oneOf('--nodes', ['3', '5'] as const)(v)), 3)
    .option('--sync <mode>', 'synchronous replication on or off', oneOf('--sync', ['on', 'off'] as const), 'on')
    .option('--store <kind>', 'none, or local: the nodes archive WAL into one store, a base backup is taken before the first fault, and the archive must hold all WAL from it to the end', oneOf('--store', STORE_KINDS), 'none')
    .option('--out <dir>', 'where the reports go (default: chaos-results/<time> in this directory)')
    .option('--keep', 'keep every run\'s agent data and logs (a failed run\'s are always kept)', false)
    .addHelpText('after', '\nExit codes: 0 every run passed, 1 a finding or a run that could not finish, 2 usage, 3 the backend cannot run here.')
    .action(async (options: ChaosOptions) => setExitCode(await chaos(options, io)));
}

async function chaos(o: ChaosOptions, io: ChaosIo): Promise<number> {
  const firstSeed = o.seed ?? Math.floor(Date.now() % 1_000_000);
  const out = resolve(o.out ?? join('chaos-results', new Date().toISOString().replace(/[:.]/g, '-')));
  const earlier = await earlierResults(out, firstSeed, o.runs);
  if (earlier.length > 0) {
    // A run would start its agents on the data a failed run kept (its Raft log, its PGDATA) and overwrite its reports.
    const shown = earlier.slice(0, 6).join(', ') + (earlier.length > 6 ? `, … (${earlier.length} in all)` : '');
    io.stderr(`chaos: --out ${out} already holds results of these seeds (${shown}): choose another --out, or remove them\n`);
    return EXIT_USAGE;
  }
  const available = await backendAvailable(o.backend);
  if (!available.ok) {
    io.stderr(`chaos: the ${o.backend} backend cannot run here: ${available.why}\n`);
    return EXIT_UNAVAILABLE;
  }
  const removed = await sweepStaleHosts(o.backend);
  if (removed.length > 0) io.stdout(`removed what dead runs left: ${removed.join(', ')}\n`);
  await mkdir(out, { recursive: true });
  io.stdout(`chaos: ${o.runs} ${o.profile} runs on ${o.backend}, ${o.nodes} nodes, synchronous ${o.sync}, store ${o.store}, seeds ${firstSeed}..${firstSeed + o.runs - 1}; reports in ${out}\n`);
  const records: RunRecord[] = [];
  let stop = false;
  const onSignal = (): void => {
    stop = true;
    io.stderr('chaos: stopping after this run (the cluster is torn down first)\n');
  };
  process.once('SIGINT', onSignal);
  try {
    for (let i = 0; i < o.runs && !stop; i++) {
      const seed = firstSeed + i;
      const record = await runOne({
        seed,
        profile: o.profile,
        backend: o.backend,
        nodes: o.nodes,
        synchronous: o.sync === 'on',
        store: o.store,
        dir: join(out, `seed-${seed}`),
        keep: o.keep,
        log: (line) => io.stdout(`${line}\n`),
      });
      records.push(record);
      const paths = await writeRunReport(out, record);
      io.stdout(`${renderSummary(record)}\nreport: ${paths.summary}, ${paths.svg}\n`);
      if (record.error !== null && record.faults.length === 0) {
        // It broke off before the first fault (no build, no cluster): every later run would too.
        io.stderr(`chaos: run ${seed} could not start a cluster (${record.error}); the remaining runs are not started\n`);
        break;
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
  }
  io.stdout(`${finalLine(records)}\n`);
  return records.every((r) => r.problems.length === 0) && records.length === o.runs ? EXIT_PASSED : EXIT_FINDINGS;
}

/** What `out` already holds for the seeds about to run: a run's directory (seed-S/) or its reports (seed-S.json, .txt, .svg). */
async function earlierResults(out: string, firstSeed: number, runs: number): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(out);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((entry) => {
      const match = /^seed-(\d+)(\.json|\.txt|\.svg)?$/.exec(entry);
      const seed = match === null ? NaN : Number(match[1]);
      return seed >= firstSeed && seed < firstSeed + runs;
    })
    .sort();
}

export function runChaos(argv: readonly string[], io: ChaosIo): Promise<number> {
  return runProgram((setExitCode) => buildChaosProgram(io, setExitCode), argv, io.stderr, { ok: EXIT_PASSED, usage: EXIT_USAGE, internal: EXIT_FINDINGS });
}
