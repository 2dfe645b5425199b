/**
 * The fence (DESIGN.md §5 "Fence (watchdog)"): a tiny process, separate from
 * the agent and in its own process group (the agent spawns it detached), with
 * nothing in it but a timer. While armed it must be petted before its
 * deadline; if it is not, it stops PostgreSQL at once (SIGQUIT to the verified
 * postmaster = immediate shutdown; SIGKILL to the postmaster's process group
 * if it is still alive after a grace), logs one line and exits. A frozen
 * agent (SIGSTOP, GC stall, hung event loop) thus cannot leave a writable
 * primary behind.
 *
 *   node [--import=tsx] fence-process.(ts|js) --data-dir=DIR --socket=PATH [--grace-ms=N]
 *
 * Channels, one ASCII line per command (at most FENCE_LINE_BYTES_MAX bytes):
 *   arm <deadlineMs>   arm, or re-arm, with a deadline of now + deadlineMs
 *   pet <deadlineMs>   move an armed fence's deadline to now + deadlineMs (ignored while disarmed)
 *   disarm             no deadline
 *   exit               disarm and exit
 * - stdin: the agent that started the fence writes its commands here.
 * - the unix socket (mode 0600; created by the fence, removed when it exits):
 *   accepts the same commands, for adoption. On connect the fence writes
 *   `fence <pid> armed <remainingMs>` or `fence <pid> disarmed`; when it fires
 *   it writes `fired` to every connected client before exiting.
 *
 * The agent going away (EOF on stdin, socket closed) does NOT stop PostgreSQL
 * by itself — an agent restart on a healthy primary must not cause an outage.
 * An armed fence keeps its deadline: a restarted agent that confirms it still
 * holds the lease connects to the socket (Fence.adopt) and keeps petting;
 * otherwise the fence fires when the deadline passes. A disarmed fence that
 * has lost every channel has nothing to protect and exits.
 *
 * All time is monotonic (performance.now()); the deadline counts from when
 * the fence received the command.
 */
import { realpathSync } from 'node:fs';
import { readFile, rm, chmod } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { probeSocket } from '../lib/socket-probe.js';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLogger, type Logger } from '../lib/logger.js';
import { isPostmasterOf, readPostmasterPid } from '../postgres/pidfile.js';

export const FENCE_DEADLINE_MS_MIN = 100;
/** Longer than any sane ttl; a typo of seconds as milliseconds stays bounded. */
export const FENCE_DEADLINE_MS_MAX = 600_000;
export const FENCE_GRACE_MS_DEFAULT = 1_000;
export const FENCE_GRACE_MS_MIN = 100;
export const FENCE_GRACE_MS_MAX = 10_000;
/** `arm 600000` is 10 bytes; anything much longer is garbage. */
export const FENCE_LINE_BYTES_MAX = 64;
/** The agent, one adopting agent, and some slack for a racing restart. */
export const FENCE_CLIENTS_MAX = 4;
export const FENCE_SOCKET_NAME = 'fence.sock';
export const FENCE_EXIT_CODES = { ok: 0, usage: 2, fired: 3, alreadyRunning: 4 } as const;
/** How often firing checks whether the postmaster is gone. */
const STOP_POLL_MS = 10;
/** Bad input is logged at most this often (a broken client must not flood the log). */
const COMPLAINT_INTERVAL_MS = 1_000;
/** A probe of an existing socket at start-up. */
const PROBE_TIMEOUT_MS = 1_000;

export type FenceCommand =
  | { readonly kind: 'arm'; readonly deadlineMs: number }
  | { readonly kind: 'pet'; readonly deadlineMs: number }
  | { readonly kind: 'disarm' }
  | { readonly kind: 'exit' };

export function isValidDeadlineMs(deadlineMs: number): boolean {
  return Number.isInteger(deadlineMs) && deadlineMs >= FENCE_DEADLINE_MS_MIN && deadlineMs <= FENCE_DEADLINE_MS_MAX;
}

/** One protocol line (without its newline) → a command; undefined when malformed or out of bounds. */
export function parseFenceCommand(line: string): FenceCommand | undefined {
  if (line.length > FENCE_LINE_BYTES_MAX) return undefined;
  const match = /^(arm|pet|disarm|exit)(?: ([0-9]{1,7}))?$/.exec(line.trim());
  if (match === null) return undefined;
  const kind = match[1] as FenceCommand['kind'];
  if (kind === 'disarm' || kind === 'exit') return match[2] === undefined ? { kind } : undefined;
  const deadlineMs = Number(match[2]);
  return match[2] !== undefined && isValidDeadlineMs(deadlineMs) ? { kind, deadlineMs } : undefined;
}

