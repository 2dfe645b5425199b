import { status as Status } from '@grpc/grpc-js';
import type { Logger } from '../lib/logger.js';
import type { AdminBackend } from './backend.js';
import { AdminRefusal } from './errors.js';
import { describeSwitchover, handoverProgress, type HandoverProgress, type TrackedHandover } from './handover.js';

/** How often a waiting call looks at the local state: well below the HA loop's period (loop_wait_ms, 1 s by default). */
export const HANDOVER_POLL_MS = 100;
/** The Raft read that proves the local state includes the recorded request gets at most this per attempt. */
const SYNC_READ_MS_MAX = 1_000;

export type Completed = Extract<HandoverProgress, { kind: 'completed' }>;

/**
 * Wait until a recorded switchover has a new primary: the local state,
 * polled every pollMs, after one successful linearizable read (so that a
 * request missing from it was withdrawn, not merely not applied here yet).
 * ABORTED when withdrawn without a new primary, DEADLINE_EXCEEDED at
 * deadlineMs (performance.now() time) with the request still pending; the
 * signal aborting (the client went away, the agent stops) ends the wait
 * with its reason.
 */
export async function waitForHandover(
  backend: AdminBackend,
  tracked: TrackedHandover,
  deadlineMs: number,
  signal: AbortSignal,
  log: Logger,
  pollMs = HANDOVER_POLL_MS,
): Promise<Completed> {
  const done = await pollAfterSync(backend, { deadlineMs, signal, log, pollMs, what: 'handover' }, (synced) => {
    const progress = handoverProgress(backend.local(), tracked, synced);
    if (progress.kind === 'withdrawn') {
      throw new AdminRefusal(
        Status.ABORTED,
        'SWITCHOVER_WITHDRAWN',
        `the ${describeSwitchover(tracked.request)} was withdrawn without a new primary: the primary cancelled it (see ha.switchover_cancelled in its log) or an operator did`,
      );
    }
    return progress.kind === 'completed' ? progress : undefined;
  });
  if (done !== undefined) return done;
  throw new AdminRefusal(
    Status.DEADLINE_EXCEEDED,
    'SWITCHOVER_TIMEOUT',
    `no new primary yet: the ${describeSwitchover(tracked.request)} is still pending; watch it with pgherdctl list, or cancel it with pgherdctl switchover --cancel`,
  );
}

export interface PollOptions {
  /** performance.now() time at which the poll gives up. */
  readonly deadlineMs: number;
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly pollMs: number;
  /** For the debug line of a failed sync read: admin.<what>_sync_read_failed. */
  readonly what: string;
}

/**
 * How a call waits for what it recorded to be carried out: call `check`
 * on the local state every pollMs until it returns a result, undefined once
 * deadlineMs passed. `synced` turns true after one successful linearizable
 * read, from then on the local state includes every change committed
 * before the wait (so something missing from it is gone, not merely not
 * applied here yet). `check` may throw to end the wait; the signal aborting
 * ends it with its reason.
 */
export async function pollAfterSync<T>(backend: AdminBackend, o: PollOptions, check: (synced: boolean) => T | undefined): Promise<T | undefined> {
  let synced = false;
  for (;;) {
    o.signal.throwIfAborted();
    const remainingMs = o.deadlineMs - performance.now();
    if (!synced && remainingMs > 0) {
      try {
        await backend.read(Math.max(1, Math.min(SYNC_READ_MS_MAX, Math.ceil(remainingMs))));
        synced = true;
      } catch (error) {
        o.log.debug({ err: (error as Error).message }, `admin.${o.what}_sync_read_failed`);
      }
    }
    const result = check(synced);
    if (result !== undefined) return result;
    if (performance.now() >= o.deadlineMs) return undefined;
    await sleepUnlessAborted(Math.min(o.pollMs, Math.max(1, o.deadlineMs - performance.now())), o.signal);
  }
}

/** Wait `ms`; reject with the signal's reason when it aborts first. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
