import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';
import { ConfigError } from '../lib/errors.js';
import { checkPeerIdentity } from './identity.js';

/** What peer and admin gRPC need: one server side, one client side. */
export interface TlsCredentials {
  readonly server: ServerCredentials;
  readonly channel: ChannelCredentials;
  /** Plain-text gRPC: the caller logs a warning (resolveTls does). */
  readonly insecure: boolean;
}

/** Paths of the PEM files: the cluster CA, this node's certificate (chain) and its private key. */
export interface TlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** Plain-text gRPC on both sides: for tests only. */
export function insecureCredentials(): TlsCredentials {
  return { server: ServerCredentials.createInsecure(), channel: ChannelCredentials.createInsecure(), insecure: true };
}

/**
 * Mutual TLS from PEM files.
 *
 * - Server: presents cert_file; requires a client certificate and verifies
 *   its chain against ca_file (and only ca_file). Any certificate of the
 *   cluster CA is admitted: the CA is the membership boundary; which member a
 *   client claims to be is not checked against its certificate here.
 * - Channel: presents cert_file as the client certificate; verifies the
 *   server's chain against ca_file only (never the system roots) and its
 *   subject alternative names against the dialled address (identity.ts).
 *
 * Errors name the configuration key: an unreadable or malformed file, a key
 * that does not belong to the certificate.
 */
export function mutualTlsCredentials(files: TlsFiles): TlsCredentials {
  const ca = readPem('tls.ca_file', files.caFile);
  const cert = readPem('tls.cert_file', files.certFile);
  const key = readPem('tls.key_file', files.keyFile);
  checkPair(files, ca, cert, key);
  return {
    server: ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], true),
    channel: ChannelCredentials.createSsl(ca, key, cert, { checkServerIdentity: checkPeerIdentity }),
    insecure: false,
  };
}

function readPem(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(key, `cannot read ${path} (${reason})`, { cause: error });
  }
}

/** Parse each file and check the key belongs to the certificate, so a mistake names its key at start-up instead of failing every handshake. */
function checkPair(files: TlsFiles, ca: Buffer, cert: Buffer, key: Buffer): void {
  parseCertificate('tls.ca_file', files.caFile, ca);
  const certificate = parseCertificate('tls.cert_file', files.certFile, cert);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new ConfigError('tls.key_file', `${files.keyFile} is not a PEM private key (${(error as Error).message})`, { cause: error });
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError('tls.key_file', `${files.keyFile} is not the private key of tls.cert_file ${files.certFile}`);
  }
  try {
    createSecureContext({ ca, cert, key });
  } catch (error) {
    throw new ConfigError('tls.cert_file', `${files.certFile} cannot be used with tls.key_file and tls.ca_file (${(error as Error).message})`, { cause: error });
  }
}

function parseCertificate(key: string, path: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new ConfigError(key, `${path} is not a PEM certificate (${(error as Error).message})`, { cause: error });
  }
}
