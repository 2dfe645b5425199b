/**
 * The plain-object shapes of proto/raft.proto as @grpc/proto-loader presents
 * them with PROTO_LOADER_OPTIONS (keepCase, longs: Number, enums: String,
 * defaults, oneofs). Encoding fills what it needs; decoded objects have every
 * scalar set (defaults), `optional` fields present only when sent, and the
 * oneof's virtual `body` naming the field that is set.
 */

export type WireEntryType = 'ENTRY_TYPE_UNSPECIFIED' | 'ENTRY_TYPE_NORMAL' | 'ENTRY_TYPE_CONF';

export interface WireEntry {
  term: number;
  index: number;
  type: WireEntryType;
  data: Uint8Array;
}

export interface WireRequestVote {
  term: number;
  last_log_index: number;
  last_log_term: number;
  pre_vote: boolean;
  force?: boolean;
}

export interface WireRequestVoteResponse {
  term: number;
  reject: boolean;
  pre_vote: boolean;
}

export interface WireAppendEntries {
  term: number;
  prev_log_index: number;
  prev_log_term: number;
  entries: WireEntry[];
  commit: number;
}

export interface WireAppendEntriesResponse {
  term: number;
  index: number;
  reject: boolean;
  reject_hint: number;
  reject_hint_term?: number;
  commit: number;
}

export interface WireHeartbeat {
  term: number;
  commit: number;
  context?: Uint8Array;
}

export interface WireHeartbeatResponse {
  term: number;
  context?: Uint8Array;
  commit: number;
}

export interface WireReadIndex {
  term: number;
  context?: Uint8Array;
}

export interface WireReadIndexResponse {
  term: number;
  index: number;
  context?: Uint8Array;
}

export interface WireTimeoutNow {
  term: number;
}

/** The oneof `body` of Envelope: exactly one of these is set. */
export interface WireEnvelopeBodies {
  request_vote?: WireRequestVote;
  request_vote_response?: WireRequestVoteResponse;
  append_entries?: WireAppendEntries;
  append_entries_response?: WireAppendEntriesResponse;
  heartbeat?: WireHeartbeat;
  heartbeat_response?: WireHeartbeatResponse;
  read_index?: WireReadIndex;
  read_index_response?: WireReadIndexResponse;
  timeout_now?: WireTimeoutNow;
}

export type WireBodyName = keyof WireEnvelopeBodies;

export interface WireEnvelope extends WireEnvelopeBodies {
  cluster_name: string;
  from_node_id: string;
  to_node_id: string;
  /** Set on decoded envelopes only: which body field is present. */
  body?: WireBodyName;
}

export interface WireSnapshotMetadata {
  index: number;
  term: number;
  voters: string[];
  learners: string[];
}

export interface WireSnapshotHeader {
  cluster_name: string;
  from_node_id: string;
  to_node_id: string;
  term: number;
  metadata: WireSnapshotMetadata | null;
  data_bytes: number;
  data_crc32: number;
}

export interface WireSnapshotChunk {
  /** Decoded chunks have `null` when absent (proto-loader defaults). */
  header?: WireSnapshotHeader | null;
  offset: number;
  data: Uint8Array;
  last: boolean;
}

// Empty messages: SendAck, SnapshotAck.
export type WireAck = Record<string, never>;

export interface WirePositionRequest {
  cluster_name: string;
  from: string;
  to: string;
}

export interface WirePositionResponse {
  member: string;
  healthy: boolean;
  /** 0 = unknown. */
  timeline: number;
  /** '' = unknown. */
  receive_lsn: string;
  /** 'primary' | 'replica' | 'stopped' | 'unknown' (a string on the wire: checked by the receiver). */
  role: string;
}

export interface WireProposeRequest {
  cluster_name: string;
  from: string;
  to: string;
  data: Uint8Array;
  /** 0 = bounded by the caller's deadline only. */
  timeout_ms: number;
}

export interface WireProposeResponse {
  result: Uint8Array;
}

export interface WireJoinRequest {
  cluster_name: string;
  from: string;
  to: string;
  address: string;
  /** 0 = bounded by the caller's deadline only. */
  timeout_ms: number;
}

export type WireJoinResponse = Record<string, never>;

export interface WireHelloRequest {
  cluster_name: string;
  from: string;
  to: string;
}

export interface WireHelloResponse {
  configured: boolean;
  voters: string[];
  learners: string[];
}
