import { HASH_SEED, hashBytes, mix } from './hash.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The simulated application: an append-only list of applied payloads
 * (unique ASCII strings without newlines), with a rolling digest that the
 * checkers compare against the global history.
 */
export class AppliedList {
  private readonly payloads: string[] = [];
  private readonly present = new Set<string>();
  private rolling = HASH_SEED;

  get digest(): number {
    return this.rolling;
  }

  get size(): number {
    return this.payloads.length;
  }

  has(payload: string): boolean {
    return this.present.has(payload);
  }

  /** Apply one payload; returns its hash (what the digest folded in). */
  apply(data: Uint8Array): number {
    const hash = hashBytes(data);
    const payload = decoder.decode(data);
    this.payloads.push(payload);
    this.present.add(payload);
    this.rolling = mix(this.rolling, hash);
    return hash;
  }

  /** The state machine's snapshot encoding: payloads joined by newlines. */
  encode(): Uint8Array {
    return encoder.encode(this.payloads.join('\n'));
  }

  static decode(data: Uint8Array): AppliedList {
    const list = new AppliedList();
    if (data.byteLength === 0) return list;
    for (const payload of decoder.decode(data).split('\n')) list.apply(encoder.encode(payload));
    return list;
  }
}

export function encodePayload(payload: string): Uint8Array {
  return encoder.encode(payload);
}

export function decodePayload(data: Uint8Array): string {
  return decoder.decode(data);
}
