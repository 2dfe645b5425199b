import { spawn } from 'node:child_process';
import { CertificateGenerationError, OpensslMissingError } from './errors.js';

/** One openssl run must finish within this; EC P-256 key generation and signing take milliseconds. */
export const OPENSSL_TIMEOUT_MS = 30_000;
/** Bytes of openssl's stderr kept for an error message. */
const STDERR_KEEP_BYTES = 4 * 1024;

/**
 * Run `openssl <args>` without a shell (arguments are an array, never a
 * string). Missing binary → OpensslMissingError; non-zero exit →
 * CertificateGenerationError naming `target` with openssl's stderr.
 */
export function runOpenssl(openssl: string, args: readonly string[], target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(openssl, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    // Our own timer rather than spawn's `timeout`: that one is cleared only on 'exit', which a binary that fails to start never emits.
    const timer = setTimeout(() => child.kill('SIGKILL'), OPENSSL_TIMEOUT_MS);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP_BYTES);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT' || error.code === 'EACCES' ? new OpensslMissingError(openssl, { cause: error }) : error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const how = code === null ? `was killed (${signal ?? 'timeout'})` : `exited with code ${code}`;
      reject(new CertificateGenerationError(target, `openssl ${args[0]} ${how}: ${stderr.trim() || '(no output)'}`));
    });
  });
}
