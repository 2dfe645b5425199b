import test from 'ava';
import fc from 'fast-check';
import { DYNAMIC_DEFAULTS, parseDynamicConfig } from '../../../src/config/dynamic.js';
import { failoverAllowedInMs, leaseExpired, primaryLeaseRemainingMs, primaryLeaseValid } from '../../../src/ha/lease.js';

const config = DYNAMIC_DEFAULTS; // ttl 4000, safety margin 1000

test('the primary may write until ttl - safety_margin after SENDING its newest confirmed renewal', (t) => {
  const lease = { confirmedRenewalSentAtMs: 10_000 };
  t.is(primaryLeaseRemainingMs(10_000, lease, config), 3000);
  t.true(primaryLeaseValid(12_999, lease, config));
  t.false(primaryLeaseValid(13_000, lease, config));
});

test('without a confirmed renewal since the agent started, the primary has no lease', (t) => {
  t.false(primaryLeaseValid(0, { confirmedRenewalSentAtMs: null }, config));
  t.is(primaryLeaseRemainingMs(5, { confirmedRenewalSentAtMs: null }, config), 0);
});

test('the Raft leader may fail over only ttl after it applied the renewal, or after it became leader, whichever is later', (t) => {
  t.is(failoverAllowedInMs(1000, { renewalAppliedAtMs: 500, raftLeaderSinceMs: null }, config), Number.POSITIVE_INFINITY);
  t.is(failoverAllowedInMs(1000, { renewalAppliedAtMs: 500, raftLeaderSinceMs: 0 }, config), 3500);
  t.is(failoverAllowedInMs(1000, { renewalAppliedAtMs: 500, raftLeaderSinceMs: 900 }, config), 3900);
  t.is(failoverAllowedInMs(1000, { renewalAppliedAtMs: null, raftLeaderSinceMs: 900 }, config), 3900);
  t.false(leaseExpired(4899, { renewalAppliedAtMs: 500, raftLeaderSinceMs: 900 }, config));
  t.true(leaseExpired(4900, { renewalAppliedAtMs: 500, raftLeaderSinceMs: 900 }, config));
});

test('safety: whenever a failover is allowed, the primary that sent the applied renewal has already stopped writing', (t) => {
  // For any valid config, any send time s, any commit/apply delay d >= 0 and any later time:
  // leaseExpired on the Raft leader (who applied at s + d) implies !primaryLeaseValid on the primary (renewal sent at s),
  // given both clocks advance at the same rate.
  fc.assert(
    fc.property(
      fc.integer({ min: 1000, max: 20_000 }),
      fc.integer({ min: 100, max: 5000 }),
      fc.integer({ min: 100, max: 5000 }),
      fc.integer({ min: 0, max: 1_000_000 }),
      fc.integer({ min: 0, max: 10_000 }),
      fc.integer({ min: 0, max: 30_000 }),
      (ttl, loopWait, margin, sentAt, delay, elapsed) => {
        fc.pre(loopWait + margin < ttl);
        const cfg = parseDynamicConfig({ ttl_ms: ttl, loop_wait_ms: loopWait, safety_margin_ms: margin });
        const now = sentAt + elapsed;
        const expired = leaseExpired(now, { renewalAppliedAtMs: sentAt + delay, raftLeaderSinceMs: 0 }, cfg);
        const writable = primaryLeaseValid(now, { confirmedRenewalSentAtMs: sentAt }, cfg);
        return !(expired && writable);
      },
    ),
  );
  t.pass();
});
