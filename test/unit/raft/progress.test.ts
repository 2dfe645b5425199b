import test from 'ava';
import { AssertionFailedError } from '../../../src/lib/errors.js';
import { Inflights } from '../../../src/raft/core/inflights.js';
import { Progress } from '../../../src/raft/core/progress.js';

function progress(fields: Partial<Pick<Progress, 'match' | 'next' | 'state' | 'pendingSnapshot'>> = {}, maxInflightMsgs = 4): Progress {
  const pr = new Progress({ next: fields.next ?? 1, maxInflightMsgs, isLearner: false, recentActive: true });
  pr.match = fields.match ?? 0;
  if (fields.state === 'replicate') pr.becomeReplicate();
  if (fields.state === 'snapshot') pr.becomeSnapshot(fields.pendingSnapshot ?? 0);
  if (fields.next !== undefined) pr.next = fields.next;
  return pr;
}

test('inflights: fills to capacity, frees up to an index, wraps around the ring', (t) => {
  const inflights = new Inflights(3);
  inflights.add(5);
  inflights.add(7);
  inflights.add(9);
  t.true(inflights.full());
  t.throws(() => inflights.add(11), { instanceOf: AssertionFailedError });
  inflights.freeLE(7);
  t.is(inflights.count, 1);
  inflights.add(11);
  inflights.add(13);
  t.true(inflights.full(), 'slots freed at the start are reused after the end');
  inflights.freeLE(12);
  t.is(inflights.count, 1);
  inflights.freeLE(100);
  t.is(inflights.count, 0);
  inflights.add(14);
  inflights.reset();
  t.is(inflights.count, 0);
});

test('inflights: indexes must increase (a pipelined window is ordered)', (t) => {
  const inflights = new Inflights(4);
  inflights.add(5);
  t.throws(() => inflights.add(5), { instanceOf: AssertionFailedError });
  t.throws(() => new Inflights(0), { instanceOf: AssertionFailedError });
});

test('progress: maybeUpdate moves match and next forward only', (t) => {
  const pr = progress({ match: 3, next: 5 });
  t.false(pr.maybeUpdate(2));
  t.is(pr.match, 3);
  t.true(pr.maybeUpdate(4));
  t.deepEqual([pr.match, pr.next], [4, 5]);
  t.true(pr.maybeUpdate(9));
  t.deepEqual([pr.match, pr.next], [9, 10]);
});

test('progress: replicate state ignores stale rejections and falls back to match + 1', (t) => {
  const pr = progress({ match: 5, state: 'replicate', next: 10 });
  t.false(pr.maybeDecrTo(5, 5), 'rejected <= match is stale');
  t.true(pr.maybeDecrTo(8, 2));
  t.is(pr.next, 6);
});

test('progress: probe state uses the hint but never goes below match + 1, and ignores mismatched rejections', (t) => {
  const pr = progress({ match: 2, next: 10 });
  t.false(pr.maybeDecrTo(5, 1), 'only a rejection of next - 1 is current');
  t.true(pr.maybeDecrTo(9, 6));
  t.is(pr.next, 7);
  t.true(pr.maybeDecrTo(6, 0));
  t.is(pr.next, 3, 'never below match + 1');
});

test('progress: paused per state (probe after a send, replicate when the window is full, snapshot always)', (t) => {
  const probe = progress({ next: 2 });
  t.false(probe.isPaused());
  probe.sentEntries(1);
  t.true(probe.isPaused());
  t.true(probe.maybeUpdate(1) && !probe.isPaused(), 'an acknowledgement unpauses');

  const replicate = progress({ state: 'replicate' }, 2);
  replicate.sentEntries(3);
  t.false(replicate.isPaused());
  replicate.sentEntries(2);
  t.true(replicate.isPaused());
  t.is(replicate.next, 6);
  replicate.inflights.freeLE(3);
  replicate.msgAppFlowPaused = false;
  t.false(replicate.isPaused());

  const snapshot = progress({ state: 'snapshot', pendingSnapshot: 10 });
  t.true(snapshot.isPaused());
  t.is(snapshot.next, 11);
});

test('progress: leaving snapshot state probes after the pending snapshot', (t) => {
  const pr = progress({ match: 2, state: 'snapshot', pendingSnapshot: 10 });
  pr.becomeProbe();
  t.is(pr.next, 11);
  const failed = progress({ match: 2, state: 'snapshot', pendingSnapshot: 10 });
  failed.pendingSnapshot = 0;
  failed.becomeProbe();
  t.is(failed.next, 3);
});

test('progress: status reports state, window and pause', (t) => {
  const pr = progress({ match: 1, state: 'replicate' }, 1);
  pr.sentEntries(1);
  t.deepEqual(pr.status(), { match: 1, next: 3, state: 'replicate', recentActive: true, paused: true, inflight: 1, learner: false });
});
