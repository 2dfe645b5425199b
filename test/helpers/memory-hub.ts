import type { Message } from '../../src/raft/core/types.js';
import type { Transport, TransportHandlers } from '../../src/raft/driver/contracts.js';

/**
 * An in-process network for RaftDriver tests: messages are delivered on the
 * next turn of the event loop, in order. Nodes in `cut` neither send nor receive.
 */
export class MemoryHub {
  readonly handlers = new Map<string, TransportHandlers>();
  readonly cut = new Set<string>();

  transport(id: string, handlers: TransportHandlers): Transport {
    this.handlers.set(id, handlers);
    return {
      send: (messages: readonly Message[]) => {
        for (const m of messages) {
          if (this.cut.has(m.from) || this.cut.has(m.to)) continue;
          setImmediate(() => this.handlers.get(m.to)?.onMessage(m));
        }
      },
      setPeers: () => {},
      stop: async () => {
        this.handlers.delete(id);
      },
    };
  }
}
