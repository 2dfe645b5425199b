import { fileURLToPath } from 'node:url';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options as ProtoLoaderOptions } from '@grpc/proto-loader';
import { assert } from '../../lib/assert.js';
import type {
  WireAck,
  WireEnvelope,
  WirePositionRequest,
  WirePositionResponse,
  WireProposeRequest,
  WireProposeResponse,
  WireJoinRequest,
  WireJoinResponse,
  WireHelloRequest,
  WireHelloResponse,
  WireSnapshotChunk,
} from './wire.js';

/**
 * How raft.proto maps to JavaScript (see wire.ts):
 *  - keepCase: field names as written in the .proto (snake_case);
 *  - longs: Number: uint64 become numbers (terms, indexes and sizes stay below 2^53; the codec checks);
 *  - enums: String: 'ENTRY_TYPE_NORMAL' rather than 1;
 *  - defaults: every absent scalar decodes to its default (0, false, '', empty bytes, []),
 *    so only proto3 `optional` fields and unset messages (null) can be missing;
 *  - oneofs: the decoded envelope names its body in the virtual field `body`.
 */
export const PROTO_LOADER_OPTIONS: ProtoLoaderOptions = Object.freeze({
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

const PROTO_URL = new URL('../../../proto/raft.proto', import.meta.url);
const SERVICE_NAME = 'pgherd.raft.v1.RaftPeer';

export interface RaftPeerDefinition {
  /** For Server.addService. */
  readonly service: ServiceDefinition;
  readonly send: MethodDefinition<WireEnvelope, WireAck>;
  readonly installSnapshot: MethodDefinition<WireSnapshotChunk, WireAck>;
  readonly getPosition: MethodDefinition<WirePositionRequest, WirePositionResponse>;
  readonly propose: MethodDefinition<WireProposeRequest, WireProposeResponse>;
  readonly join: MethodDefinition<WireJoinRequest, WireJoinResponse>;
  readonly hello: MethodDefinition<WireHelloRequest, WireHelloResponse>;
}

let loaded: RaftPeerDefinition | undefined;

/** The RaftPeer service, loaded from proto/raft.proto once per process. */
export function raftPeerDefinition(): RaftPeerDefinition {
  loaded ??= load();
  return loaded;
}

function load(): RaftPeerDefinition {
  const packageDefinition = loadSync(fileURLToPath(PROTO_URL), PROTO_LOADER_OPTIONS);
  const service = packageDefinition[SERVICE_NAME] as ServiceDefinition | undefined;
  assert(service !== undefined && 'Send' in service && 'InstallSnapshot' in service && 'GetPosition' in service && 'Propose' in service && 'Join' in service && 'Hello' in service, `${SERVICE_NAME} missing from raft.proto`);
  const send = service['Send'] as MethodDefinition<WireEnvelope, WireAck>;
  const installSnapshot = service['InstallSnapshot'] as MethodDefinition<WireSnapshotChunk, WireAck>;
  const getPosition = service['GetPosition'] as MethodDefinition<WirePositionRequest, WirePositionResponse>;
  const propose = service['Propose'] as MethodDefinition<WireProposeRequest, WireProposeResponse>;
  assert(send.requestStream && !send.responseStream, 'RaftPeer.Send must be a client stream');
  assert(installSnapshot.requestStream && !installSnapshot.responseStream, 'RaftPeer.InstallSnapshot must be a client stream');
  assert(!getPosition.requestStream && !getPosition.responseStream, 'RaftPeer.GetPosition must be unary');
  const join = service['Join'] as MethodDefinition<WireJoinRequest, WireJoinResponse>;
  assert(!propose.requestStream && !propose.responseStream, 'RaftPeer.Propose must be unary');
  const hello = service['Hello'] as MethodDefinition<WireHelloRequest, WireHelloResponse>;
  assert(!join.requestStream && !join.responseStream, 'RaftPeer.Join must be unary');
  assert(!hello.requestStream && !hello.responseStream, 'RaftPeer.Hello must be unary');
  return Object.freeze({ service, send, installSnapshot, getPosition, propose, join, hello });
}
