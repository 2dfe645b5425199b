import { StoreError, type StoreErrorReason } from './store.js';

/*
 * AWS SDK errors → StoreError. The SDK names an error after the S3 error code
 * in the response body ("NoSuchKey", "AccessDenied"); responses without a
 * body (HEAD) get a name from the HTTP status only ("NotFound", or
 * "Forbidden"/"Unknown" for 403), so the status decides those.
 */

/** S3 error codes (and SDK error names) that mean the credentials are missing, wrong, or not allowed. */
const ACCESS_DENIED_NAMES = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'Forbidden',
  'CredentialsProviderError',
]);

export const NO_SUCH_BUCKET_REMEDY = 'create the bucket or fix backup.store.bucket';
export const ACCESS_DENIED_REMEDY =
  'check the AWS credentials (default provider chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile, instance role) and that they may list, read, write and delete there';

/**
 * The reason for an S3 error `name` (an SDK error name, or a per-key Code of
 * DeleteObjects) with HTTP `status`. `op` 'check' is HeadBucket, whose bare
 * 404 means the bucket is missing rather than a key.
 */
export function classifyS3Error(op: string, name: string, status: number | undefined): StoreErrorReason {
  if (name === 'NoSuchBucket') return 'NO_SUCH_BUCKET';
  if (op === 'check' && (name === 'NotFound' || status === 404)) return 'NO_SUCH_BUCKET';
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return 'NOT_FOUND';
  if (ACCESS_DENIED_NAMES.has(name) || status === 403) return 'ACCESS_DENIED';
  return 'UNAVAILABLE';
}

/** What an error says about itself: "Name (HTTP 403, ECONNREFUSED): message". */
export function describeS3Error(error: unknown): { name: string; status: number | undefined; text: string } {
  const e = error as { name?: unknown; message?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  const status = e?.$metadata?.httpStatusCode;
  let message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(error);
  // The SDK's placeholder when the response had no error body (every HEAD).
  if (message === 'UnknownError') message = 'no error details (the response had no body)';
  const details = [status === undefined ? undefined : `HTTP ${status}`, typeof e?.code === 'string' ? e.code : undefined].filter((d) => d !== undefined);
  return { name, status, text: `${name}${details.length > 0 ? ` (${details.join(', ')})` : ''}: ${message}` };
}

/**
 * A StoreError for a failed `op` of the store `description`: names the
 * store, the key (or `subject`, e.g. a batch), the SDK error, and the remedy
 * for missing buckets and refused credentials. StoreErrors pass unchanged.
 */
export function s3Failure(description: string, op: string, key: string | undefined, error: unknown, subject = key): StoreError {
  if (error instanceof StoreError) return error;
  const { name, status, text } = describeS3Error(error);
  return s3StoreError(classifyS3Error(op, name, status), `${description}: ${op}${subject === undefined ? '' : ` ${subject}`}: ${text}`, key, error);
}

/** A StoreError with `message` followed by the remedy that fits `reason`. */
export function s3StoreError(reason: StoreErrorReason, message: string, key: string | undefined, cause?: unknown): StoreError {
  const remedy = reason === 'NO_SUCH_BUCKET' ? ` (${NO_SUCH_BUCKET_REMEDY})` : reason === 'ACCESS_DENIED' ? ` (${ACCESS_DENIED_REMEDY})` : '';
  return new StoreError(reason, `${message}${remedy}`, { key, cause });
}
