import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { assert } from '../lib/assert.js';
import { PgherdError } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import {
  FENCE_DEADLINE_MS_MAX,
  FENCE_DEADLINE_MS_MIN,
  FENCE_EXIT_CODES,
  FENCE_GRACE_MS_DEFAULT,
  FENCE_SOCKET_NAME,
  LineSplitter,
  formatFenceCommand,
  isValidDeadlineMs,
  type FenceCommand,
} from './fence-process.js';

/**
 * The agent's handle on its fence process (fence-process.ts explains the
 * fence and its protocol). The HA loop arms the fence when it becomes
 * primary, pets it every loop while it holds a valid lease (deadline = the
 * lease time left), and disarms it when it demotes by itself.
 *
 * Nothing here waits on the fence once it is running: arm, pet and disarm
 * are fire-and-forget writes; when the fence stops reading (frozen, dead),
 * writes beyond a small backlog are dropped — the fence then fires on its own
 * deadline, which is the point.
 *
 * After an agent restart, `Fence.adopt` connects to a running fence's socket
 * (it keeps its deadline while no agent talks to it); `Fence.start` refuses
 * to start a second fence on the same run directory.
 */

export const FENCE_START_TIMEOUT_MS_DEFAULT = 10_000;
export const FENCE_ADOPT_TIMEOUT_MS_DEFAULT = 2_000;
const CLOSE_TIMEOUT_MS = 2_000;
/** ~100 pets; a fence this far behind is frozen, and more bytes do not help. */
const WRITE_BACKLOG_BYTES_MAX = 1_024;
const CONNECT_RETRY_MS = 20;
/** sun_path is 108 bytes on Linux, 104 on the BSDs. */
const SOCKET_PATH_BYTES_MAX = 100;

/** The fence process could not be started (or did not come up in time). */
export class FenceStartFailedError extends PgherdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGHERD_FENCE_START_FAILED', `fence: ${message}`, options);
  }
}

/** A fence is already running on this run directory: adopt it instead. */
export class FenceAlreadyRunningError extends PgherdError {
  readonly socketPath: string;

  constructor(socketPath: string) {
    super('PGHERD_FENCE_ALREADY_RUNNING', `fence: another fence is listening on ${socketPath}; adopt it (Fence.adopt)`);
    this.socketPath = socketPath;
  }
}

/** armed/disarmed: running. fired: it stopped PostgreSQL. closed: by close(). lost: it went away otherwise. */
export type FenceState = 'armed' | 'disarmed' | 'fired' | 'closed' | 'lost';

export interface FenceStartOptions {
  /** Private directory (created 0700) for the socket and the fence's log. */
  readonly runDir: string;
  readonly dataDir: string;
  readonly logger?: Logger;
  /** SIGQUIT → SIGKILL grace when firing. */
  readonly graceMs?: number;
  /** The fence's own log; default <runDir>/fence.log. */
  readonly logFile?: string;
  readonly startTimeoutMs?: number;
}

export interface FenceAdoptOptions {
  readonly runDir: string;
  readonly logger?: Logger;
  readonly timeoutMs?: number;
}

interface Hello {
  readonly pid: number;
  readonly remainingMs: number | null;
}

export function fenceSocketPath(runDir: string): string {
  return join(runDir, FENCE_SOCKET_NAME);
}

/** The compiled fence-process.js beside this file, else the .ts through tsx. */
function fenceCommand(): { readonly file: string; readonly nodeArgs: readonly string[] } {
  const js = fileURLToPath(new URL('./fence-process.js', import.meta.url));
  if (existsSync(js)) return { file: js, nodeArgs: [] };
  return { file: fileURLToPath(new URL('./fence-process.ts', import.meta.url)), nodeArgs: [`--import=${import.meta.resolve('tsx')}`] };
}

function parseHello(line: string): Hello | undefined {
  const match = /^fence ([0-9]+) (?:disarmed|armed ([0-9]+))$/.exec(line);
  if (match === null) return undefined;
  return { pid: Number(match[1]), remainingMs: match[2] === undefined ? null : Number(match[2]) };
}

interface BackChannel {
  readonly socket: Socket;
  readonly hello: Hello;
  /** Lines after the hello; replaced by the Fence once it exists. */
  onLine: (line: string) => void;
}

