import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Metadata, Server, type ChannelCredentials, type ServerCredentials, type ServiceError, type handleUnaryCall } from '@grpc/grpc-js';
import { ensureLocalCa, issueNodeCertificate, type LocalCa, type NodeCertificate } from '../../../src/tls/generate.js';

/** A fresh temporary directory; the caller removes it (removeDir) in an after.always hook. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `pgherd-tls-${prefix}-`));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

export interface Pki {
  readonly dir: string;
  readonly ca: LocalCa;
  readonly otherCa: LocalCa;
  /** n1 and n2: loopback SANs, signed by `ca`. */
  readonly n1: NodeCertificate;
  readonly n2: NodeCertificate;
  /** Signed by `ca`, but only for 10.9.9.9 / elsewhere.example: not for 127.0.0.1. */
  readonly wrongSan: NodeCertificate;
  /** Signed by `otherCa`, loopback SANs. */
  readonly stranger: NodeCertificate;
}

/** Two CAs and the node certificates the tests need, under one temporary directory. */
export async function makePki(): Promise<Pki> {
  const dir = await tempDir('pki');
  const [ca, otherCa] = await Promise.all([ensureLocalCa(join(dir, 'cluster')), ensureLocalCa(join(dir, 'other'))]);
  const loopback = { ips: ['127.0.0.1', '::1'], dns: ['localhost'] };
  const [n1, n2, wrongSan, stranger] = await Promise.all([
    issueNodeCertificate(ca, join(dir, 'cluster'), { name: 'n1', ...loopback }),
    issueNodeCertificate(ca, join(dir, 'cluster'), { name: 'n2', ...loopback }),
    issueNodeCertificate(ca, join(dir, 'cluster'), { name: 'n9', ips: ['10.9.9.9'], dns: ['elsewhere.example'] }),
    issueNodeCertificate(otherCa, join(dir, 'other'), { name: 'n1', ...loopback }),
  ]);
  return { dir, ca, otherCa, n1, n2, wrongSan, stranger };
}

const ECHO_PATH = '/pgherd.test.Echo/Echo';
const identity = (buffer: Buffer): Buffer => buffer;

export interface EchoServer {
  readonly address: string;
  /** Calls the handler saw, with the client certificate's CN (undefined without one). */
  readonly calls: (string | undefined)[];
  close(): void;
}

/** A one-method gRPC service (bytes in, the same bytes out) on 127.0.0.1:<free port>. */
export async function startEchoServer(credentials: ServerCredentials): Promise<EchoServer> {
  const server = new Server();
  const calls: (string | undefined)[] = [];
  const echo: handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    const subject = call.getAuthContext()?.sslPeerCertificate?.subject;
    calls.push(subject?.CN as string | undefined);
    callback(null, call.request);
  };
  const definition = {
    Echo: { path: ECHO_PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  };
  server.addService(definition, { Echo: echo });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))));
  return { address: `127.0.0.1:${port}`, calls, close: () => server.forceShutdown() };
}

/** One echo call; resolves with the reply or the gRPC error. Deadline-bounded so a refused handshake fails fast. */
export async function echo(address: string, credentials: ChannelCredentials, deadlineMs = 3_000): Promise<{ reply?: string; error?: ServiceError }> {
  const client = new Client(address, credentials, { 'grpc.use_local_subchannel_pool': 1 });
  try {
    return await new Promise((resolve) => {
      client.makeUnaryRequest(ECHO_PATH, identity, identity, Buffer.from('ping'), new Metadata(), { deadline: Date.now() + deadlineMs }, (error, reply) => {
        resolve(error ? { error } : { reply: reply!.toString() });
      });
    });
  } finally {
    client.close();
  }
}
