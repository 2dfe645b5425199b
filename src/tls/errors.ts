import { PgherdError } from '../lib/errors.js';

/**
 * Errors of certificate generation. Codes are API (PGHERD_TLS_*); callers
 * branch on `code` or on the class, never on the message. Problems with
 * configured certificate files are ConfigErrors naming the key instead.
 */

/** The `openssl` command is not installed (or not at the given path). */
export class OpensslMissingError extends PgherdError {
  readonly path: string;

  constructor(path: string, options?: { cause?: unknown }) {
    super('PGHERD_TLS_OPENSSL_MISSING', `cannot run ${path}: install the 'openssl' package (apt-get install openssl) to generate the local CA and node certificates`, options);
    this.path = path;
  }
}

/** Generating (or reusing) a local CA or node certificate failed; `path` names the file or directory. */
export class CertificateGenerationError extends PgherdError {
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('PGHERD_TLS_GENERATION_FAILED', `${path}: ${message}`, options);
    this.path = path;
  }
}

/** `pgherd certs` would replace an existing CA or certificate: refused unless asked to (--force). `path` names the file or directory. */
export class CertificateExistsError extends PgherdError {
  readonly path: string;

  constructor(path: string, options?: { cause?: unknown }) {
    super('PGHERD_TLS_CERT_EXISTS', `${path} already exists: not overwritten`, options);
    this.path = path;
  }
}
