import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { loadConfig, NODE_REGION_CONFIG_FILE_OPTIONS, NODE_REGION_CONFIG_OPTIONS } from '@smithy/core/config';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Readable } from 'node:stream';
import { assert } from '../lib/assert.js';
import { bodyFailed, checkBufferLength, discardBody, mapStreamErrors, watchBody, withLengthCheck } from './body.js';
import { probeRoundTrip } from './probe.js';
import { describeS3Error, classifyS3Error, s3Failure, s3StoreError } from './s3-errors.js';
import { isValidKey, StoreError, validateKey, validateMetadata, validatePrefix, type ObjectInfo, type ObjectStore, type PutOptions } from './store.js';

export interface S3StoreSettings {
  readonly bucket: string;
  /** '' or a key-like path without leading or trailing "/": object keys become "<prefix>/<key>". */
  readonly prefix: string;
  /** When absent: AWS_REGION or the profile's region, else FALLBACK_REGION. */
  readonly region?: string;
  /** An S3-compatible server (MinIO, s3rver, ...); absent for AWS. */
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  /** Server-side encryption requested on every put ('none' for servers that refuse the header). */
  readonly sse: 'AES256' | 'aws:kms' | 'none';
  /** With sse 'aws:kms': the key; absent means the bucket's AWS-managed key. */
  readonly sseKmsKeyId?: string;
}

/**
 * Not configuration: the agent always uses the SDK's default credential
 * provider chain. Tests inject credentials (wrong ones, or none) here.
 */
export interface S3StoreOptions {
  readonly credentials?: S3ClientConfig['credentials'];
}

const MIB = 1024 * 1024;
/**
 * Multipart part size. A body that fits in one part (a Buffer up to this
 * size, or a stream that ends before it) goes in a single PutObject. S3
 * allows 10,000 parts, so a stream of unknown length can be at most
 * ~156 GiB; with contentLength the part size grows to fit.
 */
const PART_BYTES = 16 * MIB;
const S3_PARTS_MAX = 10_000;
const S3_PART_BYTES_MIN = 5 * MIB;
/** Parts uploaded at once per put(): bounds the memory of one put() to PART_BYTES × this. */
const PARTS_IN_FLIGHT_MAX = 4;
/** S3's limit of keys per DeleteObjects. */
const DELETE_BATCH_KEYS_MAX = 1000;
/** Attempts per request (the SDK retries throttling, 5xx and network errors with backoff). */
const ATTEMPTS_MAX = 3;
/** A dead or unreachable endpoint fails within this, per attempt. */
const CONNECT_TIMEOUT_MS = 3_000;
/** A connection on which nothing moves for this long (server hung mid-request or mid-body) fails. */
const SOCKET_IDLE_TIMEOUT_MS = 30_000;
/** The SDK's usual default; only used when neither settings, AWS_REGION nor the profile name a region. */
export const FALLBACK_REGION = 'us-east-1';

assert(PART_BYTES >= S3_PART_BYTES_MIN, 'S3 parts must be at least 5 MiB');

/**
 * The object store in an S3 bucket (or an S3-compatible server), through
 * @aws-sdk/client-s3. Credentials come from the default AWS provider chain
 * (environment, profile, container or instance role). On Node 20 the SDK
 * prints a deprecation warning at start; the agent's environment sets
 * AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true to silence it
 * (library code does not touch process.env).
 *
 * Checksums are computed only where S3 requires them: with the SDK's newer
 * default, streamed uploads are sent aws-chunked with trailing checksums,
 * which S3-compatible servers (s3rver, older MinIO) store corrupted.
 */
export class S3Store implements ObjectStore {
  readonly description: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly encryption: Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId'>;

