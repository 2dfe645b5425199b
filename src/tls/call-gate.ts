import { Metadata, ServerInterceptingCall, status as Status, type ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from '../lib/logger.js';
import { bearerOf, type AdminTokens } from './admin-tokens.js';

/**
 * Who may call what on the agent's gRPC server (the peer port: RaftPeer and
 * Admin), checked per call before any handler runs.
 *
 * The TLS layer requests a client certificate but does not require one
 * (server-credentials.ts), so a client with a bearer token and no
 * certificate can finish the handshake. Whether a presented certificate
 * chains to the cluster CA is OpenSSL's verdict for the connection
 * (`socket.authorized`); grpc-js exposes the certificate in a call's auth
 * context only when that verdict is yes, so "a certificate in the auth
 * context" here means "a verified cluster-CA certificate". The rules:
 *
 * - Admin (pgherd.admin.v1.Admin): a verified certificate, or
 *   `authorization: Bearer <token>` matching an admin.tokens entry. A token
 *   that is sent must be valid, also beside a certificate.
 * - Every other service (RaftPeer, and anything added later): a verified
 *   certificate only. A token never lets a client send Raft messages.
 *
 * Anything else ends with UNAUTHENTICATED and a message saying what is
 * missing; the handler never runs. An admitted call carries the caller in
 * the metadata key `pgherd-caller` (`certificate <CN>` or `token <name>`),
 * set here after removing whatever the client sent under that key, so a
 * handler can trust it (callerOf).
 *
 * With tls.insecure nothing is verified: every call is admitted without a
 * caller (the agent warns at start).
 */

/** Set on admitted calls by the gate only; a client's own value is removed first. */
export const CALLER_METADATA_KEY = 'pgherd-caller';

/** The only service that admits bearer tokens. */
export const TOKEN_SERVICES: ReadonlySet<string> = new Set(['pgherd.admin.v1.Admin']);

export type Caller = { readonly kind: 'certificate' | 'token'; readonly name: string };

export type GateDecision = { readonly admitted: true; readonly caller: Caller | undefined } | { readonly admitted: false; readonly why: string };

export interface CallFacts {
  /** The gRPC method path, /package.Service/Method. */
  readonly path: string;
  /** The CN of the client certificate when it was verified against the cluster CA; undefined without one (or with another CA's). */
  readonly certificateName: string | undefined;
  /** The call's `authorization` metadata values. */
  readonly authorization: readonly unknown[];
}

/** The rules above for one call: pure. */
export function decide(facts: CallFacts, tokens: AdminTokens): GateDecision {
  const service = serviceOf(facts.path);
  const certificate: Caller | undefined = facts.certificateName === undefined ? undefined : { kind: 'certificate', name: facts.certificateName };
  if (!TOKEN_SERVICES.has(service)) {
    if (certificate !== undefined) return { admitted: true, caller: certificate };
    return { admitted: false, why: `${service} requires a client certificate of the cluster CA (none was presented, or it was not issued by the cluster CA; a bearer token is not accepted here)` };
  }
  const bearer = bearerOf(facts.authorization);
  if (bearer.kind === 'malformed') return { admitted: false, why: `${bearer.why}; expected "authorization: Bearer <token>"` };
  if (bearer.kind === 'token') {
    const name = tokens.match(bearer.token);
    if (name === undefined) return { admitted: false, why: 'the bearer token matches no admin.tokens entry of this agent' };
    return { admitted: true, caller: { kind: 'token', name } };
  }
  if (certificate !== undefined) return { admitted: true, caller: certificate };
  return {
    admitted: false,
    why: 'admin calls need a client certificate of the cluster CA or a bearer token (pgherdctl --cert-file/--key-file, or --token); none was presented, or the certificate was not issued by the cluster CA',
  };
}

/** The caller the gate admitted, from a handler's call metadata; undefined on an insecure server. */
export function callerOf(metadata: Metadata): Caller | undefined {
  const value = metadata.get(CALLER_METADATA_KEY)[0];
  if (typeof value !== 'string') return undefined;
  const space = value.indexOf(' ');
  const kind = value.slice(0, space);
  return kind === 'certificate' || kind === 'token' ? { kind, name: value.slice(space + 1) } : undefined;
}

/** Refusals logged at most once per this interval (with how many were not): a client retrying in a loop must not flood the log. */
export const REFUSAL_LOG_INTERVAL_MS = 1_000;

/** The server interceptor enforcing decide() on a TLS server. */
export function callGate(tokens: AdminTokens, logger: Logger): ServerInterceptor {
  const log = logger.child({ component: 'grpc-auth' });
  let lastLoggedMs = -Infinity;
  let suppressed = 0;
  const logRefusal = (fields: Record<string, unknown>): void => {
    const nowMs = performance.now();
    if (nowMs - lastLoggedMs < REFUSAL_LOG_INTERVAL_MS) {
      suppressed += 1;
      return;
    }
    log.warn({ ...fields, suppressedSinceLast: suppressed }, 'grpc.unauthenticated');
    lastLoggedMs = nowMs;
    suppressed = 0;
  };
  return (method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, admit) => {
            const subject = call.getAuthContext().sslPeerCertificate?.subject as { CN?: string | string[] } | undefined;
            const certificateName = Array.isArray(subject?.CN) ? subject.CN.join(',') : subject?.CN;
            const decision = decide({ path: method.path, certificateName, authorization: metadata.get('authorization') }, tokens);
            metadata.remove(CALLER_METADATA_KEY);
            if (!decision.admitted) {
              logRefusal({ peer: call.getPeer(), method: method.path, why: decision.why });
              call.sendStatus({ code: Status.UNAUTHENTICATED, details: decision.why, metadata: new Metadata() });
              return;
            }
            if (decision.caller !== undefined) metadata.set(CALLER_METADATA_KEY, `${decision.caller.kind} ${decision.caller.name}`);
            admit(metadata);
          },
        }),
    });
}

/** On a plain-text server: admit every call, without a caller (a client's own pgherd-caller is removed). */
export function insecureGate(): ServerInterceptor {
  return (_method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, admit) => {
            metadata.remove(CALLER_METADATA_KEY);
            admit(metadata);
          },
        }),
    });
}

function serviceOf(path: string): string {
  return path.split('/')[1] ?? '';
}
