import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { ProposalDroppedError, ProposalRefusedError, RaftStoppedError, RaftTimeoutError } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import { SeededRng } from '../../src/lib/random.js';
import type { Message } from '../../src/raft/core/types.js';
import type { StateMachine, Transport, TransportHandlers } from '../../src/raft/driver/contracts.js';
import { LevelLogStore } from '../../src/raft/driver/level-storage.js';
import { RaftDriver, type RaftDriverOptions } from '../../src/raft/driver/raft-driver.js';
import type { ProposeHandler } from '../../src/raft/transport/options.js';

/**
 * An in-process network for RaftDriver tests: messages are delivered on the
 * next turn of the event loop, in order. Nodes in `cut` neither send nor receive.
 */
export class MemoryHub {
  readonly handlers = new Map<string, TransportHandlers>();
  /** Each node's current transport (replaced when it restarts). */
  readonly transports = new Map<string, Transport>();
  readonly proposeHandlers = new Map<string, ProposeHandler>();
  readonly cut = new Set<string>();
  /** Messages this returns true for are lost (after the cut is applied). */
  drop: (m: Message) => boolean = () => false;

  transport(id: string, handlers: TransportHandlers, onProposeRequest?: ProposeHandler): Transport {
    this.handlers.set(id, handlers);
    if (onProposeRequest === undefined) this.proposeHandlers.delete(id);
    else this.proposeHandlers.set(id, onProposeRequest);
    const transport: Transport = {
      send: (messages: readonly Message[]) => {
        for (const m of messages) {
          if (this.cut.has(m.from) || this.cut.has(m.to) || this.drop(m)) continue;
          setImmediate(() => this.handlers.get(m.to)?.onMessage(m));
        }
      },
      setPeers: () => {},
      forwardProposal: (peerId, data, timeoutMs) => this.forwardProposal(id, peerId, data, timeoutMs),
      stop: async () => {
        this.handlers.delete(id);
        this.proposeHandlers.delete(id);
      },
    };
    this.transports.set(id, transport);
    return transport;
  }

  /**
   * RaftPeer.Propose in process, with GrpcTransport's outcomes: the target's
   * handler runs on the next turn, bounded by timeoutMs; across a cut only
   * the deadline answers; a stopped target drops it; one without a handler
   * refuses it. The handler's errors arrive as thrown (the typed errors).
   */
  private forwardProposal(from: string, to: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (!this.handlers.has(from)) return Promise.reject(new RaftStoppedError());
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RaftTimeoutError(`proposal forwarded to ${to}`, timeoutMs)), timeoutMs);
      const settle = (outcome: () => void): void => {
        clearTimeout(timer);
        outcome();
      };
      if (this.cut.has(from) || this.cut.has(to)) return;
      setImmediate(() => {
        const handler = this.proposeHandlers.get(to);
        if (!this.handlers.has(to)) settle(() => reject(new ProposalDroppedError(`${to} is not reachable`)));
        else if (handler === undefined) settle(() => reject(new ProposalRefusedError(`${to} does not accept forwarded proposals`)));
        else {
          handler(new Uint8Array(data), timeoutMs).then(
            (result) => settle(() => resolve(new Uint8Array(result))),
            (error: unknown) => settle(() => reject(error)),
          );
        }
      });
    });
  }
}

/**
 * Start one RaftDriver of an in-process cluster `ids` over `hub`, with a
 * real LevelLogStore in `<dir>/<id>` and a fast clock (10 ms ticks). It is
 * stopped in the test's teardown. `onProposeRequest` serves proposals other
 * nodes forward to it.
 */
export async function startHubDriver<R>(
  t: ExecutionContext,
  options: {
    hub: MemoryHub;
    dir: string;
    id: string;
    ids: readonly string[];
    stateMachine: StateMachine<R>;
    onProposeRequest?: ProposeHandler;
    extra?: Partial<RaftDriverOptions<R>>;
  },
): Promise<RaftDriver<R>> {
  const { hub, dir, id, ids } = options;
  const store = await LevelLogStore.open(join(dir, id), { nodeId: id, clusterName: 'test' });
  const driver = await RaftDriver.start<R>({
    nodeId: id,
    advertiseAddress: `${id}:1`,
    peers: new Map(ids.filter((x) => x !== id).map((x) => [x, `${x}:1`])),
    bootstrap: true,
    store,
    stateMachine: options.stateMachine,
    createTransport: async (handlers) => hub.transport(id, handlers, options.onProposeRequest),
    rng: new SeededRng(ids.indexOf(id) + 1),
    logger: silentLogger,
    tickMs: 10,
    ...options.extra,
  });
  t.teardown(() => driver.stop());
  return driver;
}
