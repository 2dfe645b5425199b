import type { ExecutionContext } from 'ava';
import type { NodeId } from '../../src/raft/core/types.js';
import { GrpcTransport, type TransportLimits, type TransportOptions } from '../../src/raft/transport/grpc-transport.js';
import { recordingLogger, type LogLine } from './recording-logger.js';

/** A real GrpcTransport on 127.0.0.1 (any port) that records its log lines; stopped in teardown. */
export const TEST_CLUSTER = 'pg-main';
/** Scheduling slack on a busy test machine, on top of a deadline. */
export const SLACK_MS = 1_000;

export interface TransportNode {
  readonly id: NodeId;
  readonly transport: GrpcTransport;
  readonly logs: LogLine[];
}

export interface TransportNodeOptions {
  readonly id: NodeId;
  readonly clusterName?: string;
  readonly peers?: ReadonlyMap<NodeId, string>;
  readonly limits?: Partial<TransportLimits>;
  /** The server callbacks under test (onPositionRequest, onProposeRequest). */
  readonly callbacks?: Pick<TransportOptions, 'onPositionRequest' | 'onProposeRequest'>;
}

export async function startTransportNode(t: ExecutionContext, options: TransportNodeOptions): Promise<TransportNode> {
  const logs: LogLine[] = [];
  const transport = await GrpcTransport.start({
    nodeId: options.id,
    clusterName: options.clusterName ?? TEST_CLUSTER,
    bindAddress: '127.0.0.1:0',
    peers: options.peers ?? new Map(),
    onMessage: () => {},
    logger: recordingLogger(logs),
    limits: options.limits ?? {},
    ...options.callbacks,
  });
  t.teardown(() => transport.stop());
  return { id: options.id, transport, logs };
}

/** Point every node at every other (addresses are known only after binding). */
export function link(nodes: readonly TransportNode[]): void {
  const addresses = new Map(nodes.map((n) => [n.id, n.transport.boundAddress]));
  for (const node of nodes) node.transport.setPeers(addresses);
}

export async function timed<T>(promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await promise;
  return { value, ms: performance.now() - started };
}
