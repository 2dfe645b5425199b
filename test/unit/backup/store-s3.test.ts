/**
 * What only the S3 store can show: what goes over the wire (single PUT or
 * multipart, encryption headers, no aws-chunked bodies, delete batches),
 * prefixes, and how failures of credentials, servers and networks map to
 * StoreError reasons. The shared contract is in store-contract.test.ts.
 *
 * s3rver checks the access key id but not signatures, so "wrong credentials"
 * is an unknown key id there (403 InvalidAccessKeyId). S3's own AccessDenied,
 * server errors and per-key delete errors come from a small fake server on
 * 127.0.0.1 answering with real S3 XML errors.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CredentialsProviderError } from '@smithy/core/config';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { openStore } from '../../../src/backup/open-store.js';
import { S3Store, type S3StoreSettings } from '../../../src/backup/store-s3.js';
import { StoreError, type ObjectStore, type StoreErrorReason } from '../../../src/backup/store.js';
import { s3TestSettings, startS3rver, type S3rverHandle } from '../../helpers/s3rver.js';

const MIB = 1024 * 1024;
const ACCESS_REMEDY = 'default provider chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile, instance role';

let s3: S3rverHandle | undefined;
test.before(async () => {
  s3 = await startS3rver();
});
test.after.always(async () => {
  await s3?.close();
});

let prefixCount = 0;
function uniquePrefix(): string {
  return `s${++prefixCount}`;
}

function open(t: ExecutionContext, settings: S3StoreSettings, credentials?: ConstructorParameters<typeof S3Store>[1]): ObjectStore {
  const store = new S3Store(settings, credentials);
  t.teardown(() => store.close());
  return store;
}

interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** An HTTP server on 127.0.0.1 that records every request and lets `handle` answer it. */
async function startServer(t: ExecutionContext, handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ endpoint: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => closeServer(server));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A recording proxy in front of s3rver: the real protocol, and a record of what was sent. */
function startProxy(t: ExecutionContext): Promise<{ endpoint: string; requests: Recorded[] }> {
  return startServer(t, (req, res) => {
    const upstream = request(`${s3!.endpoint}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
}

/** A fake S3 that answers every request with the S3 error `code` and HTTP `status` (bodiless for HEAD, as S3 does). */
function startErrorServer(t: ExecutionContext, status: number, code: string): Promise<{ endpoint: string; requests: Recorded[] }> {
  return startServer(t, (req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'test' });
    if (req.method === 'HEAD') res.end();
    else res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code} (fake server)</Message><RequestId>test</RequestId></Error>`);
  });
}

async function rejectsWith(t: ExecutionContext, promise: Promise<unknown>, reason: StoreErrorReason, mentions: string[] = []): Promise<StoreError> {
  const error = await t.throwsAsync(promise, { instanceOf: StoreError });
  t.is(error?.reason, reason, error?.message);
  for (const m of mentions) t.true(error?.message.includes(m), `"${error?.message}" should mention ${m}`);
  return error!;
}

async function keys(store: ObjectStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list(prefix)) out.push(info.key);
  return out;
}

function streamOf(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += MIB) yield data.subarray(at, at + MIB);
    })(),
  );
}

/** "PUT ?partNumber&uploadId" — the method and the query parameter names of a request, enough to tell S3 operations apart. */
function operation(r: Recorded): string {
  const query = new URL(r.url, 'http://x').searchParams;
  const names = [...new Set(query.keys())].filter((n) => n !== 'x-id').sort();
  return `${r.method}${names.length > 0 ? ` ?${names.join('&')}` : ''}`;
}

