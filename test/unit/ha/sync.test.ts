import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { applyCommand } from '../../../src/cluster/apply.js';
import { parseCommand } from '../../../src/cluster/commands.js';
import { DEFAULT_TAGS, initialClusterState, type ClusterState, type MemberTags } from '../../../src/cluster/state.js';
import { parseDynamicConfig } from '../../../src/config/dynamic.js';
import {
  decideSync,
  renderSssn,
  sssnMembers,
  SYNC_REASONS,
  type CurrentSssn,
  type ReplicationRow,
  type SynchronousStandbyNames,
} from '../../../src/ha/sync.js';

type Mode = 'off' | 'on' | 'strict';
const NAMES = ['n1', 'n2', 'n3', 'n4'];

function cluster(options: { mode?: Mode; count?: number; sync?: string[]; tags?: Record<string, Partial<MemberTags>> } = {}): ClusterState {
  const members = Object.fromEntries(
    NAMES.map((name) => [
      name,
      {
        registration: { raftAddress: `${name}:7400`, postgresHost: name, postgresPort: 5432, httpAddress: `${name}:8008`, tags: { ...DEFAULT_TAGS, ...options.tags?.[name] }, registeredAtMs: 1 },
        status: null,
      },
    ]),
  );
  return {
    ...initialClusterState(),
    config: { version: 1, values: parseDynamicConfig({ synchronous_mode: options.mode ?? 'on', synchronous_node_count: options.count ?? 1 }) },
    members,
    epoch: 3,
    leader: { member: 'n1', epoch: 3, timeline: 1, sinceMs: 1, lastRenewal: { atMs: 1, seq: 1 } },
    lastPrimary: { member: 'n1', timeline: 1 },
    sync: { members: options.sync ?? [], epoch: 5 },
  };
}

const first = (...names: string[]): SynchronousStandbyNames => ({ kind: 'first', count: names.length, names });
const current = (value: SynchronousStandbyNames, setAtLsn = '0/100'): CurrentSssn => ({ value, setAtLsn });
const row = (name: string, syncState = 'async', state = 'streaming', flushLsn = '0/200'): ReplicationRow => ({ applicationName: name, state, syncState, flushLsn });

test('only the leader key holder manages synchronous replication', (t) => {
  t.deepEqual(decideSync({ state: cluster(), self: 'n2', currentSssn: null, replication: [], syncConfirmed: true }), { kind: 'none', reason: 'NOT_PRIMARY' });
  t.deepEqual(decideSync({ state: { ...cluster(), leader: null }, self: 'n1', currentSssn: null, replication: [], syncConfirmed: true }), { kind: 'none', reason: 'NOT_PRIMARY' });
});

test('addition: sssn is widened first; sync is recorded only once the standby shows as sync', (t) => {
  const state = cluster();
  t.deepEqual(decideSync({ state, self: 'n1', currentSssn: null, replication: [row('n2')], syncConfirmed: true }), { kind: 'setSssn', value: first('n2'), reason: 'SSSN_UPDATE' });
  // In sssn, but pg_stat_replication still says async (the reload has not reached the walsender).
  t.deepEqual(decideSync({ state, self: 'n1', currentSssn: current(first('n2')), replication: [row('n2', 'async')], syncConfirmed: true }), { kind: 'none', reason: 'WAITING_FOR_STANDBY' });
  t.deepEqual(decideSync({ state, self: 'n1', currentSssn: current(first('n2')), replication: [row('n2', 'sync')], syncConfirmed: true }), {
    kind: 'recordSync',
    members: ['n2'],
    expectedEpoch: 5,
    leaderEpoch: 3,
    reason: 'SYNC_ADD',
  });
  t.is(decideSync({ state, self: 'n1', currentSssn: current(first('n2')), replication: [row('n2', 'quorum')], syncConfirmed: true }).kind, 'recordSync');
});

