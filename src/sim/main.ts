import { availableParallelism } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { SAFETY_TICKS_MAX, SEED_MAX, SIM_DEFAULTS, type ClusterSize } from './options.js';
import { runRequest, runSeeds, type WorkReply } from './runner.js';
import type { HaSeedResult } from './ha/run.js';
import type { SeedResult } from './run-seed.js';

/**
 * `npm run sim -- [--ha] --seeds N [--from B] [--seed S] [--nodes 3|5] [--steps K] [--workers W] [--json]`
 *
 * --ha runs the HA world (src/sim/ha: cluster state, HA decisions and a
 * PostgreSQL model on top of the Raft cores) instead of the Raft world.
 *
 * Runs the deterministic simulator over seeds B..B+N-1 (default 1..100) or
 * exactly seed S, prints one line per failing seed (the violation and the
 * command that replays it) and ends with `sim: N seeds, V violations`.
 * Exit 0: no violation; 1: violations; 2: bad arguments.
 */

const SEEDS_MAX = 10_000_000;
const WORKERS_MAX = 64;
const DEFAULT_SEEDS = 100;

function integer(flag: string, min: number, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`${flag} must be an integer in [${min}, ${max}].`);
    }
    return value;
  };
}

function clusterSize(text: string): ClusterSize {
  if (text !== '3' && text !== '5') throw new InvalidArgumentError('--nodes must be 3 or 5.');
  return Number(text) as ClusterSize;
}

/** A combination of flags that commander cannot check by itself. */
class UsageError extends Error {}

interface CliOptions {
  seeds?: number;
  seed?: number;
  from: number;
  nodes?: ClusterSize;
  steps: number;
  workers: number;
  json?: boolean;
  trace?: boolean;
  traceMessages?: boolean;
  ha?: boolean;
}

function parse(argv: readonly string[]): CliOptions {
  const program = new Command('sim')
    .description('deterministic simulator: real Raft cores over a simulated network, disk and clock, with seeded faults')
    .addOption(new Option('--seeds <n>', `run n seeds (default ${DEFAULT_SEEDS})`).argParser(integer('--seeds', 1, SEEDS_MAX)).conflicts('seed'))
    .addOption(new Option('--seed <s>', 'run exactly seed s (replay)').argParser(integer('--seed', 0, SEED_MAX)))
    .addOption(new Option('--from <b>', 'first seed of --seeds').argParser(integer('--from', 0, SEED_MAX)).default(1).conflicts('seed'))
    .addOption(new Option('--nodes <k>', 'initial voters, 3 or 5 (default: drawn per seed)').argParser(clusterSize))
    .addOption(new Option('--steps <k>', 'safety-phase length in ticks').argParser(integer('--steps', 1, SAFETY_TICKS_MAX)).default(SIM_DEFAULTS.steps))
    .addOption(
      new Option('--workers <w>', 'worker processes (results do not depend on it)')
        .argParser(integer('--workers', 1, WORKERS_MAX))
        .default(Math.min(2, availableParallelism())),
    )
    .option('--ha', 'simulate the HA layer (cluster state, HA decisions, PostgreSQL model) on the Raft cores')
    .option('--json', 'print every seed as one JSON object per line')
    .addOption(new Option('--trace', 'with --seed: print every state change of the run').implies({ workers: 1 }))
    .addOption(new Option('--trace-messages', 'with --seed: also print every delivered message').implies({ trace: true, workers: 1 }))
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  program.parse(argv, { from: 'user' });
  return program.opts<CliOptions>();
}

function seedsOf(options: CliOptions): number[] {
  if (options.trace === true && options.seed === undefined) throw new UsageError('--trace needs --seed.');
  if (options.seed !== undefined) return [options.seed];
  const count = options.seeds ?? DEFAULT_SEEDS;
  if (options.from + count - 1 > SEED_MAX) throw new UsageError(`--from + --seeds must stay below ${SEED_MAX}.`);
  return Array.from({ length: count }, (_, i) => options.from + i);
}

function failureLine(result: SeedResult | HaSeedResult): string {
  const v = result.violation!;
  return `seed ${result.seed}: ${v.code} at tick ${v.atTick}: ${v.message} | replay: ${result.replay}`;
}

function haSummaryLine(result: HaSeedResult): string {
  const s = result.stats;
  const f = s.faults;
  return (
    `seed ${result.seed}: ok, ${result.nodes} nodes, digest ${result.digest}, ${s.ticks} ticks, ${s.events} events, synchronous_mode ${s.mode}, ` +
    `ttl ${s.ttlMs} ms, loop_wait ${s.loopWaitMs} ms, ${s.failovers} failovers (max epoch ${s.maxEpoch}), ${s.demotions} demotions, ${s.fenceStops} fence stops, ` +
    `${s.acknowledged}/${s.writes} writes acknowledged, ${s.rewinds} rewinds, ${s.sssnChanges} sssn changes, ${s.syncRecords} setSync, ` +
    `${f.crashes} crashes, ${f.pauses} freezes, ${f.partitions} partitions`
  );
}

function summaryLine(result: SeedResult | HaSeedResult): string {
  if ('ha' in result) return haSummaryLine(result);
  const s = result.stats;
  const f = s.faults;
  return (
    `seed ${result.seed}: ok, ${result.nodes} nodes, digest ${result.digest}, ${s.ticks} ticks, ${s.events} events, ` +
    `${s.leaders} leaders (max term ${s.terms}), ${s.committed} committed, ${s.acknowledged}/${s.proposed} acknowledged, ` +
    `${f.crashes} crashes, ${f.pauses} pauses, ${f.partitions} partitions, ${s.confChanges} conf changes, ${s.snapshots} snapshots (${s.installs} installed), ` +
    `leader after ${s.livenessLeaderTicks} ticks, converged after ${s.livenessConvergedTicks} ticks of liveness`
  );
}

async function main(argv: readonly string[]): Promise<number> {
  let options: CliOptions;
  let seeds: number[];
  try {
    options = parse(argv);
    seeds = seedsOf(options);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // commander printed it
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  let violations = 0;
  const onResult = (reply: WorkReply): void => {
    if (!reply.ok) {
      violations++;
      process.stdout.write(`seed ${reply.seed}: SIMULATOR_ERROR: ${reply.error.split('\n')[0]}\n`);
      if (options.json === true) process.stdout.write(`${JSON.stringify(reply)}\n`);
      return;
    }
    const result = reply.result;
    if (result.violation !== null) violations++;
    if (options.json === true) process.stdout.write(`${JSON.stringify(result)}\n`);
    else if (result.violation !== null) process.stdout.write(`${failureLine(result)}\n`);
    else if (seeds.length === 1) process.stdout.write(`${summaryLine(result)}\n`);
  };
  if (options.trace === true) {
    const trace = (line: string): void => void process.stdout.write(`${line}\n`);
    onResult(runRequest({ seed: seeds[0]!, nodes: options.nodes, steps: options.steps, ha: options.ha === true }, trace, options.traceMessages === true));
  } else {
    await runSeeds({ seeds, nodes: options.nodes, steps: options.steps, workers: options.workers, ha: options.ha === true }, onResult);
  }
  process.stdout.write(`sim: ${seeds.length} seeds, ${violations} violations\n`);
  return violations > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`sim: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 3;
  },
);
