/**
 * A real S3-protocol server for tests: s3rver (filesystem backed) in a child
 * process on 127.0.0.1, an ephemeral port and a temporary directory.
 *
 * Why a child process: see test/fixtures/s3rver-process.ts (its list
 * continuation tokens need the OpenSSL legacy provider). What s3rver checks:
 * the access key id must be S3RVER (else 403 InvalidAccessKeyId), but SigV4
 * signatures, and so the secret, are not verified; server-side encryption
 * headers are accepted and ignored.
 *
 * Importing this module points the default AWS credential chain of this test
 * process at s3rver's account (environment variables, which the chain reads
 * first), so stores built from s3TestSettings() authenticate the way the
 * agent does, without credentials in the settings.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StoreSettings } from '../../src/backup/open-store.js';

process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_PROFILE;
process.env.AWS_REGION = 'us-east-1';
// Tests never reach for an instance metadata service (not loopback).
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVER = fileURLToPath(new URL('../fixtures/s3rver-process.ts', import.meta.url));
/** Generous: the child compiles TypeScript through tsx on a loaded 2-core machine. */
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

export interface S3rverHandle {
  /** "http://127.0.0.1:<port>" */
  readonly endpoint: string;
  /** A bucket that exists. */
  readonly bucket: string;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

export async function startS3rver(bucket = 'pgherd-test'): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), 'pgherd-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--import=tsx', SERVER, directory, bucket], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const close = async (): Promise<void> => {
    await stop(child);
    await rm(directory, { recursive: true, force: true });
  };
  try {
    const port = await readPort(child);
    return { endpoint: `http://127.0.0.1:${port}`, bucket, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** StoreSettings for an S3Store on s3rver: path-style addressing (no DNS per bucket), the agent's default encryption. */
export function s3TestSettings(endpoint: string, bucket: string, prefix = ''): Extract<StoreSettings, { kind: 's3' }> {
  return { kind: 's3', bucket, prefix, endpoint, forcePathStyle: true, sse: 'AES256' };
}

function readPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const newline = stdout.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      resolve((JSON.parse(stdout.slice(0, newline)) as { port: number }).port);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited before listening (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