test('addition waits until the standby has flushed the WAL written when sssn changed', (t) => {
  const state = cluster();
  const input = { state, self: 'n1', currentSssn: current(first('n2'), '0/300'), syncConfirmed: true };
  t.deepEqual(decideSync({ ...input, replication: [row('n2', 'sync', 'streaming', '0/2FF')] }), { kind: 'none', reason: 'WAITING_FOR_STANDBY' });
  t.deepEqual(decideSync({ ...input, replication: [row('n2', 'sync', 'streaming', null as unknown as string)] }), { kind: 'none', reason: 'WAITING_FOR_STANDBY' });
  t.is(decideSync({ ...input, replication: [row('n2', 'sync', 'streaming', '0/300')] }).kind, 'recordSync');
});

test('in sync: nothing to do', (t) => {
  const state = cluster({ sync: ['n2'] });
  t.deepEqual(decideSync({ state, self: 'n1', currentSssn: current(first('n2')), replication: [row('n2', 'sync'), row('n3')], syncConfirmed: true }), { kind: 'none', reason: 'IN_SYNC' });
});

test('removal: out of sync first, then out of sssn', (t) => {
  const state = cluster({ sync: ['n2'] });
  const gone = decideSync({ state, self: 'n1', currentSssn: current(first('n2')), replication: [row('n2', 'sync', 'catchup')], syncConfirmed: true });
  t.deepEqual(gone, { kind: 'recordSync', members: [], expectedEpoch: 5, leaderEpoch: 3, reason: 'SYNC_REMOVE' });
  const after = { ...state, sync: { members: [], epoch: 6 } };
  t.deepEqual(decideSync({ state: after, self: 'n1', currentSssn: current(first('n2')), replication: [], syncConfirmed: true }), { kind: 'setSssn', value: null, reason: 'SSSN_CLEAR' });
});

test('a standby that stops streaming is replaced: removed from sync, then sssn swapped, then the new one recorded', (t) => {
  let state = cluster({ sync: ['n2'] });
  const replication = [row('n3', 'async')];
  const d1 = decideSync({ state, self: 'n1', currentSssn: current(first('n2')), replication, syncConfirmed: true });
  t.like(d1, { kind: 'recordSync', members: [], reason: 'SYNC_REMOVE' });
  state = { ...state, sync: { members: [], epoch: 6 } };
  t.deepEqual(decideSync({ state, self: 'n1', currentSssn: current(first('n2')), replication, syncConfirmed: true }), { kind: 'setSssn', value: first('n3'), reason: 'SSSN_UPDATE' });
});

test('nosync, unregistered, non-streaming and the primary itself are never desired', (t) => {
  const state = cluster({ count: 4, tags: { n3: { nosync: true } } });
  const replication = [row('n2', 'async', 'catchup'), row('n3'), row('n4'), row('stranger'), row('n1')];
  t.deepEqual(decideSync({ state, self: 'n1', currentSssn: null, replication, syncConfirmed: true }), { kind: 'setSssn', value: first('n4'), reason: 'SSSN_UPDATE' });
});

test('a primary that was itself in sync (promoted) removes itself first', (t) => {
  const state = { ...cluster({ sync: ['n1', 'n2'], count: 2 }) };
  t.like(decideSync({ state, self: 'n1', currentSssn: current(first('n1', 'n2')), replication: [row('n2', 'sync')], syncConfirmed: true }), {
    kind: 'recordSync',
    members: ['n2'],
    reason: 'SYNC_REMOVE',
  });
});

test('synchronous_node_count bounds the set; members already in sync are preferred over names', (t) => {
  const replication = [row('n2'), row('n3'), row('n4')];
  t.deepEqual(decideSync({ state: cluster({ count: 2 }), self: 'n1', currentSssn: null, replication, syncConfirmed: true }), { kind: 'setSssn', value: first('n2', 'n3'), reason: 'SSSN_UPDATE' });
  const stable = cluster({ count: 1, sync: ['n4'] });
  t.deepEqual(decideSync({ state: stable, self: 'n1', currentSssn: current(first('n4')), replication: [row('n2'), row('n3'), row('n4', 'sync')], syncConfirmed: true }), {
    kind: 'none',
    reason: 'IN_SYNC',
  });
});

