import { isIP } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';

/**
 * Server identity check of peer connections.
 *
 * Decision: the chain is verified against the cluster CA by TLS itself (and
 * only that CA: the channel never trusts the system roots); on top of that,
 * the server certificate's subject alternative names must include the
 * address being dialled — an IP SAN when an IP address is dialled (members
 * usually connect by IP), a DNS SAN (wildcards per RFC 6125) when a name is.
 * The subject CN is never considered, and an IP never matches a DNS SAN.
 * This is Node's default rule without its CN fallback, done by OpenSSL's
 * X509_check_ip/X509_check_host rather than by parsing the SAN text.
 *
 * Why not skip the name check (any certificate of the cluster CA is fine)?
 * Then a member's certificate would also be accepted for an address that
 * belongs to another member, so a compromised or misconfigured member could
 * answer for an address it does not own. With the check, a certificate is
 * only good for the addresses written into it.
 */
export function checkPeerIdentity(host: string, certificate: Pick<PeerCertificate, 'raw'>): Error | undefined {
  const dialled = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (certificate.raw === undefined || certificate.raw.length === 0) return identityError(dialled, 'the peer sent no certificate');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certificate.raw);
  } catch (error) {
    return identityError(dialled, `the peer certificate cannot be parsed (${(error as Error).message})`);
  }
  const matched = isIP(dialled) !== 0 ? x509.checkIP(dialled) : x509.checkHost(dialled, { subject: 'never', partialWildcards: false });
  if (matched !== undefined) return undefined;
  return identityError(dialled, `the certificate's subject alternative names (${x509.subjectAltName ?? 'none'}) do not include it`);
}

function identityError(host: string, why: string): Error {
  const error = new Error(`peer certificate is not valid for ${host}: ${why}`) as Error & { code: string; host: string };
  // The code and field Node's own tls.checkServerIdentity uses, so the failure reads the same in gRPC's status details.
  error.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
  error.host = host;
  return error;
}
