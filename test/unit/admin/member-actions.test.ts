/**
 * Restart, Reload, Reinit and CancelMemberActions over real gRPC with
 * mutual TLS against the real cluster state machine (MemoryBackend): the
 * request is checked whole, recorded per member, and waited for; the HA
 * layer's part (the member starting and ending its action) is played by
 * commands applied as another node would.
 */
import test, { type ExecutionContext } from 'ava';
import { watchEventsOf } from '../../../src/admin/watch-events.js';
import { applyCommand } from '../../../src/cluster/apply.js';
import type { CommandOf } from '../../../src/cluster/commands.js';
import { cmd, runningCluster, T0_MS } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { connectClient, MemoryBackend, serveAdmin, refused } from './helpers.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

async function setup(t: ExecutionContext, backend = new MemoryBackend(runningCluster())) {
  const server = await serveAdmin(t, pki, backend);
  const client = await connectClient(t, pki, server.address);
  return { backend, server, client };
}

/** Each member's HA loop: take up every recorded action, then end it with `status`. */
function membersAct(backend: MemoryBackend, status: 'done' | 'failed' | 'skipped' = 'done'): void {
  backend.reactTo('requestMemberAction', (event) => {
    const c = event.command as CommandOf<'requestMemberAction'>;
    backend.apply({ type: 'updateMemberAction', atMs: backend.wallMs + 10, member: c.member, id: c.id, status: 'running' });
    backend.apply({ type: 'updateMemberAction', atMs: backend.wallMs + 20, member: c.member, id: c.id, status, detail: `${c.kind} of ${c.member} ${status}` });
  });
}


test('Restart of a named replica: recorded for it, answered once it ended, with its detail', async (t) => {
  const { backend, client } = await setup(t);
  membersAct(backend);
  const result = await client.restart({ members: ['n2'], by: 'alice' });
  t.deepEqual(backend.proposed.map((c) => [c.type, 'member' in c ? c.member : null]), [['requestMemberAction', 'n2']]);
  t.is(result.actions.length, 1);
  t.like(result.actions[0], { member: 'n2', kind: 'restart', status: 'done', by: 'alice (certificate n2)', pendingOnly: false, scheduledAt: null, detail: 'restart of n2 done' });
  t.truthy(result.actions[0]!.startedAt);
  t.regex(result.message, /^restart: n2 done \(restart of n2 done\)$/);
  const status = await client.clusterStatus();
  t.like(status.members.find((m) => m.name === 'n2')?.action, { status: 'done', kind: 'restart' });
  t.is(status.members.find((m) => m.name === 'n3')?.action, null);
});

test('Restart by role: replicas are every member but the leader holder; any is all; the answer is by member', async (t) => {
  const { backend, client } = await setup(t);
  membersAct(backend, 'skipped');
  const replicas = await client.restart({ role: 'replica', pending: true });
  t.deepEqual(replicas.actions.map((a) => [a.member, a.status, a.pendingOnly]), [['n2', 'skipped', true], ['n3', 'skipped', true]]);
  const primary = await client.reload({ role: 'primary' });
  t.deepEqual(primary.actions.map((a) => [a.member, a.kind]), [['n1', 'reload']]);
  const all = await client.reload({});
  t.deepEqual(all.actions.map((a) => a.member), ['n1', 'n2', 'n3']);
});

test('A scheduled restart is answered at once, pending with its time; cancel withdraws it; nothing left to cancel: NOT_FOUND', async (t) => {
  const { backend, client } = await setup(t);
  const at = new Date(backend.wallMs + 3_600_000).toISOString();
  const result = await client.restart({ members: ['n3'], scheduledAt: at });
  t.like(result.actions[0], { member: 'n3', status: 'pending', scheduledAt: at });
  t.regex(result.message, /scheduled the restart of n3 for .*: cancel with pgherdctl restart --cancel/);
  const cancelled = await client.cancelMemberActions({ by: 'bob' });
  t.like(cancelled.actions[0], { member: 'n3', status: 'cancelled', detail: 'cancelled by bob (certificate n2)' });
  await refused(t, backend, client.cancelMemberActions(), 'NOT_FOUND', 'NO_ACTION', /no pending restart, reload or reinit to cancel/);
});

