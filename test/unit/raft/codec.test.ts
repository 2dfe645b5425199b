import test from 'ava';
import fc from 'fast-check';
import type { Entry, Message, MessageType } from '../../../src/raft/core/types.js';
import {
  CARRIED_FIELDS,
  CodecError,
  decodeEnvelope,
  encodeEnvelope,
  type EnvelopeMessageType,
} from '../../../src/raft/transport/codec.js';
import { raftPeerDefinition } from '../../../src/raft/transport/proto.js';
import { SnapshotAssembler, snapshotChunks } from '../../../src/raft/transport/snapshot-codec.js';
import type { WireEnvelope, WireSnapshotChunk } from '../../../src/raft/transport/wire.js';

const CLUSTER = 'pg-main';
const { send, installSnapshot } = raftPeerDefinition();

/** Message -> Envelope -> protobuf bytes -> Envelope -> Message, exactly as the transport does it. */
function roundTrip(message: Message): Message {
  const bytes = send.requestSerialize(encodeEnvelope(message, CLUSTER));
  const wire = send.requestDeserialize(bytes);
  if (wire.cluster_name !== CLUSTER) throw new Error(`cluster_name ${wire.cluster_name}`);
  return decodeEnvelope(wire);
}

function snapshotRoundTrip(message: Message, chunkBytes: number): { message: Message; chunks: number } {
  const assembler = new SnapshotAssembler(1 << 30);
  let chunks = 0;
  for (const chunk of snapshotChunks(message, CLUSTER, chunkBytes)) {
    assembler.add(installSnapshot.requestDeserialize(installSnapshot.requestSerialize(chunk)));
    chunks += 1;
  }
  return { message: assembler.finish(), chunks };
}

function base(type: MessageType, fields: Partial<Message> = {}): Message {
  return { type, from: 'n1', to: 'n2', term: 3, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...fields };
}

/** Drop undefined-valued keys: a decoded message has no key for an absent optional field. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

const u64 = fc.maxSafeNat();
const nodeId = fc.string({ minLength: 1, maxLength: 12 });
const bytes = fc.uint8Array({ maxLength: 64 });
const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });
const entry: fc.Arbitrary<Entry> = fc.record({
  term: u64,
  index: u64,
  type: fc.constantFrom<Entry['type']>('normal', 'conf'),
  data: fc.uint8Array({ maxLength: 256 }),
});

/** For each envelope type, random values for exactly the fields it carries. */
const payloads: Record<EnvelopeMessageType, fc.Arbitrary<Partial<Message>>> = {
  vote: fc.record({ logTerm: u64, index: u64, force: optional(fc.boolean()) }),
  preVote: fc.record({ logTerm: u64, index: u64, force: optional(fc.boolean()) }),
  voteResp: fc.record({ reject: fc.boolean() }),
  preVoteResp: fc.record({ reject: fc.boolean() }),
  app: fc.record({ logTerm: u64, index: u64, entries: fc.array(entry, { maxLength: 8 }), commit: u64 }),
  appResp: fc.record({ index: u64, reject: fc.boolean(), rejectHint: u64, rejectHintTerm: optional(u64), commit: u64 }),
  heartbeat: fc.record({ commit: u64, context: optional(bytes) }),
  heartbeatResp: fc.record({ commit: u64, context: optional(bytes) }),
  readIndex: fc.record({ context: optional(bytes) }),
  readIndexResp: fc.record({ index: u64, context: optional(bytes) }),
  timeoutNow: fc.constant({}),
};

const envelopeTypes = Object.keys(payloads) as EnvelopeMessageType[];

const networkMessage: fc.Arbitrary<Message> = fc
  .constantFrom(...envelopeTypes)
  .chain((type) => fc.tuple(fc.constant(type), nodeId, nodeId, u64, payloads[type]))
  .map(([type, from, to, term, payload]) => compact(base(type, { from, to, term, ...payload })));

test('every envelope message type round-trips losslessly through protobuf bytes (property)', (t) => {
  fc.assert(
    fc.property(networkMessage, (message) => {
      t.deepEqual(roundTrip(message), message);
    }),
    { numRuns: 2000 },
  );
});

test('each envelope type round-trips with every carried field set (one example per type)', (t) => {
  for (const type of envelopeTypes) {
    const sample = fc.sample(payloads[type], { numRuns: 1, seed: 42 })[0];
    const message = compact(base(type, sample));
    t.deepEqual(roundTrip(message), message, type);
  }
  t.is(envelopeTypes.length, 11);
});

