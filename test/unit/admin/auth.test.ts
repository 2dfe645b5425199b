/**
 * Who may call the agent's gRPC port, over real gRPC and real TLS: the
 * admin service and the Raft peer service on one GrpcTransport, as the
 * agent serves them, with the call gate of src/tls/call-gate.ts. A cluster-CA
 * certificate opens both; a bearer token of admin.tokens opens the admin
 * service only; a wrong token, no credentials or another CA's certificate
 * open nothing, and no handler runs for them.
 */
import { readFileSync } from 'node:fs';
import { CallCredentials, ChannelCredentials, Client, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { AdminClient, type AdminConnectOptions } from '../../../src/admin/client.js';
import { AdminCallError } from '../../../src/admin/errors.js';
import { adminDefinition } from '../../../src/admin/proto.js';
import { AdminService } from '../../../src/admin/service.js';
import type { Message } from '../../../src/raft/core/types.js';
import { GrpcTransport } from '../../../src/raft/transport/grpc-transport.js';
import { raftPeerDefinition } from '../../../src/raft/transport/proto.js';
import { AdminTokens, tokenSha256 } from '../../../src/tls/admin-tokens.js';
import { CALLER_METADATA_KEY } from '../../../src/tls/call-gate.js';
import { insecureCredentials, mutualTlsCredentials } from '../../../src/tls/credentials.js';
import { recordingLogger, type LogLine } from '../../helpers/recording-logger.js';
import { runningCluster } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { CLUSTER, healthy, MemoryBackend } from './helpers.js';

const OPS_TOKEN = 'ops-secret-token-0123456789abcdefghijklmnop';
const CI_TOKEN = 'ci-secret-token-ZYXWVUTSRQPONMLKJIHGFEDCBA';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

interface Served {
  readonly address: string;
  readonly backend: MemoryBackend;
  readonly logs: LogLine[];
  /** Raft messages the peer service handed on, and position requests it answered. */
  readonly delivered: Message[];
  readonly positionsAnswered: { count: number };
}

/** n1's transport with the admin service, as the agent serves it: n2 is a Raft peer; tokens ops and ci are configured. */
async function serve(t: ExecutionContext, secure = true): Promise<Served> {
  const logs: LogLine[] = [];
  const logger = recordingLogger(logs);
  const backend = new MemoryBackend(runningCluster());
  for (const member of ['n2', 'n3']) backend.positions.set(member, healthy(member));
  const admin = new AdminService(() => backend, logger);
  const tokens = new AdminTokens([
    { name: 'ops', sha256: tokenSha256(OPS_TOKEN) },
    { name: 'ci', sha256: tokenSha256(CI_TOKEN) },
  ]);
  const tls = secure ? mutualTlsCredentials({ caFile: pki.ca.caCertPath, certFile: pki.n1.certPath, keyFile: pki.n1.keyPath }, { tokens, logger }) : insecureCredentials();
  const delivered: Message[] = [];
  const positionsAnswered = { count: 0 };
  const transport = await GrpcTransport.start({
    nodeId: 'n1',
    clusterName: CLUSTER,
    bindAddress: '127.0.0.1:0',
    peers: new Map([['n2', '127.0.0.1:1']]),
    onMessage: (message) => delivered.push(message),
    onPositionRequest: () => {
      positionsAnswered.count += 1;
      return { healthy: true, timeline: 1, receiveLsn: '0/3000000', role: 'replica' };
    },
    logger,
    serverCredentials: tls.server,
    channelCredentials: tls.channel,
    services: [admin.registration()],
  });
  t.teardown(() => transport.stop());
  return { address: transport.boundAddress, backend, logs, delivered, positionsAnswered };
}

async function connect(t: ExecutionContext, options: AdminConnectOptions): Promise<AdminClient> {
  const client = await AdminClient.connect(options);
  t.teardown(() => client.close());
  return client;
}

const ca = (): string => pki.ca.caCertPath;
const n2Files = () => ({ caFile: pki.ca.caCertPath, certFile: pki.n2.certPath, keyFile: pki.n2.keyPath });

/** A raw client: TLS verifying the server, optionally with a client certificate and a bearer token (or any authorization value). */
function rawClient(t: ExecutionContext, address: string, options: { certificate?: 'n2' | 'stranger'; authorization?: string } = {}): Client {
  const caPem = readFileSync(pki.ca.caCertPath);
  const pair = options.certificate === undefined ? undefined : pki[options.certificate];
  let credentials = pair === undefined ? ChannelCredentials.createSsl(caPem) : ChannelCredentials.createSsl(caPem, readFileSync(pair.keyPath), readFileSync(pair.certPath));
  const authorization = options.authorization;
  if (authorization !== undefined) {
    credentials = credentials.compose(
      CallCredentials.createFromMetadataGenerator((_params, callback) => {
        const metadata = new Metadata();
        metadata.set('authorization', authorization);
        callback(null, metadata);
      }),
    );
  }
  const client = new Client(address, credentials, { 'grpc.use_local_subchannel_pool': 1 });
  t.teardown(() => client.close());
  return client;
}

function getPosition(client: Client): Promise<{ error: ServiceError | null; role?: string }> {
  const method = raftPeerDefinition().getPosition;
  return new Promise((resolve) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { cluster_name: CLUSTER, from: 'n2', to: 'n1' }, new Metadata(), { deadline: Date.now() + 5_000 }, (error, response) =>
      resolve(error ? { error } : { error: null, role: response!.role }),
    );
  });
}

