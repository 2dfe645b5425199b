/*
 * archive_command and restore_command (DESIGN §7): hands the file to the
 * running agent over its unix socket (wal-protocol.ts) and reports back.
 *
 *   node wal-client.js archive <socket> <%f>
 *   node wal-client.js restore <socket> <%f> <%p>
 *
 * PostgreSQL runs it once per file, as its OS user, with cwd = PGDATA. It
 * is started for every WAL segment, so it imports only node: built-ins and
 * the protocol file (no project code, no packages) and is run from dist/
 * with plain node. It is a script, not a library: importing it runs it.
 *
 * Exit status: 0 success; 1 for everything else — failure, the file not in
 * the archive, bad usage, timeout. Never above 125 or by a signal of its own:
 * PostgreSQL treats those as fatal. Every failure prints one line on stderr,
 * "pgherd wal-client: <op> <file>: <cause>", which lands in the server log.
 * restore writes "<%p>.pgherd-tmp" and renames it to "<%p>" only once every
 * byte arrived, and removes the temporary file on any failure.
 */
import { open, rename, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import {
  WAL_ANSWER_LINE_BYTES_MAX,
  WAL_CLIENT_TIMEOUT_ENV,
  WAL_CLIENT_TIMEOUT_MS_DEFAULT,
  WAL_PROTOCOL_VERSION,
  WAL_RESTORE_TEMP_SUFFIX,
  type ArchiveAnswer,
  type RestoreHeader,
  type WalRequest,
} from './wal-protocol.js';

const USAGE = 'usage: wal-client.js archive <socket> <file> | wal-client.js restore <socket> <file> <destination>';

/** A failure explained for the server log. */
class ClientFailure extends Error {}

interface Exchange {
  readonly socketPath: string;
  readonly socket: Socket;
  /** The answer's first line, parsed. */
  readonly header: unknown;
  /** Bytes that arrived after the first line. */
  readonly rest: Buffer;
  readonly chunks: AsyncIterator<Buffer>;
}

async function main(argv: readonly string[]): Promise<void> {
  const [op, socketPath, name, destination] = argv;
  if (socketPath === undefined || name === undefined || !((op === 'archive' && argv.length === 3) || (op === 'restore' && argv.length === 4))) {
    throw new ClientFailure(USAGE);
  }
  const timeoutMs = clientTimeoutMs(process.env[WAL_CLIENT_TIMEOUT_ENV]);
  const exchange = await send(socketPath, { v: WAL_PROTOCOL_VERSION, op, name }, timeoutMs);
  try {
    if (op === 'archive') checkArchiveAnswer(exchange.header);
    else await receiveRestore(exchange, destination!);
  } finally {
    exchange.socket.destroy();
  }
}

function clientTimeoutMs(text: string | undefined): number {
  if (text === undefined || text === '') return WAL_CLIENT_TIMEOUT_MS_DEFAULT;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new ClientFailure(`${WAL_CLIENT_TIMEOUT_ENV}=${JSON.stringify(text)}: expected a positive number of milliseconds`);
  return value;
}

/** Connect, send the request line, read the answer's first line. The socket dies (and every read fails) after `timeoutMs`. */
async function send(socketPath: string, request: WalRequest, timeoutMs: number): Promise<Exchange> {
  const socket = connect(socketPath);
  const timer = setTimeout(() => socket.destroy(new ClientFailure(`no answer from the pgherd agent at ${socketPath} within ${timeoutMs} ms`)), timeoutMs);
  socket.once('close', () => clearTimeout(timer));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof ClientFailure) reject(error);
      else reject(new ClientFailure(`cannot reach the pgherd agent at ${socketPath}: ${error.code ?? error.message} — is the agent running?`));
    });
  });
  socket.removeAllListeners('error');
  socket.write(`${JSON.stringify(request)}\n`);
  const chunks = socket[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let buffered = Buffer.alloc(0);
  for (;;) {
    const newline = buffered.indexOf(0x0a);
    if (newline >= 0) return { socketPath, socket, header: parseLine(buffered.subarray(0, newline)), rest: buffered.subarray(newline + 1), chunks };
    if (buffered.length > WAL_ANSWER_LINE_BYTES_MAX) throw new ClientFailure(`the pgherd agent at ${socketPath} sent an answer line longer than ${WAL_ANSWER_LINE_BYTES_MAX} bytes`);
    const next = await nextChunk(chunks, socketPath);
    if (next === undefined) throw new ClientFailure(`the pgherd agent at ${socketPath} closed the connection without an answer`);
    buffered = Buffer.concat([buffered, next]);
  }
}

async function nextChunk(chunks: AsyncIterator<Buffer>, socketPath: string): Promise<Buffer | undefined> {
  try {
    const step = await chunks.next();
    return step.done === true ? undefined : step.value;
  } catch (error) {
    if (error instanceof ClientFailure) throw error;
    throw new ClientFailure(`connection to the pgherd agent at ${socketPath} failed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function parseLine(line: Buffer): unknown {
  try {
    return JSON.parse(line.toString('utf8'));
  } catch {
    throw new ClientFailure(`the pgherd agent sent an answer that is not JSON: ${JSON.stringify(line.toString('utf8').slice(0, 200))}`);
  }
}

function checkArchiveAnswer(header: unknown): void {
  const answer = header as ArchiveAnswer;
  if (answer?.ok === true) return;
  throw new ClientFailure(answer?.ok === false && typeof answer.error === 'string' ? answer.error : `unexpected answer from the pgherd agent: ${JSON.stringify(header)}`);
}

async function receiveRestore(exchange: Exchange, destination: string): Promise<void> {
  const header = exchange.header as RestoreHeader;
  if (header?.ok === false && 'missing' in header && header.missing === true) throw new ClientFailure('not in the archive');
  if (header?.ok === false && 'error' in header && typeof header.error === 'string') throw new ClientFailure(header.error);
  if (header?.ok !== true || !Number.isSafeInteger(header.size) || header.size < 0) throw new ClientFailure(`unexpected answer from the pgherd agent: ${JSON.stringify(header)}`);
  const temporary = `${destination}${WAL_RESTORE_TEMP_SUFFIX}`;
  const file = await open(temporary, 'w', 0o600).catch((error: NodeJS.ErrnoException) => {
    throw new ClientFailure(`cannot create ${temporary}: ${error.message}`);
  });
  let closed = false;
  try {
    let received = 0;
    for (let chunk: Buffer | undefined = exchange.rest; chunk !== undefined; chunk = await nextChunk(exchange.chunks, exchange.socketPath)) {
      received += chunk.length;
      if (received > header.size) throw new ClientFailure(`the pgherd agent sent more than the announced ${header.size} bytes`);
      if (chunk.length > 0) await file.write(chunk);
    }
    if (received !== header.size) throw new ClientFailure(`the connection to the pgherd agent ended after ${received} of ${header.size} bytes`);
    await file.close();
    closed = true;
    await rename(temporary, destination);
  } catch (error) {
    if (!closed) await file.close().catch(() => undefined);
    await rm(temporary, { force: true });
    if (error instanceof ClientFailure) throw error;
    throw new ClientFailure(`cannot write ${destination}: ${(error as Error).message}`);
  }
}

const [op = '?', , name = '?'] = process.argv.slice(2);
main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    const cause = error instanceof ClientFailure ? error.message : `unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
    process.stderr.write(`pgherd wal-client: ${op} ${name}: ${cause}\n`);
    process.exit(1);
  },
);