test('optional fields keep the difference between absent, empty and false', (t) => {
  t.false('context' in roundTrip(base('heartbeat', { commit: 7 })));
  t.deepEqual(roundTrip(base('heartbeat', { context: new Uint8Array(0) })).context, new Uint8Array(0));
  t.false('force' in roundTrip(base('vote')));
  t.is(roundTrip(base('vote', { force: false })).force, false);
  t.is(roundTrip(base('preVote', { force: true })).force, true);
  t.false('rejectHintTerm' in roundTrip(base('appResp', { reject: true })));
  t.is(roundTrip(base('appResp', { reject: true, rejectHintTerm: 0 })).rejectHintTerm, 0);
});

test('the largest safe index survives the wire (uint64 as Number)', (t) => {
  const message = base('app', { index: Number.MAX_SAFE_INTEGER, logTerm: Number.MAX_SAFE_INTEGER - 1, commit: 2 ** 40 });
  t.deepEqual(roundTrip(message), message);
});

test('decoded bytes are copies, not views of the receive buffer', (t) => {
  const message = base('app', { entries: [{ term: 1, index: 1, type: 'normal', data: new Uint8Array([1, 2, 3]) }] });
  const wire = send.requestDeserialize(send.requestSerialize(encodeEnvelope(message, CLUSTER)));
  const decoded = decodeEnvelope(wire);
  const data = decoded.entries[0]!.data;
  t.is(data.constructor, Uint8Array);
  t.is(data.byteOffset, 0);
  t.is(data.buffer.byteLength, 3);
});

test('CARRIED_FIELDS names every network message type of the core and nothing local', (t) => {
  t.deepEqual(Object.keys(CARRIED_FIELDS).sort(), [...envelopeTypes, 'snap'].sort());
});

const LOCAL_TYPES: MessageType[] = ['hup', 'beat', 'checkQuorum', 'prop', 'unreachable', 'snapStatus', 'transferLeader'];

test('local message types are never encoded: encode asserts', (t) => {
  for (const type of LOCAL_TYPES) {
    const error = t.throws(() => encodeEnvelope(base(type), CLUSTER), { code: 'PGHERD_ASSERTION_FAILED' });
    t.regex(error?.message ?? '', new RegExp(`'${type}' is local`));
  }
});

test('a field the wire form of a type does not carry asserts instead of vanishing', (t) => {
  t.throws(() => encodeEnvelope(base('voteResp', { index: 5 }), CLUSTER), { code: 'PGHERD_ASSERTION_FAILED', message: /'index'/ });
  t.throws(() => encodeEnvelope(base('heartbeat', { entries: [{ term: 1, index: 1, type: 'normal', data: new Uint8Array() }] }), CLUSTER), {
    code: 'PGHERD_ASSERTION_FAILED',
  });
  t.throws(() => encodeEnvelope(base('timeoutNow', { context: new Uint8Array([1]) }), CLUSTER), { code: 'PGHERD_ASSERTION_FAILED' });
  t.throws(() => encodeEnvelope(base('snap'), CLUSTER), { code: 'PGHERD_ASSERTION_FAILED', message: /envelope/ });
  // Fields that carry no information may be set (e.g. by a message builder that fills every field).
  const noInformation = base('app', { force: false, context: new Uint8Array(0), rejectHintTerm: 0 });
  t.deepEqual(roundTrip(noInformation), base('app'));
});

test('indexes that are not safe non-negative integers assert on encode', (t) => {
  t.throws(() => encodeEnvelope(base('app', { index: 2 ** 53 }), CLUSTER), { code: 'PGHERD_ASSERTION_FAILED' });
  t.throws(() => encodeEnvelope(base('app', { commit: -1 }), CLUSTER), { code: 'PGHERD_ASSERTION_FAILED' });
  t.throws(() => encodeEnvelope(base('appResp', { rejectHint: 1.5 }), CLUSTER), { code: 'PGHERD_ASSERTION_FAILED' });
});

