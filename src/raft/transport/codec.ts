import { assert, unreachable } from '../../lib/assert.js';
import { PgherdError } from '../../lib/errors.js';
import type { Entry, EntryType, Message, MessageType, NodeId } from '../core/types.js';
import type {
  WireAppendEntries,
  WireAppendEntriesResponse,
  WireEntry,
  WireEntryType,
  WireEnvelope,
  WireEnvelopeBodies,
  WireHeartbeat,
  WireReadIndex,
  WireReadIndexResponse,
  WireRequestVote,
  WireRequestVoteResponse,
} from './wire.js';

/**
 * Core Message <-> raft.proto, pure. Encoding is for our own messages: a
 * violated contract (a local message type, a field the wire cannot carry,
 * an index beyond 2^53) is a programmer bug and asserts. Decoding is for
 * bytes from the network: anything malformed throws CodecError.
 */

/** Bytes from a peer do not form a valid Raft message. */
export class CodecError extends PgherdError {
  constructor(message: string) {
    super('PGHERD_TRANSPORT_MALFORMED', message);
  }
}

/** Network message types that travel in an Envelope on the Send stream. */
export type EnvelopeMessageType =
  | 'vote'
  | 'preVote'
  | 'voteResp'
  | 'preVoteResp'
  | 'app'
  | 'appResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'readIndex'
  | 'readIndexResp'
  | 'timeoutNow';

/** Message fields other than type, from, to and term. */
export type PayloadField =
  | 'logTerm'
  | 'index'
  | 'entries'
  | 'commit'
  | 'reject'
  | 'rejectHint'
  | 'rejectHintTerm'
  | 'context'
  | 'force'
  | 'snapshot';

/**
 * What each network type carries besides type, from, to and term ('snap'
 * travels by InstallSnapshot, see snapshot-codec.ts). Every other payload
 * field must carry no information (absent, 0, false, empty): the encoder
 * asserts it, so a field the wire would drop fails loudly instead of
 * vanishing. Carried optional fields keep absent apart from 0/false/empty.
 */
export const CARRIED_FIELDS: Readonly<Record<EnvelopeMessageType | 'snap', readonly PayloadField[]>> = Object.freeze({
  vote: ['logTerm', 'index', 'force'],
  preVote: ['logTerm', 'index', 'force'],
  voteResp: ['reject'],
  preVoteResp: ['reject'],
  app: ['logTerm', 'index', 'entries', 'commit'],
  appResp: ['index', 'reject', 'rejectHint', 'rejectHintTerm', 'commit'],
  heartbeat: ['commit', 'context'],
  heartbeatResp: ['commit', 'context'],
  readIndex: ['context'],
  readIndexResp: ['index', 'context'],
  timeoutNow: [],
  snap: ['snapshot'],
});

const PAYLOAD_FIELDS: readonly PayloadField[] = [
  'logTerm',
  'index',
  'entries',
  'commit',
  'reject',
  'rejectHint',
  'rejectHintTerm',
  'context',
  'force',
  'snapshot',
];

/** The complement of CARRIED_FIELDS, per type: what must hold its default. */
const UNCARRIED_FIELDS: Readonly<Record<string, readonly PayloadField[]>> = Object.fromEntries(
  Object.entries(CARRIED_FIELDS).map(([type, carried]) => [type, PAYLOAD_FIELDS.filter((field) => !carried.includes(field))]),
);

const NO_ENTRIES: readonly Entry[] = Object.freeze([]);

export function isEnvelopeMessageType(type: MessageType): type is EnvelopeMessageType {
  return type !== 'snap' && Object.hasOwn(CARRIED_FIELDS, type);
}

/** Assert that `message` is a network message whose every set field the wire carries. */
export function assertEncodable(message: Message): void {
  assert(Object.hasOwn(CARRIED_FIELDS, message.type), () => `message type '${message.type}' is local and must never be sent`);
  assert(message.from !== '' && message.to !== '', () => `message '${message.type}' needs from and to, got '${message.from}' -> '${message.to}'`);
  const dropped = UNCARRIED_FIELDS[message.type]?.find((field) => !isDefault(message, field));
  assert(dropped === undefined, () => `message '${message.type}' sets '${dropped}', which its wire form does not carry`);
}

/** Does `field` carry no information (so dropping it loses nothing)? Absent and zero/false/empty count alike. */
function isDefault(message: Message, field: PayloadField): boolean {
  switch (field) {
    case 'logTerm':
    case 'index':
    case 'commit':
    case 'rejectHint':
      return message[field] === 0;
    case 'rejectHintTerm':
      return message.rejectHintTerm === undefined || message.rejectHintTerm === 0;
    case 'entries':
      return message.entries.length === 0;
    case 'reject':
      return !message.reject;
    case 'force':
      return message.force !== true;
    case 'context':
      return message.context === undefined || message.context.byteLength === 0;
    case 'snapshot':
      return message.snapshot === undefined;
    default:
      return unreachable(field, 'payload field');
  }
}

