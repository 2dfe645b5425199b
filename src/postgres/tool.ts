import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { assert } from '../lib/assert.js';
import { PgToolFailedError } from './errors.js';
import { spawnIdentity, type PgOsUser } from './os-user.js';

/** Bytes of stdout/stderr kept from a tool run: enough for an error message, bounded. */
export const TOOL_OUTPUT_KEEP_BYTES = 16 * 1024;

export interface ToolRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  /** The last TOOL_OUTPUT_KEEP_BYTES of stderr. */
  readonly stderrTail: string;
  readonly durationMs: number;
}

export interface ToolOptions {
  readonly user: PgOsUser;
  readonly timeoutMs: number;
  /** Extra environment (e.g. PGPASSFILE); the base environment is minimal. */
  readonly env?: Record<string, string>;
  /** Working directory; '/' by default, which every user can enter. */
  readonly cwd?: string;
}

function keepTail(chunks: Buffer[], chunk: Buffer, kept: { bytes: number }): void {
  chunks.push(chunk);
  kept.bytes += chunk.length;
  while (kept.bytes > TOOL_OUTPUT_KEEP_BYTES * 2 && chunks.length > 1) kept.bytes -= chunks.shift()!.length;
}

/** Run a PostgreSQL tool as the PostgreSQL OS user; resolves with the exit code (never rejects on exit code). */
export function runTool(path: string, args: readonly string[], options: ToolOptions): Promise<ToolRun> {
  const spawnOptions = toolSpawnOptions(options);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, {
      ...spawnOptions,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const outKept = { bytes: 0 };
    const errKept = { bytes: 0 };
    child.stdout.on('data', (chunk: Buffer) => keepTail(out, chunk, outKept));
    child.stderr.on('data', (chunk: Buffer) => keepTail(err, chunk, errKept));
    child.on('error', reject);
    child.on('close', (code) => {
      const tail = (chunks: Buffer[]): string => Buffer.concat(chunks).subarray(-TOOL_OUTPUT_KEEP_BYTES).toString('utf8');
      resolve({ exitCode: code, stdout: tail(out), stderrTail: tail(err), durationMs: Math.round(performance.now() - started) });
    });
  });
}

/** Run a tool and throw PgToolFailedError unless it exits 0. */
export async function runToolOk(tool: string, path: string, args: readonly string[], options: ToolOptions): Promise<ToolRun> {
  const run = await runTool(path, args, options);
  if (run.exitCode !== 0) throw new PgToolFailedError(tool, run.exitCode, run.stderrTail || run.stdout);
  return run;
}

/** How a streaming tool ended: its exit code, or the signal that killed it. */
export interface ToolExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A tool whose stdin or stdout the caller streams (pg_basebackup -D -, tar -x -f -). */
export interface StreamingTool<P extends ChildProcess> {
  readonly child: P;
  /**
   * Settles once the tool has exited and its output is closed; rejects when
   * it could not be started. Already marked handled: a caller that awaits it
   * only on some paths causes no unhandled rejection.
   */
  readonly exited: Promise<ToolExit>;
  /** The last TOOL_OUTPUT_KEEP_BYTES of its stderr so far. */
  stderrTail(): string;
}

/** Start a tool as the PostgreSQL OS user and read its stdout as a stream; SIGKILL at the deadline. */
export function spawnToolStdout(path: string, args: readonly string[], options: ToolOptions): StreamingTool<ChildProcessByStdio<null, Readable, Readable>> {
  return superviseTool(spawn(path, args, { ...toolSpawnOptions(options), stdio: ['ignore', 'pipe', 'pipe'] }), options.timeoutMs);
}

/** Start a tool as the PostgreSQL OS user and write its stdin as a stream; SIGKILL at the deadline. */
export function spawnToolStdin(path: string, args: readonly string[], options: ToolOptions): StreamingTool<ChildProcessByStdio<Writable, null, Readable>> {
  return superviseTool(spawn(path, args, { ...toolSpawnOptions(options), stdio: ['pipe', 'ignore', 'pipe'] }), options.timeoutMs);
}

/** "exited with code 1", "was killed by SIGKILL": for messages about a tool run. */
export function describeExit(exit: ToolExit): string {
  return exit.code === null ? `was killed by ${exit.signal ?? 'a signal'}` : `exited with code ${exit.code}`;
}

/** Who runs a tool, with what environment, where: the same for every tool run. */
function toolSpawnOptions(options: ToolOptions): { uid?: number; gid?: number; env: NodeJS.ProcessEnv; cwd: string } {
  assert(options.timeoutMs > 0, 'tool timeout must be positive');
  const identity = spawnIdentity(options.user);
  return { ...identity, env: { ...identity.env, ...options.env }, cwd: options.cwd ?? '/' };
}

function superviseTool<P extends ChildProcess & { readonly stderr: Readable }>(child: P, timeoutMs: number): StreamingTool<P> {
  // Our own deadline, not spawn's `timeout`: that one's timer outlives a spawn failure (no 'exit' is emitted).
  const deadline = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr = (stderr + text).slice(-TOOL_OUTPUT_KEEP_BYTES);
  });
  const exited = new Promise<ToolExit>((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(deadline);
      child.stdin?.destroy();
      child.stdout?.destroy();
      child.stderr.destroy();
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(deadline);
      resolve({ code, signal });
    });
  });
  exited.catch(() => undefined);
  return { child, exited, stderrTail: () => stderr };
}
