import { createReadStream } from 'node:fs';
import { chmod, chown, lstat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { probeSocket } from '../lib/socket-probe.js';
import { isAbsolute } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BindError } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import type { ArchiveOutcome } from './wal-archiver.js';
import { WAL_ANSWER_LINE_BYTES_MAX, WAL_PROTOCOL_VERSION, WAL_REQUEST_BYTES_MAX, type ArchiveAnswer, type RestoreHeader, type WalOp } from './wal-protocol.js';
import type { RestoreResult } from './wal-restorer.js';

/*
 * The agent's end of archive_command / restore_command: a unix socket
 * server speaking wal-protocol.ts, one request per connection, routed to
 * the WalArchiver and WalRestorer (which log each file and each failure).
 *
 * The socket is 0600 and, when the agent runs as root, owned by the
 * PostgreSQL OS user: only PostgreSQL (and root) may connect. A stale
 * socket left by a dead agent is replaced; a live one (another agent
 * answers) or anything that is not a socket is an error, never removed.
 */

export interface WalServiceOptions {
  /** Absolute path of the socket, at most 107 bytes (sun_path). */
  readonly socketPath: string;
  readonly archiver: { archive(name: string): Promise<ArchiveOutcome> };
  readonly restorer: { restore(name: string): Promise<RestoreResult> };
  /** Give the socket to this user (the PostgreSQL OS user when the agent is root); undefined: leave it to the agent's user. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  readonly logger?: Logger;
}

/** sun_path holds 108 bytes including the terminating NUL. */
const SOCKET_PATH_BYTES_MAX = 107;
/** A client that connects must send its request line within this. */
const REQUEST_READ_TIMEOUT_MS = 10_000;
/** How long the stale-socket probe waits for an answer before deciding nobody listens. */
const PROBE_TIMEOUT_MS = 1_000;

type Request = { readonly op: WalOp; readonly name: string };

export class WalService {
  private readonly connections = new Set<Socket>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
    private readonly options: WalServiceOptions,
    private readonly log: Logger,
  ) {}

  /** Listen on options.socketPath. Throws BindError naming the path and why. */
  static async listen(options: WalServiceOptions): Promise<WalService> {
    const path = options.socketPath;
    if (!isAbsolute(path)) throw new BindError(path, { cause: new Error('the WAL socket path must be absolute') });
    if (Buffer.byteLength(path) > SOCKET_PATH_BYTES_MAX) throw new BindError(path, { cause: new Error(`a unix socket path is at most ${SOCKET_PATH_BYTES_MAX} bytes`) });
    await removeStaleSocket(path);
    const log = (options.logger ?? silentLogger).child({ component: 'wal-service' });
    const server = createServer();
    const service = new WalService(server, path, options, log);
    server.on('connection', (socket) => service.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause) => reject(new BindError(path, { cause })));
      server.listen(path, () => resolve());
    });
    try {
      await chmod(path, 0o600);
      if (options.owner !== undefined) await chown(path, options.owner.uid, options.owner.gid);
    } catch (cause) {
      await service.close();
      throw new BindError(path, { cause });
    }
    log.info({ socket: path }, 'wal.service_listening');
    return service;
  }

  /** Stops listening, drops every connection, removes the socket file. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const socket of this.connections) socket.destroy();
      await closed;
      await unlink(this.socketPath).catch(() => undefined);
    })();
    return this.closing;
  }

  private accept(socket: Socket): void {
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', (error) => this.log.debug({ err: error.message }, 'wal.connection_error'));
    void this.serve(socket).catch((error: unknown) => {
      this.log.warn({ err: (error as Error).message }, 'wal.connection_failed');
      socket.destroy();
    });
  }

  private async serve(socket: Socket): Promise<void> {
    const parsed = await readRequest(socket);
    if (parsed === undefined) return;
    if (typeof parsed === 'string') {
      this.log.warn({ problem: parsed }, 'wal.bad_request');
      socket.end(answerLine({ ok: false, error: `bad request: ${parsed}` }));
      return;
    }
    if (parsed.op === 'archive') await this.archive(socket, parsed.name);
    else await this.restore(socket, parsed.name);
  }

  private async archive(socket: Socket, name: string): Promise<void> {
    let answer: ArchiveAnswer;
    try {
      await this.options.archiver.archive(name);
      answer = { ok: true };
    } catch (error) {
      answer = { ok: false, error: (error as Error).message };
    }
    socket.end(answerLine(answer));
  }

  private async restore(socket: Socket, name: string): Promise<void> {
    let result: RestoreResult;
    try {
      result = await this.options.restorer.restore(name);
    } catch (error) {
      socket.end(answerLine({ ok: false, error: (error as Error).message } satisfies RestoreHeader));
      return;
    }
    if (result.kind === 'missing') {
      socket.end(answerLine({ ok: false, missing: true } satisfies RestoreHeader));
      return;
    }
    try {
      socket.write(answerLine({ ok: true, size: result.sizeBytes } satisfies RestoreHeader));
      await pipeline(createReadStream(result.path), socket);
    } finally {
      await result.release();
    }
  }
}

/** The request, a problem description for the client, or undefined when the client went away. */
function readRequest(socket: Socket): Promise<Request | string | undefined> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const finish = (result: Request | string | undefined): void => {
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('close', onGone);
      socket.setTimeout(0);
      socket.pause();
      resolve(result);
    };
    const onGone = (): void => finish(undefined);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const newline = buffered.indexOf(0x0a);
      if (newline >= 0) finish(parseRequest(buffered.subarray(0, newline).toString('utf8')));
      else if (buffered.length >= WAL_REQUEST_BYTES_MAX) finish(`no request line within ${WAL_REQUEST_BYTES_MAX} bytes`);
    };
    socket.setTimeout(REQUEST_READ_TIMEOUT_MS, () => {
      socket.destroy();
      finish(undefined);
    });
    socket.on('data', onData);
    socket.once('end', onGone);
    socket.once('close', onGone);
  });
}

/** Shape only: the archiver and restorer check the name itself. */
export function parseRequest(line: string): Request | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not a JSON line';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  const { v, op, name } = value as Record<string, unknown>;
  if (v !== WAL_PROTOCOL_VERSION) return `protocol version ${JSON.stringify(v)} is not supported (this agent speaks ${WAL_PROTOCOL_VERSION}): the client and the agent come from different pgherd versions`;
  if (op !== 'archive' && op !== 'restore') return `op ${JSON.stringify(op)}: expected "archive" or "restore"`;
  if (typeof name !== 'string' || name === '') return 'name: expected a non-empty string';
  return { op, name };
}

/** A JSON line; an error message is cut so the line fits the client's limit. */
function answerLine(answer: ArchiveAnswer | RestoreHeader): string {
  const line = `${JSON.stringify(answer)}\n`;
  if (Buffer.byteLength(line) <= WAL_ANSWER_LINE_BYTES_MAX || answer.ok || !('error' in answer)) return line;
  return `${JSON.stringify({ ok: false, error: `${answer.error.slice(0, WAL_ANSWER_LINE_BYTES_MAX / 8)}…` })}\n`;
}

/** Remove a socket file nobody listens on; refuse anything else. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new BindError(path, { cause: error });
  }
  if (!isSocket) throw new BindError(path, { cause: new Error(`${path} exists and is not a socket; not removing it`) });
  if (await someoneListens(path)) throw new BindError(path, { cause: new Error(`another process is serving ${path} (another pgherd agent?)`) });
  await unlink(path);
}

async function someoneListens(path: string): Promise<boolean> {
  return (await probeSocket(path, PROBE_TIMEOUT_MS)) === 'connected';
}