test('mode off: empty sync, then empty sssn', (t) => {
  const state = cluster({ mode: 'off', sync: ['n2'] });
  t.like(decideSync({ state, self: 'n1', currentSssn: current(first('n2')), replication: [row('n2', 'sync')], syncConfirmed: true }), { kind: 'recordSync', members: [], reason: 'MODE_OFF' });
  const cleared = { ...state, sync: { members: [], epoch: 6 } };
  t.deepEqual(decideSync({ state: cleared, self: 'n1', currentSssn: current(first('n2')), replication: [row('n2', 'sync')], syncConfirmed: true }), { kind: 'setSssn', value: null, reason: 'MODE_OFF' });
  t.deepEqual(decideSync({ state: cleared, self: 'n1', currentSssn: null, replication: [row('n2', 'sync')], syncConfirmed: true }), { kind: 'none', reason: 'MODE_OFF' });
});

test('strict without an eligible standby blocks writes explicitly; on degrades to asynchronous', (t) => {
  const strict = decideSync({ state: cluster({ mode: 'strict' }), self: 'n1', currentSssn: null, replication: [], syncConfirmed: true });
  t.deepEqual(strict, { kind: 'setSssn', value: { kind: 'blockWrites' }, reason: 'SSSN_BLOCK_WRITES' });
  t.is(renderSssn({ kind: 'blockWrites' }), '*');
  t.deepEqual(sssnMembers({ kind: 'blockWrites' }), []);
  t.deepEqual(decideSync({ state: cluster({ mode: 'on' }), self: 'n1', currentSssn: null, replication: [], syncConfirmed: true }), { kind: 'none', reason: 'IN_SYNC' });
  t.deepEqual(decideSync({ state: cluster({ mode: 'on' }), self: 'n1', currentSssn: current({ kind: 'blockWrites' }), replication: [], syncConfirmed: true }), {
    kind: 'setSssn',
    value: null,
    reason: 'SSSN_CLEAR',
  });
  // strict, a standby appears: blockWrites -> FIRST 1 (n2).
  t.deepEqual(decideSync({ state: cluster({ mode: 'strict' }), self: 'n1', currentSssn: current({ kind: 'blockWrites' }), replication: [row('n2')], syncConfirmed: true }), {
    kind: 'setSssn',
    value: first('n2'),
    reason: 'SSSN_UPDATE',
  });
});

test('sssn loses a name only when the local sync is CAS-confirmed; otherwise the current set is committed again first', (t) => {
  // A restarted primary: its applied state may not show the standby it recorded before the crash.
  const stale = cluster({ sync: [] });
  const input = { state: stale, self: 'n1', currentSssn: current(first('n2')), replication: [row('n3')] };
  t.deepEqual(decideSync({ ...input, syncConfirmed: false }), { kind: 'recordSync', members: [], expectedEpoch: 5, leaderEpoch: 3, reason: 'SYNC_CONFIRM' });
  t.deepEqual(decideSync({ ...input, syncConfirmed: true }), { kind: 'setSssn', value: first('n3'), reason: 'SSSN_UPDATE' });
  // Widening or blocking needs no confirmation.
  t.deepEqual(decideSync({ ...input, currentSssn: current(first('n2')), replication: [row('n2'), row('n3')], state: cluster({ count: 2 }), syncConfirmed: false }), {
    kind: 'setSssn',
    value: first('n2', 'n3'),
    reason: 'SSSN_UPDATE',
  });
  t.like(decideSync({ state: cluster({ mode: 'on' }), self: 'n1', currentSssn: current({ kind: 'blockWrites' }), replication: [], syncConfirmed: false }), { kind: 'recordSync', reason: 'SYNC_CONFIRM' });
  t.like(decideSync({ state: cluster({ mode: 'strict' }), self: 'n1', currentSssn: current(first('n2')), replication: [], syncConfirmed: false }), { kind: 'setSssn', value: { kind: 'blockWrites' } });
});

