/**
 * Watch over real gRPC with real mutual TLS, against the real cluster state
 * machine (MemoryBackend): commands applied as committed entries become
 * numbered events; filters, the snapshot, the bounded buffer for a client
 * that stops reading, and every way a stream ends (client cancel, agent
 * stopping, overflow) releasing the server's subscription.
 */
import { Client, credentials as grpcCredentials, Metadata, status as Status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import type { AdminClient } from '../../../src/admin/client.js';
import { AdminCallError } from '../../../src/admin/errors.js';
import { adminDefinition } from '../../../src/admin/proto.js';
import type { AdminServiceOptions } from '../../../src/admin/service.js';
import type { WatchEventView } from '../../../src/admin/types.js';
import type { WireWatchEvent } from '../../../src/admin/wire.js';
import type { ClusterCommandInput } from '../../../src/cluster/commands.js';
import { runningCluster, T0_MS } from '../cluster/helpers.js';
import { makePki, removeDir, type Pki } from '../tls/helpers.js';
import { connectClient, MemoryBackend, serveAdmin, type AdminServer } from './helpers.js';

let pki: Pki;
test.before(async () => {
  pki = await makePki();
});
test.after.always(async () => {
  if (pki) await removeDir(pki.dir);
});

async function setup(t: ExecutionContext, options: AdminServiceOptions = {}) {
  const backend = new MemoryBackend(runningCluster());
  const server = await serveAdmin(t, pki, backend, options);
  const client = await connectClient(t, pki, server.address);
  return { backend, server, client };
}

/** Poll until `condition` holds (fails the test after timeoutMs). */
async function until(t: ExecutionContext, condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      t.fail(`timed out waiting for ${what}`);
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A watch through AdminClient, its events collected; `done` settles with the watch (its error, or null). */
function watch(t: ExecutionContext, client: AdminClient, options: Parameters<AdminClient['watch']>[0]) {
  const events: WatchEventView[] = [];
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const done = client.watch(options, (event) => events.push(event), abort.signal).then(
    () => null,
    (error: unknown) => error,
  );
  return { events, abort, done };
}

const listeners = (backend: MemoryBackend): number => backend.machine.listenerCount('applied');

const status = (member: string, state: string, atMs: number): ClusterCommandInput => ({
  type: 'updateMemberStatus',
  atMs,
  member,
  role: 'replica',
  state,
  timeline: 1,
  receiveLsn: '0/3000000',
  replayLsn: '0/3000000',
  flushLsn: null,
  lagBytes: 0,
});

const n4 = (atMs: number, tags = {}): ClusterCommandInput => ({ type: 'registerMember', atMs, member: 'n4', raftAddress: 'n4:7400', postgresHost: 'n4', postgresPort: 5432, httpAddress: 'n4:8008', tags });

test('Watch: the snapshot, then one numbered event per watched change, in log order; nothing for changes nobody watches', async (t) => {
  const { backend, client } = await setup(t);
  const { events } = watch(t, client, { snapshot: true });
  await until(t, () => events.length === 1, 'the snapshot');
  const snapshot = events[0]!;
  t.like(snapshot, { seq: 1, type: 'snapshot', member: null, index: 0 });
  t.regex(snapshot.text, /^primary n1 \(epoch 1, timeline 1\), 3 members, sync \[\], configuration version 0$/);
  t.like(snapshot.details, { leader: { member: 'n1', epoch: 1, timeline: 1 }, epoch: 1, pause: { paused: false }, switchover: null, syncMembers: [], configVersion: 0 });
  t.deepEqual((snapshot.details['members'] as { name: string }[]).map((m) => m.name), ['n1', 'n2', 'n3']);

  const at = (n: number): number => T0_MS + 100 + n;
  const commands: ClusterCommandInput[] = [
    status('n2', 'streaming', at(1)),
    status('n2', 'streaming', at(2)), // the same role and state: no event
    status('n2', 'not streaming', at(3)),
    { type: 'renewLease', atMs: at(4), member: 'n1', epoch: 1 }, // no event
    { type: 'setSync', atMs: at(5), members: ['n2'], expectedEpoch: 0, leaderEpoch: 1 },
    { type: 'setSync', atMs: at(6), members: ['n2'], expectedEpoch: 1, leaderEpoch: 1 }, // the same set: no event
    { type: 'setPause', atMs: at(7), paused: true, by: 'bob' },
    { type: 'setPause', atMs: at(8), paused: true, by: 'bob' }, // already paused: no event
    { type: 'patchConfig', atMs: at(9), expectedVersion: 0, patch: { postgresql_parameters: { work_mem: '64MB' } } },
    { type: 'requestSwitchover', atMs: at(10), from: 'n1', to: 'n2', scheduledAtMs: null },
    { type: 'cancelSwitchover', atMs: at(11) },
    { type: 'requestSwitchover', atMs: at(12), from: 'n1', to: null, scheduledAtMs: null },
    { type: 'promote', atMs: at(13), candidate: 'n2', expectedEpoch: 1, timeline: 2, reason: 'switchover', kind: 'switchover', switchLsn: '0/3000100' },
    { type: 'promote', atMs: at(14), candidate: 'n3', expectedEpoch: 7, timeline: 3, reason: 'x', kind: 'failover', switchLsn: '0/3000100' }, // refused: no event
    n4(at(15)),
    n4(at(16)), // re-registered unchanged: no event
    n4(at(17), { nofailover: true }),
    { type: 'removeMember', atMs: at(18), member: 'n4' },
    { type: 'releaseLeader', atMs: at(19), member: 'n2', epoch: 2 },
    { type: 'setPause', atMs: at(20), paused: false, by: 'alice' },
  ];
  const indexes = commands.map((command) => {
    backend.apply(command);
    return backend.raft().applied;
  });
  const expected = [
    ['member_status', 'n2', 1, 'n2 is replica, streaming (first report)'],
    ['member_status', 'n2', 3, 'n2 is replica, not streaming (was replica, streaming)'],
    ['sync_changed', null, 5, 'synchronous standbys [n2] (were [])'],
    ['paused', null, 7, 'paused by bob: no automatic failover'],
    ['config_changed', null, 9, 'configuration version 1: postgresql_parameters.work_mem null → "64MB"'],
    ['switchover_requested', 'n2', 10, 'switchover requested from n1 to n2, as soon as possible'],
    ['switchover_cancelled', 'n2', 11, 'the switchover from n1 to n2 was withdrawn: cancelled'],
    ['switchover_requested', 'n1', 12, 'switchover requested from n1 to the best candidate, as soon as possible'],
    ['leader_changed', 'n2', 13, 'n2 is the primary (switchover from n1): epoch 2, timeline 2; switchover'],
    ['member_joined', 'n4', 15, 'n4 joined (PostgreSQL n4:5432, peer n4:7400)'],
    ['member_updated', 'n4', 17, 'n4 registered again with changed tags'],
    ['member_left', 'n4', 18, 'n4 was removed from the cluster'],
    ['leader_released', 'n2', 19, 'n2 released the leader key (epoch 2): no primary until the next promotion'],
    ['resumed', null, 20, 'resumed by alice: automatic failover is on again'],
  ] as const;
  await until(t, () => events.length === 1 + expected.length, 'every event');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(events.length, 1 + expected.length, 'no further event');
  const seen = events.slice(1);
  t.deepEqual(
    seen.map((e) => [e.type, e.member, e.index, e.text]),
    expected.map(([type, member, n, text]) => [type, member, indexes[n - 1], text]),
  );
  t.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), 'numbered 1, 2, 3, ... without gaps');
  t.deepEqual(seen.map((e) => e.at), expected.map(([, , n]) => new Date(at(n)).toISOString()), "each at the change's own time");

  const byType = (type: string, nth = 0): Readonly<Record<string, unknown>> => seen.filter((e) => e.type === type)[nth]!.details;
  t.deepEqual(byType('member_status', 1), { role: 'replica', state: 'not streaming', timeline: 1, lagBytes: 0, previousRole: 'replica', previousState: 'streaming' });
  t.deepEqual(byType('sync_changed'), { members: ['n2'], previous: [], syncEpoch: 1 });
  t.deepEqual(byType('config_changed'), { version: 1, previousVersion: 0, changes: [{ key: 'postgresql_parameters.work_mem', from: null, to: '64MB' }] });
  t.like(byType('switchover_cancelled'), { from: 'n1', to: 'n2', scheduledAt: null, why: 'cancelled' });
  t.deepEqual(byType('leader_changed'), { kind: 'switchover', from: 'n1', to: 'n2', epoch: 2, timeline: 2, previousTimeline: 1, reason: 'switchover', switchLsn: '0/3000100', switchoverSettled: true });
  t.like(byType('member_updated'), { changed: ['tags'], tags: { nofailover: true } });
  t.deepEqual(byType('leader_released'), { epoch: 2 });
});

