import test from 'ava';
import { AssertionFailedError } from '../../../src/lib/errors.js';
import {
  applyConfChangeToConfState,
  confChangeRefusal,
  decodeConfChange,
  encodeConfChange,
} from '../../../src/raft/core/conf-change.js';
import type { ConfState } from '../../../src/raft/core/types.js';
import { bytes } from './helpers.js';

const CONF: ConfState = { voters: ['n1', 'n2', 'n3'], learners: ['n4'] };

test('encode/decode round-trips, context included (binary-safe)', (t) => {
  const context = new Uint8Array([0, 1, 2, 250, 255]);
  t.deepEqual(decodeConfChange(encodeConfChange({ type: 'addLearner', nodeId: 'n9', context })), {
    type: 'addLearner',
    nodeId: 'n9',
    context,
  });
  t.deepEqual(decodeConfChange(encodeConfChange({ type: 'removeNode', nodeId: 'n2' })), { type: 'removeNode', nodeId: 'n2' });
});

test('the encoding is JSON in UTF-8 with a base64 context', (t) => {
  const data = encodeConfChange({ type: 'addVoter', nodeId: 'n4', context: bytes('10.0.0.4:7400') });
  t.deepEqual(JSON.parse(new TextDecoder().decode(data)), { type: 'addVoter', nodeId: 'n4', context: btoa('10.0.0.4:7400') });
});

test('decoding malformed data throws', (t) => {
  t.throws(() => decodeConfChange(bytes('{"type":"grow","nodeId":"n1"}')), { instanceOf: AssertionFailedError });
  t.throws(() => decodeConfChange(bytes('{"type":"addVoter","nodeId":""}')), { instanceOf: AssertionFailedError });
  t.throws(() => decodeConfChange(bytes('[]')), { instanceOf: AssertionFailedError });
  t.throws(() => decodeConfChange(bytes('not json')));
});

test('apply: addLearner adds a learner, addVoter promotes it, removeNode removes', (t) => {
  const added = applyConfChangeToConfState(CONF, { type: 'addLearner', nodeId: 'n5' });
  t.deepEqual(added, { voters: ['n1', 'n2', 'n3'], learners: ['n4', 'n5'] });
  const promoted = applyConfChangeToConfState(added, { type: 'addVoter', nodeId: 'n4' });
  t.deepEqual(promoted, { voters: ['n1', 'n2', 'n3', 'n4'], learners: ['n5'] });
  t.deepEqual(applyConfChangeToConfState(promoted, { type: 'removeNode', nodeId: 'n2' }), {
    voters: ['n1', 'n3', 'n4'],
    learners: ['n5'],
  });
  t.deepEqual(applyConfChangeToConfState(CONF, { type: 'addLearner', nodeId: 'n1' }), {
    voters: ['n2', 'n3'],
    learners: ['n1', 'n4'],
  }, 'addLearner on a voter demotes it');
});

test('apply: removing the last voter is a bug (it was refused at proposal)', (t) => {
  t.throws(() => applyConfChangeToConfState({ voters: ['n1'], learners: [] }, { type: 'removeNode', nodeId: 'n1' }), {
    instanceOf: AssertionFailedError,
  });
});

test('refusals: last voter, no-ops, empty id, oversized context', (t) => {
  const single: ConfState = { voters: ['n1'], learners: ['n2'] };
  t.regex(confChangeRefusal(single, { type: 'removeNode', nodeId: 'n1' })!, /last voter/);
  t.regex(confChangeRefusal(single, { type: 'addLearner', nodeId: 'n1' })!, /last voter/);
  t.is(confChangeRefusal(single, { type: 'removeNode', nodeId: 'n2' }), undefined);
  t.regex(confChangeRefusal(CONF, { type: 'removeNode', nodeId: 'n9' })!, /not a member/);
  t.regex(confChangeRefusal(CONF, { type: 'addVoter', nodeId: 'n1' })!, /already a voter/);
  t.regex(confChangeRefusal(CONF, { type: 'addLearner', nodeId: 'n4' })!, /already a learner/);
  t.regex(confChangeRefusal(CONF, { type: 'addVoter', nodeId: '' })!, /empty/);
  t.regex(confChangeRefusal(CONF, { type: 'addLearner', nodeId: 'n5', context: new Uint8Array(64 * 1024 + 1) })!, /context/);
  t.is(confChangeRefusal(CONF, { type: 'addVoter', nodeId: 'n4' }), undefined);
  t.is(confChangeRefusal(CONF, { type: 'addVoter', nodeId: 'n7' }), undefined, 'adding a voter directly is allowed');
});