  constructor(settings: S3StoreSettings, options: S3StoreOptions = {}) {
    assert(settings.bucket !== '', 'S3 bucket must not be empty');
    assert(settings.region !== '' && settings.endpoint !== '', 'S3 region and endpoint are absent or non-empty');
    if (settings.prefix !== '') validateKey(settings.prefix, 'S3 prefix');
    assert(settings.sseKmsKeyId === undefined || settings.sse === 'aws:kms', 'sseKmsKeyId is only meaningful with sse aws:kms');
    this.bucket = settings.bucket;
    this.prefix = settings.prefix === '' ? '' : `${settings.prefix}/`;
    this.description = `s3://${settings.bucket}${settings.prefix === '' ? '' : `/${settings.prefix}`}${settings.endpoint === undefined ? '' : ` (${settings.endpoint})`}`;
    this.encryption = settings.sse === 'none' ? {} : { ServerSideEncryption: settings.sse, ...(settings.sseKmsKeyId === undefined ? {} : { SSEKMSKeyId: settings.sseKmsKeyId }) };
    this.client = new S3Client({
      region: settings.region ?? regionOrFallback(),
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
      forcePathStyle: settings.forcePathStyle,
      // With the fallback region, a bucket elsewhere answers 301; follow it instead of failing.
      followRegionRedirects: true,
      maxAttempts: ATTEMPTS_MAX,
      requestHandler: new NodeHttpHandler({ connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: SOCKET_IDLE_TIMEOUT_MS }),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    });
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<void> {
    validateKey(key);
    if (options.metadata !== undefined) validateMetadata(options.metadata);
    const metadata = options.metadata === undefined || Object.keys(options.metadata).length === 0 ? {} : { Metadata: { ...options.metadata } };
    const params: PutObjectCommandInput = { Bucket: this.bucket, Key: this.prefix + key, ...metadata, ...this.encryption };
    let bodyError = (): unknown => undefined;
    try {
      if (Buffer.isBuffer(body)) {
        if (options.contentLength !== undefined) checkBufferLength(body, options.contentLength);
        if (body.length <= PART_BYTES) await this.client.send(new PutObjectCommand({ ...params, Body: body }));
        else await this.upload(params, body, body.length);
      } else {
        const checked = options.contentLength === undefined ? body : withLengthCheck(body, options.contentLength);
        bodyError = watchBody(checked);
        await this.upload(params, checked, options.contentLength);
      }
    } catch (error) {
      discardBody(body);
      const failed = bodyError();
      throw failed === undefined ? s3Failure(this.description, 'put', key, error) : bodyFailed(this.description, key, failed, error);
    }
  }

  async get(key: string): Promise<Readable> {
    validateKey(key);
    const body = await this.getBody('get', key);
    return mapStreamErrors(body, (error) => s3Failure(this.description, 'get', key, error));
  }

  async getBuffer(key: string): Promise<Buffer> {
    validateKey(key);
    const body = await this.getBody('getBuffer', key);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of body) chunks.push(chunk as Buffer);
    } catch (error) {
      throw s3Failure(this.description, 'getBuffer', key, error);
    }
    return Buffer.concat(chunks);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    validateKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      if (out.ContentLength === undefined || out.LastModified === undefined) {
        throw new StoreError('UNAVAILABLE', `${this.description}: head ${key}: the response lacks Content-Length or Last-Modified`, { key });
      }
      return { key, size: out.ContentLength, modified: out.LastModified, metadata: out.Metadata ?? {} };
    } catch (error) {
      const { name, status } = describeS3Error(error);
      if (!(error instanceof StoreError) && classifyS3Error('head', name, status) === 'NOT_FOUND') return undefined;
      throw s3Failure(this.description, 'head', key, error);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.prefix + prefix })[Symbol.asyncIterator]();
    for (;;) {
      let page: Awaited<ReturnType<typeof pages.next>>;
      try {
        page = await pages.next();
      } catch (error) {
        throw s3Failure(this.description, 'list', undefined, error, prefix === '' ? '(everything)' : prefix);
      }
      if (page.done === true) return;
      for (const object of page.value.Contents ?? []) {
        const key = (object.Key ?? '').slice(this.prefix.length);
        // Objects other tools put under the prefix whose names are not keys are not ours to list.
        if (!isValidKey(key)) continue;
        yield { key, size: object.Size ?? 0, modified: object.LastModified ?? new Date(0), metadata: {} };
      }
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) validateKey(key);
    const unique = [...new Set(keys)];
    for (let start = 0; start < unique.length; start += DELETE_BATCH_KEYS_MAX) {
      await this.deleteBatch(unique.slice(start, start + DELETE_BATCH_KEYS_MAX));
    }
  }

  async check(probeKey: string): Promise<void> {
    validateKey(probeKey, 'probe key');
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      throw s3Failure(this.description, 'check', undefined, error, `bucket ${this.bucket}`);
    }
    await probeRoundTrip(this, probeKey);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private async upload(params: PutObjectCommandInput, body: Buffer | Readable, contentLength: number | undefined): Promise<void> {
    const partSize = contentLength === undefined ? PART_BYTES : Math.max(PART_BYTES, Math.ceil(contentLength / S3_PARTS_MAX));
    // leavePartsOnError false (the default): a failed multipart upload is aborted, so no parts linger and no object appears.
    const upload = new Upload({ client: this.client, params: { ...params, Body: body }, partSize, queueSize: PARTS_IN_FLIGHT_MAX });
    await upload.done();
  }

  private async getBody(op: string, key: string): Promise<Readable> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      if (!(out.Body instanceof Readable)) throw new StoreError('UNAVAILABLE', `${this.description}: ${op} ${key}: the SDK returned no Node.js stream body`, { key });
      return out.Body;
    } catch (error) {
      throw s3Failure(this.description, op, key, error);
    }
  }

  /** One DeleteObjects call; S3 reports per-key failures in the answer, not as an error. */
  private async deleteBatch(batch: readonly string[]): Promise<void> {
    const subject = batch.length === 1 ? batch[0] : `${batch.length} keys (${batch[0]} … ${batch[batch.length - 1]})`;
    let errors;
    try {
      const out = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((key) => ({ Key: this.prefix + key })), Quiet: true } }),
      );
      errors = out.Errors ?? [];
    } catch (error) {
      throw s3Failure(this.description, 'delete', batch.length === 1 ? batch[0] : undefined, error, subject);
    }
    const first = errors[0];
    if (first === undefined) return;
    const key = (first.Key ?? '').slice(this.prefix.length);
    const reason = classifyS3Error('delete', first.Code ?? 'Unknown', undefined);
    throw s3StoreError(reason, `${this.description}: delete ${key}: ${first.Code ?? 'Unknown'}: ${first.Message ?? '(no message)'} (${errors.length} of ${batch.length} keys in the batch not deleted)`, key);
  }
}

/** The default chain's region (AWS_REGION, then the profile), or FALLBACK_REGION when it names none. */
function regionOrFallback(): () => Promise<string> {
  const fromChain = loadConfig(NODE_REGION_CONFIG_OPTIONS, NODE_REGION_CONFIG_FILE_OPTIONS);
  return () => fromChain().catch(() => FALLBACK_REGION);
}
