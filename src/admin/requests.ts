import { status as Status } from '@grpc/grpc-js';
import { MEMBER_NAME_FORM, MEMBER_NAME_PATTERN } from '../config/member-name.js';
import { AdminRefusal, invalidField } from './errors.js';
import { formatTime, parseRfc3339, RFC3339_FORM } from './time.js';
import type { WireFailoverRequest, WireSwitchoverRequest } from './wire.js';

/**
 * Request fields, checked before anything is read or proposed: pure. Each
 * refusal is INVALID_ARGUMENT naming the field and the expected form.
 */

/** How long an immediate switchover waits for the new primary when the request does not say. */
export const SWITCHOVER_WAIT_MS_DEFAULT = 30_000;
/**
 * The longest wait a request may ask for: a switchover that has not
 * finished in 10 minutes is stuck (the primary cancels one whose candidate
 * does not catch up within the lease), and a call must not hold the agent's
 * server open much longer.
 */
export const SWITCHOVER_WAIT_MS_MAX = 600_000;
/** `by` / `requested_by` go into the log and the cluster state: short, printable text. */
export const BY_CHARS_MAX = 200;

export type HandoverKind = 'switchover' | 'failover';

export interface HandoverRequest {
  readonly kind: HandoverKind;
  /** null: the best candidate (switchover only). */
  readonly candidate: string | null;
  /** null: now. */
  readonly scheduledAtMs: number | null;
  readonly waitMs: number;
  /** '' when the request named nobody: the service uses the caller's address. */
  readonly by: string;
}

export function parseSwitchoverRequest(request: WireSwitchoverRequest, wallNowMs: number): HandoverRequest {
  return {
    kind: 'switchover',
    candidate: request.candidate === '' ? null : parseMemberName('candidate', request.candidate),
    scheduledAtMs: parseScheduledAt(request.scheduled_at, wallNowMs),
    waitMs: parseWaitMs(request.timeout_ms),
    by: parseBy('requested_by', request.requested_by),
  };
}

export function parseFailoverRequest(request: WireFailoverRequest): HandoverRequest {
  if (request.candidate === '') throw invalidField('candidate', 'is required: the member to promote');
  return {
    kind: 'failover',
    candidate: parseMemberName('candidate', request.candidate),
    scheduledAtMs: null,
    waitMs: parseWaitMs(request.timeout_ms),
    by: parseBy('requested_by', request.requested_by),
  };
}

export function parseMemberName(field: string, text: string): string {
  if (!MEMBER_NAME_PATTERN.test(text)) throw invalidField(field, `expected a member name (${MEMBER_NAME_FORM}), got ${JSON.stringify(text)}`);
  return text;
}

/** '' = now; otherwise an RFC 3339 time strictly after `wallNowMs`. */
export function parseScheduledAt(text: string, wallNowMs: number): number | null {
  if (text === '') return null;
  const atMs = parseRfc3339(text);
  if (atMs === undefined) throw invalidField('scheduled_at', `expected ${RFC3339_FORM}, got ${JSON.stringify(text)}`);
  if (atMs <= wallNowMs) {
    throw new AdminRefusal(Status.INVALID_ARGUMENT, 'SCHEDULED_IN_PAST', `scheduled_at: ${formatTime(atMs)} is not in the future (the agent's clock says ${formatTime(wallNowMs)}); leave it unset for now`);
  }
  return atMs;
}

export function parseWaitMs(timeoutMs: number): number {
  if (timeoutMs === 0) return SWITCHOVER_WAIT_MS_DEFAULT;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > SWITCHOVER_WAIT_MS_MAX) {
    throw invalidField('timeout_ms', `expected 0 (the default, ${SWITCHOVER_WAIT_MS_DEFAULT} ms) up to ${SWITCHOVER_WAIT_MS_MAX}, got ${timeoutMs}`);
  }
  return timeoutMs;
}

/** '' (unset) or printable text of at most BY_CHARS_MAX characters. */
export function parseBy(field: string, text: string): string {
  if (text.length > BY_CHARS_MAX || /[\u0000-\u001f\u007f]/.test(text)) {
    throw invalidField(field, `expected printable text of at most ${BY_CHARS_MAX} characters, got ${JSON.stringify(text.slice(0, 40))}${text.length > 40 ? '…' : ''}`);
  }
  return text.trim();
}
