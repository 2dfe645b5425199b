import type { z } from 'zod';
import { configErrorFrom } from '../config/zod-errors.js';
import { PgherdError } from '../lib/errors.js';

/**
 * A cluster command or state snapshot could not be decoded: bytes from the
 * log or a peer that are not what this version writes. `key` names the
 * offending field (`command.member`, `state.members.n1.status.replayLsn`).
 */
export class ClusterDecodeError extends PgherdError {
  readonly key: string;

  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super('PGHERD_CLUSTER_DECODE_FAILED', `${key}: ${message}`, options);
    this.key = key;
  }

  static fromZod(prefix: string, error: z.ZodError): ClusterDecodeError {
    const described = configErrorFrom(prefix, error);
    return new ClusterDecodeError(described.key, described.message.slice(described.key.length + 2), { cause: error });
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 JSON → value, or ClusterDecodeError naming `what`. */
export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new ClusterDecodeError(what, 'is not UTF-8 JSON', { cause: error });
  }
}
