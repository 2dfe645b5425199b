import test from 'ava';
import fc from 'fast-check';
import { applyCommand } from '../../../src/cluster/apply.js';
import { parseCommand } from '../../../src/cluster/commands.js';
import { ClusterDecodeError } from '../../../src/cluster/errors.js';
import { decodeApplyResult, encodeApplyResult, type ApplyResult } from '../../../src/cluster/results.js';
import { initialClusterState } from '../../../src/cluster/state.js';
import { BOOTSTRAP_SEQUENCE, commandArbitrary } from './arbitraries.js';

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

// A forwarded proposal's answer crosses the wire as JSON: every result apply produces must come back deepEqual.
test('every result apply produces survives the encoding unchanged', (t) => {
  fc.assert(
    fc.property(fc.array(commandArbitrary, { maxLength: 30 }), (inputs) => {
      let state = initialClusterState();
      for (const input of [...BOOTSTRAP_SEQUENCE, ...inputs]) {
        const { state: next, result } = applyCommand(state, parseCommand(input));
        t.deepEqual(decodeApplyResult(encodeApplyResult(result)), result);
        state = next;
      }
    }),
    { numRuns: 200 },
  );
});

test('a result this version does not know is refused naming the field', (t) => {
  const refused = (value: unknown, key: string) => t.throws(() => decodeApplyResult(bytes(value)), { instanceOf: ClusterDecodeError, message: new RegExp(`^${key.replace('.', '\\.')}: `) });
  refused([], 'result');
  refused({ ok: 'yes' }, 'result.ok');
  refused({ ok: false, code: 'FROM_THE_FUTURE', reason: 'x' }, 'result.code');
  refused({ ok: false, code: 'EPOCH_MISMATCH' }, 'result.reason');
  refused({ ok: true, seq: '1' }, 'result.seq');
  t.throws(() => decodeApplyResult(new Uint8Array([0xff])), { instanceOf: ClusterDecodeError, message: /^result: is not UTF-8 JSON/ });
  const rejection: ApplyResult = { ok: false, code: 'INVALID_CONFIG', reason: 'bad', key: 'postgresql.port' };
  t.deepEqual(decodeApplyResult(encodeApplyResult(rejection)), rejection);
});
