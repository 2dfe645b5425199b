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
  let synced = false;
  for (;;) {
    signal.throwIfAborted();
    const remainingMs = deadlineMs - performance.now();
    if (!synced && remainingMs > 0) {
      try {
        await backend.read(Math.max(1, Math.min(SYNC_READ_MS_MAX, Math.ceil(remainingMs))));
        synced = true;
      } catch (error) {
        log.debug({ err: (error as Error).message }, 'admin.handover_sync_read_failed');
      }
    }
    const progress = handoverProgress(backend.local(), tracked, synced);
    if (progress.kind === 'completed') return progress;
    if (progress.kind === 'withdrawn') {
      throw new AdminRefusal(
        Status.ABORTED,
        'SWITCHOVER_WITHDRAWN',
        `the ${describeSwitchover(tracked.request)} was withdrawn without a new primary: the primary cancelled it (see ha.switchover_cancelled in its log) or an operator did`,
      );
    }
    if (performance.now() >= deadlineMs) {
      throw new AdminRefusal(
        Status.DEADLINE_EXCEEDED,
        'SWITCHOVER_TIMEOUT',
        `no new primary yet: the ${describeSwitchover(tracked.request)} is still pending; watch it with pgherdctl list, or cancel it with pgherdctl switchover --cancel`,
      );
    }
    await sleepUnlessAborted(Math.min(pollMs, Math.max(1, deadlineMs - performance.now())), signal);
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
