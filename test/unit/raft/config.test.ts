import test from 'ava';
import { silentLogger } from '../../../src/lib/logger.js';
import { SeededRng } from '../../../src/lib/random.js';
import { resolveRaftOptions } from '../../../src/raft/core/config.js';
import { MemoryStorage } from '../../../src/raft/core/memory-storage.js';

const base = () => ({ id: 'n1', storage: new MemoryStorage(), rng: new SeededRng(1), logger: silentLogger });

test('defaults: heartbeat 1 tick, election 10 ticks, pre-vote and check-quorum on', (t) => {
  const options = resolveRaftOptions(base());
  t.is(options.heartbeatTicks, 1);
  t.is(options.electionTicks, 10);
  t.true(options.preVote);
  t.true(options.checkQuorum);
  t.true(Object.isFrozen(options));
});

test('invalid options are rejected with a message naming the option', (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ heartbeatTicks: 10, electionTicks: 10 }, /^raft\.heartbeatTicks: must be less than raft\.electionTicks \(10\), got 10/],
    [{ electionTicks: 0 }, /^raft\.electionTicks: must be a positive integer, got 0/],
    [{ heartbeatTicks: 1.5 }, /^raft\.heartbeatTicks: must be a positive integer/],
    [{ maxInflightMsgs: -1 }, /^raft\.maxInflightMsgs: /],
    [{ id: '' }, /^raft\.id: must be a non-empty string/],
    [{ applied: -3 }, /^raft\.applied: /],
  ];
  for (const [override, message] of cases) {
    const error = t.throws(() => resolveRaftOptions({ ...base(), ...override }), { code: 'PGHERD_CONFIG_INVALID' });
    t.regex(error!.message, message);
  }
});
