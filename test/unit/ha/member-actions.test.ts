import test from 'ava';
import type { ClusterState, MemberAction } from '../../../src/cluster/state.js';
import type { LifecycleAction } from '../../../src/ha/lifecycle.js';
import { decideMemberAction, type MemberActionObservation } from '../../../src/ha/member-actions.js';
import { runningCluster, T0_MS } from '../cluster/helpers.js';

/** runningCluster: n1 holds the leader key at epoch 1; the decisions are n2's (a replica) unless said otherwise. */
const SYSID = '7301234567890123456';
const NOW_MS = T0_MS + 10_000;
const RUNNING: LifecycleAction = { kind: 'wait', reason: 'RUNNING' };

function action(over: Partial<MemberAction> = {}): MemberAction {
  return { id: 'a1', kind: 'restart', pendingOnly: false, scheduledAtMs: null, requestedAtMs: T0_MS + 5_000, by: 'alice', status: 'pending', startedAtMs: null, finishedAtMs: null, detail: '', ...over };
}

function withAction(member: string, a: MemberAction | null, base: ClusterState = runningCluster()): ClusterState {
  return { ...base, actions: a === null ? {} : { [member]: a } };
}

function observe(o: Partial<MemberActionObservation> = {}): MemberActionObservation {
  return {
    wallNowMs: NOW_MS,
    self: 'n2',
    state: withAction('n2', action()),
    handled: new Set(),
    dataDir: { kind: 'pgdata', systemIdentifier: SYSID, wasPrimary: false, timeline: 1, cleanShutdownLsn: null },
    postgres: { running: true, role: 'replica' },
    lifecycle: RUNNING,
    ...o,
  };
}

test('nothing to do: no action, one that ended, one this agent already took up', (t) => {
  t.deepEqual(decideMemberAction(observe({ state: withAction('n2', null) })), { kind: 'none', reason: 'NO_ACTION' });
  t.deepEqual(decideMemberAction(observe({ state: withAction('n3', action()) })), { kind: 'none', reason: 'NO_ACTION' });
  for (const status of ['done', 'failed', 'skipped', 'cancelled'] as const) {
    t.is(decideMemberAction(observe({ state: withAction('n2', action({ status })) })).kind, 'none', status);
  }
  t.deepEqual(decideMemberAction(observe({ handled: new Set(['a1']) })), { kind: 'none', reason: 'HANDLED' });
});

test('a replica restarts or reloads as a replica once settled; a scheduled restart waits for its time', (t) => {
  t.like(decideMemberAction(observe()), { kind: 'restart', role: 'replica', epoch: null, action: { id: 'a1' } });
  t.like(decideMemberAction(observe({ state: withAction('n2', action({ kind: 'reload' })) })), { kind: 'reload', role: 'replica' });
  const scheduled = withAction('n2', action({ scheduledAtMs: NOW_MS + 30_000 }));
  t.deepEqual(decideMemberAction(observe({ state: scheduled })), { kind: 'none', reason: 'SCHEDULED', waitMs: 30_000 });
  t.is(decideMemberAction(observe({ state: scheduled, wallNowMs: NOW_MS + 30_000 })).kind, 'restart');
  // Still cloning, starting or re-pointing: the lifecycle goes first.
  t.deepEqual(decideMemberAction(observe({ lifecycle: { kind: 'startStandby', upstream: 'n1', reason: 'UPSTREAM_CHANGED' } })), { kind: 'none', reason: 'NOT_SETTLED' });
  t.deepEqual(decideMemberAction(observe({ postgres: { running: true, role: null } })), { kind: 'none', reason: 'NOT_SETTLED' });
});

test('the primary restarts as the primary at its epoch; a primary without the leader key waits for the lease rules', (t) => {
  const primary = observe({ self: 'n1', state: withAction('n1', action()), postgres: { running: true, role: 'primary' } });
  t.like(decideMemberAction(primary), { kind: 'restart', role: 'primary', epoch: 1 });
  const stale = observe({ self: 'n2', postgres: { running: true, role: 'primary' } });
  t.deepEqual(decideMemberAction(stale), { kind: 'none', reason: 'NOT_SETTLED' });
});