test('renderSssn and the reason list', (t) => {
  t.is(renderSssn(null), '');
  t.is(renderSssn(first('a', 'b')), 'FIRST 2 ("a", "b")');
  t.is(new Set(SYNC_REASONS).size, SYNC_REASONS.length);
});

// ---- property: sync ⊆ sssn after any sequence of steps ----

/** sssn covers the sync set: every recorded member is waited for (blockWrites waits for everyone: nothing is acknowledged). */
function covers(sssn: SynchronousStandbyNames | null, sync: readonly string[]): boolean {
  if (sssn?.kind === 'blockWrites') return true;
  const names = sssnMembers(sssn);
  return sync.every((name) => names.includes(name));
}

type EnvStep =
  | { kind: 'rows'; rows: { name: string; state: 'streaming' | 'catchup'; sync: boolean; flush: number }[] }
  | { kind: 'mode'; mode: Mode; count: number }
  | { kind: 'tags'; name: string; nosync: boolean }
  | { kind: 'decide' }
  /** Decide on an older applied state (a lagging or restarted agent). */
  | { kind: 'staleDecide'; back: number }
  | { kind: 'promote'; name: string };

const envStep: fc.Arbitrary<EnvStep> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: 'decide' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('staleDecide' as const), back: fc.integer({ min: 1, max: 12 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('rows' as const),
      rows: fc.array(fc.record({ name: fc.constantFrom(...NAMES), state: fc.constantFrom('streaming' as const, 'catchup' as const), sync: fc.boolean(), flush: fc.nat(1000) }), { maxLength: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mode' as const), mode: fc.constantFrom<Mode>('off', 'on', 'strict'), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tags' as const), name: fc.constantFrom(...NAMES), nosync: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('promote' as const), name: fc.constantFrom(...NAMES) }) },
);