export function formatFenceCommand(command: FenceCommand): string {
  return command.kind === 'arm' || command.kind === 'pet' ? `${command.kind} ${command.deadlineMs}\n` : `${command.kind}\n`;
}

/** Splits a byte stream into lines; a line longer than the bound is dropped whole and counted. */
export class LineSplitter {
  private buffer = '';
  private skipping = false;
  overflows = 0;

  push(chunk: Buffer | string): string[] {
    const lines: string[] = [];
    let text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n')) {
      const line = this.buffer + text.slice(0, newline);
      if (!this.skipping && line.length > FENCE_LINE_BYTES_MAX) this.overflows++;
      else if (!this.skipping) lines.push(line);
      this.buffer = '';
      this.skipping = false;
      text = text.slice(newline + 1);
    }
    if (!this.skipping) this.buffer += text;
    if (this.buffer.length > FENCE_LINE_BYTES_MAX) {
      this.buffer = '';
      this.skipping = true;
      this.overflows++;
    }
    return lines;
  }
}

export interface FenceArgs {
  readonly dataDir: string;
  readonly socketPath: string;
  readonly graceMs: number;
}

/** argv (after the script) → arguments; a string describing the problem when invalid. */
export function parseFenceArgs(argv: readonly string[]): FenceArgs | string {
  const values = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--(data-dir|socket|grace-ms)=(.+)$/.exec(arg);
    if (match === null) return `unknown argument ${JSON.stringify(arg)}`;
    values.set(match[1] as string, match[2] as string);
  }
  const dataDir = values.get('data-dir');
  const socketPath = values.get('socket');
  const graceMs = Number(values.get('grace-ms') ?? FENCE_GRACE_MS_DEFAULT);
  if (dataDir === undefined || !isAbsolute(dataDir)) return '--data-dir must be an absolute path';
  if (socketPath === undefined || !isAbsolute(socketPath)) return '--socket must be an absolute path';
  if (!Number.isInteger(graceMs) || graceMs < FENCE_GRACE_MS_MIN || graceMs > FENCE_GRACE_MS_MAX) {
    return `--grace-ms must be an integer in [${FENCE_GRACE_MS_MIN}, ${FENCE_GRACE_MS_MAX}]`;
  }
  return { dataDir, socketPath, graceMs };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function hasProc(): Promise<boolean> {
  return readFile('/proc/self/stat').then(() => true, () => false);
}

