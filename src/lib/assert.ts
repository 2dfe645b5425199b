import { AssertionFailedError } from './errors.js';

/**
 * Assertions are for programmer bugs and stay on in production: a violated
 * invariant in consensus code must crash, not continue.
 */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionFailedError(typeof message === 'function' ? message() : message);
  }
}

export function unreachable(value: never, what: string): never {
  throw new AssertionFailedError(`unreachable: unexpected ${what} ${JSON.stringify(value)}`);
}
