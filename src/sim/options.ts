import { ConfigError } from '../lib/errors.js';

/** Simulated time: one Raft tick is TICK_UNITS time units (think 100 ms tick, 10 ms unit). */
export const TICK_UNITS = 10;

/** Bounds on what one run may do: a run that exceeds them is a simulator bug, not a finding. */
export const SAFETY_TICKS_MAX = 1_000_000;
export const SEED_MAX = 0xffff_ffff;
export const EVENTS_PER_TICK_MAX = 2_000;

export type ClusterSize = 3 | 5;

/** The options of one simulated run. Everything else is drawn from the seed. */
export interface SimOptions {
  readonly seed: number;
  /** Initial voters; undefined = drawn from the seed (3 or 5). */
  readonly nodes: ClusterSize | undefined;
  /** Length of the safety phase (faults on), in ticks. */
  readonly steps: number;
  /**
   * Test-only, not a CLI flag: the disk acknowledges syncs without syncing,
   * so a crash loses writes the node already acted on. Proves the checkers
   * catch a real bug.
   */
  readonly lyingDisk: boolean;
  /** Replay aid: receives one line per state change (and per message with traceMessages). */
  readonly trace: ((line: string) => void) | undefined;
  readonly traceMessages: boolean;
}

export const SIM_DEFAULTS = Object.freeze({
  nodes: undefined,
  steps: 2000,
  lyingDisk: false,
  trace: undefined,
  traceMessages: false,
});

export type SimOptionsInput = Pick<SimOptions, 'seed'> & Partial<Omit<SimOptions, 'seed'>>;

/** Fill defaults and reject invalid values, naming the option (as a CLI flag). */
export function resolveSimOptions(input: SimOptionsInput): SimOptions {
  const options: SimOptions = { ...SIM_DEFAULTS, ...input };
  if (!Number.isInteger(options.seed) || options.seed < 0 || options.seed > SEED_MAX) {
    throw new ConfigError('--seed', `must be an integer in [0, ${SEED_MAX}], got ${options.seed}`);
  }
  if (options.nodes !== undefined && options.nodes !== 3 && options.nodes !== 5) {
    throw new ConfigError('--nodes', `must be 3 or 5, got ${String(options.nodes)}`);
  }
  if (!Number.isInteger(options.steps) || options.steps < 1 || options.steps > SAFETY_TICKS_MAX) {
    throw new ConfigError('--steps', `must be an integer in [1, ${SAFETY_TICKS_MAX}], got ${options.steps}`);
  }
  return Object.freeze(options);
}

/** The exact command that replays one run. */
export function replayCommand(seed: number, nodes: ClusterSize, steps: number): string {
  return `npm run sim -- --seed ${seed} --nodes ${nodes} --steps ${steps}`;
}