/** Encode a network message (not 'snap') as an Envelope of `clusterName`. Asserts the contract above. */
export function encodeEnvelope(message: Message, clusterName: string): WireEnvelope {
  assertEncodable(message);
  assert(isEnvelopeMessageType(message.type), () => `'${message.type}' does not travel in an envelope`);
  return {
    cluster_name: clusterName,
    from_node_id: message.from,
    to_node_id: message.to,
    ...encodeBody(message, message.type),
  };
}

function encodeBody(m: Message, type: EnvelopeMessageType): WireEnvelopeBodies {
  const term = encodeU64(m.term, 'term');
  switch (type) {
    case 'vote':
    case 'preVote':
      return { request_vote: encodeRequestVote(m, type === 'preVote') };
    case 'voteResp':
    case 'preVoteResp':
      return { request_vote_response: { term, reject: m.reject, pre_vote: type === 'preVoteResp' } };
    case 'app':
      return { append_entries: encodeAppendEntries(m) };
    case 'appResp':
      return { append_entries_response: encodeAppendEntriesResponse(m) };
    case 'heartbeat':
      return { heartbeat: withContext({ term, commit: encodeU64(m.commit, 'commit') }, m.context) };
    case 'heartbeatResp':
      return { heartbeat_response: withContext({ term, commit: encodeU64(m.commit, 'commit') }, m.context) };
    case 'readIndex':
      return { read_index: withContext({ term }, m.context) };
    case 'readIndexResp':
      return { read_index_response: withContext({ term, index: encodeU64(m.index, 'index') }, m.context) };
    case 'timeoutNow':
      return { timeout_now: { term } };
    default:
      return unreachable(type, 'envelope message type');
  }
}

function encodeRequestVote(m: Message, preVote: boolean): WireRequestVote {
  const body: WireRequestVote = {
    term: encodeU64(m.term, 'term'),
    last_log_index: encodeU64(m.index, 'index'),
    last_log_term: encodeU64(m.logTerm, 'logTerm'),
    pre_vote: preVote,
  };
  if (m.force !== undefined) body.force = m.force;
  return body;
}

function encodeAppendEntries(m: Message): WireAppendEntries {
  return {
    term: encodeU64(m.term, 'term'),
    prev_log_index: encodeU64(m.index, 'index'),
    prev_log_term: encodeU64(m.logTerm, 'logTerm'),
    entries: m.entries.map(encodeEntry),
    commit: encodeU64(m.commit, 'commit'),
  };
}

function encodeAppendEntriesResponse(m: Message): WireAppendEntriesResponse {
  const body: WireAppendEntriesResponse = {
    term: encodeU64(m.term, 'term'),
    index: encodeU64(m.index, 'index'),
    reject: m.reject,
    reject_hint: encodeU64(m.rejectHint, 'rejectHint'),
    commit: encodeU64(m.commit, 'commit'),
  };
  if (m.rejectHintTerm !== undefined) body.reject_hint_term = encodeU64(m.rejectHintTerm, 'rejectHintTerm');
  return body;
}

function encodeEntry(entry: Entry): WireEntry {
  return {
    term: encodeU64(entry.term, 'entry.term'),
    index: encodeU64(entry.index, 'entry.index'),
    type: encodeEntryType(entry.type),
    data: entry.data,
  };
}

function encodeEntryType(type: EntryType): WireEntryType {
  switch (type) {
    case 'normal':
      return 'ENTRY_TYPE_NORMAL';
    case 'conf':
      return 'ENTRY_TYPE_CONF';
    default:
      return unreachable(type, 'entry type');
  }
}

function withContext<T extends object>(body: T, context: Uint8Array | undefined): T & { context?: Uint8Array } {
  return context === undefined ? body : { ...body, context };
}

/** A uint64 we send: a safe non-negative integer (longs: Number would silently round anything else). */
export function encodeU64(value: number, field: string): number {
  assert(Number.isSafeInteger(value) && value >= 0, () => `${field} must be a non-negative safe integer, got ${value}`);
  return value;
}

/** A uint64 we received. */
export function decodeU64(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new CodecError(`${field}: not a uint64 below 2^53: ${String(value)}`);
  }
  return value;
}

/** Received bytes, copied: the core may keep them long after the receive buffer is gone. */
export function decodeBytes(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new CodecError(`${field}: not bytes`);
  return new Uint8Array(value);
}

export function decodeNodeId(value: unknown, field: string): NodeId {
  if (typeof value !== 'string' || value === '') throw new CodecError(`${field}: empty node id`);
  return value;
}

