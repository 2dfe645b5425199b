import type { DynamicConfig } from '../config/dynamic.js';

/**
 * The lease math of DESIGN.md §5, pure. Every time here is a reading of the
 * local MONOTONIC clock in milliseconds (read by the executor), never wall
 * clock: clocks of different nodes are never compared, only durations on
 * one node's own clock.
 *
 * Two clocks, two rules:
 *  - the primary stops accepting writes once no renewal it sent has been
 *    confirmed committed for ttl - safety_margin, counted from when it SENT
 *    the newest confirmed renewal (it cannot know how long the renewal took
 *    to commit, so it assumes the worst: it was committed at once);
 *  - the Raft leader may fail the primary over only once ttl has passed, on
 *    its own clock, since it APPLIED the newest renewal or since it became
 *    Raft leader, whichever is later.
 * Because a renewal is applied by the Raft leader no earlier than it was
 * sent, and ttl > ttl - safety_margin, the primary has stopped writing
 * before any failover can begin — as long as the two clocks run at about
 * the same rate over a few seconds (the safety margin absorbs the drift and
 * the time the demotion itself takes).
 */

export interface PrimaryLease {
  /** Monotonic time the newest renewal that is now known committed was sent; null if none since this agent started. */
  readonly confirmedRenewalSentAtMs: number | null;
}

/** Milliseconds the primary may still accept writes; 0 or less: it must demote now. */
export function primaryLeaseRemainingMs(nowMs: number, lease: PrimaryLease, config: DynamicConfig): number {
  if (lease.confirmedRenewalSentAtMs === null) return 0;
  return lease.confirmedRenewalSentAtMs + config.ttl_ms - config.safety_margin_ms - nowMs;
}

export function primaryLeaseValid(nowMs: number, lease: PrimaryLease, config: DynamicConfig): boolean {
  return primaryLeaseRemainingMs(nowMs, lease, config) > 0;
}

export interface ObservedLease {
  /** Monotonic time this node applied the newest renewal (or promotion) of the current epoch. */
  readonly renewalAppliedAtMs: number | null;
  /** Monotonic time this node became Raft leader; null when it is not the Raft leader. */
  readonly raftLeaderSinceMs: number | null;
}

/**
 * Milliseconds until the Raft leader may fail the primary over; 0 or less:
 * the lease has lapsed. Infinity on a node that is not the Raft leader (it
 * may never fail anything over).
 */
export function failoverAllowedInMs(nowMs: number, observed: ObservedLease, config: DynamicConfig): number {
  if (observed.raftLeaderSinceMs === null) return Number.POSITIVE_INFINITY;
  const since = Math.max(observed.raftLeaderSinceMs, observed.renewalAppliedAtMs ?? Number.NEGATIVE_INFINITY);
  return since + config.ttl_ms - nowMs;
}

export function leaseExpired(nowMs: number, observed: ObservedLease, config: DynamicConfig): boolean {
  return failoverAllowedInMs(nowMs, observed, config) <= 0;
}
