import { ServerCredentials, type ServerInterceptor } from '@grpc/grpc-js';

/**
 * Server credentials that carry their own call gate (call-gate.ts): every
 * server bound with them runs the gate before any handler, so the
 * authentication rules travel with the credentials and cannot be forgotten
 * where they are used.
 *
 * With TLS: the server presents its certificate and *requests* a client
 * certificate, verified against `ca` only (never the system roots), but
 * does not *require* one (`rejectUnauthorized: false`): a client with a
 * bearer token and no certificate completes the handshake, and the gate
 * decides per call from the connection's verification result. grpc-js's
 * own createSsl cannot express this (its third argument both requests and
 * requires), hence this subclass of its public ServerCredentials.
 */
export class GatedServerCredentials extends ServerCredentials {
  private constructor(
    tls: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer } | null,
    private readonly gate: ServerInterceptor,
  ) {
    super(tls === null ? null : { requestCert: true, rejectUnauthorized: false }, tls === null ? undefined : { ca: tls.ca, cert: tls.cert, key: tls.key });
  }

  static tls(files: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer }, gate: ServerInterceptor): GatedServerCredentials {
    return new GatedServerCredentials(files, gate);
  }

  static insecure(gate: ServerInterceptor): GatedServerCredentials {
    return new GatedServerCredentials(null, gate);
  }

  override _getInterceptors(): ServerInterceptor[] {
    return [this.gate];
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}