/** comm and process group from /proc/<pid>/stat; undefined when unreadable. */
async function procIdentity(pid: number): Promise<{ comm: string; pgrp: number } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' '); // state ppid pgrp ...
    return { comm: stat.slice(stat.indexOf('(') + 1, close), pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

type Target = { readonly pid: number; readonly ownGroup: boolean } | { readonly pid: number | null; readonly refused: string };

/**
 * The postmaster to stop, verified: postmaster.pid names it, it runs in the
 * data directory (pidfile.ts: alive, not a zombie, cwd = data directory) and,
 * where /proc exists, its executable is postgres — a recycled pid of any other
 * process is never signalled.
 */
export async function verifiedPostmaster(dataDir: string): Promise<Target> {
  const pidFile = await readPostmasterPid(dataDir).catch(() => undefined);
  if (pidFile === undefined) return { pid: null, refused: 'no_pid_file' };
  const pid = pidFile.pid;
  if (!(await isPostmasterOf(pid, dataDir))) return { pid, refused: 'not_postmaster_of_data_dir' };
  if (!(await hasProc())) return { pid, ownGroup: false };
  const identity = await procIdentity(pid);
  if (identity === undefined) return { pid, refused: 'gone' };
  if (identity.comm !== 'postgres' && identity.comm !== 'postmaster') return { pid, refused: 'not_postgres' };
  return { pid, ownGroup: identity.pgrp === pid };
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function waitGone(pid: number, dataDir: string, waitMs: number): Promise<boolean> {
  const until = performance.now() + waitMs;
  for (;;) {
    if (!(await isPostmasterOf(pid, dataDir))) return true;
    if (performance.now() >= until) return false;
    await sleep(STOP_POLL_MS);
  }
}

class FenceProcess {
  /** Monotonic deadline; null while disarmed. */
  private deadlineAtMs: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Infinity;
  private stdinOpen = true;
  private firing = false;
  private readonly clients = new Set<Socket>();
  private server: Server | undefined;
  private lastComplaintAtMs = -Infinity;
  private complaintsSuppressed = 0;

  constructor(private readonly args: FenceArgs, private readonly log: Logger) {}

  async run(): Promise<void> {
    if (await this.socketAnswers()) {
      this.log.error({ socketPath: this.args.socketPath }, 'fence.already_running');
      process.exit(FENCE_EXIT_CODES.alreadyRunning);
    }
    await rm(this.args.socketPath, { force: true });
    process.umask(0o177);
    this.server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.args.socketPath, resolve);
    });
    await chmod(this.args.socketPath, 0o600);
    this.readChannel(process.stdin, 'stdin', () => {
      this.stdinOpen = false;
      this.log.info({ armed: this.deadlineAtMs !== null, remainingMs: this.remainingMs() }, 'fence.agent_eof');
      this.exitIfOrphaned();
    });
    this.log.info({ socketPath: this.args.socketPath, graceMs: this.args.graceMs }, 'fence.started');
  }

  /** A frozen fence (no answer in time) still counts as there. */
  private async socketAnswers(): Promise<boolean> {
    return (await probeSocket(this.args.socketPath, PROBE_TIMEOUT_MS)) !== 'refused';
  }

  private accept(socket: Socket): void {
    if (this.clients.size >= FENCE_CLIENTS_MAX || this.firing) {
      socket.destroy();
      return;
    }
    this.clients.add(socket);
    socket.on('error', () => socket.destroy());
    const remainingMs = this.remainingMs();
    socket.write(remainingMs === null ? `fence ${process.pid} disarmed\n` : `fence ${process.pid} armed ${remainingMs}\n`);
    this.log.info({ clients: this.clients.size, armed: remainingMs !== null, remainingMs }, 'fence.client_connected');
    this.readChannel(socket, 'socket', () => {
      this.clients.delete(socket);
      this.exitIfOrphaned();
    });
  }

  private readChannel(stream: NodeJS.ReadableStream & { destroy?: () => void }, source: string, onEnd: () => void): void {
    const splitter = new LineSplitter();
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      onEnd();
    };
    stream.on('data', (chunk: Buffer) => {
      const overflowsBefore = splitter.overflows;
      for (const line of splitter.push(chunk)) this.handleLine(line, source);
      if (splitter.overflows > overflowsBefore) this.complain(source, 'fence.line_too_long', undefined);
    });
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  private handleLine(line: string, source: string): void {
    if (this.firing || line.trim() === '') return;
    const command = parseFenceCommand(line);
    if (command === undefined) {
      this.complain(source, 'fence.bad_command', line);
      return;
    }
    const now = performance.now();
    switch (command.kind) {
      case 'arm':
        if (this.deadlineAtMs === null) this.log.info({ source, deadlineMs: command.deadlineMs }, 'fence.armed');
        this.setDeadline(now + command.deadlineMs, now);
        return;
      case 'pet':
        if (this.deadlineAtMs !== null) this.setDeadline(now + command.deadlineMs, now);
        return;
      case 'disarm':
        if (this.deadlineAtMs !== null) this.log.info({ source }, 'fence.disarmed');
        this.deadlineAtMs = null;
        this.exitIfOrphaned();
        return;
      case 'exit':
        this.log.info({ source, wasArmed: this.deadlineAtMs !== null }, 'fence.exit');
        this.deadlineAtMs = null;
        void this.shutdown(FENCE_EXIT_CODES.ok, undefined);
        return;
    }
  }

  /** Warn about garbage at most once per COMPLAINT_INTERVAL_MS, counting what was not logged. */
  private complain(source: string, event: string, line: string | undefined): void {
    const now = performance.now();
    if (now - this.lastComplaintAtMs < COMPLAINT_INTERVAL_MS) {
      this.complaintsSuppressed++;
      return;
    }
    this.log.warn({ source, line: line?.slice(0, FENCE_LINE_BYTES_MAX), suppressed: this.complaintsSuppressed }, event);
    this.lastComplaintAtMs = now;
    this.complaintsSuppressed = 0;
  }

  private remainingMs(): number | null {
    return this.deadlineAtMs === null ? null : Math.max(0, Math.round(this.deadlineAtMs - performance.now()));
  }

  /** One timer; a pet that moves the deadline later leaves it alone (it re-checks when it fires). */
  private setDeadline(deadlineAtMs: number, nowMs: number): void {
    this.deadlineAtMs = deadlineAtMs;
    if (this.timer !== undefined && this.timerAtMs <= deadlineAtMs) return;
    this.schedule(nowMs);
  }

  private schedule(nowMs: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = Infinity;
    if (this.deadlineAtMs === null) return;
    const waitMs = Math.max(1, Math.ceil(this.deadlineAtMs - nowMs));
    this.timerAtMs = nowMs + waitMs;
    this.timer = setTimeout(() => this.onTimer(), waitMs);
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAtMs = Infinity;
    if (this.deadlineAtMs === null || this.firing) return;
    const now = performance.now();
    if (now < this.deadlineAtMs) return this.schedule(now);
    void this.fire(this.deadlineAtMs, now);
  }

  /** Stop the verified postmaster: SIGQUIT, then after the grace SIGKILL (its whole group when it leads one). */
  private async fire(deadlineAtMs: number, nowMs: number): Promise<void> {
    this.firing = true;
    const overdueMs = Math.round(nowMs - deadlineAtMs);
    const target = await verifiedPostmaster(this.args.dataDir);
    if ('refused' in target) {
      this.log.error({ overdueMs, postmasterPid: target.pid, refused: target.refused }, 'fence.fired');
      return this.shutdown(FENCE_EXIT_CODES.fired, 'fired');
    }
    const signalledAtMs = performance.now();
    signal(target.pid, 'SIGQUIT');
    let lastSignal: NodeJS.Signals = 'SIGQUIT';
    let gone = await waitGone(target.pid, this.args.dataDir, this.args.graceMs);
    if (!gone) {
      lastSignal = 'SIGKILL';
      signal(target.ownGroup ? -target.pid : target.pid, 'SIGKILL');
      gone = await waitGone(target.pid, this.args.dataDir, this.args.graceMs);
    }
    const goneAtMs = performance.now();
    const fields = {
      postmasterPid: target.pid,
      signal: lastSignal,
      stopped: gone,
      overdueMs,
      stopMs: Math.round(goneAtMs - signalledAtMs),
      latencyMs: Math.round(goneAtMs - deadlineAtMs),
    };
    this.log.error(fields, 'fence.fired');
    return this.shutdown(FENCE_EXIT_CODES.fired, 'fired');
  }

  /** A disarmed fence that no agent can reach any more has nothing to protect. */
  private exitIfOrphaned(): void {
    if (this.firing || this.deadlineAtMs !== null || this.stdinOpen || this.clients.size > 0) return;
    this.log.info({}, 'fence.orphaned_exit');
    void this.shutdown(FENCE_EXIT_CODES.ok, undefined);
  }

  private async shutdown(code: number, notice: string | undefined): Promise<void> {
    this.firing = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const client of this.clients) {
      if (notice === undefined) client.end();
      else client.end(`${notice}\n`);
    }
    this.server?.close();
    await rm(this.args.socketPath, { force: true }).catch(() => {});
    // Give the notices a moment to leave, bounded: a frozen client must not hold the exit.
    setTimeout(() => process.exit(code), 20).unref();
    process.exitCode = code;
  }
}

async function main(): Promise<void> {
  const log = createLogger({ base: { component: 'fence' } });
  const args = parseFenceArgs(process.argv.slice(2));
  if (typeof args === 'string') {
    log.error({ problem: args }, 'fence.bad_arguments');
    process.exit(FENCE_EXIT_CODES.usage);
  }
  await new FenceProcess(args, log.child({ dataDir: args.dataDir })).run();
}

/** Run as a program (not imported): Node gives the main module its real path, argv[1] may name it through a symlink. */
function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isMainModule()) {
  main().catch((error: unknown) => {
    process.stderr.write(`${JSON.stringify({ level: 'error', component: 'fence', err: String(error), msg: 'fence.crashed' })}\n`);
    process.exit(1);
  });
}