test('Watch with types: only those (the snapshot still first when asked for); an unknown type is INVALID_ARGUMENT', async (t) => {
  const { backend, client } = await setup(t);
  const filtered = watch(t, client, { types: ['paused', 'leader_changed'] });
  const withSnapshot = watch(t, client, { types: ['resumed'], snapshot: true });
  await until(t, () => withSnapshot.events.length === 1 && listeners(backend) === 1, 'both streams subscribed');
  backend.apply(status('n2', 'streaming', T0_MS + 100));
  backend.apply({ type: 'setPause', atMs: T0_MS + 101, paused: true, by: 'bob' });
  backend.apply({ type: 'setPause', atMs: T0_MS + 102, paused: false, by: 'bob' });
  backend.apply({ type: 'promote', atMs: T0_MS + 103, candidate: 'n3', expectedEpoch: 1, timeline: 2, reason: 'primary lost', kind: 'failover', switchLsn: '0/3000100' });
  await until(t, () => filtered.events.length === 2 && withSnapshot.events.length === 2, 'the filtered events');
  t.deepEqual(filtered.events.map((e) => [e.seq, e.type]), [[1, 'paused'], [2, 'leader_changed']]);
  t.is(filtered.events[1]!.text, 'n3 is the primary (failover from n1): epoch 2, timeline 2; primary lost');
  t.deepEqual(withSnapshot.events.map((e) => [e.seq, e.type]), [[1, 'snapshot'], [2, 'resumed']]);

  const bad = watch(t, client, { types: ['paused', 'leader_elected'] });
  const error = await bad.done;
  t.true(error instanceof AdminCallError);
  t.like(error, { status: 'INVALID_ARGUMENT', reason: 'INVALID_FIELD' });
  t.regex((error as AdminCallError).details, /^types: unknown event type "leader_elected"; expected some of snapshot, initialized, leader_changed/);
});