/** Connect to a fence's socket and read its hello line, bounded; 'absent' when nobody listens. */
function openBackChannel(socketPath: string, timeoutMs: number): Promise<BackChannel | 'absent'> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const splitter = new LineSplitter();
    let channel: BackChannel | undefined;
    const early: string[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new FenceStartFailedError(`no hello from ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (channel !== undefined) return;
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve('absent');
      else reject(new FenceStartFailedError(`cannot connect to ${socketPath}`, { cause: error }));
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (channel === undefined) resolve('absent');
    });
    socket.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        if (channel !== undefined) {
          channel.onLine(line);
          continue;
        }
        const hello = parseHello(line);
        if (hello === undefined) {
          socket.destroy();
          reject(new FenceStartFailedError(`unexpected hello ${JSON.stringify(line.slice(0, 64))} on ${socketPath}`));
          return;
        }
        clearTimeout(timer);
        channel = { socket, hello, onLine: (l) => early.push(l) };
        resolve(channel);
      }
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Fence {
  private stateValue: FenceState;
  private backlogged = false;
  private readonly log: Logger;
  private readonly gone: Promise<void>;
  private markGone!: () => void;

  private constructor(
    private readonly channel: Writable,
    private readonly back: BackChannel,
    readonly pid: number,
    armed: boolean,
    logger: Logger,
  ) {
    this.stateValue = armed ? 'armed' : 'disarmed';
    this.log = logger.child({ fencePid: pid });
    this.gone = new Promise((resolve) => (this.markGone = resolve));
    back.onLine = (line) => {
      if (line === 'fired') this.onFired('notice');
    };
    back.socket.on('close', () => {
      this.markGone();
      this.lose('socket_closed');
    });
    back.socket.on('error', () => back.socket.destroy());
    channel.on('error', () => this.lose('channel_error'));
    back.socket.unref();
  }

  /** Spawn a fence for `dataDir` in its own process group; resolves once it listens (disarmed). */
  static async start(options: FenceStartOptions): Promise<Fence> {
    const logger = (options.logger ?? silentLogger).child({ component: 'fence' });
    const socketPath = fenceSocketPath(options.runDir);
    const timeoutMs = options.startTimeoutMs ?? FENCE_START_TIMEOUT_MS_DEFAULT;
    assert(timeoutMs > 0, 'fence start timeout must be positive');
    if (Buffer.byteLength(socketPath) > SOCKET_PATH_BYTES_MAX) throw new FenceStartFailedError(`socket path ${socketPath} is longer than ${SOCKET_PATH_BYTES_MAX} bytes`);
    await mkdir(options.runDir, { recursive: true, mode: 0o700 });
    const { file, nodeArgs } = fenceCommand();
    const args = [...nodeArgs, file, `--data-dir=${options.dataDir}`, `--socket=${socketPath}`, `--grace-ms=${options.graceMs ?? FENCE_GRACE_MS_DEFAULT}`];
    const logHandle = await open(options.logFile ?? join(options.runDir, 'fence.log'), 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, args, { cwd: '/', detached: true, stdio: ['pipe', logHandle.fd, logHandle.fd] });
    } finally {
      await logHandle.close();
    }
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let spawnError: Error | undefined;
    child.once('error', (error) => (spawnError = error));
    child.once('exit', (code, signal) => (exit = { code, signal }));
    child.unref();
    const back = await Fence.awaitListening(child, socketPath, timeoutMs, () => exit, () => spawnError);
    assert(child.stdin !== null && child.pid !== undefined, 'fence spawned with a stdin pipe');
    (child.stdin as Writable & { unref?: () => void }).unref?.();
    const fence = new Fence(child.stdin, back, child.pid, false, logger);
    child.on('exit', (code) => (code === FENCE_EXIT_CODES.fired ? fence.onFired('exit') : fence.lose(`exited with code ${code}`)));
    if (exit !== undefined) fence.lose(`exited with code ${exit.code}`);
    fence.log.info({ dataDir: options.dataDir, socketPath }, 'fence.started');
    return fence;
  }

  private static async awaitListening(
    child: ChildProcess,
    socketPath: string,
    timeoutMs: number,
    exited: () => { code: number | null; signal: NodeJS.Signals | null } | undefined,
    spawnError: () => Error | undefined,
  ): Promise<BackChannel> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const error = spawnError();
      if (error !== undefined) throw new FenceStartFailedError('spawn failed', { cause: error });
      const exit = exited();
      if (exit !== undefined) {
        if (exit.code === FENCE_EXIT_CODES.alreadyRunning) throw new FenceAlreadyRunningError(socketPath);
        throw new FenceStartFailedError(`fence process exited with ${exit.code ?? exit.signal} before listening (see its log)`);
      }
      const remainingMs = Math.max(1, Math.round(deadline - performance.now()));
      const back = await openBackChannel(socketPath, Math.min(remainingMs, FENCE_ADOPT_TIMEOUT_MS_DEFAULT)).catch(() => 'absent' as const);
      if (back !== 'absent') {
        if (back.hello.pid === child.pid) return back;
        back.socket.destroy(); // another fence answers: ours will exit with alreadyRunning
      }
      if (performance.now() >= deadline) {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
        throw new FenceStartFailedError(`fence did not listen on ${socketPath} within ${timeoutMs} ms`);
      }
      await sleep(CONNECT_RETRY_MS);
    }
  }

  /** Connect to the fence already running on `runDir` (after an agent restart); undefined when there is none. */
  static async adopt(options: FenceAdoptOptions): Promise<Fence | undefined> {
    const logger = (options.logger ?? silentLogger).child({ component: 'fence' });
    const socketPath = fenceSocketPath(options.runDir);
    const back = await openBackChannel(socketPath, options.timeoutMs ?? FENCE_ADOPT_TIMEOUT_MS_DEFAULT);
    if (back === 'absent') return undefined;
    const fence = new Fence(back.socket, back, back.hello.pid, back.hello.remainingMs !== null, logger);
    fence.log.info({ socketPath, armed: back.hello.remainingMs !== null, remainingMs: back.hello.remainingMs }, 'fence.adopted');
    return fence;
  }

  get state(): FenceState {
    return this.stateValue;
  }

  /** Arm (or re-arm) with a deadline of now + deadlineMs. */
  arm(deadlineMs: number): void {
    assertDeadline(deadlineMs);
    if (!this.send({ kind: 'arm', deadlineMs })) return;
    if (this.stateValue === 'armed') return;
    this.stateValue = 'armed';
    this.log.info({ deadlineMs }, 'fence.armed');
  }

  /** Move the deadline to now + deadlineMs; ignored unless armed. Never blocks. */
  pet(deadlineMs: number): void {
    assertDeadline(deadlineMs);
    if (this.stateValue !== 'armed') return;
    this.send({ kind: 'pet', deadlineMs });
  }

  disarm(): void {
    if (this.stateValue !== 'armed') return;
    if (!this.send({ kind: 'disarm' })) return;
    this.stateValue = 'disarmed';
    this.log.info({}, 'fence.disarmed');
  }

  /** Disarm and tell the fence to exit; resolves when it has (bounded). */
  async close(): Promise<void> {
    if (this.stateValue !== 'armed' && this.stateValue !== 'disarmed') return;
    this.send({ kind: 'exit' });
    this.stateValue = 'closed';
    this.channel.end();
    const timer = sleep(CLOSE_TIMEOUT_MS);
    await Promise.race([this.gone, timer]);
    this.back.socket.destroy();
    this.log.info({}, 'fence.closed');
  }

  private send(command: FenceCommand): boolean {
    if (this.stateValue !== 'armed' && this.stateValue !== 'disarmed') return false;
    if (this.channel.destroyed || !this.channel.writable) {
      this.lose('channel_closed');
      return false;
    }
    if (this.channel.writableLength > WRITE_BACKLOG_BYTES_MAX) {
      if (!this.backlogged) this.log.warn({ backlogBytes: this.channel.writableLength, command: command.kind }, 'fence.write_backlogged');
      this.backlogged = true;
      return false;
    }
    this.backlogged = false;
    this.channel.write(formatFenceCommand(command));
    return true;
  }

  private onFired(how: 'notice' | 'exit'): void {
    if (this.stateValue === 'fired') return;
    this.stateValue = 'fired';
    this.log.error({ how }, 'fence.fired');
  }

  private lose(reason: string): void {
    if (this.stateValue !== 'armed' && this.stateValue !== 'disarmed') return;
    const wasArmed = this.stateValue === 'armed';
    this.stateValue = 'lost';
    this.log.error({ reason, wasArmed }, 'fence.lost');
  }
}

function assertDeadline(deadlineMs: number): void {
  assert(isValidDeadlineMs(deadlineMs), () => `fence deadline ${deadlineMs} ms must be an integer in [${FENCE_DEADLINE_MS_MIN}, ${FENCE_DEADLINE_MS_MAX}]`);
}