test('restart and reload of a stopped PostgreSQL fail saying why (and what the pause means)', (t) => {
  const stopped = decideMemberAction(observe({ postgres: { running: false, role: null }, lifecycle: { kind: 'startStandby', upstream: 'n1', reason: 'REPLICA_NOT_RUNNING' } }));
  t.like(stopped, { kind: 'fail', reason: 'NOT_RUNNING' });
  t.regex(stopped.kind === 'fail' ? stopped.detail : '', /not running: nothing to restart; the agent starts it by itself/);
  const base = runningCluster();
  const paused = withAction('n2', action({ kind: 'reload' }), { ...base, pause: { paused: true, by: 'bob', atMs: T0_MS } });
  const pausedStopped = decideMemberAction(observe({ state: paused, postgres: { running: false, role: null }, lifecycle: { kind: 'wait', reason: 'PAUSED' } }));
  t.regex(pausedStopped.kind === 'fail' ? pausedStopped.detail : '', /nothing to reload; the cluster is paused/);
});

test('paused: a settled member still runs its action (an operator asked, as in Patroni)', (t) => {
  const base = runningCluster();
  const paused = withAction('n2', action(), { ...base, pause: { paused: true, by: 'bob', atMs: T0_MS } });
  t.is(decideMemberAction(observe({ state: paused })).kind, 'restart');
});

test('an action found running that this agent did not take up was interrupted: it fails, never resumes', (t) => {
  const decision = decideMemberAction(observe({ state: withAction('n2', action({ status: 'running', startedAtMs: T0_MS + 6_000 })) }));
  t.like(decision, { kind: 'fail', reason: 'INTERRUPTED' });
});

test('reinit: a replica is re-cloned from the leader holder, running or not, once registered and initialized', (t) => {
  const reinit = withAction('n2', action({ kind: 'reinit' }));
  t.like(decideMemberAction(observe({ state: reinit })), { kind: 'reinit', source: 'n1' });
  const crashed = observe({ state: reinit, postgres: { running: false, role: null }, lifecycle: { kind: 'startStandby', upstream: 'n1', reason: 'REPLICA_NOT_RUNNING' } });
  t.like(decideMemberAction(crashed), { kind: 'reinit', source: 'n1' });
  t.like(decideMemberAction(observe({ state: reinit, dataDir: { kind: 'empty' }, lifecycle: { kind: 'wait', reason: 'WAITING_FOR_SLOT_AND_PLAN' } })), { kind: 'reinit' });
  t.deepEqual(decideMemberAction(observe({ state: reinit, lifecycle: { kind: 'register', reason: 'REGISTRATION_CHANGED' } })), { kind: 'none', reason: 'NOT_SETTLED' });
});

test('reinit never empties the primary, foreign data, or a member with nothing to clone from', (t) => {
  const onLeader = decideMemberAction(observe({ self: 'n1', state: withAction('n1', action({ kind: 'reinit' })), postgres: { running: true, role: 'primary' } }));
  t.like(onLeader, { kind: 'fail', reason: 'IS_PRIMARY' });
  const reinit = withAction('n2', action({ kind: 'reinit' }));
  t.like(decideMemberAction(observe({ state: reinit, postgres: { running: true, role: 'primary' } })), { kind: 'fail', reason: 'IS_PRIMARY' });
  t.like(decideMemberAction(observe({ state: reinit, dataDir: { kind: 'foreign', entries: 3 } })), { kind: 'fail', reason: 'FOREIGN_DATA' });
  const other = { kind: 'pgdata', systemIdentifier: '42', wasPrimary: false, timeline: 1, cleanShutdownLsn: null } as const;
  t.like(decideMemberAction(observe({ state: reinit, dataDir: other })), { kind: 'fail', reason: 'FOREIGN_DATA' });
  const leaderless = withAction('n2', action({ kind: 'reinit' }), { ...runningCluster(), leader: null });
  t.like(decideMemberAction(observe({ state: leaderless })), { kind: 'fail', reason: 'NO_PRIMARY' });
});