function clusterStatus(client: Client, metadata = new Metadata()): Promise<ServiceError | null> {
  const method = adminDefinition().clusterStatus;
  return new Promise((resolve) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { local: true }, metadata, { deadline: Date.now() + 5_000 }, (error) => resolve(error));
  });
}

test('a cluster-CA certificate opens the admin service; the action records the certificate name', async (t) => {
  const { address, backend, logs } = await serve(t);
  const client = await connect(t, { endpoint: address, ...n2Files() });
  const paused = await client.pause({ by: 'alice' });
  t.is(paused.by, 'alice (certificate n2)');
  t.like(backend.local().pause, { paused: true, by: 'alice (certificate n2)' });
  t.like(logs.find((l) => l.event === 'admin.pause')?.fields, { outcome: 'ok', certificate: 'n2', by: 'alice (certificate n2)' });
});

test('a valid bearer token without a client certificate opens the admin service; the action records the token name', async (t) => {
  const { address, backend, logs } = await serve(t);
  const client = await connect(t, { endpoint: address, caFile: ca(), token: CI_TOKEN });
  t.is((await client.clusterStatus()).clusterName, CLUSTER);
  const paused = await client.pause();
  t.regex(paused.by ?? '', /^pgherdctl@.*127\.0\.0\.1.* \(token ci\)$/);
  t.is(backend.local().pause.by, paused.by);
  const line = logs.find((l) => l.event === 'admin.pause');
  t.like(line?.fields, { outcome: 'ok', token: 'ci' });
  t.false('certificate' in (line?.fields ?? {}), 'a token caller is not logged as a certificate');
  t.false(JSON.stringify(logs).includes(CI_TOKEN), 'the token itself is never logged');
});

test('a token beside a certificate names the token holder; a wrong token is refused even beside a valid certificate', async (t) => {
  const { address, backend } = await serve(t);
  const both = await connect(t, { endpoint: address, ...n2Files(), token: OPS_TOKEN });
  t.is((await both.pause({ by: 'bob' })).by, 'bob (token ops)');
  const error = await t.throwsAsync(AdminClient.connect({ endpoint: address, ...n2Files(), token: `${OPS_TOKEN}x` }), { instanceOf: AdminCallError });
  t.is(error.status, 'UNAUTHENTICATED');
  t.is(backend.proposed.length, 1, 'only the first pause was proposed');
});

test('a wrong bearer token: UNAUTHENTICATED saying so, nothing proposed, one warning without the token', async (t) => {
  const { address, backend, logs } = await serve(t);
  const error = await t.throwsAsync(AdminClient.connect({ endpoints: [address, '127.0.0.1:1'], caFile: ca(), token: 'not-a-configured-token' }), { instanceOf: AdminCallError });
  t.is(error.status, 'UNAUTHENTICATED');
  t.is(error.endpoint, address, 'a refusal of the credentials is final: the next endpoint is not tried');
  t.regex(error.details, /the bearer token matches no admin\.tokens entry/);
  // The same through a raw client, for an action: the handler never runs.
  t.is((await clusterStatus(rawClient(t, address, { authorization: `Bearer ${OPS_TOKEN.toUpperCase()}` })))?.code, Status.UNAUTHENTICATED);
  t.is(backend.proposed.length, 0);
  t.false(logs.some((l) => l.event.startsWith('admin.')), 'no admin handler ran');
  const warnings = logs.filter((l) => l.event === 'grpc.unauthenticated');
  t.true(warnings.length >= 1);
  t.like(warnings[0]?.fields, { component: 'grpc-auth', method: '/pgherd.admin.v1.Admin/ClusterStatus' });
  t.false(JSON.stringify(logs).includes('not-a-configured-token'));
});