test('Nobody acts within timeout_ms: answered with the action still pending (not an error), which stays recorded', async (t) => {
  const { backend, client } = await setup(t);
  const result = await client.reinit({ members: ['n2'], timeoutMs: 300 });
  t.like(result.actions[0], { member: 'n2', kind: 'reinit', status: 'pending' });
  t.regex(result.message, /not ended after \d+ ms: n2/);
  t.is(backend.machine.state.actions['n2']?.status, 'pending');
});

test('Refusals name the problem and change nothing', async (t) => {
  const { backend, client } = await setup(t);
  await refused(t, backend, client.restart({ members: ['n2', 'n9'] }), 'NOT_FOUND', 'UNKNOWN_MEMBER', /n9 is not a member of the cluster \(members: n1, n2, n3\)/);
  await refused(t, backend, client.reinit({ members: ['n1', 'n2'] }), 'FAILED_PRECONDITION', 'MEMBER_IS_LEADER', /n1 is the primary: reinit re-clones a replica .* switch over first/);
  await refused(t, backend, client.restart({ members: ['n2'], role: 'primary' }), 'FAILED_PRECONDITION', 'NO_MEMBERS', /none of n2 has the role primary: nothing to restart/);
  await refused(t, backend, client.reload({ role: 'master' as 'primary' }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^role: expected one of primary, replica, any/);
  await refused(t, backend, client.reinit({ members: [] }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^members: is required/);
  await refused(t, backend, client.restart({ members: ['N 2'] }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^members: expected a member name/);
  await refused(t, backend, client.restart({ scheduledAt: '2001-01-01T00:00:00Z' }), 'INVALID_ARGUMENT', 'SCHEDULED_IN_PAST', /scheduled_at: .* is not in the future/);
  await refused(t, backend, client.restart({ timeoutMs: 700_000 }), 'INVALID_ARGUMENT', 'INVALID_FIELD', /^timeout_ms: expected 0/);
  backend.apply({ type: 'requestMemberAction', atMs: T0_MS + 10, member: 'n3', id: 'x1', kind: 'reload', by: 'carol' });
  await refused(t, backend, client.restart({}), 'ALREADY_EXISTS', 'ACTION_PENDING', /n3: pending reload x1 requested by carol/);
});

test('Watch events: requested, started, ended, each saying who and what', (t) => {
  let state = runningCluster();
  const apply = (input: Parameters<typeof cmd>[0]) => {
    const command = cmd(input);
    const outcome = applyCommand(state, command);
    const events = watchEventsOf(state, outcome.state, { command, result: outcome.result, index: 9 });
    state = outcome.state;
    return events;
  };
  const [requested] = apply({ type: 'requestMemberAction', atMs: T0_MS + 10, member: 'n2', id: 'r1', kind: 'restart', pendingOnly: true, by: 'alice' });
  t.like(requested, { type: 'action_requested', member: 'n2', text: 'alice asked n2 to restart if a restart is pending (r1)', details: { id: 'r1', status: 'pending', pendingOnly: true } });
  const [started] = apply({ type: 'updateMemberAction', atMs: T0_MS + 20, member: 'n2', id: 'r1', status: 'running' });
  t.like(started, { type: 'action_started', text: 'n2 started its restart (r1)' });
  const [ended] = apply({ type: 'updateMemberAction', atMs: T0_MS + 30, member: 'n2', id: 'r1', status: 'failed', detail: 'boom' });
  t.like(ended, { type: 'action_ended', text: "n2's restart failed: boom (r1)", details: { status: 'failed', detail: 'boom' } });
  t.deepEqual(apply({ type: 'updateMemberAction', atMs: T0_MS + 40, member: 'n2', id: 'r1', status: 'done' }), [], 'a refused update says nothing');
});
