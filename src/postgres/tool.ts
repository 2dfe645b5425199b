import { spawn } from 'node:child_process';
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
  assert(options.timeoutMs > 0, 'tool timeout must be positive');
  const identity = spawnIdentity(options.user);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, {
      ...identity,
      env: { ...identity.env, ...options.env },
      cwd: options.cwd ?? '/',
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
