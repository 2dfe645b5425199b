import { decodeConfChange } from '../raft/core/conf-change.js';
import { RawNode } from '../raft/core/raw-node.js';
import type { Core } from './node-process.js';

/** The real Raft core: the only place the simulator names the implementation. */
export const realCore: Core = {
  create: (options) => new RawNode(options),
  decodeConfChange,
};
