import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ChannelCredentials, type ServerCredentials } from '@grpc/grpc-js';
import { ConfigError } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { AdminTokens } from './admin-tokens.js';
import { callGate, insecureGate } from './call-gate.js';
import { checkPeerIdentity } from './identity.js';
import { GatedServerCredentials } from './server-credentials.js';

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

/** What the server side admits besides cluster-CA certificates. */
export interface GateOptions {
  /** Bearer tokens the admin service accepts (config admin.tokens); default none. */
  readonly tokens?: AdminTokens;
  /** Where refused calls are logged (rate-limited); default nowhere. */
  readonly logger?: Logger;
}

/** Plain-text gRPC on both sides: for tests only. Every call is admitted, without a caller (call-gate.ts). */
export function insecureCredentials(): TlsCredentials {
  return { server: GatedServerCredentials.insecure(insecureGate()), channel: ChannelCredentials.createInsecure(), insecure: true };
}

/**
 * Mutual TLS from PEM files.
 *
 * - Server: presents cert_file; requests a client certificate and verifies
 *   its chain against ca_file (and only ca_file). Any certificate of the
 *   cluster CA is admitted: the CA is the membership boundary; which member a
 *   client claims to be is not checked against its certificate here. The
 *   admin service also admits a bearer token of `gate.tokens` instead; every
 *   other call needs the certificate (call-gate.ts, checked per call).
 * - Channel: presents cert_file as the client certificate; verifies the
 *   server's chain against ca_file only (never the system roots) and its
 *   subject alternative names against the dialled address (identity.ts).
 *
 * Errors name the configuration key: an unreadable or malformed file, a key
 * that does not belong to the certificate.
 */
export function mutualTlsCredentials(files: TlsFiles, gate: GateOptions = {}): TlsCredentials {
  const ca = readPem('tls.ca_file', files.caFile);
  const cert = readPem('tls.cert_file', files.certFile);
  const key = readPem('tls.key_file', files.keyFile);
  checkPair(files, ca, cert, key);
  return {
    server: GatedServerCredentials.tls({ ca, cert, key }, callGate(gate.tokens ?? new AdminTokens([]), gate.logger ?? silentLogger)),
    channel: ChannelCredentials.createSsl(ca, key, cert, { checkServerIdentity: checkPeerIdentity }),
    insecure: false,
  };
}

/**
 * TLS without a client certificate (pgherdctl with a bearer token): the
 * server is verified as by mutualTlsCredentials' channel — against ca_file
 * only, its SANs against the dialled address. Errors name tls.ca_file.
 */
export function serverVerifyingChannelCredentials(caFile: string): ChannelCredentials {
  const ca = readPem('tls.ca_file', caFile);
  parseCertificate('tls.ca_file', caFile, ca);
  return ChannelCredentials.createSsl(ca, null, null, { checkServerIdentity: checkPeerIdentity });
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