test('on the wire: a body that fits one 16 MiB part is one PutObject, larger ones multipart, all with the SSE header and none aws-chunked', async (t) => {
  const proxy = await startProxy(t);
  const store = open(t, { ...s3TestSettings(proxy.endpoint, s3!.bucket, uniquePrefix()), sse: 'AES256' });
  await store.put('c/small', Buffer.alloc(16 * MIB, 1), { metadata: { sha256: 'abc' } });
  t.deepEqual(proxy.requests.map(operation), ['PUT']);
  t.is(proxy.requests[0]!.headers['x-amz-server-side-encryption'], 'AES256');
  t.is(proxy.requests[0]!.headers['x-amz-meta-sha256'], 'abc');
  await store.put('c/stream-small', streamOf(Buffer.alloc(16 * MIB - 1, 2)));
  t.deepEqual(proxy.requests.map(operation), ['PUT', 'PUT'], 'a stream that fits one part is one PutObject too');
  proxy.requests.length = 0;
  await store.put('c/stream-large', streamOf(Buffer.alloc(20 * MIB, 3)));
  await store.put('c/buffer-large', Buffer.alloc(17 * MIB, 4));
  const multipart = ['POST ?uploads', 'PUT ?partNumber&uploadId', 'PUT ?partNumber&uploadId', 'POST ?uploadId'];
  t.deepEqual(proxy.requests.map(operation), [...multipart, ...multipart]);
  const all = proxy.requests;
  t.true(all.filter((r) => operation(r) === 'POST ?uploads').every((r) => r.headers['x-amz-server-side-encryption'] === 'AES256'));
  for (const r of all) {
    t.not(r.headers['content-encoding'], 'aws-chunked', `${operation(r)} must not be aws-chunked`);
    t.false(String(r.headers['x-amz-content-sha256']).startsWith('STREAMING-'), `${operation(r)}: ${r.headers['x-amz-content-sha256']}`);
  }
  t.is((await store.head('c/stream-large'))?.size, 20 * MIB);
  t.true((await store.getBuffer('c/buffer-large')).equals(Buffer.alloc(17 * MIB, 4)));
});

test('on the wire: the SSE setting decides the encryption headers', async (t) => {
  const proxy = await startProxy(t);
  const prefix = uniquePrefix();
  await open(t, { ...s3TestSettings(proxy.endpoint, s3!.bucket, prefix), sse: 'AES256' }).put('a', Buffer.from('x'));
  await open(t, { ...s3TestSettings(proxy.endpoint, s3!.bucket, prefix), sse: 'aws:kms', sseKmsKeyId: 'arn:aws:kms:us-east-1:1:key/k' }).put('b', Buffer.from('x'));
  await open(t, { ...s3TestSettings(proxy.endpoint, s3!.bucket, prefix), sse: 'aws:kms' }).put('c', Buffer.from('x'));
  await open(t, { ...s3TestSettings(proxy.endpoint, s3!.bucket, prefix), sse: 'none' }).put('d', Buffer.from('x'));
  const headers = proxy.requests.map((r) => [r.headers['x-amz-server-side-encryption'], r.headers['x-amz-server-side-encryption-aws-kms-key-id']]);
  t.deepEqual(headers, [
    ['AES256', undefined],
    ['aws:kms', 'arn:aws:kms:us-east-1:1:key/k'],
    ['aws:kms', undefined],
    [undefined, undefined],
  ]);
});

test('on the wire: delete sends DeleteObjects in batches of at most 1000 keys', async (t) => {
  const proxy = await startProxy(t);
  const store = open(t, s3TestSettings(proxy.endpoint, s3!.bucket, uniquePrefix()));
  // Absent keys cost nothing to set up and are deleted all the same.
  await store.delete(Array.from({ length: 2001 }, (_, i) => `c/wal/${i}`));
  t.deepEqual(proxy.requests.map(operation), ['POST ?delete', 'POST ?delete', 'POST ?delete']);
});

test('on the wire: a multipart upload whose body fails is aborted, and nothing appears', async (t) => {
  const proxy = await startProxy(t);
  const store = open(t, s3TestSettings(proxy.endpoint, s3!.bucket, uniquePrefix()));
  const failing = Readable.from(
    (async function* () {
      for (let i = 0; i < 20; i++) yield Buffer.alloc(MIB, 5);
      throw new Error('source read failed (test)');
    })(),
  );
  await rejectsWith(t, store.put('c/base', failing), 'UNAVAILABLE', ['c/base', 'reading the body failed: source read failed']);
  const ops = proxy.requests.map(operation);
  t.is(ops[0], 'POST ?uploads');
  t.true(ops.includes('DELETE ?uploadId'), `AbortMultipartUpload expected in ${ops.join(', ')}`);
  t.false(ops.includes('POST ?uploadId'), 'never completed');
  t.is(await store.head('c/base'), undefined);
});

