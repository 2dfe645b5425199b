/**
 * Crash safety of LevelLogStore: a child process writes Raft-shaped batches
 * and is SIGKILLed at random moments; after every kill the store must open
 * (consistent) and hold exactly what the child acknowledged, plus at most
 * the one operation it had started (durable or not: both are correct).
 *
 * Reproduce with TEST_SEED=<seed> (the kill timing is wall-clock, so
 * a replay draws the same operations but may cut them at other points).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { SeededRng } from '../../../src/lib/random.js';
import { LevelLogStore, type PersistedState } from '../../../src/raft/driver/level-storage.js';
import { LogModel, WRITER_IDENTITY, type Operation } from '../../fixtures/level-crash-writer.js';

const KILLS = 15;
const KILL_DELAY_MS_MIN = 20;
const KILL_DELAY_MS_MAX = 300;
const CHILD_READY_TIMEOUT_MS = 10_000;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WRITER = fileURLToPath(new URL('../../fixtures/level-crash-writer.ts', import.meta.url));

type Line = { kind: 'ready' } | { kind: 'intent'; op: Operation } | { kind: 'done' };

interface ChildRun {
  readonly acknowledged: Operation[];
  /** Started but not acknowledged: may or may not be durable. */
  readonly pending: Operation | undefined;
}

test('SIGKILL at random moments never loses an acknowledged write nor leaves an inconsistent log', async (t) => {
  const seed = Number(process.env.TEST_SEED ?? 20_250_101);
  t.log(`seed ${seed} (TEST_SEED=${seed} to replay the operations)`);
  const rng = new SeededRng(seed);
  const dir = await fs.mkdtemp(join(os.tmpdir(), 'pgherd-level-crash-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  let model = new LogModel();
  let acknowledgedTotal = 0;
  let pendingDurable = 0;
  for (let kill = 1; kill <= KILLS; kill++) {
    const run = await runAndKill(t, dir, rng.int(0x7fff_ffff), KILL_DELAY_MS_MIN + rng.int(KILL_DELAY_MS_MAX - KILL_DELAY_MS_MIN + 1));
    for (const op of run.acknowledged) model.apply(op);
    acknowledgedTotal += run.acknowledged.length;
    const loaded = await reopenAndLoad(dir);
    assertContiguous(t, loaded, `kill ${kill}`);
    const outcome = matchOutcome(model, run.pending, loaded);
    if (outcome === undefined) {
      t.fail(`kill ${kill} (seed ${seed}): the reopened log is neither the acknowledged state nor that plus the pending ${JSON.stringify(run.pending)}; last index ${loaded.entries.at(-1)?.index}, hard state ${JSON.stringify(loaded.hardState)}, expected hard state ${JSON.stringify(model.hardState)}`);
      return;
    }
    if (outcome !== model) pendingDurable++;
    model = outcome;
  }
  t.log(`${KILLS} kills, ${acknowledgedTotal} acknowledged operations, ${pendingDurable} in-flight operations found durable; final last index ${model.lastIndex}, term ${model.hardState.term}`);
  t.true(acknowledgedTotal > KILLS, 'the child made progress between kills');
});

/** The model the reopened log equals: the acknowledged one, or it plus the pending operation; undefined: neither. */
function matchOutcome(model: LogModel, pending: Operation | undefined, loaded: PersistedState): LogModel | undefined {
  if (same(loaded, model.view())) return model;
  if (pending === undefined) return undefined;
  const advanced = model.clone();
  advanced.apply(pending);
  return same(loaded, advanced.view()) ? advanced : undefined;
}

function same(a: PersistedState, b: PersistedState): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function normalize(state: PersistedState): unknown {
  const bytes = (data: Uint8Array): string => Buffer.from(data).toString('hex');
  const { term, vote, commit } = state.hardState;
  const { index, term: snapshotTerm, confState } = state.snapshot.metadata;
  return {
    hardState: { term, vote, commit },
    snapshot: { index, term: snapshotTerm, voters: confState.voters, learners: confState.learners, data: bytes(state.snapshot.data) },
    entries: state.entries.map((e) => [e.index, e.term, e.type, bytes(e.data)]),
  };
}

function assertContiguous(t: ExecutionContext, state: PersistedState, where: string): void {
  state.entries.forEach((entry, i) => {
    if (entry.index !== state.snapshot.metadata.index + 1 + i) t.fail(`${where}: entry ${entry.index} at position ${i} after snapshot ${state.snapshot.metadata.index}`);
  });
}

async function reopenAndLoad(dir: string): Promise<PersistedState> {
  const store = await LevelLogStore.open(dir, WRITER_IDENTITY);
  try {
    return await store.load();
  } finally {
    await store.close();
  }
}

/** Start the writer, SIGKILL it `killDelayMs` after it reports ready, and parse what it acknowledged. */
async function runAndKill(t: ExecutionContext, dir: string, childSeed: number, killDelayMs: number): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--import=tsx', WRITER, dir, String(childSeed)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => killIfRunning(child));
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await waitFor(() => stdout.includes('"kind":"ready"') || child.exitCode !== null, CHILD_READY_TIMEOUT_MS);
  if (!stdout.includes('"kind":"ready"')) throw new Error(`crash writer did not start (exit ${child.exitCode}): ${stderr}`);
  await delay(killDelayMs);
  killIfRunning(child);
  await exited;
  if (child.signalCode !== 'SIGKILL') throw new Error(`crash writer ended before the kill (exit ${child.exitCode}): ${stderr}`);
  return parseRun(stdout);
}

function parseRun(stdout: string): ChildRun {
  const complete = stdout.slice(0, stdout.lastIndexOf('\n') + 1);
  const lines = complete.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
  const acknowledged: Operation[] = [];
  let pending: Operation | undefined;
  for (const line of lines) {
    if (line.kind === 'intent') pending = line.op;
    if (line.kind === 'done') {
      acknowledged.push(pending!);
      pending = undefined;
    }
  }
  return { acknowledged, pending };
}

function killIfRunning(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await delay(5);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
