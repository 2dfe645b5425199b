import test from 'ava';
import { applyCommand } from '../../../src/cluster/apply.js';
import { parseCommand, type ClusterCommandInput } from '../../../src/cluster/commands.js';
import type { ClusterState } from '../../../src/cluster/state.js';
import { LEARNER_CATCH_UP_SLACK_ENTRIES, planMembership, type LeaderView } from '../../../src/node/membership-plan.js';
import type { ProgressStatus } from '../../../src/raft/core/types.js';
import { runningCluster, T0_MS } from '../cluster/helpers.js';

function apply(state: ClusterState, input: ClusterCommandInput): ClusterState {
  const outcome = applyCommand(state, parseCommand(input));
  if (!outcome.result.ok) throw new Error(`${input.type} refused: ${outcome.result.reason}`);
  return outcome.state;
}

const intent = (member: string, target: 'member' | 'removed'): ClusterCommandInput => ({
  type: 'setMembership',
  atMs: T0_MS + 1,
  member,
  target,
  raftAddress: target === 'member' ? `${member}:7400` : null,
  source: 'operator',
  by: 'operator',
});

const progress = (match: number, recentActive = true): ProgressStatus => ({ match, next: match + 1, state: 'replicate', recentActive, paused: false, inflight: 0, learner: false });

function view(voters: string[], learners: string[] = [], extra: Record<string, ProgressStatus> = {}, lastIndex = 500): LeaderView {
  return { self: 'n1', confState: { voters, learners }, lastIndex, progress: { n2: progress(lastIndex), n3: progress(lastIndex), ...extra } };
}

test('nothing requested: nothing to do', (t) => {
  t.is(planMembership(runningCluster(), view(['n1', 'n2', 'n3'])), null);
});

test('a requested member joins as a learner, then is promoted once caught up and active', (t) => {
  const state = apply(runningCluster(), intent('n4', 'member'));
  t.deepEqual(planMembership(state, view(['n1', 'n2', 'n3'])), { kind: 'addLearner', member: 'n4', address: 'n4:7400' });
  const behind = planMembership(state, view(['n1', 'n2', 'n3'], ['n4'], { n4: progress(500 - LEARNER_CATCH_UP_SLACK_ENTRIES - 1) }));
  t.is(behind?.kind, 'wait');
  t.regex(behind?.kind === 'wait' ? behind.reason : '', /catching up/);
  t.is(planMembership(state, view(['n1', 'n2', 'n3'], ['n4'], { n4: progress(500, false) }))?.kind, 'wait', 'not promoted while it does not answer');
  t.deepEqual(planMembership(state, view(['n1', 'n2', 'n3'], ['n4'], { n4: progress(500 - LEARNER_CATCH_UP_SLACK_ENTRIES) })), { kind: 'promote', member: 'n4', address: 'n4:7400' });
  t.is(planMembership(state, view(['n1', 'n2', 'n3', 'n4'])), null);
});

test('a removed member leaves the configuration, then its registration is forgotten (not while in sync)', (t) => {
  const state = apply(runningCluster(), intent('n3', 'removed'));
  t.deepEqual(planMembership(state, view(['n1', 'n2', 'n3'])), { kind: 'removeNode', member: 'n3' });
  t.deepEqual(planMembership(state, view(['n1', 'n2'])), { kind: 'forgetMember', member: 'n3' });
  const inSync = { ...state, sync: { members: ['n3'], epoch: state.sync.epoch + 1 } };
  t.is(planMembership(inSync, view(['n1', 'n2']))?.kind, 'wait');
  const forgotten = apply(state, { type: 'removeMember', atMs: T0_MS + 2, member: 'n3' });
  t.is(planMembership(forgotten, view(['n1', 'n2'])), null);
});

test('the last voter is never removed; a wait does not block another member\'s step', (t) => {
  let state = apply(runningCluster(), intent('n2', 'removed'));
  t.is(planMembership(state, view(['n2']))?.kind, 'wait');
  state = apply(state, intent('n4', 'member'));
  t.deepEqual(planMembership(state, view(['n2'])), { kind: 'addLearner', member: 'n4', address: 'n4:7400' });
});

test('a voter unreachable past the limit is replaced once a caught-up learner waits; never the primary, never before the limit', (t) => {
  const state = apply(runningCluster(), intent('n4', 'member'));
  const primary = state.leader!.member;
  const dead = ['n2', 'n3'].find((n) => n !== primary)!;
  const base = view(['n1', 'n2', 'n3'], ['n4'], { n4: progress(500), [dead]: progress(100, false) });
  // Without replacement, the learner is simply promoted; with it, it waits while a voter is unreachable.
  t.is(planMembership(state, base)?.kind, 'promote');
  const early = planMembership(state, { ...base, unreachableMs: { [dead]: 299_000 }, replaceAfterMs: 300_000 });
  t.is(early?.kind, 'wait');
  t.regex(early?.kind === 'wait' ? early.reason : '', new RegExp(`promoted once ${dead} answers again`));
  t.is(planMembership(state, { ...base, unreachableMs: {}, replaceAfterMs: 300_000 })?.kind, 'promote', 'every voter answers: promoted at once');
  const due = { ...base, unreachableMs: { [dead]: 300_000 }, replaceAfterMs: 300_000 };
  t.deepEqual(planMembership(state, due), { kind: 'replace', member: dead, by: 'n4', unreachableMs: 300_000 });
  // A learner still catching up replaces nobody.
  t.is(planMembership(state, { ...due, progress: { ...due.progress, n4: progress(400) } })?.kind, 'wait');
  // Once marked removed, the ordinary steps follow: out of the configuration, then the learner's promotion.
  const marked = apply(state, intent(dead, 'removed'));
  t.deepEqual(planMembership(marked, due), { kind: 'removeNode', member: dead });
  // The primary is never replaced: failover comes first.
  const primaryDown = { ...due, unreachableMs: { [primary]: 400_000 }, progress: { ...due.progress, [dead]: progress(500), [primary]: progress(1, false) } };
  t.is(planMembership(state, primaryDown)?.kind, 'promote');
});
