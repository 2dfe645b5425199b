import test from 'ava';
import { parseDynamicConfig } from '../../../src/config/dynamic.js';
import { DEFAULT_TAGS, initialClusterState, type ClusterState, type MemberTags } from '../../../src/cluster/state.js';
import { chooseFailoverCandidate, type CandidatePosition } from '../../../src/ha/candidates.js';

function cluster(options: { tags?: Record<string, Partial<MemberTags>>; sync?: string[]; mode?: 'off' | 'on' | 'strict'; primaryLsn?: string; maxLagBytes?: number } = {}): ClusterState {
  const base = initialClusterState();
  const names = ['n1', 'n2', 'n3', 'n4'];
  const members = Object.fromEntries(
    names.map((name, i) => [
      name,
      {
        registration: {
          raftAddress: `10.0.0.${i + 1}:7400`,
          postgresHost: `10.0.0.${i + 1}`,
          postgresPort: 5432,
          httpAddress: `10.0.0.${i + 1}:8008`,
          tags: { ...DEFAULT_TAGS, ...options.tags?.[name] },
          registeredAtMs: 1,
        },
        status:
          name === 'n1' && options.primaryLsn
            ? { role: 'primary' as const, state: 'running', timeline: 1, receiveLsn: null, replayLsn: null, flushLsn: options.primaryLsn, lagBytes: 0, archive: null, reportedAtMs: 1 }
            : null,
      },
    ]),
  );
  return {
    ...base,
    config: {
      version: 1,
      values: parseDynamicConfig({ synchronous_mode: options.mode ?? 'off', maximum_lag_on_failover_bytes: options.maxLagBytes ?? 1024 * 1024 }),
    },
    members,
    epoch: 3,
    leader: { member: 'n1', epoch: 3, timeline: 1, sinceMs: 1, lastRenewal: { atMs: 1, seq: 9 } },
    lastPrimary: { member: 'n1', timeline: 1 },
    sync: { members: options.sync ?? [], epoch: 1 },
  };
}

const at = (member: string, receiveLsn: string | null, extra: Partial<CandidatePosition> = {}): CandidatePosition => ({
  member,
  reachable: true,
  healthy: true,
  timeline: 1,
  receiveLsn,
  ...extra,
});

test('the highest WAL position wins; ties go to failover_priority, then to the name', (t) => {
  const state = cluster({ tags: { n3: { failover_priority: 5 } } });
  t.like(chooseFailoverCandidate(state, [at('n2', '0/5000000'), at('n3', '0/4000000')]), { ok: true, member: 'n2' });
  t.like(chooseFailoverCandidate(state, [at('n2', '0/5000000'), at('n3', '0/5000000')]), { ok: true, member: 'n3' });
  t.like(chooseFailoverCandidate(state, [at('n4', '0/5000000'), at('n2', '0/5000000')]), { ok: true, member: 'n2' });
});

test('positions above 2^53 bytes compare exactly', (t) => {
  const state = cluster({ maxLagBytes: 0 });
  const choice = chooseFailoverCandidate(state, [at('n2', 'FFFFFFFF/FFFFFFFE'), at('n3', 'FFFFFFFF/FFFFFFFF')]);
  t.like(choice, { ok: true, member: 'n3' });
  t.deepEqual(choice.excluded.map((e) => [e.member, e.reason]), [['n2', 'LAGGING']]);
});

test('every exclusion is named with its reason', (t) => {
  const state = cluster({ tags: { n2: { nofailover: true }, n4: { failover_priority: 0 } } });
  const choice = chooseFailoverCandidate(state, [
    at('n1', '0/9000000'),
    at('n2', '0/5000000'),
    at('n3', '0/5000000', { reachable: false }),
    at('n4', '0/5000000'),
    at('n9', '0/5000000'),
  ]);
  t.false(choice.ok);
  t.deepEqual(
    choice.excluded.map((e) => [e.member, e.reason]),
    [
      ['n1', 'IS_FAILED_PRIMARY'],
      ['n2', 'NOFAILOVER'],
      ['n3', 'UNREACHABLE'],
      ['n4', 'NOFAILOVER'],
      ['n9', 'UNKNOWN_MEMBER'],
    ],
  );
});

test('unhealthy, position-less and timeline-behind replicas are excluded', (t) => {
  const state = { ...cluster(), leader: { member: 'n1', epoch: 3, timeline: 2, sinceMs: 1, lastRenewal: { atMs: 1, seq: 1 } } };
  const choice = chooseFailoverCandidate(state, [
    at('n2', '0/5000000', { healthy: false, timeline: 2 }),
    at('n3', null, { timeline: 2 }),
    at('n4', '0/6000000', { timeline: 1 }),
  ]);
  t.deepEqual(
    choice.excluded.map((e) => [e.member, e.reason]),
    [
      ['n2', 'UNHEALTHY'],
      ['n3', 'NO_POSITION'],
      ['n4', 'TIMELINE_BEHIND'],
    ],
  );
});

test('lag is measured against the best known position, including the failed primary\'s last report', (t) => {
  const state = cluster({ primaryLsn: '0/3000000', maxLagBytes: 0x100000 });
  const choice = chooseFailoverCandidate(state, [at('n2', '0/2F00000'), at('n3', '0/1000000')]);
  t.like(choice, { ok: true, member: 'n2' });
  t.deepEqual(choice.excluded.map((e) => [e.member, e.reason]), [['n3', 'LAGGING']]);
  const nobody = chooseFailoverCandidate(cluster({ primaryLsn: '0/9000000', maxLagBytes: 0x100000 }), [at('n2', '0/2F00000')]);
  t.false(nobody.ok, 'every replica too far behind the old primary: no automatic failover');
});

test('synchronous mode: only recorded synchronous standbys, and nobody when none is recorded', (t) => {
  const state = cluster({ mode: 'on', sync: ['n3'] });
  const choice = chooseFailoverCandidate(state, [at('n2', '0/5000000'), at('n3', '0/4000000')]);
  t.like(choice, { ok: true, member: 'n3' }, 'a sync standby beats a further-ahead async one');
  t.deepEqual(choice.excluded.map((e) => [e.member, e.reason]), [['n2', 'NOT_SYNC_STANDBY']]);
  const degraded = chooseFailoverCandidate(cluster({ mode: 'strict', sync: [] }), [at('n2', '0/5000000')]);
  t.false(degraded.ok);
  t.regex(degraded.excluded[0]!.detail, /no synchronous standby is recorded/);
});
