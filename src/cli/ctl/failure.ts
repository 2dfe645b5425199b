import { status as Status } from '@grpc/grpc-js';
import { AdminCallError, AdminUnreachableError } from '../../admin/errors.js';
import { ConfigError, PgherdError } from '../../lib/errors.js';
import { EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE } from './exit-codes.js';
import type { CtlIo } from './io.js';

/** A flag, argument, environment variable or file is wrong; the message names it and the expected form. Exit 2. */
export class CtlUsageError extends PgherdError {
  constructor(message: string) {
    super('PGHERD_CTL_USAGE', message);
  }
}

/** The operator answered no at the prompt. Exit 1. */
export class CtlDeclinedError extends PgherdError {
  constructor(message: string) {
    super('PGHERD_CTL_DECLINED', message);
  }
}

export interface Failure {
  readonly exitCode: number;
  /** 'usage', 'unreachable', 'refused' or 'declined' (for --json). */
  readonly kind: string;
  /** The gRPC status name when the agent answered. */
  readonly status: string | null;
  /** The agent's stable reason code (src/admin/errors.ts), when it gave one. */
  readonly reason: string | null;
  readonly message: string;
}

/** What an error means for the operator; undefined for a bug (the caller prints the stack). */
export function describeFailure(error: unknown): Failure | undefined {
  if (error instanceof CtlUsageError) return { exitCode: EXIT_USAGE, kind: 'usage', status: null, reason: null, message: error.message };
  if (error instanceof ConfigError) return { exitCode: EXIT_USAGE, kind: 'usage', status: null, reason: null, message: error.message };
  if (error instanceof CtlDeclinedError) return { exitCode: EXIT_REFUSED, kind: 'declined', status: null, reason: null, message: error.message };
  if (error instanceof AdminUnreachableError) {
    return { exitCode: EXIT_UNREACHABLE, kind: 'unreachable', status: null, reason: null, message: error.message };
  }
  if (error instanceof AdminCallError) {
    const unavailable = error.grpcCode === Status.UNAVAILABLE;
    return {
      exitCode: unavailable ? EXIT_UNREACHABLE : EXIT_REFUSED,
      kind: unavailable ? 'unreachable' : 'refused',
      status: error.status,
      reason: error.reason === '' ? null : error.reason,
      message: `${error.endpoint}: ${error.details}`,
    };
  }
  return undefined;
}

/** Print a failure: one `error: …` line on stderr, and with --json also {"error": {...}} on stdout. */
export function reportFailure(failure: Failure, io: CtlIo, json: boolean): number {
  const label = failure.kind === 'refused' ? `refused (${failure.status}${failure.reason === null ? '' : ` ${failure.reason}`})` : failure.kind === 'declined' ? 'aborted' : 'error';
  io.stderr(`${label}: ${failure.message}\n`);
  if (json) io.stdout(`${JSON.stringify({ error: { kind: failure.kind, status: failure.status, reason: failure.reason, message: failure.message } })}\n`);
  return failure.exitCode;
}