test('malformed envelopes from the network throw CodecError', (t) => {
  const decode = (wire: Partial<WireEnvelope>): Message =>
    decodeEnvelope(send.requestDeserialize(send.requestSerialize({ cluster_name: CLUSTER, from_node_id: 'a', to_node_id: 'b', ...wire } as WireEnvelope)));
  t.throws(() => decode({}), { instanceOf: CodecError, code: 'PGHERD_TRANSPORT_MALFORMED', message: /without a body/ });
  t.throws(() => decode({ from_node_id: '', timeout_now: { term: 1 } }), { instanceOf: CodecError, message: /from_node_id/ });
  // A uint64 beyond 2^53 (a peer with a corrupt log, or not a pgherd peer at all).
  t.throws(() => decode({ timeout_now: { term: '9007199254740993' as unknown as number } }), { instanceOf: CodecError, message: /term/ });
  t.throws(
    () => decode({ append_entries: { term: 1, prev_log_index: 0, prev_log_term: 0, commit: 0, entries: [{ term: 1, index: 1, type: 'ENTRY_TYPE_UNSPECIFIED', data: new Uint8Array() }] } }),
    { instanceOf: CodecError, message: /entry type/ },
  );
});

const snapMessage = (data: Uint8Array, fields: Partial<Message> = {}): Message =>
  base('snap', {
    term: 9,
    snapshot: { metadata: { index: 120, term: 8, confState: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } }, data },
    ...fields,
  });

test('snapshots round-trip through bounded chunks (property)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), fc.integer({ min: 1, max: 1000 }), (data, chunkBytes) => {
      const message = snapMessage(data);
      const result = snapshotRoundTrip(message, chunkBytes);
      t.deepEqual(result.message, message);
      t.is(result.chunks, 1 + Math.max(1, Math.ceil(data.byteLength / chunkBytes)));
    }),
    { numRuns: 300 },
  );
});

test('a 5 MiB snapshot takes a header plus five 1 MiB chunks', (t) => {
  const data = new Uint8Array(5 * 1024 * 1024).map((_, i) => i % 251);
  const chunks = [...snapshotChunks(snapMessage(data), CLUSTER, 1024 * 1024)];
  t.is(chunks.length, 6);
  t.truthy(chunks[0]!.header);
  t.is(chunks[0]!.data.byteLength, 0);
  t.true(chunks.slice(1).every((c) => c.data.byteLength === 1024 * 1024 && c.header === undefined));
  t.deepEqual(chunks.map((c) => c.last), [false, false, false, false, false, true]);
});

test('snapshot reassembly rejects protocol violations with CodecError', (t) => {
  const chunksOf = (data: Uint8Array): WireSnapshotChunk[] =>
    [...snapshotChunks(snapMessage(data), CLUSTER, 4)].map((c) => installSnapshot.requestDeserialize(installSnapshot.requestSerialize(c)));
  const feed = (chunks: WireSnapshotChunk[], limitBytes = 1024): Message => {
    const assembler = new SnapshotAssembler(limitBytes);
    for (const chunk of chunks) assembler.add(chunk);
    return assembler.finish();
  };
  const good = chunksOf(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
  t.is(good.length, 4);
  t.notThrows(() => feed(good));
  t.throws(() => feed(good.slice(1)), { instanceOf: CodecError, message: /no header/ });
  t.throws(() => feed([good[0]!, good[2]!]), { instanceOf: CodecError, message: /offset/ });
  t.throws(() => feed(good.slice(0, 3)), { instanceOf: CodecError, message: /before its last chunk/ });
  t.throws(() => feed([...good, good[3]!]), { instanceOf: CodecError, message: /after the last/ });
  t.throws(() => feed(good, 8), { instanceOf: CodecError, message: /exceeds the limit/ });
  const corrupt = good.map((c, i) => (i === 2 ? { ...c, data: Uint8Array.from(c.data, (b) => b ^ 0xff) } : c));
  t.throws(() => feed(corrupt), { instanceOf: CodecError, message: /CRC-32/ });
  const short = [good[0]!, { ...good[1]!, last: true }];
  t.throws(() => feed(short), { instanceOf: CodecError, message: /announced/ });
});

test('a snapshot message without a snapshot asserts', (t) => {
  t.throws(() => snapshotChunks(base('snap'), CLUSTER, 1024), { code: 'PGHERD_ASSERTION_FAILED' });
  t.throws(() => snapshotChunks(base('app'), CLUSTER, 1024), { code: 'PGHERD_ASSERTION_FAILED' });
});