/** Decode a received Envelope. Throws CodecError when malformed; cluster and membership are the caller's checks. */
export function decodeEnvelope(wire: WireEnvelope): Message {
  const from = decodeNodeId(wire.from_node_id, 'from_node_id');
  const to = decodeNodeId(wire.to_node_id, 'to_node_id');
  const body = wire.body;
  switch (body) {
    case 'request_vote':
      return decodeRequestVote(from, to, present(wire.request_vote, body));
    case 'request_vote_response':
      return decodeRequestVoteResponse(from, to, present(wire.request_vote_response, body));
    case 'append_entries':
      return decodeAppendEntries(from, to, present(wire.append_entries, body));
    case 'append_entries_response':
      return decodeAppendEntriesResponse(from, to, present(wire.append_entries_response, body));
    case 'heartbeat':
      return decodeHeartbeat('heartbeat', from, to, present(wire.heartbeat, body));
    case 'heartbeat_response':
      return decodeHeartbeat('heartbeatResp', from, to, present(wire.heartbeat_response, body));
    case 'read_index':
      return decodeReadIndex(from, to, present(wire.read_index, body));
    case 'read_index_response':
      return decodeReadIndexResponse(from, to, present(wire.read_index_response, body));
    case 'timeout_now':
      return blank('timeoutNow', from, to, decodeU64(present(wire.timeout_now, body).term, 'term'));
    case undefined:
      throw new CodecError('envelope without a body (unknown message kind from a newer peer?)');
    default:
      throw new CodecError(`envelope with unknown body '${String(body)}'`);
  }
}

type MutableMessage = { -readonly [K in keyof Message]: Message[K] };

/** Every decoded message starts from one literal (one object shape, no spreads: this is the receive hot path). */
function blank(type: MessageType, from: NodeId, to: NodeId, term: number): MutableMessage {
  return { type, from, to, term, logTerm: 0, index: 0, entries: NO_ENTRIES, commit: 0, reject: false, rejectHint: 0 };
}

function present<T>(value: T | null | undefined, field: string): T {
  if (value === undefined || value === null) throw new CodecError(`envelope names body '${field}' but it is missing`);
  return value;
}

function decodeRequestVote(from: NodeId, to: NodeId, b: WireRequestVote): Message {
  const m = blank(b.pre_vote ? 'preVote' : 'vote', from, to, decodeU64(b.term, 'term'));
  m.index = decodeU64(b.last_log_index, 'last_log_index');
  m.logTerm = decodeU64(b.last_log_term, 'last_log_term');
  if (b.force !== undefined) m.force = b.force === true;
  return m;
}

function decodeRequestVoteResponse(from: NodeId, to: NodeId, b: WireRequestVoteResponse): Message {
  const m = blank(b.pre_vote ? 'preVoteResp' : 'voteResp', from, to, decodeU64(b.term, 'term'));
  m.reject = b.reject === true;
  return m;
}

function decodeAppendEntries(from: NodeId, to: NodeId, b: WireAppendEntries): Message {
  const m = blank('app', from, to, decodeU64(b.term, 'term'));
  m.index = decodeU64(b.prev_log_index, 'prev_log_index');
  m.logTerm = decodeU64(b.prev_log_term, 'prev_log_term');
  if (!Array.isArray(b.entries)) throw new CodecError('entries: not a list');
  if (b.entries.length > 0) m.entries = b.entries.map(decodeEntry);
  m.commit = decodeU64(b.commit, 'commit');
  return m;
}

function decodeAppendEntriesResponse(from: NodeId, to: NodeId, b: WireAppendEntriesResponse): Message {
  const m = blank('appResp', from, to, decodeU64(b.term, 'term'));
  m.index = decodeU64(b.index, 'index');
  m.reject = b.reject === true;
  m.rejectHint = decodeU64(b.reject_hint, 'reject_hint');
  m.commit = decodeU64(b.commit, 'commit');
  if (b.reject_hint_term !== undefined) m.rejectHintTerm = decodeU64(b.reject_hint_term, 'reject_hint_term');
  return m;
}

function decodeHeartbeat(type: 'heartbeat' | 'heartbeatResp', from: NodeId, to: NodeId, b: WireHeartbeat): Message {
  const m = blank(type, from, to, decodeU64(b.term, 'term'));
  m.commit = decodeU64(b.commit, 'commit');
  if (b.context !== undefined) m.context = decodeBytes(b.context, 'context');
  return m;
}

function decodeReadIndex(from: NodeId, to: NodeId, b: WireReadIndex): Message {
  const m = blank('readIndex', from, to, decodeU64(b.term, 'term'));
  if (b.context !== undefined) m.context = decodeBytes(b.context, 'context');
  return m;
}

function decodeReadIndexResponse(from: NodeId, to: NodeId, b: WireReadIndexResponse): Message {
  const m = blank('readIndexResp', from, to, decodeU64(b.term, 'term'));
  m.index = decodeU64(b.index, 'index');
  if (b.context !== undefined) m.context = decodeBytes(b.context, 'context');
  return m;
}

function decodeEntry(wire: WireEntry): Entry {
  return {
    term: decodeU64(wire.term, 'entries[].term'),
    index: decodeU64(wire.index, 'entries[].index'),
    type: decodeEntryType(wire.type),
    data: decodeBytes(wire.data, 'entries[].data'),
  };
}

function decodeEntryType(type: WireEntryType): EntryType {
  if (type === 'ENTRY_TYPE_NORMAL') return 'normal';
  if (type === 'ENTRY_TYPE_CONF') return 'conf';
  throw new CodecError(`entries[].type: unknown entry type ${String(type)}`);
}
