import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { silentLogger } from '../../src/lib/logger.js';
import { SeededRng } from '../../src/lib/random.js';
import type { Message } from '../../src/raft/core/types.js';
import type { StateMachine, Transport, TransportHandlers } from '../../src/raft/driver/contracts.js';
import { LevelLogStore } from '../../src/raft/driver/level-storage.js';
import { RaftDriver, type RaftDriverOptions } from '../../src/raft/driver/raft-driver.js';

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

/**
 * Start one RaftDriver of an in-process cluster `ids` over `hub`, with a
 * real LevelLogStore in `<dir>/<id>` and a fast clock (10 ms ticks). It is
 * stopped in the test's teardown.
 */
export async function startHubDriver<R>(
  t: ExecutionContext,
  options: { hub: MemoryHub; dir: string; id: string; ids: readonly string[]; stateMachine: StateMachine<R>; extra?: Partial<RaftDriverOptions<R>> },
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
    createTransport: async (handlers) => hub.transport(id, handlers),
    rng: new SeededRng(ids.indexOf(id) + 1),
    logger: silentLogger,
    tickMs: 10,
    ...options.extra,
  });
  t.teardown(() => driver.stop());
  return driver;
}