test('prefixes keep stores apart: "p" sees neither "px/…" nor "pz-outside" beside it', async (t) => {
  const base = uniquePrefix();
  const root = open(t, s3TestSettings(s3!.endpoint, s3!.bucket, ''));
  const p = open(t, s3TestSettings(s3!.endpoint, s3!.bucket, `${base}/p`));
  const px = open(t, s3TestSettings(s3!.endpoint, s3!.bucket, `${base}/px`));
  await p.put('k', Buffer.from('in p'));
  await px.put('k', Buffer.from('in px'));
  await root.put(`${base}/pz-outside`, Buffer.from('outside'));
  t.deepEqual(await keys(p), ['k']);
  t.deepEqual(await keys(px), ['k']);
  t.is((await p.getBuffer('k')).toString(), 'in p');
  t.deepEqual(await keys(root, `${base}/`), [`${base}/p/k`, `${base}/px/k`, `${base}/pz-outside`]);
  t.is(p.description, `s3://${s3!.bucket}/${base}/p (${s3!.endpoint})`);
  await p.delete(['k']);
  t.is((await px.getBuffer('k')).toString(), 'in px');
});

test('list skips objects under the prefix whose names are not keys', async (t) => {
  const prefix = uniquePrefix();
  const store = open(t, s3TestSettings(s3!.endpoint, s3!.bucket, prefix));
  const raw = new S3Client({ region: 'us-east-1', endpoint: s3!.endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  t.teardown(() => raw.destroy());
  // ("a//b" would be another such name, but s3rver cannot store it.)
  for (const key of ['with space', '.hidden', 'c/.tmp', 'c/x y', 'ok']) {
    await raw.send(new PutObjectCommand({ Bucket: s3!.bucket, Key: `${prefix}/${key}`, Body: 'x' }));
  }
  t.deepEqual(await keys(store), ['ok']);
});

test('an access key the server does not know: ACCESS_DENIED from every operation, with the remedy', async (t) => {
  const store = open(t, s3TestSettings(s3!.endpoint, s3!.bucket, uniquePrefix()), { credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'wrong' } });
  const error = await rejectsWith(t, store.check('probe'), 'ACCESS_DENIED', [s3!.bucket, s3!.endpoint, ACCESS_REMEDY, 'HTTP 403']);
  t.is(error.code, 'PGHERD_STORE_ACCESS_DENIED');
  await rejectsWith(t, store.put('c/x', Buffer.from('x')), 'ACCESS_DENIED', ['c/x', 'InvalidAccessKeyId']);
  await rejectsWith(t, store.put('c/x', streamOf(Buffer.alloc(10))), 'ACCESS_DENIED', ['c/x']);
  await rejectsWith(t, store.getBuffer('c/x'), 'ACCESS_DENIED', ['c/x']);
  await rejectsWith(t, store.get('c/x'), 'ACCESS_DENIED', ['c/x']);
  await rejectsWith(t, store.head('c/x'), 'ACCESS_DENIED', ['c/x', 'HTTP 403']);
  await rejectsWith(t, keys(store), 'ACCESS_DENIED', ['InvalidAccessKeyId']);
  await rejectsWith(t, store.delete(['c/x']), 'ACCESS_DENIED', ['c/x']);
});

test('no credentials anywhere in the provider chain: ACCESS_DENIED naming the chain', async (t) => {
  const noCredentials = async (): Promise<never> => {
    throw new CredentialsProviderError('Could not load credentials from any providers', { tryNextLink: false });
  };
  const store = open(t, s3TestSettings(s3!.endpoint, s3!.bucket, uniquePrefix()), { credentials: noCredentials });
  await rejectsWith(t, store.check('probe'), 'ACCESS_DENIED', ['CredentialsProviderError', 'Could not load credentials', ACCESS_REMEDY]);
  await rejectsWith(t, store.put('c/x', Buffer.from('x')), 'ACCESS_DENIED', ['c/x']);
});

test("S3's AccessDenied, with and without a body (HEAD), is ACCESS_DENIED", async (t) => {
  const fake = await startErrorServer(t, 403, 'AccessDenied');
  const store = open(t, s3TestSettings(fake.endpoint, 'bucket', 'p'));
  await rejectsWith(t, store.check('probe'), 'ACCESS_DENIED', ['s3://bucket/p', fake.endpoint, 'HTTP 403']);
  await rejectsWith(t, store.put('c/x', Buffer.from('x')), 'ACCESS_DENIED', ['c/x', 'AccessDenied', ACCESS_REMEDY]);
  await rejectsWith(t, store.head('c/x'), 'ACCESS_DENIED', ['c/x']);
  await rejectsWith(t, keys(store), 'ACCESS_DENIED', ['AccessDenied']);
});

test('a server error is retried (3 attempts in all), then UNAVAILABLE naming the error', async (t) => {
  const fake = await startErrorServer(t, 500, 'InternalError');
  const store = open(t, s3TestSettings(fake.endpoint, 'bucket', 'p'));
  await rejectsWith(t, store.getBuffer('c/x'), 'UNAVAILABLE', ['c/x', 'InternalError', 'HTTP 500', fake.endpoint]);
  t.is(fake.requests.length, 3);
});

test('a per-key failure inside DeleteObjects is an error naming the first failed key', async (t) => {
  let code = 'InternalError';
  const fake = await startServer(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult><Deleted><Key>p/c/ok</Key></Deleted>` +
        `<Error><Key>p/c/bad1</Key><Code>${code}</Code><Message>could not delete</Message></Error>` +
        `<Error><Key>p/c/bad2</Key><Code>${code}</Code><Message>could not delete</Message></Error></DeleteResult>`,
    );
  });
  const store = open(t, s3TestSettings(fake.endpoint, 'bucket', 'p'));
  const error = await rejectsWith(t, store.delete(['c/ok', 'c/bad1', 'c/bad2']), 'UNAVAILABLE', ['delete c/bad1', 'InternalError', '2 of 3']);
  t.is(error.key, 'c/bad1');
  code = 'AccessDenied';
  await rejectsWith(t, store.delete(['c/ok', 'c/bad1', 'c/bad2']), 'ACCESS_DENIED', ['c/bad1', ACCESS_REMEDY]);
});

test('a dead endpoint fails fast with UNAVAILABLE naming it', async (t) => {
  // A port that was free a moment ago: nothing listens, connections are refused.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dead = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await closeServer(server);
  const store = open(t, s3TestSettings(dead, 'bucket', 'p'));
  const started = performance.now();
  await rejectsWith(t, store.check('probe'), 'UNAVAILABLE', [dead, 'ECONNREFUSED']);
  await rejectsWith(t, store.put('c/x', Buffer.from('x')), 'UNAVAILABLE', ['c/x', 'ECONNREFUSED']);
  const elapsedMs = performance.now() - started;
  t.true(elapsedMs < 5_000, `took ${Math.round(elapsedMs)} ms`);
});

test.serial('without a region in the settings, AWS_REGION or a profile, the store falls back to us-east-1', async (t) => {
  const saved = { region: process.env.AWS_REGION, configFile: process.env.AWS_CONFIG_FILE };
  delete process.env.AWS_REGION;
  process.env.AWS_CONFIG_FILE = '/nonexistent/pgherd-test-aws-config';
  t.teardown(() => {
    process.env.AWS_REGION = saved.region;
    if (saved.configFile === undefined) delete process.env.AWS_CONFIG_FILE;
    else process.env.AWS_CONFIG_FILE = saved.configFile;
  });
  const settings = s3TestSettings(s3!.endpoint, s3!.bucket, uniquePrefix());
  t.is(settings.region, undefined);
  const store = openStore(settings);
  t.teardown(() => store.close());
  await store.check('probe');
  await store.put('x', Buffer.from('x'));
  t.deepEqual(await keys(store), ['x']);
});
