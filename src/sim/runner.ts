import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClusterSize } from './options.js';
import { runHaSeed, type HaSeedResult } from './ha/run.js';
import { runSeed, type SeedResult } from './run-seed.js';

export interface RunPlan {
  readonly seeds: readonly number[];
  readonly nodes: ClusterSize | undefined;
  readonly steps: number;
  /** 1 = in this process; more = that many child processes (results do not depend on it). */
  readonly workers: number;
  /** The HA world (src/sim/ha) instead of the Raft world. */
  readonly ha?: boolean;
}

/** Parent -> worker: run one seed. Worker -> parent: its result. */
export interface WorkRequest {
  readonly seed: number;
  readonly nodes: ClusterSize | undefined;
  readonly steps: number;
  readonly ha?: boolean;
}

export type WorkReply =
  | { readonly ok: true; readonly result: SeedResult | HaSeedResult }
  | { readonly ok: false; readonly seed: number; readonly error: string };

/** Run one seed, turning a simulator crash into a reported result rather than an abort. */
export function runRequest(request: WorkRequest, trace?: (line: string) => void, traceMessages = false): WorkReply {
  try {
    if (request.ha === true) return { ok: true, result: runHaSeed({ seed: request.seed, nodes: request.nodes, steps: request.steps, trace }) };
    return { ok: true, result: runSeed({ seed: request.seed, nodes: request.nodes, steps: request.steps, trace, traceMessages }) };
  } catch (error) {
    return { ok: false, seed: request.seed, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
}

/**
 * Run the plan's seeds and hand each result to `onResult` in seed-list
 * order, whatever order the workers finish in. Each seed is a pure
 * function of its request, so scheduling never changes a result.
 */
export async function runSeeds(plan: RunPlan, onResult: (reply: WorkReply) => void): Promise<void> {
  const requests = plan.seeds.map((seed): WorkRequest => ({ seed, nodes: plan.nodes, steps: plan.steps, ...(plan.ha === true ? { ha: true } : {}) }));
  const workers = Math.min(plan.workers, requests.length);
  if (workers <= 1) {
    for (const request of requests) onResult(runRequest(request));
    return;
  }
  const replies = new Map<number, WorkReply>();
  let emitted = 0;
  const emit = (position: number, reply: WorkReply): void => {
    replies.set(position, reply);
    while (replies.has(emitted)) {
      onResult(replies.get(emitted)!);
      replies.delete(emitted);
      emitted++;
    }
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      const child = spawnWorker();
      try {
        while (next < requests.length) {
          const position = next++;
          emit(position, await ask(child, requests[position]!));
        }
      } finally {
        child.kill();
      }
    }),
  );
}

function spawnWorker(): ChildProcess {
  const here = import.meta.url;
  const worker = fileURLToPath(new URL(here.endsWith('.ts') ? './worker.ts' : './worker.js', here));
  const execArgv = here.endsWith('.ts') ? [`--import=${import.meta.resolve('tsx')}`] : [];
  return fork(worker, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function ask(child: ChildProcess, request: WorkRequest): Promise<WorkReply> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: WorkReply): void => {
      child.off('exit', onExit);
      resolve(reply);
    };
    const onExit = (code: number | null): void => {
      child.off('message', onMessage);
      reject(new Error(`sim worker exited (code ${code}) while running seed ${request.seed}`));
    };
    child.once('message', onMessage);
    child.once('exit', onExit);
    child.send(request);
  });
}
