import { assert } from '../../lib/assert.js';
import type { ConfChange, ConfChangeType, ConfState } from './types.js';

/**
 * Membership changes, one at a time: the wire/log encoding of a ConfChange
 * and the pure rules for applying one to a ConfState.
 */

const CONF_CHANGE_TYPES: readonly ConfChangeType[] = ['addLearner', 'addVoter', 'removeNode'];

/** Upper bound on a change's opaque context (an address, a few ids): it travels in every replica's log. */
export const CONF_CHANGE_CONTEXT_MAX_BYTES = 64 * 1024;

/** JSON in UTF-8, the context as base64. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  assert(CONF_CHANGE_TYPES.includes(change.type), () => `unknown conf change type ${String(change.type)}`);
  assert(typeof change.nodeId === 'string' && change.nodeId !== '', 'conf change needs a node id');
  const json: Record<string, string> = { type: change.type, nodeId: change.nodeId };
  if (change.context !== undefined) json.context = bytesToBase64(change.context);
  return new TextEncoder().encode(JSON.stringify(json));
}

/** Inverse of encodeConfChange. Malformed data in a committed entry is corruption: it throws. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const parsed: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  assert(typeof parsed === 'object' && parsed !== null, 'conf change is not a JSON object');
  const { type, nodeId, context } = parsed as Record<string, unknown>;
  assert(CONF_CHANGE_TYPES.includes(type as ConfChangeType), () => `unknown conf change type ${String(type)}`);
  assert(typeof nodeId === 'string' && nodeId !== '', 'conf change needs a node id');
  if (context === undefined) return { type: type as ConfChangeType, nodeId };
  assert(typeof context === 'string', 'conf change context must be base64 text');
  return { type: type as ConfChangeType, nodeId, context: base64ToBytes(context) };
}

/**
 * Why `change` cannot be proposed on top of `confState`, or undefined when
 * it can. No-ops are refused too: they are almost always a stale retry.
 */
export function confChangeRefusal(confState: ConfState, change: ConfChange): string | undefined {
  if (change.nodeId === '') return 'node id is empty';
  if ((change.context?.byteLength ?? 0) > CONF_CHANGE_CONTEXT_MAX_BYTES) {
    return `context exceeds ${CONF_CHANGE_CONTEXT_MAX_BYTES} bytes`;
  }
  const isVoter = confState.voters.includes(change.nodeId);
  const isLearner = confState.learners.includes(change.nodeId);
  const lastVoter = isVoter && confState.voters.length === 1;
  switch (change.type) {
    case 'addLearner':
      if (isLearner) return `${change.nodeId} is already a learner`;
      return lastVoter ? `cannot demote the last voter ${change.nodeId}` : undefined;
    case 'addVoter':
      return isVoter ? `${change.nodeId} is already a voter` : undefined;
    case 'removeNode':
      if (!isVoter && !isLearner) return `${change.nodeId} is not a member`;
      return lastVoter ? `cannot remove the last voter ${change.nodeId}` : undefined;
    default:
      return `unknown conf change type ${String(change.type)}`;
  }
}

/** The configuration after `change`. Ids stay sorted; at least one voter must remain. */
export function applyConfChangeToConfState(confState: ConfState, change: ConfChange): ConfState {
  const voters = confState.voters.filter((id) => id !== change.nodeId);
  const learners = confState.learners.filter((id) => id !== change.nodeId);
  if (change.type === 'addVoter') voters.push(change.nodeId);
  else if (change.type === 'addLearner') learners.push(change.nodeId);
  else assert(change.type === 'removeNode', () => `unknown conf change type ${String(change.type)}`);
  assert(voters.length > 0, () => `conf change ${change.type} ${change.nodeId} would leave no voter`);
  return { voters: voters.sort(), learners: learners.sort() };
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