test('property: sync ⊆ sssn holds after any sequence of steps, and every decision applies', (t) => {
  fc.assert(
    fc.property(fc.array(envStep, { maxLength: 60 }), (steps) => {
      let state = cluster({ mode: 'on' });
      let sssn: CurrentSssn | null = null;
      let rows: ReplicationRow[] = [];
      let walLsn = 0;
      let atMs = 10;
      let confirmedEpoch: number | null = null;
      const history: ClusterState[] = [];
      for (const s of steps) {
        history.push(state);
        walLsn += 16;
        if (s.kind === 'rows') {
          rows = s.rows.map((r) => row(r.name, r.sync && sssnMembers(sssn?.value ?? null).includes(r.name) ? 'sync' : 'async', r.state, `0/${r.flush.toString(16)}`));
        } else if (s.kind === 'mode') {
          state = { ...state, config: { ...state.config, values: { ...state.config.values, synchronous_mode: s.mode, synchronous_node_count: s.count } } };
        } else if (s.kind === 'tags') {
          const member = state.members[s.name]!;
          state = { ...state, members: { ...state.members, [s.name]: { ...member, registration: { ...member.registration, tags: { ...member.registration.tags, nosync: s.nosync } } } } };
        } else if (s.kind === 'promote') {
          // A failover to another node: the new primary starts with writes blocked (the simulator's executor does the same).
          const outcome = applyCommand(state, parseCommand({ type: 'promote', atMs: atMs++, candidate: s.name, expectedEpoch: state.epoch, timeline: state.lastPrimary.timeline + 1, reason: 'test', kind: 'failover', switchLsn: '0/1' }));
          if (outcome.result.ok) {
            state = outcome.state;
            // Blocked too when the mode is off but a sync set is still recorded (the rules empty it first).
            const blocked = state.config.values.synchronous_mode !== 'off' || state.sync.members.length > 0;
            sssn = blocked ? { value: { kind: 'blockWrites' }, setAtLsn: `0/${walLsn.toString(16)}` } : null;
            rows = [];
            confirmedEpoch = null;
          }
        } else {
          const self = state.leader!.member;
          const view = s.kind === 'staleDecide' ? (history[Math.max(0, history.length - 1 - s.back)] ?? state) : state;
          if (view.leader?.member !== self) continue;
          const decision = decideSync({ state: view, self, currentSssn: sssn, replication: rows, syncConfirmed: confirmedEpoch === view.sync.epoch });
          if (decision.kind === 'setSssn') {
            sssn = decision.value === null ? null : { value: decision.value, setAtLsn: `0/${walLsn.toString(16)}` };
          } else if (decision.kind === 'recordSync') {
            const outcome = applyCommand(state, parseCommand({ type: 'setSync', atMs: atMs++, members: decision.members, expectedEpoch: decision.expectedEpoch, leaderEpoch: decision.leaderEpoch }));
            if (!outcome.result.ok) {
              // Only a decision taken on a stale view may be refused (the CAS is what protects it).
              if (s.kind !== 'staleDecide') throw new Error(`setSync refused: ${outcome.result.code} ${outcome.result.reason}`);
              confirmedEpoch = null;
            } else {
              state = outcome.state;
              confirmedEpoch = state.sync.epoch;
            }
          }
        }
        // After a promotion the inherited sync set is covered by blockWrites; from then on every step keeps it covered.
        if (!covers(sssn?.value ?? null, state.sync.members)) return false;
      }
      return true;
    }),
    {
      numRuns: 1500,
      examples: [
        [
          [
            // n2 becomes the synchronous standby; then it stops streaming while an agent decides on a view from before it was recorded.
            { kind: 'rows', rows: [{ name: 'n2', state: 'streaming', sync: true, flush: 1000 }] },
            { kind: 'decide' },
            { kind: 'rows', rows: [{ name: 'n2', state: 'streaming', sync: true, flush: 1000 }] },
            { kind: 'decide' },
            { kind: 'rows', rows: [{ name: 'n3', state: 'streaming', sync: false, flush: 1000 }] },
            { kind: 'staleDecide', back: 3 },
          ],
        ],
      ],
    },
  );
  t.pass();
});

test('property: decisions converge — with a fixed environment, the steps reach a fixed point within 4 calls', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom<Mode>('off', 'on', 'strict'),
      fc.integer({ min: 1, max: 3 }),
      fc.subarray(['n2', 'n3', 'n4']),
      fc.subarray(['n2', 'n3', 'n4']),
      (mode, count, streaming, initialSync) => {
        let state = cluster({ mode, count, sync: [...initialSync].sort() });
        let sssn: CurrentSssn | null = initialSync.length > 0 ? current(first(...[...initialSync].sort()), '0/0') : null;
        for (let i = 0; i < 5; i++) {
          const members = sssnMembers(sssn?.value ?? null);
          const rows = streaming.map((name) => row(name, members.includes(name) ? 'sync' : 'async', 'streaming', '0/FFFF'));
          const decision = decideSync({ state, self: 'n1', currentSssn: sssn, replication: rows, syncConfirmed: true });
          if (decision.kind === 'none') return i <= 4;
          if (decision.kind === 'setSssn') sssn = decision.value === null ? null : current(decision.value, '0/10');
          else state = { ...state, sync: { members: decision.members, epoch: state.sync.epoch + 1 } };
        }
        return false;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test('sync.ts stays pure (as decide.ts; test/unit/purity.test.ts does not list it yet)', (t) => {
  const source = readFileSync(new URL('../../../src/ha/sync.ts', import.meta.url), 'utf8');
  for (const pattern of [/from ['"]node:/, /\bDate\.now\b|\bnew Date\b|performance\.now/, /\bMath\.random\b/, /\bPromise\b|\basync\b|\bawait\b/, /\bprocess\./]) {
    t.false(pattern.test(source), String(pattern));
  }
});