test('Watch: cancelling ends the server side; any number of streams share one subscription, released with the last', async (t) => {
  const { backend, server, client } = await setup(t);
  t.is(listeners(backend), 0);
  const first = watch(t, client, { snapshot: true });
  const second = watch(t, client, { snapshot: true });
  await until(t, () => first.events.length === 1 && second.events.length === 1, 'both snapshots');
  t.is(listeners(backend), 1, 'one subscription for both streams');
  t.is(server.service.watches.openCount, 2);
  first.abort.abort();
  t.is(await first.done, null, 'a cancelled watch resolves');
  await until(t, () => server.service.watches.openCount === 1, 'the server to see the cancel');
  t.is(listeners(backend), 1, 'the other stream still watches');
  backend.apply({ type: 'setPause', atMs: T0_MS + 100, paused: true, by: 'bob' });
  await until(t, () => second.events.length === 2, 'the event on the remaining stream');
  t.is(first.events.length, 1, 'nothing after the cancel');
  second.abort.abort();
  await until(t, () => server.service.watches.openCount === 0 && listeners(backend) === 0, 'every stream to end and the subscription to go');
  const ended = server.logs.filter((line) => line.event === 'admin.watch');
  t.deepEqual(ended.map((line) => line.fields['outcome']), ['cancelled', 'cancelled']);
  t.deepEqual(ended.map((line) => line.fields['events']), [1, 2]);
});

test('Watch: the agent stopping ends every stream with UNAVAILABLE (AGENT_STOPPING); later watches are refused', async (t) => {
  const { backend, server, client } = await setup(t);
  const open = watch(t, client, { snapshot: true });
  await until(t, () => open.events.length === 1, 'the snapshot');
  backend.apply({ type: 'setPause', atMs: T0_MS + 100, paused: true, by: 'bob' });
  server.service.stop();
  const error = await open.done;
  t.true(error instanceof AdminCallError, String(error));
  t.like(error, { status: 'UNAVAILABLE', reason: 'AGENT_STOPPING' });
  t.deepEqual(open.events.map((e) => e.type), ['snapshot', 'paused'], 'the events written before the stop arrive first');
  t.is(listeners(backend), 0);
  const late = await watch(t, client, {}).done;
  t.like(late, { status: 'UNAVAILABLE', reason: 'AGENT_STOPPING' });
});

