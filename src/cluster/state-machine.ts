import { EventEmitter } from 'node:events';
import type { Entry } from '../raft/core/types.js';
import type { StateMachine } from '../raft/driver/contracts.js';
import { applyCommand } from './apply.js';
import { decodeCommand, type ClusterCommand } from './commands.js';
import { ClusterDecodeError } from './errors.js';
import type { ApplyResult } from './results.js';
import { decodeState, encodeState } from './snapshot.js';
import { initialClusterState, type ClusterState } from './state.js';

export interface AppliedEvent {
  /** The decoded command; null when the entry did not decode (the result is then MALFORMED_COMMAND). */
  readonly command: ClusterCommand | null;
  readonly result: ApplyResult;
  readonly index: number;
}

export interface ClusterStateMachineEvents {
  applied: [AppliedEvent];
  restored: [{ readonly state: ClusterState }];
}

/**
 * The adapter between the Raft driver and the pure cluster state: decodes
 * each committed entry, applies it, and tells listeners (synchronously, in
 * log order) so that the HA loop can note its own monotonic time when it
 * applied, say, a lease renewal. Listeners run inside the Raft apply loop:
 * they must be quick and must not throw (a throw is fatal to the driver).
 * An entry that does not decode is refused, not fatal: every replica
 * refuses it the same way.
 */
export class ClusterStateMachine extends EventEmitter<ClusterStateMachineEvents> implements StateMachine<ApplyResult> {
  private current: ClusterState;

  constructor(initial: ClusterState = initialClusterState()) {
    super();
    this.current = initial;
  }

  get state(): ClusterState {
    return this.current;
  }

  apply(entry: Entry): ApplyResult {
    let command: ClusterCommand;
    try {
      command = decodeCommand(entry.data);
    } catch (error) {
      if (!(error instanceof ClusterDecodeError)) throw error;
      const result: ApplyResult = { ok: false, code: 'MALFORMED_COMMAND', reason: error.message };
      this.emit('applied', { command: null, result, index: entry.index });
      return result;
    }
    const { state, result } = applyCommand(this.current, command);
    this.current = state;
    this.emit('applied', { command, result, index: entry.index });
    return result;
  }

  snapshot(): Uint8Array {
    return encodeState(this.current);
  }

  /** Replace the state with a snapshot; empty bytes mean the initial state (a bootstrap snapshot of an empty machine). */
  restore(data: Uint8Array): void {
    this.current = data.byteLength === 0 ? initialClusterState() : decodeState(data);
    this.emit('restored', { state: this.current });
  }
}