test('no credentials at all, or a malformed authorization header: UNAUTHENTICATED saying what is needed', async (t) => {
  const { address } = await serve(t);
  const none = await clusterStatus(rawClient(t, address));
  t.is(none?.code, Status.UNAUTHENTICATED);
  t.regex(none?.details ?? '', /admin calls need a client certificate of the cluster CA or a bearer token/);
  for (const value of ['Basic b3BzOnNlY3JldA==', 'Bearer', `Bearer ${OPS_TOKEN} extra`]) {
    const malformed = await clusterStatus(rawClient(t, address, { authorization: value }));
    t.is(malformed?.code, Status.UNAUTHENTICATED, value);
    t.regex(malformed?.details ?? '', /expected "authorization: Bearer <token>"/, value);
  }
});

test('a client certificate of another CA is refused: UNAUTHENTICATED, by the admin service and by the Raft service', async (t) => {
  const { address, positionsAnswered } = await serve(t);
  const error = await t.throwsAsync(AdminClient.connect({ endpoint: address, caFile: ca(), certFile: pki.stranger.certPath, keyFile: pki.stranger.keyPath }), { instanceOf: AdminCallError });
  t.is(error.status, 'UNAUTHENTICATED');
  t.regex(error.details, /certificate was not issued by the cluster CA/);
  t.is((await getPosition(rawClient(t, address, { certificate: 'stranger' }))).error?.code, Status.UNAUTHENTICATED);
  t.is(positionsAnswered.count, 0);
});

test('a bearer token never opens the Raft peer service; a cluster-CA certificate does', async (t) => {
  const { address, delivered, positionsAnswered } = await serve(t);
  const withToken = rawClient(t, address, { authorization: `Bearer ${OPS_TOKEN}` });
  const refused = await getPosition(withToken);
  t.is(refused.error?.code, Status.UNAUTHENTICATED);
  t.regex(refused.error?.details ?? '', /pgherd\.raft\.v1\.RaftPeer requires a client certificate of the cluster CA .*a bearer token is not accepted here/);
  // The message stream too: nothing reaches the Raft node.
  const send = raftPeerDefinition().send;
  const streamError = await new Promise<ServiceError | null>((resolve) => {
    const call = withToken.makeClientStreamRequest(send.path, send.requestSerialize, send.responseDeserialize, new Metadata(), { deadline: Date.now() + 5_000 }, (error) => resolve(error));
    call.end();
  });
  t.is(streamError?.code, Status.UNAUTHENTICATED);
  t.is(positionsAnswered.count, 0);
  t.deepEqual(delivered, []);
  // The same call with n2's certificate is answered by the peer service itself.
  const answered = await getPosition(rawClient(t, address, { certificate: 'n2' }));
  t.is(answered.error, null);
  t.is(answered.role, 'replica');
  t.is(positionsAnswered.count, 1);
});

test('a caller cannot claim an identity: its own pgherd-caller metadata is replaced (TLS) or dropped (plain text)', async (t) => {
  const forged = (): Metadata => {
    const metadata = new Metadata();
    metadata.set(CALLER_METADATA_KEY, 'token root');
    return metadata;
  };
  const pause = adminDefinition().pause;
  const pauseWith = (client: Client): Promise<string> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(pause.path, pause.requestSerialize, pause.responseDeserialize, { by: 'mallory' }, forged(), { deadline: Date.now() + 5_000 }, (error, response) =>
        error ? reject(error) : resolve(response!.pause!.by),
      );
    });
  const secure = await serve(t);
  t.is(await pauseWith(rawClient(t, secure.address, { certificate: 'n2' })), 'mallory (certificate n2)');
  // No certificate, no token, only the forged key: still refused.
  t.is((await clusterStatus(rawClient(t, secure.address), forged()))?.code, Status.UNAUTHENTICATED);
  const plain = await serve(t, false);
  const plainClient = new Client(plain.address, ChannelCredentials.createInsecure());
  t.teardown(() => plainClient.close());
  t.is(await pauseWith(plainClient), 'mallory', 'tls.insecure: nothing verified, nothing claimed');
});

test('the client refuses to send a token in plain text, or without a CA to verify the agent', async (t) => {
  for (const [options, key] of [
    [{ endpoint: '127.0.0.1:1', insecure: true, token: OPS_TOKEN }, 'token'],
    [{ endpoint: '127.0.0.1:1', token: OPS_TOKEN }, 'caFile'],
    [{ endpoint: '127.0.0.1:1', caFile: ca(), certFile: pki.n2.certPath, token: OPS_TOKEN }, 'keyFile'],
    [{ endpoint: '127.0.0.1:1', caFile: ca(), token: 'with space' }, 'token'],
  ] as const) {
    const error = await t.throwsAsync(AdminClient.connect(options));
    t.is((error as { key?: string }).key, key, JSON.stringify(options));
  }
});