test('Watch: an agent still starting answers UNAVAILABLE (AGENT_STARTING); more streams than the limit: RESOURCE_EXHAUSTED (TOO_MANY_WATCHES)', async (t) => {
  const starting = await serveAdmin(t, pki, undefined);
  const startingClient = await connectClient(t, pki, starting.address).catch(() => null);
  // connect() asks ClusterStatus first, which a starting agent refuses: reach it with a raw call instead.
  t.is(startingClient, null);
  const raw = rawWatch(t, starting, { types: [], snapshot: false });
  const refused = await raw.ended;
  t.is(refused.code, Status.UNAVAILABLE);
  t.is(refused.metadata.get('pgherd-reason')[0], 'AGENT_STARTING');

  const { client, server } = await setup(t, { watch: { streamsMax: 1 } });
  const one = watch(t, client, { snapshot: true });
  await until(t, () => one.events.length === 1, 'the first stream');
  const error = await watch(t, client, {}).done;
  t.like(error, { status: 'RESOURCE_EXHAUSTED', reason: 'TOO_MANY_WATCHES' });
  t.regex((error as AdminCallError).details, /already serves 1 watch streams/);
  one.abort.abort();
  await until(t, () => server.service.watches.openCount === 0, 'the slot to free');
  const again = watch(t, client, { snapshot: true });
  await until(t, () => again.events.length === 1, 'a stream in the freed slot');
});

/** A Watch call on a raw client with n2's certificate: its stream (paused to stop reading when asked), its events and how it ended. */
function rawWatch(t: ExecutionContext, server: AdminServer, request: { types: string[]; snapshot: boolean }) {
  const channel = grpcCredentials.createSsl(readFileSync(pki.ca.caCertPath), readFileSync(pki.n2.keyPath), readFileSync(pki.n2.certPath));
  const client = new Client(server.address, channel);
  t.teardown(() => client.close());
  const method = adminDefinition().watch;
  const stream: ClientReadableStream<WireWatchEvent> = client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new Metadata(), {});
  const events: WireWatchEvent[] = [];
  stream.on('data', (event: WireWatchEvent) => events.push(event));
  const ended = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
  t.teardown(() => stream.cancel());
  return { stream, events, ended };
}

test('Watch: a client that stops reading gets RESOURCE_EXHAUSTED (WATCH_OVERFLOW) once its bounded buffer fills; a reading client never does', async (t) => {
  const bufferEventsMax = 8;
  const { backend, server, client } = await setup(t, { watch: { bufferEventsMax } });
  let paused = false;
  const toggle = (n: number): void => {
    backend.apply({ type: 'setPause', atMs: T0_MS + 100 + n, paused: !paused, by: 'bob' });
    paused = !paused;
  };

  // A reader keeping up, one event at a time: 100 events with a buffer of 8, none lost.
  const reader = watch(t, client, { snapshot: true });
  await until(t, () => reader.events.length === 1, 'the reader subscribed');
  for (let n = 1; n <= 100; n += 1) {
    toggle(n);
    await until(t, () => reader.events.length === n + 1, `event ${n}`);
  }
  reader.abort.abort();
  await until(t, () => listeners(backend) === 0, 'the reader gone');

  // A client that stops reading: gRPC's flow control holds the events back in the agent until its buffer is full.
  const slow = rawWatch(t, server, { types: [], snapshot: true });
  await until(t, () => slow.events.length === 1, 'the slow client subscribed');
  slow.stream.pause();
  let applied = 0;
  while (listeners(backend) > 0) {
    if (applied >= 20_000) {
      t.fail(`no overflow after ${applied} events`);
      return;
    }
    toggle(201 + applied);
    applied += 1;
    if (applied % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  t.is(server.service.watches.openCount, 1, 'the call is over only once the client reads its status');
  t.false(server.logs.some((line) => line.fields['outcome'] === 'WATCH_OVERFLOW'), 'logged when the call is over, not yet');
  slow.stream.resume();
  const error = await slow.ended;
  t.is(error.code, Status.RESOURCE_EXHAUSTED, error.details);
  t.is(error.metadata.get('pgherd-reason')[0], 'WATCH_OVERFLOW');
  t.regex(error.details, new RegExp(`the client left ${bufferEventsMax} events unread \\(at most ${bufferEventsMax} are kept\\)`));
  const received = slow.events.length;
  t.true(received < 1 + applied, `the events after the overflow were not kept (${received} of ${1 + applied})`);
  t.deepEqual(slow.events.map((e) => Number(e.seq)), slow.events.map((_, i) => i + 1), 'what arrived has no gap');
  await until(t, () => server.service.watches.openCount === 0, 'the call to be over');
  t.like(server.logs.find((line) => line.event === 'admin.watch' && line.fields['outcome'] === 'WATCH_OVERFLOW'), { level: 'warn' });
});
